"""Run a command under ptrace and collect its memory figures; wakes only on process events."""

import _thread
import os
import resource
import signal
import time

from logmemory import _ptrace, cgroup, procfs, spawn
from logmemory.errors import CannotRun, LogMemoryError, ProcessGone
from logmemory.record import ProcessRecord, Run, Tree

# Signals sent to logmemory that the command should get instead.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCONT)
STOP_SIGNALS = {signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU}
# What a terminal sends to its foreground process group (si_code SI_KERNEL).
TERMINAL_SIGNALS = {signal.SIGINT, signal.SIGQUIT, signal.SIGHUP}
SI_KERNEL = 0x80
# How long a signal sent to our whole process group may take to show in the command.
GROUP_SIGNAL_WAIT = 0.05

# No PTRACE_O_TRACESYSGOOD and never PTRACE_SYSCALL: the command runs at full speed between
# process events. TRACECLONE gives us every thread's exit stop, where a late peak shows. No
# TRACEEXEC: the last exit stop of a process always sees its last program image (see update).
TOP_OPTIONS = _ptrace.PTRACE_O_TRACEEXIT | _ptrace.PTRACE_O_TRACECLONE
FOLLOW_OPTIONS = TOP_OPTIONS | _ptrace.PTRACE_O_TRACEFORK | _ptrace.PTRACE_O_TRACEVFORK
# Programs that trace their own children: a process has one tracer, so theirs must not be us.
# (A job that runs another such program needs --no-follow.)
DEBUGGERS = {b"strace", b"ltrace", b"gdb", b"gdbserver", b"lldb", b"lldb-server", b"rr", b"proot"}
CREATION_EVENTS = {_ptrace.PTRACE_EVENT_FORK, _ptrace.PTRACE_EVENT_VFORK, _ptrace.PTRACE_EVENT_CLONE}
# Descriptors left free for everything else (log, record, cgroup, /proc reads at exit stops)
# when status files are opened ahead, one per live process.
FD_RESERVE = 64


def _open_fds():
    """How many descriptors we hold: a caller may have passed us many."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class Proc:
    """One traced process (thread group) and the largest memory figures read at its exit stops."""

    def __init__(self, pid, ppid, start_s):
        self.pid = pid
        self.ppid = ppid
        self.start_s = start_s
        self.end_s = None
        self.status = None        # VmPeak/VmHWM as last read at one of its exit stops
        self.cmd = None
        self.status_fd = None     # its /proc status, opened while it runs (see procfs.open_status)
        self.read_error = None    # why a read at an exit stop failed, if one did
        self.thread_count = 1     # threads it ever ran, the main one included
        self.tids = set()         # its other threads' ids, as created (see _on_gone)
        self.leader_exited = False  # its main thread has passed its exit stop
        self.wait_status = None
        self.rusage = None

    def update(self, st: procfs.Status):
        """Keep the latest read: VmHWM and VmPeak only grow within one program image, so the
        latest exit stop shows the largest values of the last image (the original tool's figure),
        even when the main thread exited long before the last thread."""
        if st.vmhwm_kb is not None:
            self.status = st

    def record(self) -> ProcessRecord:
        st = self.status
        return ProcessRecord(
            pid=self.pid, ppid=self.ppid, cmd=self.cmd,
            vmhwm_kb=st.vmhwm_kb if st else None, vmpeak_kb=st.vmpeak_kb if st else None,
            maxrss_kb=self.rusage.ru_maxrss if self.rusage else None,
            wait_status=self.wait_status, threads=self.thread_count,
            start_s=self.start_s, end_s=self.end_s)


class Tracer:
    """Event loop over the traced tasks of one command and, when following, its descendants."""

    def __init__(self, child: spawn.Child, clock, started, follow=True, wait_all=False,
                 sample_ms=None, proc_root="/proc", job_cgroup=None, relay_pid=None,
                 all_cmdlines=True):
        self.child = child
        self.clock = clock
        self.started = started
        self.follow = follow
        self.wait_all = wait_all
        self.sample_s = sample_ms / 1000 if sample_ms else None
        self.proc_root = proc_root
        self.job_cgroup = job_cgroup
        self.relay_pid = relay_pid
        # Without it only the largest process's command line is kept (read when it may be that).
        self.all_cmdlines = all_cmdlines
        self.biggest = None          # the reaped process with the largest VmHWM, first reaped on ties
        self.read_error = None       # the first exit-stop read that failed but not for a lost process
        self.cmd_error = None        # the same for a command line
        self.broken = None           # a bug of ours met while tracing; the job goes on without it
        self.open_budget = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FD_RESERVE - _open_fds()
        self.tty_signal_at = {}      # signal -> when a terminal last sent it to our process group
        self.delivered = {}          # signal -> (sender pid, when) it last reached the command
        self.top = None
        self.tasks = {}              # live traced tid -> its Proc
        self.procs = []              # every process seen, in order of creation
        self.unclaimed = set()       # new tasks whose first stop came before their creation event
        self.expected = {}           # new task -> what to do at its first stop, still to come
        self.result = None           # (wait status, rusage) of the command
        self.done = False
        self.exit_stop_seen = False
        self.not_followed = set()    # debuggers whose children we left to them
        self.sampled_peak_kb = None
        if not child.traced:
            self._add_proc(child.pid, os.getpid())

    def now(self):
        return self.clock() - self.started

    def run(self):
        """Wait for events until the command (with --wait-all, the whole tree) ends."""
        # Signals and sampling get a thread of their own, so that this one can sleep in wait4()
        # and pay one system call per process event.
        _thread.start_new_thread(self._signal_loop, ())
        while not self.done:
            try:
                pid, status, rusage = os.wait4(-1, _ptrace.WALL)
            except ChildProcessError:
                if self.result is None:
                    raise LogMemoryError("lost track of the command (no children left)") from None
                break
            if self.broken:
                self._pass_on(pid, status, rusage)
                continue
            try:
                if os.WIFSTOPPED(status):
                    self._on_stop(pid, status)
                else:
                    self._on_gone(pid, status, rusage)
            except LogMemoryError:
                raise
            except Exception as exc:  # whatever it is, the job must not pay for it
                self.broken = f"internal error ({type(exc).__name__}: {exc})"
                # This event first: it may be the command's start or end. If its task was
                # resumed before the error, resuming it again fails harmlessly.
                self._pass_on(pid, status, rusage)
                self._let_go({*self.tasks, *self.unclaimed, *self.expected} - {pid})
        self.done = True
        try:
            for proc in self.procs:  # processes that outlive the command keep running untraced
                self._close_status(proc)
        except Exception as exc:  # the command has ended: how must still come back
            self.broken = self.broken or f"internal error ({type(exc).__name__}: {exc})"

    def _let_go(self, tids):
        """After a bug of ours: release whichever of tids sits in a ptrace stop (the kernel says
        which and why), as _pass_on does."""
        for tid in tids:
            try:
                signo, code, _ = _ptrace.getsiginfo(tid)
            except OSError:
                continue  # running, or gone
            # A ptrace event stop has si_code SIGTRAP | event << 8; a signal's own codes are
            # below 0x100.
            self._pass_on_stop(tid, code >> 8 if code >= 0x100 else 0, signo)

    def _pass_on(self, tid, status, rusage):
        """After a bug of ours: let every task but the command's own go untraced at its next
        stop, as without logmemory, and learn how the command ended; nothing more is measured."""
        if os.WIFSTOPPED(status):
            event = status >> 16
            if self.top is None and tid == self.child.pid and event in CREATION_EVENTS:
                # The launcher started the command: that is still ours to follow to its end.
                try:
                    self._add_proc(_ptrace.geteventmsg(tid), tid)
                except OSError:
                    pass
            self._pass_on_stop(tid, event, os.WSTOPSIG(status))
        elif self.top is not None and tid == self.top.pid:
            self.top.wait_status = status
            self.result = (status, rusage)
            self.done = True  # even with --wait-all: the rest of the job is no longer traced
        elif self.top is None and tid == self.child.pid:
            self.result = (status, None)
            self.done = True

    def _of_command(self, tid):
        """Whether tid is a thread of the command: those stay traced, since one that execs
        takes over the command's pid and, untraced, would hide how it ends."""
        if self.top is None:
            return False
        if tid == self.top.pid:
            return True
        try:
            return procfs.read_ids(tid, self.proc_root)[0] == self.top.pid
        except LogMemoryError:
            return False

    def _pass_on_stop(self, tid, event, sig):
        ours = self._of_command(tid)
        try:
            if not ours:
                # Detached in a group-stop, a task stays stopped; a signal being delivered goes on.
                _ptrace.detach(tid, sig if event == 0 else 0)
            elif event == _ptrace.PTRACE_EVENT_STOP and sig in STOP_SIGNALS:
                _ptrace.listen(tid)
            else:
                if event == 0 and sig in FORWARDED and tid == self.top.pid:
                    self.delivered[sig] = (_ptrace.getsiginfo_pid(tid), self.clock())
                _ptrace.cont(tid, sig if event == 0 else 0)
        except OSError:
            pass  # resumed already, or gone

    def _signal_loop(self):
        """Second thread: forward the signals sent to us; sample the job's RSS if asked."""
        if self.sample_s:
            self._sample()
        while not self.done:
            info = signal.sigtimedwait(FORWARDED, self.sample_s or 0.5)
            if info is not None:
                self._forward(info)
            if self.sample_s:
                self._sample()

    def _add_proc(self, pid, ppid):
        proc = Proc(pid, ppid, self.now())
        self.procs.append(proc)
        self.tasks[pid] = proc
        if self.top is None:
            self.top = proc
        return proc

    def _add_thread(self, proc, tid):
        proc.thread_count += 1
        proc.tids.add(tid)
        self.tasks[tid] = proc

    def _sample(self):
        # list() copies in one step, while the main thread changes the table.
        live = {id(p): p for p in list(self.tasks.values())}.values()
        total = 0
        for proc in live:
            try:
                total += procfs.read_rss_kb(proc.pid, self.proc_root)
            except LogMemoryError:
                pass
        self.sampled_peak_kb = max(total, self.sampled_peak_kb or 0)

    def _forward(self, info):
        """Pass a signal sent to us on to the command, unless the command got it already."""
        signo = info.si_signo
        # A terminal's ^C, ^\ or hangup went to the whole foreground process group, the
        # command included.
        if info.si_code == SI_KERNEL and signo in TERMINAL_SIGNALS:
            self.tty_signal_at[signo] = self.clock()
            return
        while self.top is None and not self.done:
            time.sleep(0.001)  # the launcher has not started the command yet
        # kill(-pgrp) reaches the command directly too: its signal-delivery stop shows it. The
        # one-file binary's bootloader (relay_pid) passes on every signal it gets, so its copy
        # is a duplicate whoever sent the original.
        relayed = info.si_pid == self.relay_pid
        if relayed and self.clock() - self.tty_signal_at.pop(signo, -1.0) < 0.5:
            return
        deadline = self.clock() + GROUP_SIGNAL_WAIT
        while True:
            sender, at = self.delivered.get(signo, (None, -1.0))
            if (relayed or sender == info.si_pid) and self.clock() - at < 0.5:
                return
            if self.clock() >= deadline:
                break
            time.sleep(0.002)
        if self.top is not None and self.top.wait_status is None:
            targets = [self.top.pid]
        else:
            # --wait-all after the command ended: the signal is for what is left of the job.
            targets = [p.pid for p in list(self.tasks.values()) if p.wait_status is None]
        for pid in set(targets):
            try:
                os.kill(pid, signo)
            except ProcessLookupError:
                pass

    def _on_stop(self, tid, status):
        sig = os.WSTOPSIG(status)
        event = status >> 16
        try:
            if event == _ptrace.PTRACE_EVENT_EXIT:
                self._on_exit_stop(tid)
            elif event in CREATION_EVENTS:
                self._on_created(tid, _ptrace.geteventmsg(tid), event)
                return
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
            if event == 0 and sig in FORWARDED and self.top is not None and tid == self.top.pid:
                self.delivered[sig] = (_ptrace.getsiginfo_pid(tid), self.clock())
            _ptrace.cont(tid, sig if event == 0 else 0)  # event 0: re-inject the signal
        except ProcessLookupError:
            pass  # killed (SIGKILL) while stopped; its exit is reported next

    def _on_created(self, parent, new, event):
        if parent == self.child.pid and self.top is None:
            # The launcher started the command: trace that and let the launcher go.
            self._add_proc(new, parent)
            action, resume_parent = "top", _ptrace.detach
        else:
            resume_parent = _ptrace.cont
            proc = self.tasks.get(parent)
            if proc is not None and event == _ptrace.PTRACE_EVENT_CLONE and \
                    os.path.exists(f"{self.proc_root}/{proc.pid}/task/{new}"):
                self._add_thread(proc, new)
                action = "run"
            elif proc is not None and self.follow and not self._is_debugger(proc):
                self._add_proc(new, proc.pid)
                action = "run"
            else:
                action = "untrack"
        # The new task first: it is what the job waits for (a vfork parent cannot run before it).
        if new in self.unclaimed:
            self._release(self._start_task, new, action)
            self.unclaimed.discard(new)  # only now: a bug above must find it (see _let_go)
        else:
            self.expected[new] = action
        self._release(resume_parent, parent)

    @staticmethod
    def _release(resume, tid, *args):
        try:
            resume(tid, *args)
        except ProcessLookupError:
            pass  # killed meanwhile (SIGKILL); its exit comes next

    def _adopt_unclaimed(self):
        """New tasks whose parent died (SIGKILL) before its fork event reached us: without
        this they would wait in their first stop for ever."""
        for tid in list(self.unclaimed):
            try:
                tgid, ppid = procfs.read_ids(tid, self.proc_root)
            except ProcessGone:
                self.unclaimed.discard(tid)
                continue
            except LogMemoryError:
                continue  # tried again when the next process ends
            parent = self.tasks.get(ppid)
            if tgid == tid and parent is not None and parent.wait_status is None:
                continue  # its parent lives: the fork event is on its way
            proc = self.tasks.get(tgid)
            if tgid != tid and proc is not None:
                self._add_thread(proc, tid)
                self._release(self._start_task, tid, "run")
            elif tgid == tid and self.follow:
                self._add_proc(tid, ppid)
                self._release(self._start_task, tid, "run")
            else:
                self._release(self._start_task, tid, "untrack")
            self.unclaimed.discard(tid)

    def _is_debugger(self, proc):
        try:
            exe = os.readlink(b"%s/%d/exe" % (os.fsencode(self.proc_root), proc.pid))
        except OSError:
            return False
        if exe.rpartition(b"/")[2] not in DEBUGGERS:
            return False
        self.not_followed.add(proc.pid)
        return True

    def _start_task(self, tid, action):
        """Release a new task from its first stop: configured, resumed, or let go."""
        if action == "untrack":
            _ptrace.detach(tid)
            return
        if action == "top":
            options = FOLLOW_OPTIONS if self.follow else TOP_OPTIONS
            _ptrace.ptrace(_ptrace.PTRACE_SETOPTIONS, tid, 0, options)
        _ptrace.cont(tid)
        proc = self.tasks.get(tid)
        if proc is not None and proc.pid == tid and self.open_budget > 0:
            try:
                proc.status_fd = procfs.open_status(tid, self.proc_root)
                self.open_budget -= 1
            except ProcessGone:
                pass
            except LogMemoryError:
                self.open_budget = 0  # out of descriptors after all: its exit stop opens the file

    def _on_exit_stop(self, tid):
        proc = self.tasks.get(tid)
        if proc is None:
            return
        self.exit_stop_seen = True
        if tid == proc.pid:
            proc.leader_exited = True
        elif not proc.leader_exited:
            # The main thread's own exit stop comes later and sees at least as much: VmHWM and
            # VmPeak only grow within an image, and a thread that execs becomes the main one.
            return
        try:
            if tid == proc.pid and proc.status_fd is not None:
                st = procfs.read_status_fd(proc.status_fd, tid)
            else:
                st = procfs.read_status(proc.pid, tid, self.proc_root)
        except ProcessGone:
            return
        except LogMemoryError as exc:
            proc.read_error = str(exc)
            self.read_error = self.read_error or proc.read_error
            return
        proc.update(st)
        # The leader's exit stop comes after any exec (the execing thread becomes leader): a
        # command line read before it may be the previous program's.
        stale = tid == proc.pid
        if (proc.cmd is None or stale) and self._may_need_cmd(st):
            try:
                proc.cmd = procfs.read_cmdline(proc.pid, tid, self.proc_root) or proc.cmd
            except ProcessGone:
                pass
            except LogMemoryError as exc:
                self.cmd_error = self.cmd_error or str(exc)
        elif stale:
            proc.cmd = None  # a later exit stop that may need it reads it again

    def _may_need_cmd(self, st):
        """Whether this read could make its process the tree's largest, whose command is named."""
        return self.all_cmdlines or self._beats_biggest(st)

    def _beats_biggest(self, st):
        """VmHWM above that of every process reaped so far (one reaped earlier wins ties)."""
        biggest = self.biggest.status.vmhwm_kb if self.biggest else -1
        return st.vmhwm_kb is not None and st.vmhwm_kb > biggest

    def _close_status(self, proc):
        if proc.status_fd is not None:
            os.close(proc.status_fd)
            proc.status_fd = None
            self.open_budget += 1

    def _on_gone(self, tid, status, rusage):
        proc = self.tasks.pop(tid, None)
        if proc is not None:
            proc.tids.discard(tid)
            if tid == proc.pid:
                proc.wait_status, proc.rusage, proc.end_s = status, rusage, self.now()
                self._close_status(proc)
                # A thread that execs takes the leader's id and its own ends without a report:
                # drop it, or a new process given that id later would be taken for this one.
                for stale in proc.tids:
                    if self.tasks.get(stale) is proc:
                        del self.tasks[stale]
                proc.tids.clear()
                if proc.status and self._beats_biggest(proc.status):
                    self.biggest = proc
                if proc is self.top:
                    self.result = (status, rusage)
                    self.done = not self.wait_all
                if self.unclaimed:
                    self._adopt_unclaimed()
        elif tid == self.child.pid and self.top is None:
            errno = spawn.exec_error(self.child)
            if errno is not None:
                raise CannotRun("/bin/sh", errno, os.strerror(errno))
            # The launcher ended before it could start the command (a signal, most likely).
            self.result = (status, None)
            self.done = True

    def tree(self) -> Tree:
        """The whole job's figures; what was not followed is None, with the reason."""
        reasons = {}
        if self.broken:
            biggest = processes = threads = None
            reasons["processes"] = f"{self.broken}: what ran after it was not followed"
        elif self.follow and self.child.traced:
            # A process still running when we stopped may have been measured at its main
            # thread's exit stop; the reaped one goes first so that it wins ties, as above.
            measured = [self.biggest] if self.biggest else []
            measured += [p for p in self.procs if p.wait_status is None and p.status
                         and p.status.vmhwm_kb is not None]
            biggest = max(measured, key=lambda p: p.status.vmhwm_kb, default=None)
            processes, threads = len(self.procs), sum(p.thread_count for p in self.procs)
            if self.not_followed:
                pids = ", ".join(map(str, sorted(self.not_followed)))
                reasons["processes"] = (f"children of pid {pids} not followed: it traces them "
                                        "itself (a process can have one tracer)")
        else:
            biggest = processes = threads = None
            reasons["processes"] = "descendants not followed" + (
                "" if self.child.traced else " (not traced)")
        peak, source = None, None
        if self.job_cgroup:
            peak, source = self.job_cgroup.peak_kb(), self.job_cgroup.version
        elif self.sampled_peak_kb is not None:
            peak, source = self.sampled_peak_kb, "sampled"
        return Tree(
            processes=processes, threads=threads,
            max_vmhwm_kb=biggest.status.vmhwm_kb if biggest else None,
            max_vmhwm_pid=biggest.pid if biggest else None,
            max_vmhwm_cmd=biggest.cmd if biggest else None,
            peak_kb=peak, peak_source=source, unmeasured=reasons)


def trace(argv, path, trace=True, follow=True, wait_all=False, sample_ms=None,
          clock=time.monotonic, proc_root="/proc", relay_pid=None, all_cmdlines=True,
          use_cgroup=True) -> Run:
    """Run argv (path already resolved) to completion and measure it; never alters its outcome.

    relay_pid: a process that forwards the signals it gets to us (the one-file bootloader).
    all_cmdlines: record every process's command line, not only the largest one's."""
    # Blocked before fork so that no signal slips between fork and the event loop; the child
    # restores the caller's mask before exec.
    saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    if wait_all:
        spawn.become_subreaper()
    try:
        ours = [os.getpid()] + ([relay_pid] if relay_pid else [])
        job_cgroup, no_cgroup = (cgroup.create(f"logmemory-{os.getpid()}", ours=ours), None) \
            if use_cgroup else (None, "no cgroup made, as asked (--no-cgroup)")
    except (cgroup.Unavailable, OSError) as exc:
        job_cgroup, no_cgroup = None, str(exc)
    try:
        join_fd = job_cgroup.join_fd() if job_cgroup else None
        started = clock()
        child = spawn.start(argv, path, saved_mask, trace, join_fd)
        if join_fd is not None:
            os.close(join_fd)
        if not child.traced:
            # Without ptrace a failed exec is the child's only news; wait for it here.
            errno = spawn.exec_error(child)
            if errno is not None:
                os.waitpid(child.pid, 0)
                os.close(child.error_fd)
                raise CannotRun(os.fsdecode(argv[0]), errno, os.strerror(errno))
        tracer = Tracer(child, clock, started, follow, wait_all, sample_ms, proc_root, job_cgroup,
                        relay_pid, all_cmdlines)
        tracer.run()
        elapsed = clock() - started
        if child.traced:
            spawn.reap(child)
        tree = tracer.tree()
    finally:
        cgroup_error = None
        if job_cgroup:
            try:
                job_cgroup.remove()
            except OSError as exc:
                cgroup_error = f"could not remove the job cgroup {job_cgroup.path}: {exc}"
    os.close(child.error_fd)
    if tree.peak_kb is None:
        why = no_cgroup if sample_ms is None else "no sample taken"
        tree = tree._replace(unmeasured={**tree.unmeasured, "peak_kb": why})
    run = _make_run(argv, tracer, child, elapsed, tree)
    return run._replace(warnings=run.warnings + (cgroup_error,)) if cgroup_error else run


def _make_run(argv, tracer, child, elapsed, tree) -> Run:
    status, rusage = tracer.result
    unmeasured = {}
    warnings = []
    st = tracer.top.status if tracer.top else None
    if st is None or st.vmhwm_kb is None:
        if tracer.broken:
            reason = tracer.broken
        elif child.trace_error:
            reason = child.trace_error
            warnings.append(f"{reason}: VmPeak and VmHWM not measured; MaxRSS from wait4 only")
        elif not child.traced:
            reason = "not traced (--no-trace)"
        elif tracer.top is None:
            reason = "the command never started"
        elif not tracer.exit_stop_seen:
            reason = "no exit stop (killed before the kernel reported its exit)"
        elif tracer.top.read_error:
            reason = f"at the exit stop: {tracer.top.read_error}"
        else:
            reason = "/proc status had no memory lines at the exit stop"
        unmeasured["vmpeak_kb"] = unmeasured["vmhwm_kb"] = reason
        st = None
    if rusage is None:
        unmeasured["maxrss_kb"] = unmeasured["user_s"] = unmeasured["sys_s"] = "no rusage"
    if tracer.read_error:
        warnings.append(f"{tracer.read_error}: figures of some processes not measured")
    if tracer.cmd_error:
        warnings.append(f"{tracer.cmd_error}: command lines of some processes not read")
    if tracer.broken:
        warnings.append(f"{tracer.broken}; nothing measured after it, the command ran on")
    return Run(
        argv=tuple(argv),
        ended=time.localtime(),
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
        tree=tree,
        processes=tuple(p.record() for p in tracer.procs) if tracer.follow else (),
    )
