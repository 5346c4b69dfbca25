"""What wait4() reported, as one event per kind of ptrace(2) stop, and the restarts that end them.

A stop is ended by exactly one restart; apply() is the only place that issues it, so that the
event loop can give every stop its restart in the iteration that reported it.
"""

import os

from logmemory import _ptrace, _signals
from logmemory.value import value

STOP_SIGNALS = {_signals.SIGSTOP, _signals.SIGTSTP, _signals.SIGTTIN, _signals.SIGTTOU}
CREATION_EVENTS = {_ptrace.PTRACE_EVENT_FORK, _ptrace.PTRACE_EVENT_VFORK,
                   _ptrace.PTRACE_EVENT_CLONE}

# The kinds of event (every stop has tid; Exited has the wait status and rusage).
SignalStop = value("SignalStop", "tid sig")            # a signal about to be delivered
GroupStop = value("GroupStop", "tid sig")              # stopped by SIGSTOP/SIGTSTP/...
NewTaskStop = value("NewTaskStop", "tid")              # a new task's first stop
CreationStop = value("CreationStop", "tid event")      # fork/vfork/clone, before it returns
ExitStop = value("ExitStop", "tid")                    # exiting, memory still there
OtherStop = value("OtherStop", "tid event sig")        # anything else (none expected)
Exited = value("Exited", "tid status rusage")          # gone: exited or killed

# Restarts.
Cont = value("Cont", "sig")          # resume, delivering sig (0: none)
Listen = value("Listen", "")         # stay in group-stop, but report SIGCONT
Detach = value("Detach", "sig")      # untrace, delivering sig
Start = value("Start", "options")    # a new task: set options (if any), resume
RESUME = Cont(0)


def decode(tid, status, rusage):
    """One event from a wait4() result."""
    if not os.WIFSTOPPED(status):
        return Exited(tid, status, rusage)
    sig, event = os.WSTOPSIG(status), status >> 16
    if event == 0:
        return SignalStop(tid, sig)
    if event == _ptrace.PTRACE_EVENT_STOP:
        return GroupStop(tid, sig) if sig in STOP_SIGNALS else NewTaskStop(tid)
    if event in CREATION_EVENTS:
        return CreationStop(tid, event)
    if event == _ptrace.PTRACE_EVENT_EXIT:
        return ExitStop(tid)
    return OtherStop(tid, event, sig)


def is_stop(ev):
    return not isinstance(ev, Exited)


def default_restart(ev):
    """What the task would do if nobody traced it."""
    if isinstance(ev, SignalStop):
        return Cont(ev.sig)
    if isinstance(ev, GroupStop):
        return Listen()
    return RESUME


def apply(tid, restart):
    """End tid's stop; a task killed meanwhile (SIGKILL) is not an error: its exit comes next."""
    try:
        if isinstance(restart, Cont):
            _ptrace.cont(tid, restart.sig)
        elif isinstance(restart, Listen):
            _ptrace.listen(tid)
        elif isinstance(restart, Detach):
            _ptrace.detach(tid, restart.sig)
        else:
            if restart.options:
                _ptrace.ptrace(_ptrace.PTRACE_SETOPTIONS, tid, 0, restart.options)
            _ptrace.cont(tid)
    except ProcessLookupError:
        pass
