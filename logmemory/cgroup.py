"""A memory cgroup for the job, made below the one logmemory runs in: the job's concurrent peak."""

import ctypes
import errno
import os
import resource
import time

from logmemory import _ptrace, procfs, systemd
from logmemory.errors import LogMemoryError
from logmemory.record import Oom, SharedCgroup
from logmemory.value import value

# One cgroup hierarchy mounted here: where, which version, which controllers.
Mount = value("Mount", "mountpoint root version controllers")

# Peak files by version: v2 memory.peak (kernel 5.19+), v1 memory.max_usage_in_bytes.
PEAK_FILES = {"cgroup2": "memory.peak", "cgroup1": "memory.max_usage_in_bytes"}


# What a v2 cgroup needs before its children get memory: enabling it in place (the root) or
# moving logmemory to a leaf first (make_room).
ROOT, LEAF = "root", "leaf"


class Unavailable(Exception):
    """No job cgroup can be made; the message says why."""


def parse_mountinfo(data: bytes):
    """The cgroup mounts listed in /proc/self/mountinfo."""
    mounts = []
    for line in data.decode(errors="replace").splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        if fstype == "cgroup2":
            mounts.append(Mount(fields[4], fields[3], "cgroup2", ()))
        elif fstype == "cgroup":
            mounts.append(Mount(fields[4], fields[3], "cgroup1", tuple(options)))
    return mounts


def parse_proc_cgroup(data: bytes):
    """/proc/self/cgroup as {controller or "" for v2: path}."""
    paths = {}
    for line in data.decode(errors="replace").splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _own_dir(mount, path):
    """Our cgroup's directory in this mount, if the mount shows it."""
    root = mount.root.rstrip("/")
    if path != mount.root and not path.startswith(root + "/"):
        return None
    return mount.mountpoint + path[len(root):]


def _words(path):
    with open(path) as f:
        return f.read().split()


def _candidates(mountinfo: bytes, proc_cgroup: bytes):
    """(version, directory of our own cgroup, why not, what v2 needs first) for each
    memory-capable hierarchy, v2 first. The need: None, ROOT (enable memory in place) or LEAF
    (make_room)."""
    paths = parse_proc_cgroup(proc_cgroup)
    mounts = parse_mountinfo(mountinfo)
    found = []
    for m in mounts:
        if m.version == "cgroup2" and "" in paths:
            own = _own_dir(m, paths[""])
            if own is None:
                continue
            try:
                enabled = _words(os.path.join(own, "cgroup.subtree_control"))
                available = _words(os.path.join(own, "cgroup.controllers"))
            except OSError as exc:
                found.append(("cgroup2", None, f"cgroup v2: {exc.strerror}", None))
                continue
            if "memory" in enabled:
                found.append(("cgroup2", own, None, None))
            elif "memory" in available:
                # Only the hierarchy's root lacks cgroup.type (a cgroup namespace's root has
                # it), and only that root may give children a controller while it holds processes.
                is_root = not os.path.exists(os.path.join(own, "cgroup.type"))
                found.append(("cgroup2", own, None, ROOT if is_root else LEAF))
            else:
                found.append(("cgroup2", None, f"cgroup v2: no memory controller for "
                                               f"{paths['']} (cgroup.controllers)", None))
    for m in mounts:
        if m.version == "cgroup1" and "memory" in m.controllers and "memory" in paths:
            own = _own_dir(m, paths["memory"])
            if own is not None:
                found.append(("cgroup1", own, None, None))
    return found


def _control(cgroup_dir, change):
    """Enable (+name) or disable (-name) a controller for a v2 cgroup's children."""
    with open(os.path.join(cgroup_dir, "cgroup.subtree_control"), "w") as f:
        f.write(change)


def _move(pids, cgroup_dir):
    for pid in pids:
        try:
            with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except ProcessLookupError:
            pass


# Cgroups whose owner is not systemd and not us: moving the job out would escape their limits.
# (String tests, not re: its import costs the binary ~2 ms a run.)
CONTAINER_PREFIXES = ("docker-", "libpod-", "cri-containerd-", "crio-", "kubepods")


def _foreign(path):
    """What owns our cgroup, where it is neither systemd nor us; None otherwise."""
    words = path.split("/")
    if any(w.startswith("job_") and w[4:].isdecimal() and after.startswith("step_")
           for w, after in zip(words, words[1:])):
        return "a Slurm job step"
    if any(w.startswith(CONTAINER_PREFIXES) for w in words):
        return "a container's cgroup"
    return None


def _remedy(own):
    """What was found in our cgroup's place, and what would give the job its peak."""
    what = _foreign(own)
    if what:
        return (f"it is {what}, not ours to rearrange (--sample MS gives a sampled peak; "
                "logmemory started alone in a cgroup of its own there gives the exact one)")
    return ("run logmemory alone in a delegated cgroup (systemd-run --user --scope -p "
            "Delegate=yes logmemory ...), or use --sample MS")


def make_room(own, leaf, ours, controller="memory"):
    """cgroup v2 gives its children a controller only while a cgroup holds no process (the root
    aside). Where our cgroup holds only ours (logmemory, its bootloader), move them into a leaf
    of their own and enable the controller below; give_back() undoes it."""
    procs = set(_words(os.path.join(own, "cgroup.procs")))
    mine = {str(p) for p in ours} & procs  # a bootloader elsewhere stays where it is
    others = sorted(procs - mine)
    if others:
        raise Unavailable(f"cgroup v2: {own} also holds other processes ({len(others)}), and "
                          f"only a cgroup without processes can give its children the {controller} "
                          f"controller; {_remedy(own)}")
    try:
        os.mkdir(leaf)
    except OSError as exc:
        raise Unavailable(f"cgroup v2: cannot create {leaf}: {exc.strerror}; "
                          f"{_remedy(own)}") from exc
    try:
        _move(sorted(mine), leaf)
        _control(own, f"+{controller}")
    except OSError as exc:
        give_back(own, leaf, controller)
        raise Unavailable(f"cgroup v2: cannot enable {controller} below {own}: {exc.strerror}") from exc


def give_back(own, leaf, controller="memory"):
    """Disable the controller below our cgroup again, so that it may hold processes, and bring
    ours back from their leaf."""
    _control(own, f"-{controller}")
    _move(_words(os.path.join(leaf, "cgroup.procs")), own)
    os.rmdir(leaf)


# What remove() does, done by a shell that outlives us: a SIGKILL leaves logmemory no time to
# remove the job's cgroup, which then keeps its owner from removing theirs. It waits for the end
# of a pipe that only logmemory holds (a normal end has removed everything by then), moves what
# still runs back to our own cgroup, and removes the job's cgroups, deepest first.
WATCHER = r"""trap '' HUP INT TERM QUIT
read _ <&3
exec 3<&-
job=$1 own=$2 home=$3
uncontrol() {
    for d in "$1"/*/; do [ -d "$d" ] && uncontrol "${d%/}"; done
    echo -memory > "$1/cgroup.subtree_control"
}
empty() {
    for d in "$1"/*/; do [ -d "$d" ] && empty "${d%/}"; done
    while read -r p; do echo "$p" > "$own/cgroup.procs"; done < "$1/cgroup.procs"
    rmdir "$1"
}
tries=0
while [ -d "$job" ] && [ $tries -lt 600 ]; do
    if [ -n "$home" ]; then uncontrol "$job"; echo -memory > "$own/cgroup.subtree_control"; fi
    empty "$job"
    [ -d "$job" ] && sleep 1
    tries=$((tries + 1))
done 2>/dev/null
if [ -n "$home" ] && [ -d "$home" ]; then
    echo -memory > "$own/cgroup.subtree_control"
    while read -r p; do echo "$p" > "$own/cgroup.procs"; done < "$home/cgroup.procs"
    rmdir "$home"
fi 2>/dev/null
"""


F_DUPFD_CLOEXEC = 1030


def _above_stdio(fd):
    """fd moved to 3 or above: with 0-2 closed by our caller a pipe end would land there, and
    our own warnings (fd 2) would reach the watcher, or its /dev/null (fd 0, 1) replace it."""
    if fd > 2:
        return fd
    moved = _ptrace.libc.fcntl(fd, F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    if moved < 0:
        raise OSError(ctypes.get_errno(), "cannot move a descriptor above 2")
    return moved


def _inheritable(fd):
    try:
        return os.get_inheritable(fd)
    except OSError:  # the listing's own descriptor, closed since
        return False


def _watch(job):
    """Start the shell of WATCHER for the job's cgroup, not as our child (its parent exits at
    once); the write end of its pipe, to keep open until the cgroup is removed."""
    r, w = (_above_stdio(fd) for fd in os.pipe2(os.O_CLOEXEC))
    # The caller's descriptors, kept open for the command, are none of its business (a lock
    # held through one would be held as long as it waits); posix_spawn closes only those below
    # the descriptor limit (a caller may pass higher ones).
    top = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    inherited = [fd for fd in map(int, os.listdir("/proc/self/fd")) if 2 < fd < top
                 and fd != r and _inheritable(fd)]
    try:
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", f"({WATCHER}) &", "sh", job.path,
                                         job.parent, job.home or ""],
                             {"PATH": "/usr/bin:/bin"}, setsid=True, setsigmask=(),
                             file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                                           (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                                           (os.POSIX_SPAWN_DUP2, 1, 2),
                                           *((os.POSIX_SPAWN_CLOSE, fd) for fd in inherited),
                                           (os.POSIX_SPAWN_DUP2, r, 3)])
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # a caller's ignored SIGCHLD (not yet undone) has the kernel reap it
    except OSError:
        os.close(w)
        raise
    finally:
        os.close(r)
    return w


class JobCgroup:
    """A cgroup made for one job: its first process joins through join_fd(); read peak_kb(),
    then remove()."""

    controller = "memory"

    def __init__(self, version, parent, name, home=None):
        self.version = version
        self.parent = parent
        self.path = os.path.join(parent, name)
        self.home = home  # the leaf logmemory moved to for make_room(), if it did
        self.enabled_in_root = False  # whether we enabled memory below the hierarchy's root
        self.watcher_fd = None  # see guard()

    def guard(self):
        """Have the job's cgroup removed even if logmemory is killed (WATCHER)."""
        self.watcher_fd = _watch(self)

    def shared(self):
        return None  # made for the job alone

    def join_fd(self):
        """A descriptor on which a process writes b"0" to move itself into the cgroup.

        On v1 that is the tasks file: moving the writing thread itself skips the global lock
        that moving another process takes (an RCU grace period, 5-20 ms measured here)."""
        name = "tasks" if self.version == "cgroup1" else "cgroup.procs"
        return os.open(os.path.join(self.path, name), os.O_WRONLY | os.O_CLOEXEC)

    def peak_kb(self, job_pids=()):
        return _read_int(self.path, PEAK_FILES[self.version]) // 1024

    def remove(self):
        """Put any process still inside, or in a cgroup the job made inside, back where the job
        started, then delete them all."""
        inside = [path for path, _, _ in os.walk(self.path, topdown=False)]  # deepest first
        if self.home:
            # Our cgroup takes processes back only once nothing below it gives children memory
            # (give_back() below says so for our cgroup again, harmlessly).
            for path in [*inside, self.parent]:
                _control(path, f"-{self.controller}")
        for path in inside:
            self._empty(path)
        self.restore()
        if self.watcher_fd is not None:
            os.close(self.watcher_fd)
            self.watcher_fd = None

    def restore(self):
        """Take back what create() changed in our own cgroup (the job's is gone)."""
        if self.home and os.path.isdir(self.home):
            give_back(self.parent, self.home, self.controller)
        if self.enabled_in_root and not any(e.is_dir() for e in os.scandir(self.parent)):
            # Another job's cgroup (another logmemory that found memory enabled) would lose
            # its memory files: memory stays enabled while the root has any child.
            _control(self.parent, f"-{self.controller}")

    def _empty(self, path):
        for _ in range(100):
            _move(_words(os.path.join(path, "cgroup.procs")), self.parent)
            try:
                os.rmdir(path)
                return
            except OSError as exc:
                # EBUSY: a process forked or was still exiting between the move and the rmdir.
                if exc.errno != errno.EBUSY:
                    raise
            time.sleep(0.001)
        raise OSError(errno.EBUSY, f"cannot remove {path}")


USAGE_FILES = {"cgroup2": "memory.current", "cgroup1": "memory.usage_in_bytes"}


def _read_int(path, name):
    with open(os.path.join(path, name)) as f:
        return int(f.read())


class Enclosing:
    """The cgroup logmemory was started in, read as the job's where its owner (a batch system,
    a container runtime) would find a cgroup of ours in the way once we are gone: SIGKILL, the
    way a batch system ends a job, leaves no time to remove one. Its watermark counts
    logmemory's own pages and, in a batch step, the script's shell: held_kb at the start."""

    def __init__(self, version, path, owner, ours):
        self.version = version
        self.path = self.parent = path
        self.owner = owner
        self.ours = set(ours)  # logmemory's pids and our ancestors there
        self.peak_before = _read_int(path, PEAK_FILES[version])
        self.held_kb = _read_int(path, USAGE_FILES[version]) // 1024

    def guard(self):
        pass  # nothing of ours to remove

    def join_fd(self):
        return None  # the command starts in it

    def shared(self):
        """What the record says of the cgroup whose peak this is."""
        return SharedCgroup(self.path, self.owner, self.held_kb)

    def peak_kb(self, job_pids=()):
        """The watermark, once the job has raised it above what it was before; else Unavailable.

        A process there that is neither ours nor the job's (the script started it meanwhile)
        has its share in it: no peak then (one that came and went unseen is not caught)."""
        others = _pids_in(self.path) - self.ours - set(job_pids)
        if others:
            raise Unavailable(f"{self.version}: {self.path} ({self.owner}) also held "
                              f"{len(others)} other processes at the end, so its peak is not "
                              "the job's (--sample MS gives a sampled peak)")
        peak = _read_int(self.path, PEAK_FILES[self.version])
        if peak <= self.peak_before:
            raise Unavailable(f"{self.version}: {self.path} ({self.owner}) had held "
                              f"{self.peak_before // 1024} kB before the command started, and "
                              "the job never took it higher: its own peak is not known")
        return peak // 1024

    def remove(self):
        pass


def _pids_in(path):
    return {int(p) for p in _words(os.path.join(path, "cgroup.procs"))}


def _ancestors(root="/proc"):
    """The pids from our parent up to init: a batch step's shell waits there, holding little."""
    pids, pid = [], os.getppid()
    while pid > 1 and len(pids) < 64:
        pids.append(pid)
        try:
            pid = procfs.read_ids(pid, root)[1]
        except LogMemoryError:
            break
    return pids


def _enclosing(version, own, owner, ours):
    """own read as the job's cgroup, if it holds nothing but ours and our ancestors."""
    ours = set(ours) | set(_ancestors())
    others = _pids_in(own) - ours
    if others:
        raise Unavailable(f"{version}: {own} is {owner}, not ours to make a cgroup in, and it "
                          f"also holds {len(others)} other processes, so its peak is not the "
                          "job's (--sample MS gives a sampled peak)")
    if not os.path.exists(os.path.join(own, PEAK_FILES[version])):
        raise Unavailable(f"{version}: no {PEAK_FILES[version]} in {own} (cgroup v2 has it "
                          "from Linux 5.19)")
    return Enclosing(version, own, owner, ours)


def own_cgroup():
    with open("/proc/self/cgroup", "rb") as f:
        return f.read()


def _views(mountinfo, proc_cgroup):
    """/proc/self/mountinfo and /proc/self/cgroup, each read where not given."""
    if mountinfo is None:
        with open("/proc/self/mountinfo", "rb") as f:
            mountinfo = f.read()
    return mountinfo, own_cgroup() if proc_cgroup is None else proc_cgroup


def create(name, mountinfo=None, proc_cgroup=None, ours=(), ask_systemd=True) -> JobCgroup:
    """Make cgroup name below our own, in the first hierarchy that can give a peak; else Unavailable.

    ours: the pids of logmemory itself, which may be moved to a leaf of our cgroup (v2), or into
    a delegated scope that systemd makes where our cgroup is one of its units."""
    mountinfo, proc_cgroup = _views(mountinfo, proc_cgroup)
    reasons = []
    crowded = False  # v2 offers memory, but our cgroup cannot give it to its children
    for version, own, why, need in _candidates(mountinfo, proc_cgroup):
        if own is None:
            reasons.append(why)
            continue
        owner = _foreign(own)
        if owner:
            try:
                return _enclosing(version, own, owner, ours)
            except (Unavailable, OSError) as exc:
                reasons.append(str(exc))
                continue
        cg = JobCgroup(version, own, name, os.path.join(own, name + "-self") if need == LEAF else None)
        try:
            if need == LEAF:
                make_room(own, cg.home, ours)
            elif need == ROOT:
                try:
                    _control(own, "+memory")
                except OSError as exc:
                    raise Unavailable(f"cgroup v2: cannot enable memory below the root {own}: "
                                      f"{exc.strerror}") from exc
                cg.enabled_in_root = True
            os.mkdir(cg.path)
        except Unavailable as exc:
            reasons.append(str(exc))
            crowded = crowded or need == LEAF
            continue
        except OSError as exc:
            reasons.append(f"{version}: cannot create {cg.path}: {exc.strerror}")
            cg.restore()
            continue
        if os.path.exists(os.path.join(cg.path, PEAK_FILES[version])):
            return cg
        os.rmdir(cg.path)
        cg.restore()
        reasons.append(f"{version}: no {PEAK_FILES[version]} (cgroup v2 has it from Linux 5.19)")
    v2_path = parse_proc_cgroup(proc_cgroup).get("")
    if crowded and ask_systemd and systemd.manages(v2_path) and not _foreign(v2_path):
        try:
            systemd.scope(name, ours, v2_path, lambda: parse_proc_cgroup(own_cgroup())[""],
                          user=os.geteuid() != 0)
        except (systemd.Refused, OSError) as exc:
            reasons.append(str(exc))
        else:
            try:
                return create(name, mountinfo, None, ours, ask_systemd=False)
            except Unavailable as exc:
                raise Unavailable(f"in the delegated scope systemd made: {exc}") from exc
    raise Unavailable("; ".join(reasons) or "no memory cgroup controller is mounted")


# Out of memory. logmemory sets no limit of its own: the job keeps the room it has without it
# (less logmemory's own pages), the OOM killer strikes at the limit of whoever set one, and
# the counters that the batch system reads are the ones that move.

LIMIT_FILES = {"cgroup2": "memory.max", "cgroup1": "memory.limit_in_bytes"}
# v1 shows "no limit" as the largest page-aligned long, v2 as "max".
V1_UNLIMITED = 1 << 62

# The smallest limit on logmemory's own cgroup or an ancestor: its directory and bytes.
Limit = value("Limit", "path bytes")


def _read_limit(path, version):
    try:
        with open(os.path.join(path, LIMIT_FILES[version])) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    if text == "max" or int(text) >= V1_UNLIMITED:
        return 0
    return int(text)


def enclosing_limit(own, version):
    """The smallest memory limit from our own cgroup up to the hierarchy's root, or None."""
    best = None
    path = own
    while True:
        limit = _read_limit(path, version)
        if limit is None:  # above the root of the hierarchy (v2: the root has no memory.max)
            return best
        if limit and (best is None or limit < best.bytes):
            best = Limit(path, limit)
        if path in ("/", ""):
            return best
        path = os.path.dirname(path)


def parse_flat_keyed(data: bytes) -> dict:
    """memory.events, memory.oom_control: "key value" lines."""
    return {k: int(v) for k, v in (line.split() for line in data.decode().splitlines() if line)}


def _keyed(path, name, *keys):
    """The values of keys in a flat keyed file; OSError if one is missing (older kernels)."""
    with open(os.path.join(path, name), "rb") as f:
        values = parse_flat_keyed(f.read())
    missing = [k for k in keys if k not in values]
    if missing:
        raise OSError(errno.ENODATA, f"no {', '.join(missing)} in {os.path.join(path, name)}")
    return [values[k] for k in keys]


def _counters(path, version, local):
    """(times the cgroup's own limit was hit, OOM kills) as the kernel counts them there."""
    if version == "cgroup1":  # v1 counts both per cgroup, never for the ancestors
        with open(os.path.join(path, "memory.failcnt")) as f:
            hits = int(f.read())
        return hits, _keyed(path, "memory.oom_control", "oom_kill")[0]
    # v2 memory.events adds up the cgroup and its descendants; memory.events.local the cgroup's.
    return tuple(_keyed(path, "memory.events.local" if local else "memory.events", "oom", "oom_kill"))


class OomWatch:
    """The counters that tell, after the job, whether the OOM killer struck in the job's
    cgroup and which enclosing limit was hit; made before the command starts."""

    def __init__(self, job, limit: Limit):
        self.job = job
        self.limit = limit
        self.kills_before = _counters(job.path, job.version, False)[1]
        self.before = _counters(limit.path, job.version, True) if limit else None

    def result(self) -> Oom:
        """Read before the job's cgroup is removed. A limit is named only beside a kill."""
        kills = _counters(self.job.path, self.job.version, False)[1] - self.kills_before
        if self.limit:
            hits, outer_kills = _counters(self.limit.path, self.job.version, True)
            # The limit's own cgroup may be the job's (a batch step's): no kills to add then.
            outer_kills = None if self.limit.path == self.job.path else outer_kills - self.before[1]
            if hits > self.before[0] and (kills or outer_kills):
                return Oom(kills, self.limit.bytes, self.limit.path, outer_kills)
        return Oom(kills, None, None, None)


def own_limit(mountinfo=None, proc_cgroup=None):
    """The smallest memory limit around logmemory in any hierarchy, where no job cgroup is made."""
    mountinfo, proc_cgroup = _views(mountinfo, proc_cgroup)
    paths = parse_proc_cgroup(proc_cgroup)
    for m in parse_mountinfo(mountinfo):
        key = "" if m.version == "cgroup2" else "memory" if "memory" in m.controllers else None
        own = _own_dir(m, paths[key]) if key in paths else None
        if own is not None:
            limit = enclosing_limit(own, m.version)
            if limit:
                return limit
    return None
