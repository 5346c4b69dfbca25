"""Run a command under ptrace and collect its memory figures; wakes only on process events."""

import os
import signal
import time
from datetime import datetime

from logmemory import _ptrace, procfs, spawn
from logmemory.errors import CannotRun, LogMemoryError
from logmemory.record import Run

# Signals sent to logmemory that the command should get instead.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCONT)
WATCHED = {signal.SIGCHLD, *FORWARDED}
STOP_SIGNALS = {signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}
SI_KERNEL = 0x80

# No PTRACE_O_TRACESYSGOOD and never PTRACE_SYSCALL: the command runs at full speed between
# process events. TRACECLONE gives us every thread's exit stop, where a late peak shows.
TOP_OPTIONS = _ptrace.PTRACE_O_TRACEEXIT | _ptrace.PTRACE_O_TRACEEXEC | _ptrace.PTRACE_O_TRACECLONE
CREATION_EVENTS = {_ptrace.PTRACE_EVENT_FORK, _ptrace.PTRACE_EVENT_VFORK, _ptrace.PTRACE_EVENT_CLONE}


class Proc:
    """One traced process (thread group) and the largest memory figures read at its exit stops."""

    def __init__(self, pid):
        self.pid = pid
        self.status = None
        self.threads = {pid}

    def update(self, st: procfs.Status):
        """Keep the largest value read: VmHWM and VmPeak only grow within one program image."""
        old = self.status
        if old is None or (st.vmhwm_kb or 0) >= (old.vmhwm_kb or 0):
            peak = st if old is None or (st.vmpeak_kb or 0) >= (old.vmpeak_kb or 0) else old
            self.status = st._replace(vmpeak_line=peak.vmpeak_line, vmpeak_kb=peak.vmpeak_kb)
        elif (st.vmpeak_kb or 0) > (old.vmpeak_kb or 0):
            self.status = old._replace(vmpeak_line=st.vmpeak_line, vmpeak_kb=st.vmpeak_kb)


class Tracer:
    """Event loop over the traced tasks of one command."""

    def __init__(self, child: spawn.Child, proc_root="/proc"):
        self.child = child
        self.proc_root = proc_root
        self.top = None if child.traced else Proc(child.pid)
        self.tasks = {} if self.top is None else {child.pid: self.top}
        self.unclaimed = set()       # new tasks whose first stop came before their creation event
        self.expected = {}           # new task -> what to do at its first stop, still to come
        self.pending_signals = []    # forwarded before the command's process existed
        self.result = None           # (wait status, rusage) of the command
        self.exit_stop_seen = False

    def run(self):
        """Wait for events until the command ends; return its (wait status, rusage)."""
        while self.result is None:
            info = signal.sigtimedwait(WATCHED, 1.0)
            if info is not None and info.si_signo != signal.SIGCHLD:
                self._forward(info)
            else:
                self._drain()
        return self.result

    def _forward(self, info):
        # A terminal's ^C, ^\ or hangup went to the whole foreground process group, the command
        # included: sending it again would deliver it twice.
        if info.si_code == SI_KERNEL and info.si_signo != signal.SIGCONT:
            return
        if self.top is None:
            self.pending_signals.append(info.si_signo)
            return
        try:
            os.kill(self.top.pid, info.si_signo)
        except ProcessLookupError:
            pass

    def _drain(self):
        while self.result is None:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG | _ptrace.WALL)
            except ChildProcessError:
                raise LogMemoryError("lost track of the command (no children left)") from None
            if pid == 0:
                return
            if os.WIFSTOPPED(status):
                self._on_stop(pid, status)
            else:
                self._on_gone(pid, status, rusage)

    def _on_stop(self, tid, status):
        sig = os.WSTOPSIG(status)
        event = status >> 16
        try:
            if event == _ptrace.PTRACE_EVENT_EXIT:
                self._on_exit_stop(tid)
            elif event in CREATION_EVENTS:
                self._on_created(tid, _ptrace.geteventmsg(tid), event)
                return
            elif event == _ptrace.PTRACE_EVENT_EXEC:
                self._on_exec(tid, _ptrace.geteventmsg(tid))
            elif event == _ptrace.PTRACE_EVENT_STOP:
                if sig in STOP_SIGNALS:
                    # Group-stop: stay stopped until SIGCONT, as without a tracer.
                    _ptrace.listen(tid)
                    return
                if tid in self.expected:
                    self._start_task(tid, self.expected.pop(tid))
                    return
                if tid not in self.tasks and tid != self.child.pid:
                    self.unclaimed.add(tid)  # its creation event has not been seen yet
                    return
            _ptrace.cont(tid, sig if event == 0 else 0)  # event 0: re-inject the signal
        except ProcessLookupError:
            pass  # killed (SIGKILL) while stopped; its exit is reported next

    def _on_created(self, parent, new, event):
        if parent == self.child.pid and self.top is None:
            # The launcher forked the command: trace that and let the launcher go.
            self.top = Proc(new)
            self.tasks[new] = self.top
            _ptrace.detach(parent)
            for sig in self.pending_signals:
                os.kill(new, sig)
            action = "top"
        else:
            proc = self.tasks.get(parent)
            is_thread = (proc is not None and event == _ptrace.PTRACE_EVENT_CLONE
                         and os.path.exists(f"{self.proc_root}/{proc.pid}/task/{new}"))
            if is_thread:
                proc.threads.add(new)
                self.tasks[new] = proc
            action = "thread" if is_thread else "untrack"
            _ptrace.cont(parent)
        if new in self.unclaimed:
            self.unclaimed.discard(new)
            self._start_task(new, action)
        else:
            self.expected[new] = action

    @staticmethod
    def _start_task(tid, action):
        """Release a new task from its first stop: configured, resumed, or let go."""
        if action == "untrack":
            _ptrace.detach(tid)
            return
        if action == "top":
            _ptrace.ptrace(_ptrace.PTRACE_SETOPTIONS, tid, 0, TOP_OPTIONS)
        _ptrace.cont(tid)

    def _on_exit_stop(self, tid):
        proc = self.tasks.get(tid)
        if proc is None:
            return
        self.exit_stop_seen = True
        try:
            proc.update(procfs.read_status(proc.pid, tid, self.proc_root))
        except LogMemoryError:
            pass

    def _on_exec(self, pid, former):
        proc = self.tasks.get(pid)
        if proc is None:
            return
        # A new program image starts its own VmHWM, as in the original tool; the thread that
        # called execve now carries the process id and the other threads are gone.
        proc.status = None
        for tid in proc.threads - {pid}:
            self.tasks.pop(tid, None)
        proc.threads = {pid}

    def _on_gone(self, tid, status, rusage):
        proc = self.tasks.pop(tid, None)
        if proc is not None:
            proc.threads.discard(tid)
            if tid == proc.pid and proc is self.top:
                self.result = (status, rusage)
        elif tid == self.child.pid and self.top is None:
            errno = spawn.exec_error(self.child)
            if errno is not None:
                raise CannotRun("/bin/sh", errno, os.strerror(errno))
            # The launcher ended before it could start the command (a signal, most likely).
            self.result = (status, None)


def trace(argv, path, trace=True, clock=time.monotonic, proc_root="/proc") -> Run:
    """Run argv (path already resolved) to completion and measure it; never alters its outcome."""
    # Blocked before fork so that no signal slips between fork and the event loop; the child
    # restores the caller's mask before exec.
    saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    started = clock()
    child = spawn.start(argv, path, saved_mask, trace)
    if not child.traced:
        # Without ptrace a failed exec is the child's only news; wait for it here.
        errno = spawn.exec_error(child)
        if errno is not None:
            os.waitpid(child.pid, 0)
            raise CannotRun(os.fsdecode(argv[0]), errno, os.strerror(errno))
    tracer = Tracer(child, proc_root)
    status, rusage = tracer.run()
    elapsed = clock() - started
    if child.traced:
        os.close(child.error_fd)
    return _make_run(argv, tracer, child, status, rusage, elapsed)


def _make_run(argv, tracer, child, status, rusage, elapsed) -> Run:
    unmeasured = {}
    warnings = []
    st = tracer.top.status if tracer.top else None
    if st is None or st.vmhwm_kb is None:
        if child.trace_error:
            reason = child.trace_error
            warnings.append(f"{reason}: VmPeak and VmHWM not measured; MaxRSS from wait4 only")
        elif not child.traced:
            reason = "not traced (--no-trace)"
        elif tracer.top is None:
            reason = "the command never started"
        elif not tracer.exit_stop_seen:
            reason = "no exit stop (killed before the kernel reported its exit)"
        else:
            reason = "/proc status had no memory lines at the exit stop"
        unmeasured["vmpeak_kb"] = unmeasured["vmhwm_kb"] = reason
        st = None
    if rusage is None:
        unmeasured["maxrss_kb"] = unmeasured["user_s"] = unmeasured["sys_s"] = "no rusage"
    return Run(
        argv=tuple(argv),
        ended=datetime.now().astimezone(),
        wait_status=status,
        pid=tracer.top.pid if tracer.top else None,
        vmpeak_line=st.vmpeak_line if st else None,
        vmhwm_line=st.vmhwm_line if st else None,
        vmpeak_kb=st.vmpeak_kb if st else None,
        vmhwm_kb=st.vmhwm_kb if st else None,
        maxrss_kb=rusage.ru_maxrss if rusage else None,
        maxrss_floor_kb=child.floor_kb,
        elapsed_s=elapsed,
        user_s=rusage.ru_utime if rusage else None,
        sys_s=rusage.ru_stime if rusage else None,
        unmeasured=unmeasured,
        warnings=tuple(warnings),
    )
