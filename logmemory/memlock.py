"""Keep logmemory's own pages in memory while it runs under a memory limit.

Reclaim in a full cgroup takes the tracer's file pages (its code) first; at an OOM victim's exit
stop the tracer would fault them back in against that cgroup, and wait there until the OOM
reaper has emptied the victim (2 s), whose figures it then reads cut (README, Out of memory)."""

import ctypes
import os
import resource

from logmemory._ptrace import libc

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
MLOCK_ONFAULT = 1


def lock():
    """Lock what is resident now and every page touched later, populating nothing more. Where
    the kernel refuses (an ordinary user's RLIMIT_MEMLOCK, 8 MiB, is below our address space),
    lock the code and read-only data of our files, as much as the limit allows; the reason
    where even that was refused."""
    if libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0:
        return None
    with open("/proc/self/maps", "rb") as f:
        return lock_within(parse_maps(f.read()), resource.getrlimit(resource.RLIMIT_MEMLOCK)[0])


def parse_maps(data: bytes):
    """(start, length) of the file-backed mappings in /proc/self/maps, code first, then
    read-only data: what reclaim takes from us and an exit stop needs back."""
    code, rodata = [], []
    for line in data.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[5].startswith(b"/"):
            continue
        start, end = (int(x, 16) for x in fields[0].split(b"-"))
        {b"r-xp": code, b"r--p": rodata}.get(fields[1], []).append((start, end - start))
    return code + rodata


def lock_within(mappings, budget):
    """mlock2(MLOCK_ONFAULT) the mappings in order while they fit in budget bytes."""
    mlock2 = getattr(libc, "mlock2", None)  # glibc 2.27 and later
    if mlock2 is None:
        return "mlock2: not in this C library"
    mlock2.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    why = None
    for start, length in mappings:
        if length > budget:
            continue
        if mlock2(start, length, MLOCK_ONFAULT) == 0:
            budget -= length
        else:
            why = f"mlock2: {os.strerror(ctypes.get_errno())}"
    return why
