"""The job cgroup: parsing, v2 on a fake cgroup tree, and live where the kernel offers it."""

import os
from pathlib import Path

import pytest

from logmemory import cgroup

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
        Path(path, "memory.peak").write_text("73400320\n")

    def rmdir(path):
        for name in ("cgroup.procs", "memory.peak"):
            Path(path, name).unlink()
        real_rmdir(path)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "rmdir", rmdir)
    mountinfo = f"40 31 0:37 / {tmp_path} rw - cgroup2 cgroup2 rw\n".encode()
    return own, mountinfo, b"0::/user.slice/job.scope\n"


def test_v2_job_cgroup_below_our_own(fake_v2):
    own, mountinfo, proc_cgroup = fake_v2
    (own / "cgroup.subtree_control").write_text("cpu memory pids\n")
    cg = cgroup.create("logmemory-1", mountinfo, proc_cgroup)
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
    (own / "cgroup.subtree_control").write_text("cpu pids\n")
    with pytest.raises(cgroup.Unavailable, match="memory controller not enabled below "
                                                 "/user.slice/job.scope"):
        cgroup.create("logmemory-1", mountinfo, proc_cgroup)


def test_no_memory_hierarchy_at_all():
    with pytest.raises(cgroup.Unavailable, match="no memory cgroup controller is mounted"):
        cgroup.create("x", b"22 1 8:1 / / rw - ext4 /dev/vda rw\n", b"0::/\n")


def live_v2_dir():
    mounts = cgroup.parse_mountinfo(Path("/proc/self/mountinfo").read_bytes())
    paths = cgroup.parse_proc_cgroup(Path("/proc/self/cgroup").read_bytes())
    for m in mounts:
        if m.version == "cgroup2" and "" in paths:
            own = Path(m.mountpoint + paths[""])
            control = own / "cgroup.subtree_control"
            if control.exists() and "memory" in control.read_text().split():
                return own
    return None


@pytest.mark.skipif(live_v2_dir() is None,
                    reason="cgroup v2 with the memory controller enabled below this test's cgroup "
                           "is not available here (this machine has the memory controller on v1)")
def test_live_v2_peak(lm, tmp_path, memhog):
    from conftest import json_records
    log = tmp_path / "m.log"
    assert lm("--format", "json", "-o", str(log), memhog, "-m", "40").returncode == 0
    tree = json_records(log)[0]["tree"]
    assert tree["peak_source"] == "cgroup2" and tree["peak_kb"] >= 40 * 1024
