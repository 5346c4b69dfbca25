"""/proc parsing on captured files, and the readers against a fake /proc root."""

from pathlib import Path

import pytest

from logmemory import procfs
from logmemory.errors import ProcessGone

DATA = Path(__file__).parent / "data" / "proc"


def test_parse_running_process_keeps_lines_verbatim():
    data = (DATA / "status_running").read_bytes()
    st = procfs.parse_status(data)
    assert st.vmpeak_line in data.splitlines(keepends=True)
    assert st.vmhwm_line.startswith(b"VmHWM:\t") and st.vmhwm_line.endswith(b" kB\n")
    assert st.vmpeak_kb == int(st.vmpeak_line.split()[1])
    assert st.vmhwm_kb == int(st.vmhwm_line.split()[1])
    assert 0 < st.vmhwm_kb <= st.vmpeak_kb


@pytest.mark.parametrize("name", ["status_zombie", "status_kthread"])
def test_no_memory_lines(name):
    assert procfs.parse_status((DATA / name).read_bytes()) == procfs.Status(None, None, None, None)


def test_exact_layout():
    st = procfs.parse_status(b"Name:\tx\nVmPeak:\t  208076 kB\nVmSize:\t 1 kB\nVmHWM:\t  206756 kB\n")
    assert st == procfs.Status(b"VmPeak:\t  208076 kB\n", b"VmHWM:\t  206756 kB\n", 208076, 206756)


def test_read_status_uses_task_path_under_injected_root(tmp_path):
    task = tmp_path / "42" / "task" / "43"
    task.mkdir(parents=True)
    (task / "status").write_bytes(b"VmPeak:\t 10 kB\nVmHWM:\t 5 kB\n")
    assert procfs.read_status(42, 43, root=str(tmp_path)).vmhwm_kb == 5


def test_read_status_of_missing_process(tmp_path):
    with pytest.raises(ProcessGone):
        procfs.read_status(42, root=str(tmp_path))


def test_other_read_failures_are_domain_errors():
    """Out of descriptors at an exit stop must degrade the record, not end logmemory."""
    import errno
    from logmemory.errors import AccessDenied, LogMemoryError, Unreadable
    assert isinstance(procfs.translate_oserror(OSError(errno.ESRCH, "x"), 1), ProcessGone)
    assert isinstance(procfs.translate_oserror(OSError(errno.EACCES, "x"), 1), AccessDenied)
    exc = procfs.translate_oserror(OSError(errno.EMFILE, "Too many open files"), 7)
    assert isinstance(exc, Unreadable) and isinstance(exc, LogMemoryError)
    assert str(exc) == "cannot read /proc/7: Too many open files"


def test_pss_from_smaps_rollup():
    data = (DATA / "smaps_rollup").read_bytes()
    pss = int(next(line for line in data.splitlines() if line.startswith(b"Pss:")).split()[1])
    assert procfs.parse_pss_kb(data) == pss
    assert procfs.parse_pss_kb(b"") is None   # a kernel thread's


def test_pss_through_a_live_thread(tmp_path):
    """Once the main thread has exited its files fail with ESRCH (absent here); a live thread's serve."""
    (tmp_path / "7" / "task" / "9").mkdir(parents=True)
    (tmp_path / "7" / "task" / "9" / "smaps_rollup").write_bytes(b"Rss: 5 kB\nPss: 4 kB\n")
    assert procfs.read_pss_kb(7, [8, 9], root=str(tmp_path)) == 4
    with pytest.raises(ProcessGone):
        procfs.read_pss_kb(7, [8], root=str(tmp_path))
