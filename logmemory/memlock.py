"""Keep logmemory's own pages in memory while it runs under a memory limit.

Reclaim in a full cgroup takes the tracer's file pages (its code) first; at an OOM victim's exit
stop the tracer would fault them back in against that cgroup, and wait there until the OOM
reaper has emptied the victim (2 s), whose figures it then reads cut (README, Out of memory)."""

import ctypes
import os

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4

_libc = ctypes.CDLL(None, use_errno=True)


def lock():
    """Lock what is resident now and every page touched later, populating nothing more; the
    reason where the kernel refuses (an ordinary user's RLIMIT_MEMLOCK is below our size)."""
    if _libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0:
        return None
    return f"mlockall: {os.strerror(ctypes.get_errno())}"
