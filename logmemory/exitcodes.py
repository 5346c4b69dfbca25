"""The exit statuses logmemory itself uses, and the mapping from the command's wait status."""

import os
import resource

from logmemory import _ptrace, _signals

PR_SET_DUMPABLE = 4

# Wrapper convention shared with env(1), nice(1), timeout(1):
FAILURE = 125          # logmemory itself failed: bad usage, log not writable
CANNOT_EXECUTE = 126   # the command was found but could not be executed
NOT_FOUND = 127        # the command was not found

EPILOG = """\
Exit status:
  the command's own exit status; if the command was killed by a signal,
  logmemory kills itself with the same signal (without dumping core)
  125  logmemory failed (bad usage, log file not writable); command not run
  126  the command was found but cannot be executed
  127  the command was not found"""


def from_wait(status):
    """The exit code that stands for a wait status, 128+n for a signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def die_like(status):
    """End this process the way the command ended: re-raise its fatal signal, else return its code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        # Our own core file would overwrite or accompany the command's, and mean nothing;
        # RLIMIT_CORE does not stop a core_pattern pipe, not being dumpable does.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _ptrace.libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        try:
            if sig != _signals.SIGKILL:
                _signals.set_handler(sig, _signals.SIG_DFL)
            _signals.sigprocmask(_signals.SIG_UNBLOCK, _signals.mask_of([sig]))
            # To this thread, where sig is unblocked: a process-wide kill() could be taken by
            # the signal thread, which waits for the same signals.
            _signals.raise_here(sig)
        except OSError:
            pass  # 128+n below
    return from_wait(status)
