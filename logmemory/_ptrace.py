"""Thin ctypes binding to ptrace(2): constants, one call that raises OSError, one-line wrappers."""

import ctypes
import os

PTRACE_CONT = 7
PTRACE_DETACH = 17
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GETSIGINFO = 0x4202
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_LISTEN = 0x4208

PTRACE_O_TRACEFORK = 0x02
PTRACE_O_TRACEVFORK = 0x04
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEEXIT = 0x40

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_STOP = 128

# wait4() flag: wait for clone children (threads) too.
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(request, pid, addr=0, data=0):
    """Call ptrace(2); raise OSError with errno on failure."""
    result = libc.ptrace(request, pid, addr, data)
    if result == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, os.strerror(err))
    return result


def seize(pid, options):
    ptrace(PTRACE_SEIZE, pid, 0, options)


def cont(pid, sig=0):
    ptrace(PTRACE_CONT, pid, 0, sig)


def listen(pid):
    ptrace(PTRACE_LISTEN, pid)


def detach(pid, sig=0):
    ptrace(PTRACE_DETACH, pid, 0, sig)


def geteventmsg(pid):
    msg = ctypes.c_ulong()
    ptrace(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(msg))
    return msg.value


def getsiginfo(pid):
    """(si_signo, si_code, si_pid) of what holds pid in a ptrace stop; ESRCH if none does."""
    buf = ctypes.create_string_buffer(128)
    ptrace(PTRACE_GETSIGINFO, pid, 0, ctypes.addressof(buf))
    # siginfo_t: int si_signo, si_errno, si_code, then (64-bit) padding; si_pid at offset 16.
    signo, _, code, _, sender = (int.from_bytes(buf.raw[i:i + 4], "little", signed=True)
                                 for i in (0, 4, 8, 12, 16))
    return signo, code, sender


def getsiginfo_pid(pid):
    """si_pid of the signal that stopped pid (the sender, for kill())."""
    return getsiginfo(pid)[2]
