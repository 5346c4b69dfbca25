"""A Slurm batch step ends what its script started: scancel signals the script alone, and once
it has ended Slurm SIGKILLs the rest 10-15 ms later (measured, tests/test_slurm.py). logmemory
as the script's child would end with nothing written; the script's end is its cue."""

import _thread
import ctypes
import os

from logmemory import procfs
from logmemory._ptrace import libc
from logmemory.errors import LogMemoryError

SYS_PIDFD_OPEN = 434  # the same on x86_64 and arm64 (Linux 5.3)
POLLIN = 1


class _PollFd(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


def script_pid(cgroup_text: bytes, root="/proc"):
    """Our parent's pid if we run in a Slurm batch step (a step_batch cgroup, v1 or v2) as the
    child of its script (whose parent is slurmstepd); else None."""
    if b"/step_batch/" not in cgroup_text:
        return None
    parent = os.getppid()
    try:
        grandparent = procfs.read_ids(parent, root)[1]
        with open(f"{root}/{grandparent}/comm", "rb") as f:
            comm = f.read()
    except (LogMemoryError, OSError):
        return None
    return parent if comm.startswith(b"slurmstepd") else None


def on_end(pid, callback):
    """Call callback() from a thread of its own once process pid has ended (pidfd_open: only the
    whole process's end wakes it, none of its threads'); nothing where it cannot be watched
    (before Linux 5.3, or it ended already)."""
    fd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if fd < 0:
        return
    if os.getppid() != pid:  # it ended before we had it
        os.close(fd)
        return
    os.set_inheritable(fd, False)
    _thread.start_new_thread(_wait, (fd, callback))


def _wait(fd, callback):
    poll = _PollFd(fd, POLLIN, 0)
    while libc.poll(ctypes.byref(poll), 1, -1) < 0 and ctypes.get_errno() == 4:  # EINTR
        pass
    callback()
