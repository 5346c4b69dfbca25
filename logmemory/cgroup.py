"""A memory cgroup for the job, made below the one logmemory runs in: the job's concurrent peak."""

import errno
import os
import time
from collections import namedtuple

# One cgroup hierarchy mounted here: where, which version, which controllers.
Mount = namedtuple("Mount", "mountpoint root version controllers")

# Peak files by version: v2 memory.peak (kernel 5.19+), v1 memory.max_usage_in_bytes.
PEAK_FILES = {"cgroup2": "memory.peak", "cgroup1": "memory.max_usage_in_bytes"}


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


def _candidates(mountinfo: bytes, proc_cgroup: bytes):
    """(version, directory of our own cgroup, why not) for each memory-capable hierarchy, v2 first."""
    paths = parse_proc_cgroup(proc_cgroup)
    mounts = parse_mountinfo(mountinfo)
    found = []
    for m in mounts:
        if m.version == "cgroup2" and "" in paths:
            own = _own_dir(m, paths[""])
            if own is None:
                continue
            try:
                with open(os.path.join(own, "cgroup.subtree_control")) as f:
                    enabled = f.read().split()
            except OSError as exc:
                found.append(("cgroup2", None, f"cgroup v2: {exc.strerror}"))
                continue
            if "memory" in enabled:
                found.append(("cgroup2", own, None))
            else:
                found.append(("cgroup2", None, f"cgroup v2: memory controller not enabled below "
                                               f"{paths['']} (cgroup.subtree_control)"))
    for m in mounts:
        if m.version == "cgroup1" and "memory" in m.controllers and "memory" in paths:
            own = _own_dir(m, paths["memory"])
            if own is not None:
                found.append(("cgroup1", own, None))
    return found


class JobCgroup:
    """A cgroup made for one job; add() its first process, read peak_kb(), then remove()."""

    def __init__(self, version, parent, name):
        self.version = version
        self.parent = parent
        self.path = os.path.join(parent, name)

    def join_fd(self):
        """A descriptor on which a process writes b"0" to move itself into the cgroup.

        On v1 that is the tasks file: moving the writing thread itself skips the global lock
        that moving another process takes (an RCU grace period, 5-20 ms measured here)."""
        name = "tasks" if self.version == "cgroup1" else "cgroup.procs"
        return os.open(os.path.join(self.path, name), os.O_WRONLY | os.O_CLOEXEC)

    def peak_kb(self):
        with open(os.path.join(self.path, PEAK_FILES[self.version])) as f:
            return int(f.read()) // 1024

    def remove(self):
        """Put any process still inside back where the job started, then delete the cgroup."""
        for _ in range(100):
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                pids = f.read().split()
            for pid in pids:
                try:
                    with open(os.path.join(self.parent, "cgroup.procs"), "w") as f:
                        f.write(pid)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(self.path)
                return
            except OSError as exc:
                # EBUSY: a process forked or was still exiting between the move and the rmdir.
                if exc.errno != errno.EBUSY:
                    raise
            time.sleep(0.001)
        raise OSError(errno.EBUSY, f"cannot remove {self.path}")


def create(name, mountinfo=None, proc_cgroup=None) -> JobCgroup:
    """Make cgroup name below our own, in the first hierarchy that can give a peak; else Unavailable."""
    if mountinfo is None:
        with open("/proc/self/mountinfo", "rb") as f:
            mountinfo = f.read()
    if proc_cgroup is None:
        with open("/proc/self/cgroup", "rb") as f:
            proc_cgroup = f.read()
    reasons = []
    for version, own, why in _candidates(mountinfo, proc_cgroup):
        if own is None:
            reasons.append(why)
            continue
        cg = JobCgroup(version, own, name)
        try:
            os.mkdir(cg.path)
        except OSError as exc:
            reasons.append(f"{version}: cannot create {cg.path}: {exc.strerror}")
            continue
        if os.path.exists(os.path.join(cg.path, PEAK_FILES[version])):
            return cg
        os.rmdir(cg.path)
        reasons.append(f"{version}: no {PEAK_FILES[version]} (cgroup v2 has it from Linux 5.19)")
    raise Unavailable("; ".join(reasons) or "no memory cgroup controller is mounted")
