"""The event loop over the traced tasks of a job and their memory figures; it wakes only on
process events."""

import os
import resource

from logmemory import _ptrace, _signals, procfs, spawn, stops
from logmemory.errors import CannotRun, LogMemoryError, ProcessGone
from logmemory.record import ProcessRecord, Tree
from logmemory.relay import Relay

# No PTRACE_O_TRACESYSGOOD and never PTRACE_SYSCALL: the command runs at full speed between
# process events. TRACECLONE gives us every thread's exit stop, where a late peak shows. No
# TRACEEXEC: the last exit stop of a process always sees its last program image (see update).
TOP_OPTIONS = _ptrace.PTRACE_O_TRACEEXIT | _ptrace.PTRACE_O_TRACECLONE
FOLLOW_OPTIONS = TOP_OPTIONS | _ptrace.PTRACE_O_TRACEFORK | _ptrace.PTRACE_O_TRACEVFORK
# Programs that trace their own children: a process has one tracer, so theirs must not be us.
# (A job that runs another such program needs --no-follow.)
DEBUGGERS = {b"strace", b"ltrace", b"gdb", b"gdbserver", b"lldb", b"lldb-server", b"rr", b"proot"}
# Descriptors left free for everything else (log, record, cgroup, /proc reads at exit stops)
# when status files are opened ahead, one per live process.
FD_RESERVE = 64
# Descriptors opened ahead for each process under a memory limit: status, cmdline, oom_score.
LIMITED_FDS = 3


def _new_task(tid):
    """The id of the task tid's creation event made; None if tid was killed meanwhile (a
    SIGKILL makes ptrace refuse it): the new task is then claimed at its first stop."""
    try:
        return _ptrace.geteventmsg(tid)
    except ProcessLookupError:
        return None


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
        self.cmdline_fd = None    # its command line, opened the same way under a memory limit
        self.oom_fd = None        # its oom_score, likewise
        self.oom_killable = False  # whether that score was above 0 when opened
        self.read_error = None    # why a read at an exit stop failed, if one did
        self.cut = None           # why its figures may have been cut by the OOM reaper, if so
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
            maxrss_kb=self.rusage.ru_maxrss if self.rusage and not self.cut else None,
            wait_status=self.wait_status, threads=self.thread_count,
            start_s=self.start_s, end_s=self.end_s)


class Tracer:
    """Event loop over the traced tasks of one command and, when following, its descendants.

    Every stop that wait4() reports gets its restart in the same iteration (see run()): no task
    ever waits in a stop for an event that may not come."""

    def __init__(self, child: spawn.Child, clock, started, follow=True, wait_all=False,
                 sample_ms=None, proc_root="/proc", relay_pid=None, all_cmdlines=True,
                 limited=False):
        self.child = child
        self.clock = clock
        self.started = started
        self.follow = follow
        self.wait_all = wait_all
        self.proc_root = proc_root
        self.limited = limited       # a memory limit encloses us: no allocation at exit stops
        # Without it only the largest process's command line is kept (read when it may be that).
        self.all_cmdlines = all_cmdlines
        self.biggest = None          # the reaped process with the largest VmHWM, first reaped on ties
        self.read_error = None       # the first exit-stop read that failed but not for a lost process
        self.cut = None              # the first process whose figures the OOM reaper may have cut
        self.cmd_error = None        # the same for a command line
        self.broken = None           # a bug of ours met while tracing; the job goes on without it
        self.open_budget = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FD_RESERVE - _open_fds()
        self.command = None
        self.tasks = {}              # live traced tid -> its Proc
        self.procs = []              # every process seen, in order of creation
        self.expected = {}           # new task -> how to start it at its first stop, still to come
        self.claimed = set()         # new tasks started before their creation event came
        self.ended_unclaimed = set()  # new tasks that ended before their creation event came
        self.result = None           # (wait status, rusage) of the command
        self.done = False
        self.exit_stop_seen = False
        self.not_followed = set()    # debuggers whose children we left to them
        self.sampled_peak_kb = None
        self.open_next = None        # a new process whose status to open once it runs
        self.sample_ms = sample_ms
        self.relay = Relay(clock, relay_pid, self._sample if sample_ms else None,
                           sample_ms / 1000 if sample_ms else None)
        if not child.traced:
            self._add_proc(child.pid, os.getpid())
            self.relay.command_started([child.pid])

    def now(self):
        return self.clock() - self.started

    def run(self):
        """Wait for events until the command (with --wait-all, the whole tree) ends."""
        # Signals and sampling get a thread of their own, so that this one can sleep in wait4()
        # and pay one system call per process event.
        self.relay.start()
        try:
            self._loop()
        finally:
            self.relay.stop()
        try:
            for proc in self.procs:  # processes that outlive the command keep running untraced
                self._close_status(proc)
        except Exception as exc:  # the command has ended: how must still come back
            self.broken = self.broken or f"internal error ({type(exc).__name__}: {exc})"

    def _loop(self):
        while not self.done:
            try:
                tid, status, rusage = os.wait4(-1, _ptrace.WALL)
            except ChildProcessError:
                if self.result is None:
                    raise LogMemoryError("lost track of the command (no children left)") from None
                return
            ev = stops.decode(tid, status, rusage)
            restart = None
            try:
                restart = self._pass_on(ev) if self.broken else self._handle(ev)
            except LogMemoryError:
                raise
            except Exception as exc:  # whatever it is, the job must not pay for it
                self.broken = f"internal error ({type(exc).__name__}: {exc})"
                restart = self._pass_on(ev)
            finally:
                if stops.is_stop(ev):  # the invariant: this stop ends here, whatever happened
                    stops.apply(tid, restart or stops.default_restart(ev))
            if self.open_next is not None:
                self._open_status(self.open_next)

    def _handle(self, ev):
        """Note what the event tells; the restart it calls for (None: as if untraced)."""
        kind = type(ev)
        if kind is stops.ExitStop:
            self._on_exit_stop(ev.tid)
        elif kind is stops.CreationStop:
            new = _new_task(ev.tid)
            return None if new is None else self._on_created(ev.tid, new)
        elif kind is stops.NewTaskStop:
            return self._on_new_task(ev.tid)
        elif kind is stops.SignalStop:
            self._note_delivery(ev)
        elif kind is stops.Exited:
            self._on_gone(ev.tid, ev.status, ev.rusage)
        return None

    def _note_delivery(self, ev):
        proc = self.tasks.get(ev.tid)
        if proc is not None and proc is self.command:
            # Any thread of the command: one whose main thread has exited takes signals there.
            try:
                self.relay.delivered_to_command(ev.sig, _ptrace.getsiginfo_pid(ev.tid))
            except OSError:
                pass

    def _pass_on(self, ev):
        """After a bug of ours: every task but the command's own goes untraced at its next stop,
        as without logmemory, and we learn how the command ended; nothing more is measured."""
        if isinstance(ev, stops.Exited):
            if self.command is not None and ev.tid == self.command.pid:
                self.command.wait_status = ev.status
                self.result = (ev.status, ev.rusage)
                self.done = True  # even with --wait-all: the rest of the job is no longer traced
            elif self.command is None and ev.tid == self.child.pid:
                self.result = (ev.status, None)
                self.done = True
            return None
        if isinstance(ev, stops.CreationStop) and self.command is None and ev.tid == self.child.pid:
            # The launcher started the command: that is still ours to follow to its end.
            new = _new_task(ev.tid)
            if new is not None:
                self._begin_command(new)
        if self._of_command(ev.tid):
            if isinstance(ev, stops.SignalStop):
                self._note_delivery(ev)
            return None
        return stops.Detach(ev.sig if isinstance(ev, stops.SignalStop) else 0)

    def _of_command(self, tid):
        """Whether tid is a thread of the command: those stay traced, since one that execs
        takes over the command's pid and, untraced, would hide how it ends."""
        if self.command is None:
            return False
        if tid == self.command.pid or self.tasks.get(tid) is self.command:
            return True
        try:
            return procfs.read_ids(tid, self.proc_root)[0] == self.command.pid
        except LogMemoryError:
            return False

    def _begin_command(self, pid):
        """The launcher has started the command: the job's top process, which gets the signals."""
        self._add_proc(pid, self.child.pid)
        self.relay.command_started([pid])

    def _add_proc(self, pid, ppid):
        proc = Proc(pid, ppid, self.now())
        self.procs.append(proc)
        self.tasks[pid] = proc
        if self.command is None:
            self.command = proc
        return proc

    def _add_thread(self, proc, tid):
        proc.thread_count += 1
        proc.tids.add(tid)
        self.tasks[tid] = proc

    def _sample(self):
        # list() copies in one step, while the main thread changes the table.
        live = {id(p): p for p in list(self.tasks.values())}.values()
        total, read = 0, False
        for proc in live:
            try:
                total += procfs.read_pss_kb(proc.pid, list(proc.tids), self.proc_root)
                read = True
            except LogMemoryError:
                pass
        if read:  # a sample that found nothing to read is no sign that the job held nothing
            self.sampled_peak_kb = max(total, self.sampled_peak_kb or 0)

    def _on_created(self, parent, new):
        """A traced task forked, vforked or cloned: decide now how its child starts."""
        if new in self.claimed:  # its first stop came first; it may even have ended since
            self.claimed.discard(new)
        elif new in self.ended_unclaimed:  # killed before it ever stopped: nothing to start
            self.ended_unclaimed.discard(new)
        elif new not in self.tasks:
            self.expected[new] = self._adopt(new, parent, self.tasks.get(parent), thread=None)
        if parent == self.child.pid and self.command is not None and self.command.pid == new:
            return stops.Detach(0)  # the launcher has started the command: it is done
        return None

    def _on_new_task(self, tid):
        """A task's first stop: start it as decided at its creation, or, where its creation
        event has not come yet (its parent may have died first), as /proc says it was made."""
        if tid in self.expected:
            return self._start(tid, self.expected.pop(tid))
        if tid in self.tasks or tid == self.child.pid:
            return None  # not a first stop: woken from a PTRACE_LISTEN (SIGCONT)
        try:
            tgid, ppid = procfs.read_ids(tid, self.proc_root)
        except ProcessGone:
            return None  # killed meanwhile: its exit comes next
        if tgid != tid:
            action = self._adopt(tid, tgid, self.tasks.get(tgid), thread=True)
        else:
            action = self._adopt(tid, ppid, self.tasks.get(ppid), thread=False)
        self.claimed.add(tid)
        return self._start(tid, action)

    def _adopt(self, new, parent_tid, parent, thread):
        """Enter a new task in the table; how it starts: "command", "run" or "untrack".

        parent: the Proc that made it, None if unknown (the launcher, or gone); thread: None
        when the kernel's creation event is all we know."""
        if self.command is None and parent_tid == self.child.pid:
            self._begin_command(new)
            return "command"
        if not isinstance(parent, Proc):
            # Born of a traced parent that is gone: a process of the job all the same.
            if thread is False and self.follow:
                self._add_proc(new, parent_tid)
                return "run"
            return "untrack"
        if thread is None:
            thread = os.path.exists(f"{self.proc_root}/{parent.pid}/task/{new}")
        if thread:
            self._add_thread(parent, new)
            return "run"
        if self.follow and not self._is_debugger(parent):
            self._add_proc(new, parent.pid)
            return "run"
        return "untrack"

    def _is_debugger(self, proc):
        try:
            exe = os.readlink(b"%s/%d/exe" % (os.fsencode(self.proc_root), proc.pid))
        except OSError:
            return False
        if exe.rpartition(b"/")[2] not in DEBUGGERS:
            return False
        self.not_followed.add(proc.pid)
        return True

    def _start(self, tid, action):
        """The restart of a new task's first stop."""
        if action == "untrack":
            return stops.Detach(0)
        proc = self.tasks.get(tid)
        if proc is not None and proc.pid == tid:
            self.open_next = proc
        if action == "command":
            return stops.Start(FOLLOW_OPTIONS if self.follow else TOP_OPTIONS)
        return stops.Start(0)

    def _open_status(self, proc):
        """Open a new process's status while it runs: its exit stop then costs one read.

        Under a memory limit its command line and oom_score too, each read once now: an open
        file and a status file's first read allocate kernel memory charged to our cgroup, which
        at an OOM victim's exit stop would wait for the OOM reaper (memlock.py)."""
        self.open_next = None
        if self.open_budget <= 0 or proc.wait_status is not None:
            return
        try:
            proc.status_fd = procfs.open_status(proc.pid, self.proc_root)
            self.open_budget -= 1
            if self.limited and self.open_budget >= LIMITED_FDS - 1:
                procfs.read_fd(proc.status_fd, proc.pid)
                proc.cmdline_fd = procfs.open_status(proc.pid, self.proc_root, "cmdline")
                proc.oom_fd = procfs.open_status(proc.pid, self.proc_root, "oom_score")
                self.open_budget -= LIMITED_FDS - 1
                proc.oom_killable = procfs.read_fd(proc.oom_fd, proc.pid).strip() != b"0"
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
        if tid == proc.pid and self._reaped(proc):
            proc.cut = "emptied by the kernel's OOM reaper before its exit stop could be read"
            proc.status = None
            self.cut = self.cut or f"pid {proc.pid}'s figures not measured: {proc.cut}"
            return
        proc.update(st)
        # The leader's exit stop comes after any exec (the execing thread becomes leader): a
        # command line read before it may be the previous program's.
        stale = tid == proc.pid
        if (proc.cmd is None or stale) and self._may_need_cmd(st):
            try:
                if tid == proc.pid and proc.cmdline_fd is not None:
                    cmd = procfs.read_cmdline_fd(proc.cmdline_fd, tid)
                else:
                    cmd = procfs.read_cmdline(proc.pid, tid, self.proc_root)
                proc.cmd = cmd or proc.cmd
            except ProcessGone:
                pass
            except LogMemoryError as exc:
                self.cmd_error = self.cmd_error or str(exc)
        elif stale:
            proc.cmd = None  # a later exit stop that may need it reads it again

    def _reaped(self, proc):
        """Whether the OOM reaper has emptied proc: the kernel then scores it 0 (MMF_OOM_SKIP),
        which it did not when it was opened, and it is dying of SIGKILL (a score lowered to 0
        by its own oom_score_adj dies otherwise, or not killable). Read after the status, so
        that a 0 here also covers a reaping that ended during that read."""
        if proc.oom_fd is None or not proc.oom_killable:
            return False
        try:
            if procfs.read_fd(proc.oom_fd, proc.pid).strip() != b"0":
                return False
        except LogMemoryError:
            return False
        try:
            status = _ptrace.geteventmsg(proc.pid)  # at an exit stop: how it is ending
        except OSError:
            return True
        return os.WIFSIGNALED(status) and os.WTERMSIG(status) == _signals.SIGKILL

    def _may_need_cmd(self, st):
        """Whether this read could make its process the tree's largest, whose command is named."""
        return self.all_cmdlines or self._beats_biggest(st)

    def _beats_biggest(self, st):
        """VmHWM above that of every process reaped so far (one reaped earlier wins ties)."""
        biggest = self.biggest.status.vmhwm_kb if self.biggest else -1
        return st.vmhwm_kb is not None and st.vmhwm_kb > biggest

    def _close_status(self, proc):
        for name in ("status_fd", "cmdline_fd", "oom_fd"):
            fd = getattr(proc, name)
            if fd is not None:
                os.close(fd)
                setattr(proc, name, None)
                self.open_budget += 1

    def _on_gone(self, tid, status, rusage):
        self.expected.pop(tid, None)  # killed before its first stop
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
                if proc is self.command:
                    self.result = (status, rusage)
                    self.done = not self.wait_all
                    if self.wait_all:
                        self.relay.retarget(p.pid for p in self.procs if p.wait_status is None)
        elif tid == self.child.pid and self.command is None:
            errno = spawn.exec_error(self.child)
            if errno is not None:
                raise CannotRun(os.fsdecode(self.child.launcher), errno, os.strerror(errno))
            # The launcher ended before it could start the command (a signal, most likely).
            self.result = (status, None)
            self.done = True
        elif tid != self.child.pid:
            self.ended_unclaimed.add(tid)

    def tree(self) -> Tree:
        """The whole job's figures as the tracer saw them (the peak only where sampled); what
        was not followed is None, with the reason."""
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
            if self.cut:  # that one may have been the largest
                biggest = None
                reasons["max_vmhwm_kb"] = self.cut
            if self.not_followed:
                pids = ", ".join(map(str, sorted(self.not_followed)))
                reasons["processes"] = (f"children of pid {pids} not followed: it traces them "
                                        "itself (a process can have one tracer)")
        else:
            biggest = processes = threads = None
            reasons["processes"] = "descendants not followed" + (
                "" if self.child.traced else " (not traced)")
        peak, source, sample_ms = None, None, None
        if self.sampled_peak_kb is not None:
            peak, source = self.sampled_peak_kb, "sampled"
            sample_ms = self.sample_ms
        return Tree(
            processes=processes, threads=threads,
            max_vmhwm_kb=biggest.status.vmhwm_kb if biggest else None,
            max_vmhwm_pid=biggest.pid if biggest else None,
            max_vmhwm_cmd=biggest.cmd if biggest else None,
            peak_kb=peak, peak_source=source, unmeasured=reasons, sample_ms=sample_ms)
