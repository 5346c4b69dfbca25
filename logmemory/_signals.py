"""Thin binding to the kernel's signal calls, for all 64 signals.

Python's signal module (and glibc's wrappers) refuse signals 32 and 33, which glibc keeps for
itself; a command can still die of them or be sent them, so logmemory must block, wait for,
reset and raise them too. One call each, raising OSError; no policy.
"""

import ctypes
import os

from logmemory._ptrace import libc
from logmemory.signames import NUMBERS

NSIG = 64
SIG_DFL, SIG_IGN = 0, 1
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2

SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGPIPE, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, \
    SIGTTIN, SIGTTOU, SIGXFSZ = (NUMBERS[n] for n in (
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGPIPE", "SIGTERM", "SIGCHLD", "SIGCONT",
        "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGXFSZ"))

# Default action "ignore" or "stop", or not catchable; every other signal ends a process.
_NOT_FATAL = {SIGCHLD, SIGCONT, NUMBERS["SIGURG"], NUMBERS["SIGWINCH"], SIGKILL, SIGSTOP,
              SIGTSTP, SIGTTIN, SIGTTOU}
FATAL = frozenset(range(1, NSIG + 1)) - _NOT_FATAL

_SYSCALLS = {  # rt_sigaction, rt_sigprocmask, rt_sigpending, rt_sigtimedwait, tgkill, gettid
    "x86_64": (13, 14, 127, 128, 234, 186),
    "aarch64": (134, 135, 136, 137, 131, 178),
}
_ACTION, _PROCMASK, _PENDING, _TIMEDWAIT, _TGKILL, _GETTID = _SYSCALLS[os.uname().machine]
libc.syscall.restype = ctypes.c_long


class SigAction(ctypes.Structure):
    # The kernel's struct sigaction on x86_64 and arm64 (not glibc's).
    _fields_ = [("handler", ctypes.c_void_p), ("flags", ctypes.c_ulong),
                ("restorer", ctypes.c_void_p), ("mask", ctypes.c_uint64)]


class SigInfo(ctypes.Structure):
    # The head of siginfo_t, padded to its full 128 bytes: signo, errno, code, then (64-bit) pid.
    _fields_ = [("si_signo", ctypes.c_int), ("si_errno", ctypes.c_int), ("si_code", ctypes.c_int),
                ("_pad", ctypes.c_int), ("si_pid", ctypes.c_int), ("si_uid", ctypes.c_uint),
                ("_rest", ctypes.c_byte * 104)]


class _TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


def mask_of(signals) -> int:
    return sum(1 << (s - 1) for s in set(signals))


def signals_of(mask: int):
    return [s for s in range(1, NSIG + 1) if mask >> (s - 1) & 1]


def _check(result):
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def sigprocmask(how, mask: int) -> int:
    """Change this thread's signal mask; return the previous one."""
    new, old = ctypes.c_uint64(mask), ctypes.c_uint64()
    _check(libc.syscall(_PROCMASK, how, ctypes.byref(new), ctypes.byref(old), 8))
    return old.value


def sigpending() -> int:
    """The signals pending for this thread or the process."""
    mask = ctypes.c_uint64()
    _check(libc.syscall(_PENDING, ctypes.byref(mask), 8))
    return mask.value


def sigaction(sig, action=None) -> SigAction:
    """Set sig's action (None: leave it); return the previous one."""
    old = SigAction()
    _check(libc.syscall(_ACTION, sig, ctypes.byref(action) if action else None,
                        ctypes.byref(old), 8))
    return old


def set_handler(sig, handler) -> SigAction:
    """SIG_DFL or SIG_IGN, no flags; return the previous action."""
    return sigaction(sig, SigAction(handler, 0, None, 0))


def sigtimedwait(mask: int, timeout):
    """The SigInfo of a signal of mask that is pending or arrives within timeout seconds, or None."""
    info, ts = SigInfo(), _TimeSpec(int(timeout), int(timeout % 1 * 1e9))
    while True:
        n = libc.syscall(_TIMEDWAIT, ctypes.byref(ctypes.c_uint64(mask)), ctypes.byref(info),
                         ctypes.byref(ts), 8)
        if n > 0:
            return info
        err = ctypes.get_errno()
        if err == 11:  # EAGAIN: timed out
            return None
        if err != 4:  # EINTR: a signal outside mask (SIGSTOP/SIGCONT) woke us; wait on
            raise OSError(err, os.strerror(err))


def sent_by_us(info) -> bool:
    """Whether a signal came from this process (kill, tgkill, or the kernel for our own write to
    a closed pipe: SI_USER with our pid), rather than from someone who meant it for the job."""
    return info.si_pid == os.getpid() and info.si_code <= 0


# Python ignores these at start-up (a command gets them back at their default action).
PYTHON_IGNORES = frozenset((SIGPIPE, SIGXFSZ))


def take_interrupt():
    """Take from the queue a pending signal that would have ended the command, if one came: not
    one the caller blocked or ignored (nohup's SIGHUP: the command would not have died of it; the
    signal thread passes it on later), nor one we caused (SIGPIPE of a write to a closed stderr)."""
    for sig in signals_of(sigpending() & mask_of(FATAL) & ~caller_mask):
        if sig not in PYTHON_IGNORES and sigaction(sig).handler == SIG_IGN:
            continue
        info = sigtimedwait(mask_of([sig]), 0)
        if info is not None and not sent_by_us(info):
            return info.si_signo
    return None


def raise_here(sig):
    """Send sig to this thread only (where it is unblocked), as raise() does."""
    _check(libc.syscall(_TGKILL, os.getpid(), libc.syscall(_GETTID), sig))


# Signals that logmemory holds (blocks in every thread) from its start: those whose default
# action would end it, and SIGCONT, which the command must see too.
HELD = mask_of(FATAL | {SIGCONT})
caller_mask = None  # the signal mask logmemory was started with, for the command


def hold(earlier=None):
    """Block HELD in this thread (threads started later inherit it); the first call keeps the
    caller's mask, which the command gets back before exec.

    earlier: the caller's mask, where signals were blocked before: as a mask from the
    bootloader, or as signal.pthread_sigmask() returned it (a set without 32 and 33, whose
    bits come from this call)."""
    global caller_mask
    old = sigprocmask(SIG_BLOCK, HELD)
    if caller_mask is None:
        reserved = mask_of({32, 33})
        caller_mask = old if earlier is None else earlier if isinstance(earlier, int) \
            else mask_of(earlier) & ~reserved | old & reserved
