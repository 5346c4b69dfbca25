"""Put a rendered record into a file: whole or not at all."""

import ctypes
import errno
import os
import stat
import time

from logmemory._ptrace import libc

LOCK_EX, LOCK_NB, LOCK_UN = 2, 4, 8
# How long to wait for another logmemory's append (a single write) before appending unlocked:
# a lock held longer is not one of ours (flock(1) around the whole job, say).
LOCK_WAIT = 1.0


def append(fd, data: bytes):
    """Append data with one write() on an O_APPEND descriptor, or raise OSError having left
    the file as it was.

    Concurrent records never interleave: O_APPEND places each write() at the end in one piece.
    A short write (a full disk, a file size limit) is taken back by truncating to where the
    record began; holding flock() meanwhile makes that safe against other logmemory processes
    appending to the same file (not against other programs, which do not take the lock)."""
    locked = _lock(fd)
    try:
        written = os.write(fd, data)
        if written != len(data):
            end = os.lseek(fd, 0, os.SEEK_CUR)  # after an O_APPEND write: the end of ours
            if locked and os.fstat(fd).st_size == end:
                os.ftruncate(fd, end - written)
                raise OSError(f"short write ({written} of {len(data)} bytes), taken back")
            raise OSError(f"short write ({written} of {len(data)} bytes)")
    finally:
        if locked:
            libc.flock(fd, LOCK_UN)


def _lock(fd):
    """Whether we hold the lock; never waits for long (it fails at once on a pipe or a tty)."""
    for _ in range(int(LOCK_WAIT / 0.01)):
        if libc.flock(fd, LOCK_EX | LOCK_NB) == 0:
            return True
        if ctypes.get_errno() != errno.EWOULDBLOCK:
            return False
        time.sleep(0.01)
    return False


def replace(fd, data: bytes):
    """Make a regular file hold data and nothing else, or nothing at all (a pipe: write data)."""
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    if regular:
        os.ftruncate(fd, 0)
    written = 0
    try:
        written = os.write(fd, data)  # opened just now, without O_APPEND: at offset 0
    finally:
        if regular and written != len(data):
            os.ftruncate(fd, 0)
    if written != len(data):
        raise OSError(f"short write ({written} of {len(data)} bytes), taken back")
