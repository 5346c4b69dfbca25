"""The job cgroup: parsing, v2 on a fake cgroup tree, and live where the kernel offers it."""

import contextlib
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from logmemory import cgroup
from logmemory.record import Oom

MOUNTINFO_V1_V2 = (
    b"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    b"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    b"40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    b"22 1 8:1 / / rw - ext4 /dev/vda rw\n")


def test_parse_mountinfo():
    mounts = cgroup.parse_mountinfo(MOUNTINFO_V1_V2)
    assert mounts == [cgroup.Mount("/sys/fs/cgroup/memory", "/", "cgroup1", ("rw", "memory")),
                      cgroup.Mount("/sys/fs/cgroup/unified", "/", "cgroup2", ())]


def test_parse_proc_cgroup():
    data = b"9:name=systemd:/\n4:memory:/jobs/a\n2:cpu,cpuacct:/\n0::/user.slice/x.scope\n"
    assert cgroup.parse_proc_cgroup(data) == {
        "name=systemd": "/", "memory": "/jobs/a", "cpu": "/", "cpuacct": "/",
        "": "/user.slice/x.scope"}


@pytest.fixture
def fake_v2(tmp_path, monkeypatch):
    """A cgroup2 mount at tmp_path whose mkdir makes interface files, as the kernel does."""
    own = tmp_path / "user.slice" / "job.scope"
    own.mkdir(parents=True)
    (own / "cgroup.procs").write_text("")
    real_mkdir, real_rmdir = os.mkdir, os.rmdir

    def mkdir(path, mode=0o777):
        real_mkdir(path, mode)
        Path(path, "cgroup.procs").write_text("")
        Path(path, "cgroup.subtree_control").write_text("")
        Path(path, "memory.peak").write_text("73400320\n")

    def rmdir(path):
        for name in ("cgroup.procs", "cgroup.subtree_control", "memory.peak"):
            Path(path, name).unlink()
        real_rmdir(path)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "rmdir", rmdir)
    mountinfo = f"40 31 0:37 / {tmp_path} rw - cgroup2 cgroup2 rw\n".encode()
    return own, mountinfo, b"0::/user.slice/job.scope\n"


def our_cgroup(own, controllers, enabled="", procs="", root=False):
    """Fill our fake cgroup's interface files (a hierarchy's root has no cgroup.type)."""
    if not root:
        (own / "cgroup.type").write_text("domain\n")
    (own / "cgroup.controllers").write_text(controllers + "\n")
    (own / "cgroup.subtree_control").write_text(enabled)
    (own / "cgroup.procs").write_text(procs)


def test_v2_job_cgroup_below_our_own(fake_v2):
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "cpu memory pids", enabled="cpu memory pids\n")
    cg = cgroup.create("logmemory-1", mountinfo, proc_cgroup)
    assert cg.home is None  # memory is enabled below us already: nothing to move
    assert cg.version == "cgroup2" and cg.path == str(own / "logmemory-1")
    fd = cg.join_fd()
    os.write(fd, b"1234")   # the kernel would list the joining process here
    os.close(fd)
    assert (own / "logmemory-1" / "cgroup.procs").read_text() == "1234"
    assert cg.peak_kb() == 71680
    cg.remove()
    assert not (own / "logmemory-1").exists()
    assert (own / "cgroup.procs").read_text() == "1234"   # moved back where it came from


def test_v2_without_memory_delegated_gives_the_reason(fake_v2):
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "cpu pids", enabled="cpu pids\n")
    with pytest.raises(cgroup.Unavailable, match=r"no memory controller for "
                                                 r"/user.slice/job.scope \(cgroup.controllers\)"):
        cgroup.create("logmemory-1", mountinfo, proc_cgroup)


def test_v2_moves_logmemory_to_a_leaf_to_enable_memory_below(fake_v2):
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "cpu memory pids", procs="41\n42\n")
    cg = cgroup.create("logmemory-42", mountinfo, proc_cgroup, ours=[41, 42])
    assert cg.home == str(own / "logmemory-42-self")
    assert (own / "logmemory-42-self" / "cgroup.procs").read_text() == "42"  # each pid written
    assert (own / "cgroup.subtree_control").read_text() == "+memory"
    cg.remove()
    assert (own / "cgroup.subtree_control").read_text() == "-memory"
    assert not (own / "logmemory-42").exists() and not (own / "logmemory-42-self").exists()
    assert (own / "cgroup.procs").read_text() == "42"  # ours moved back


def test_v2_moves_only_those_of_ours_that_are_in_our_cgroup(fake_v2):
    """The bootloader may sit elsewhere (moved by a supervisor): it is left there."""
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "memory", procs="42\n")
    cg = cgroup.create("logmemory-42", mountinfo, proc_cgroup, ours=[42, 99])
    assert (own / "logmemory-42-self" / "cgroup.procs").read_text() == "42"
    cg.remove()


def test_v2_shared_cgroup_gives_the_reason(fake_v2):
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "memory", procs="7\n42\n")
    with pytest.raises(cgroup.Unavailable, match=r"also holds other processes \(1\).*systemd-run"):
        cgroup.create("logmemory-42", mountinfo, proc_cgroup, ours=[42])
    assert sorted(p.name for p in own.iterdir()) == [
        "cgroup.controllers", "cgroup.procs", "cgroup.subtree_control", "cgroup.type"]


def test_v2_root_enables_memory_in_place_and_restores_it(fake_v2):
    """The hierarchy's root may give its children memory while it holds processes."""
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "cpu memory", procs="7\n42\n", root=True)
    cg = cgroup.create("logmemory-42", mountinfo, proc_cgroup, ours=[42])
    assert cg.home is None and cg.enabled_in_root
    assert (own / "cgroup.subtree_control").read_text() == "+memory"
    assert (own / "cgroup.procs").read_text() == "7\n42\n"   # nothing moved
    cg.remove()
    assert (own / "cgroup.subtree_control").read_text() == "-memory"
    assert not (own / "logmemory-42").exists()


def test_v2_root_leaves_memory_enabled_while_another_job_has_a_cgroup(fake_v2):
    own, mountinfo, proc_cgroup = fake_v2
    our_cgroup(own, "memory", root=True)
    cg = cgroup.create("logmemory-42", mountinfo, proc_cgroup, ours=[42])
    os.mkdir(own / "logmemory-43")
    cg.remove()
    assert (own / "cgroup.subtree_control").read_text() == "+memory"


def test_no_memory_hierarchy_at_all():
    with pytest.raises(cgroup.Unavailable, match="no memory cgroup controller is mounted"):
        cgroup.create("x", b"22 1 8:1 / / rw - ext4 /dev/vda rw\n", b"0::/\n")


def v2_root_offering(controllers):
    """(mountpoint, controller) of a cgroup2 mount whose root offers one of controllers; None if
    there is none or we may not change it."""
    if os.geteuid() != 0:
        return None
    for m in cgroup.parse_mountinfo(Path("/proc/self/mountinfo").read_bytes()):
        if m.version == "cgroup2" and m.root == "/":
            offered = (Path(m.mountpoint) / "cgroup.controllers").read_text().split()
            for controller in controllers:
                if controller in offered:
                    return m.mountpoint, controller
    return None


@contextlib.contextmanager
def v2_playground(controllers):
    """A fresh cgroup below a v2 root, offered the first of controllers available; removed after."""
    found = v2_root_offering(controllers)
    if found is None:
        pytest.skip(f"no cgroup2 mount offering {' or '.join(controllers)} that this test may "
                    "change (it needs root, and a v2 root that offers the controller)")
    mountpoint, controller = found
    root_control = Path(mountpoint) / "cgroup.subtree_control"
    enabled_here = controller not in root_control.read_text().split()
    if enabled_here:
        root_control.write_text(f"+{controller}")
    play = Path(mountpoint) / f"lmtest-{os.getpid()}"
    play.mkdir()
    try:
        yield play, controller
    finally:
        # Whatever the test left: every process back to the root, every cgroup removed.
        left = [Path(path) for path, _, _ in os.walk(play, topdown=False)]
        for cg in left:
            (cg / "cgroup.subtree_control").write_text(f"-{controller}")
        for cg in left:
            _empty_and_remove(cg, Path(mountpoint))
        if enabled_here:
            root_control.write_text(f"-{controller}")


def _empty_and_remove(cg, root):
    """As JobCgroup._empty does: a process still exiting keeps a cgroup busy for a moment
    (EBUSY), after which the name would be taken for the next test's cgroup of this pid."""
    for _ in range(1000):
        for pid in (cg / "cgroup.procs").read_text().split():
            (root / "cgroup.procs").write_text(pid)
        try:
            cg.rmdir()
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
        time.sleep(0.001)
    cg.rmdir()


def test_live_v2_peak(lm, tmp_path, memhog):
    """logmemory alone in a cgroup (as under systemd-run --scope -p Delegate=yes) on v2:
    the peak comes from memory.peak, and the cgroup is left as it was."""
    from conftest import json_records
    with v2_playground(("memory",)) as (play, _):
        log = tmp_path / "m.log"
        r = lm("--format", "json", "-o", str(log), memhog, "-m", "40",
               preexec_fn=lambda: (play / "cgroup.procs").write_text("0"))
        assert r.returncode == 0, r.stderr
        tree = json_records(log)[0]["tree"]
        assert tree["peak_source"] == "cgroup2" and tree["peak_kb"] >= 40 * 1024
        assert [p for p in play.iterdir() if p.is_dir()] == []
        assert "memory" not in (play / "cgroup.subtree_control").read_text().split()


@pytest.fixture
def playground():
    with v2_playground(("memory", "hugetlb", "pids", "io", "misc", "rdma")) as found:
        yield found


@pytest.mark.parametrize("nested", [False, True])
def test_make_room_and_give_back_on_a_live_cgroup2(playground, nested):
    """The v2 leaf dance against the kernel, with a domain controller standing in for memory
    where v2 has no memory: logmemory alone in its cgroup moves to a leaf, the job gets a
    sibling leaf with the controller, and afterwards a process left in the job (nested: in a
    cgroup the job made below its own, with the controller enabled for it) and logmemory are
    back where they started, the controller disabled again, every cgroup gone."""
    play, controller = playground
    script = f"""
import os, sys, time
from logmemory import cgroup
own = {str(play)!r}
cg = cgroup.JobCgroup("cgroup2", own, "lm-job", os.path.join(own, "lm-job-self"))
cg.controller = {controller!r}
cgroup.make_room(own, cg.home, [os.getpid()], cg.controller)
os.mkdir(cg.path)
offered = open(os.path.join(cg.path, "cgroup.controllers")).read().split()
pid = os.fork()
if pid == 0:
    for stream in (1, 2):  # the test reads our output to its end
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream)
    fd = cg.join_fd()
    os.write(fd, b"0")
    os.close(fd)
    if {nested!r}:
        os.mkdir(os.path.join(cg.path, "inner"))
        with open(os.path.join(cg.path, "inner", "cgroup.procs"), "w") as f:
            f.write("0")
        with open(os.path.join(cg.path, "cgroup.subtree_control"), "w") as f:
            f.write("+" + cg.controller)
    time.sleep(30)
    os._exit(0)
inner = os.path.join(cg.path, "inner") if {nested!r} else cg.path
while not os.path.exists(os.path.join(inner, "cgroup.procs")) or \
        str(pid) not in open(os.path.join(inner, "cgroup.procs")).read().split() or \
        {nested!r} and cg.controller not in open(os.path.join(cg.path, "cgroup.subtree_control")).read():
    time.sleep(0.001)
mine = open("/proc/self/cgroup").read().strip().rsplit("/", 1)[1]
cg.remove()
print(mine, cg.controller in offered, pid)
"""
    import subprocess
    import sys
    from conftest import ROOT, logmemory_env

    def into_play():
        (play / "cgroup.procs").write_text("0")
    r = subprocess.run([sys.executable, "-c", script], env=logmemory_env(), cwd=ROOT,
                       preexec_fn=into_play, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    mine, offered, leftover = r.stdout.split()
    try:
        assert mine == b"lm-job-self" and offered == b"True"
        assert (play / "cgroup.procs").read_text().split() == [leftover.decode()]
        assert controller not in (play / "cgroup.subtree_control").read_text().split()
        assert sorted(p.name for p in play.iterdir() if p.is_dir()) == []
    finally:
        os.kill(int(leftover), 9)


def test_enclosing_limit_is_the_smallest_of_our_cgroup_and_its_ancestors(tmp_path):
    """v2 shows no limit as "max"; the root has no memory.max at all."""
    own = tmp_path / "a" / "b" / "c"
    own.mkdir(parents=True)
    for d, limit in ((tmp_path / "a", "300000000"), (tmp_path / "a" / "b", "200000000"),
                     (own, "max")):
        (d / "memory.max").write_text(limit + "\n")
    assert cgroup.enclosing_limit(str(own), "cgroup2") == cgroup.Limit(str(tmp_path / "a" / "b"), 200000000)
    (own / "memory.max").write_text("max\n")
    (tmp_path / "a" / "b" / "memory.max").write_text("max\n")
    (tmp_path / "a" / "memory.max").write_text("max\n")
    assert cgroup.enclosing_limit(str(own), "cgroup2") is None


def fake_v2_counters(path, oom, oom_kill, local=None):
    events = f"low 0\nhigh 0\nmax {oom}\noom {oom}\noom_kill {oom_kill}\noom_group_kill 0\n"
    (path / "memory.events").write_text(events)
    (path / "memory.events.local").write_text(local or events)


def test_oom_watch_v2_no_limit_of_its_own(tmp_path):
    """The kill comes at the enclosing limit and counts in the job's cgroup (v2 memory.events
    counts a victim in every ancestor); kills before the job are not the job's."""
    outer = tmp_path / "outer"
    job = outer / "own" / "logmemory-1"
    job.mkdir(parents=True)
    (outer / "memory.max").write_text("100000000\n")
    (outer / "own" / "memory.max").write_text("max\n")
    fake_v2_counters(outer, 0, 3)
    fake_v2_counters(job, 0, 0)
    watch = cgroup.OomWatch(cgroup.JobCgroup("cgroup2", str(outer / "own"), "logmemory-1"),
                            cgroup.enclosing_limit(str(outer / "own"), "cgroup2"))
    assert not (job / "memory.max").exists()
    assert watch.result() == Oom(0, None, None, None)
    fake_v2_counters(job, 0, 1)
    fake_v2_counters(outer, 1, 4, local="oom 1\noom_kill 3\n")
    assert watch.result() == Oom(1, 100000000, str(outer), 0)


def test_oom_watch_v2_enclosing_limit_hit_by_others(tmp_path):
    """The enclosing limit hit and a process of its own killed, none of the job's."""
    outer = tmp_path / "outer"
    job = outer / "logmemory-1"
    job.mkdir(parents=True)
    (outer / "memory.max").write_text("100000000\n")
    fake_v2_counters(outer, 0, 0)
    fake_v2_counters(job, 0, 0)
    watch = cgroup.OomWatch(cgroup.JobCgroup("cgroup2", str(outer), "logmemory-1"),
                            cgroup.enclosing_limit(str(outer), "cgroup2"))
    fake_v2_counters(outer, 1, 1, local="oom 1\noom_kill 1\n")
    assert watch.result() == Oom(0, 100000000, str(outer), 1)


def fake_enclosing(tmp_path, procs, peak=50 << 20, usage=12 << 20):
    """A v2 cgroup of a Slurm step's shape that we run in."""
    step = tmp_path / "slurm" / "job_3" / "step_0"
    step.mkdir(parents=True)
    (step / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
    (step / "memory.peak").write_text(f"{peak}\n")
    (step / "memory.current").write_text(f"{usage}\n")
    return step


def test_a_batch_systems_cgroup_holding_only_us_and_our_ancestors_is_read_as_the_jobs(tmp_path):
    step = fake_enclosing(tmp_path, [os.getpid(), os.getppid()])
    cg = cgroup._enclosing("cgroup2", str(step), "a Slurm job step", ours=[os.getpid()])
    assert (cg.join_fd(), cg.held_kb, cg.path) == (None, 12 << 10, str(step))
    with pytest.raises(cgroup.Unavailable, match=r"had held 51200 kB before the command started, "
                                                 r"and the job never took it higher"):
        cg.peak_kb()
    (step / "memory.peak").write_text(f"{80 << 20}\n")
    assert cg.peak_kb() == 80 << 10
    cg.remove()
    assert step.is_dir() and [p for p in step.iterdir() if p.is_dir()] == []


def test_a_batch_systems_cgroup_with_other_processes_gives_no_peak(tmp_path):
    step = fake_enclosing(tmp_path, [os.getpid(), os.getppid(), 999999])
    with pytest.raises(cgroup.Unavailable, match=r"is a Slurm job step, not ours to make a cgroup "
                                                 r"in, and it also holds 1 other processes"):
        cgroup._enclosing("cgroup2", str(step), "a Slurm job step", ours=[os.getpid()])


def test_the_watcher_removes_the_job_cgroup_once_logmemory_has_gone(tmp_path):
    """A plain directory tree stands for the cgroups: the watcher waits for the pipe's end,
    then removes the job's directories, deepest first, and leaves ours."""
    own = tmp_path / "own"
    job = own / "logmemory-1"
    (job / "nested").mkdir(parents=True)
    for d in (own, job, job / "nested"):
        (d / "cgroup.procs").write_text("")
    cg = cgroup.JobCgroup("cgroup1", str(own), "logmemory-1")
    cg.guard()
    time.sleep(0.2)
    assert job.is_dir()  # logmemory still holds the pipe
    for d in (job, job / "nested"):
        (d / "cgroup.procs").unlink()  # rmdir needs an empty directory here, unlike in a cgroup
    os.close(cg.watcher_fd)
    deadline = time.monotonic() + 5
    while job.exists():
        assert time.monotonic() < deadline, "the watcher left the job's directory"
        time.sleep(0.02)
    assert own.is_dir()


@pytest.mark.parametrize("path, managed", [
    ("/user.slice/user-1000.slice/session-3.scope", True),
    ("/system.slice/cron.service", True),
    ("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope", True),
    ("/machine.slice/machine-vm1.scope", True),
    ("/slurm/uid_0/job_1/step_0", False),
    ("/process_api/x", False),
    ("/user.slicer/x", False),
    ("/init.scope/user@x.service", False),
    ("/", False)])
def test_which_cgroups_systemd_manages(path, managed):
    from logmemory import systemd
    assert systemd.is_unit_path(path) == managed


@pytest.mark.parametrize("path, owner", [
    ("/slurm/uid_0/job_12/step_0/user/task_0", "a Slurm job step"),
    ("/system.slice/slurmstepd.scope/job_7/step_batch", "a Slurm job step"),
    ("/slurm/job_x/step_0", None),
    ("/system.slice/docker-0123abcd.scope", "a container's cgroup"),
    ("/machine.slice/libpod-42.scope/container", "a container's cgroup"),
    ("/kubepods.slice/kubepods-burstable.slice/pod1", "a container's cgroup"),
    ("/kubepods/besteffort/pod1/abc", "a container's cgroup"),
    ("/system.slice/crio-9.scope", "a container's cgroup"),
    ("/user.slice/user-1000.slice/session-2.scope", None),
    ("/mydocker-notes", None),
    ("/", None)])
def test_which_cgroups_belong_to_a_batch_system_or_container(path, owner):
    assert cgroup._foreign(path) == owner


@pytest.mark.parametrize("path, slice_", [("/system.slice/cron.service", "system.slice"),
                                          ("/user.slice/user-0.slice/session-3.scope", "user-0.slice"),
                                          ("/x.scope", "-.slice")])
def test_a_units_slice(path, slice_):
    from logmemory import systemd
    assert systemd._slice(path) == slice_


def test_v2_container_scope_is_not_taken_out_even_where_systemd_runs(fake_v2, monkeypatch):
    """docker-*.scope is systemd's, but what runs inside is the container runtime's."""
    from logmemory import systemd
    own, mountinfo, _ = fake_v2
    own = own.parent / "docker-1.scope"
    own.mkdir()
    our_cgroup(own, "memory", procs="7\n42\n")
    monkeypatch.setattr(systemd, "manages", lambda path: True)
    monkeypatch.setattr(systemd, "scope", lambda *a, **kw: pytest.fail("systemd was asked"))
    with pytest.raises(cgroup.Unavailable, match="a container's cgroup, not ours"):
        cgroup.create("logmemory-42", mountinfo, b"0::/user.slice/docker-1.scope\n", ours=[42])


def test_systemd_call_gives_status_and_stderr():
    from logmemory import systemd
    assert systemd._call(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, b"err\n")


def test_the_watcher_waits_even_when_our_caller_closed_0_1_2(tmp_path):
    """The pipe's ends would take descriptors 0 and 1, which the watcher's /dev/null replaces
    (it then saw the end at once and removed the job's cgroup under the running job)."""
    own = tmp_path / "own"
    (own / "logmemory-1").mkdir(parents=True)
    script = f"""
import os, sys, time
for fd in (0, 1, 2):
    os.close(fd)
from logmemory import cgroup
cg = cgroup.JobCgroup("cgroup1", {str(own)!r}, "logmemory-1")
cg.guard()
time.sleep(0.5)
alive = os.path.isdir(cg.path)
os.close(cg.watcher_fd)
open({str(tmp_path / "alive")!r}, "w").write(str(alive))
"""
    subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                   check=True, timeout=30)
    assert (tmp_path / "alive").read_text() == "True"
    deadline = time.monotonic() + 5
    while (own / "logmemory-1").exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
