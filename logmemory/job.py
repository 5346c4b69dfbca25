"""One job: its cgroup, the launcher, the event loop over its processes, and its record."""

import os
import time

from logmemory import _signals, batchstep, cgroup, memlock, procfs, spawn
from logmemory.errors import CannotRun, LogMemoryError
from logmemory.record import Run, Tree
from logmemory.tracer import Tracer


def run(argv, path, trace=True, follow=True, wait_all=False, sample_ms=None,
        clock=time.monotonic, proc_root="/proc", relay_pid=None, all_cmdlines=True,
        use_cgroup=True, early=None) -> Run:
    """Run argv (path already resolved) to completion and measure it; never alters its outcome.

    relay_pid: a process that forwards the signals it gets to us (the one-file bootloader).
    all_cmdlines: record every process's command line, not only the largest one's.
    early: called with the record so far if the batch system is about to end the job (see
    batchstep.py); the record returned at the end is then not to be written."""
    # Held from here on (if the caller has not done it earlier), so that no signal slips
    # between fork and the event loop; the child restores the caller's mask before exec.
    _signals.hold()
    try:
        ours = [os.getpid()] + ([relay_pid] if relay_pid else [])
        job_cgroup, no_cgroup = (cgroup.create(f"logmemory-{os.getpid()}", ours=ours), None) \
            if use_cgroup else (None, "no cgroup made, as asked (--no-cgroup)")
    except (cgroup.Unavailable, OSError) as exc:
        job_cgroup, no_cgroup = None, str(exc)
    except Exception as exc:  # a bug of ours: the job runs all the same, without the cgroup
        job_cgroup, no_cgroup = None, f"internal error ({type(exc).__name__}: {exc})"
    child = None
    oom_watch, notes = None, []
    # As pid 1 of a namespace (a container's first process) orphans come back to us, and our
    # end ends them all: the watcher would be our own child, waited for with --wait-all.
    if job_cgroup and os.getpid() != 1:
        try:
            job_cgroup.guard()
        except OSError as exc:
            notes.append(f"cannot start the shell that removes the job cgroup if logmemory is "
                         f"killed: {exc.strerror}")
    if wait_all:  # after the watcher's start: as its subreaper we would wait for it too
        spawn.become_subreaper()
    limit = None
    try:
        limit = cgroup.enclosing_limit(job_cgroup.parent, job_cgroup.version) if job_cgroup \
            else cgroup.own_limit()
        if limit:
            memlock.lock()  # where refused, a reaped victim's figures are left out (tracer.py)
    except Exception:  # OSError, or a bug of ours: the job runs unprotected all the same
        pass
    if job_cgroup:
        try:
            oom_watch = cgroup.OomWatch(job_cgroup, limit)
        except Exception as exc:  # OSError (older kernels' counters), or a bug of ours
            notes.append(f"cannot read the job cgroup's OOM counters: {exc}")
    try:
        try:
            join_fd = job_cgroup.join_fd() if job_cgroup else None
        except OSError as exc:  # out of descriptors: measure without the cgroup
            join_fd, no_cgroup = None, f"cannot open the job cgroup: {exc.strerror}"
            job_cgroup.remove()
            job_cgroup = None
        started = clock()
        try:
            child = spawn.start(argv, path, trace, join_fd)
        finally:
            if join_fd is not None:
                os.close(join_fd)
        if not child.traced and child.error_fd is not None:
            # Without ptrace a failed exec is the child's only news; wait for it here.
            errno = spawn.exec_error(child)
            if errno is not None:
                os.waitpid(child.pid, 0)
                raise CannotRun(os.fsdecode(argv[0]), errno, os.strerror(errno))
        tracer = Tracer(child, clock, started, follow, wait_all, sample_ms, proc_root, relay_pid,
                        all_cmdlines, limited=bool(limit))
        script = batchstep.script_pid(cgroup.own_cgroup()) if early is not None else None
        if script is not None:
            batchstep.on_end(script, lambda: early(_snapshot(argv, tracer, job_cgroup,
                                                             clock() - started)))
        tracer.run()
        elapsed = clock() - started
        if child.traced:
            spawn.reap(child)
        tree = tracer.tree()
        if job_cgroup:
            tree, no_cgroup = _with_peak(tree, job_cgroup, tracer)
        if oom_watch:
            try:
                tree = tree.replace(oom=oom_watch.result())
            except OSError as exc:
                notes.append(f"cannot read the job cgroup's OOM counters: {exc}")
    finally:
        if child is not None and child.error_fd is not None:
            os.close(child.error_fd)
        if job_cgroup:
            try:
                job_cgroup.remove()
            except OSError as exc:
                notes.append(f"could not remove the job cgroup {job_cgroup.path}: {exc}")
    if tree.oom is None:
        why = "no job cgroup to count kills in" if job_cgroup is None else "OOM counters not readable"
        tree = tree.replace(unmeasured={**tree.unmeasured, "oom": why})
    if tree.peak_kb is None:
        why = no_cgroup if sample_ms is None else "no sample found a process of the job to read"
        tree = tree.replace(unmeasured={**tree.unmeasured, "peak_kb": why})
    run = _make_run(argv, tracer, child, elapsed, tree)
    return run.replace(warnings=run.warnings + tuple(notes))


STILL_RUNNING = ("still running when the batch script ended: Slurm kills what is left of a "
                 "batch step at once, so the record was written then")


def _snapshot(argv, tracer, job_cgroup, elapsed):
    """The record as it stands while the command runs, made in batchstep's thread: the loop's
    state only read, /proc by path, no descriptor of the loop's. The command's own figures so
    far and the cgroup's peak; what the other processes reach and only the end tells, left
    out. None before the command has started."""
    command = tracer.command
    if command is None:
        return None
    try:
        st = procfs.read_status(command.pid, None, tracer.proc_root)
    except LogMemoryError:
        st = command.status
    try:
        tree = tracer.tree()
        processes = tuple(p.record() for p in list(tracer.procs)) if tracer.follow else ()
    except RuntimeError:  # a set the loop changed meanwhile: counts left out
        tree, processes = Tree(unmeasured={"processes": STILL_RUNNING}), ()
    tree = tree.replace(max_vmhwm_kb=None, max_vmhwm_pid=None, max_vmhwm_cmd=None,
                        unmeasured={**tree.unmeasured, "max_vmhwm_kb": STILL_RUNNING,
                                    "oom": STILL_RUNNING})
    if job_cgroup:
        tree, why = _with_peak(tree, job_cgroup, tracer)
        if why:
            tree = tree.replace(unmeasured={**tree.unmeasured, "peak_kb": why})
    return Run(argv=tuple(argv), ended=time.localtime(), wait_status=None, pid=command.pid,
               vmpeak_line=st.vmpeak_line if st else None, vmhwm_line=st.vmhwm_line if st else None,
               vmpeak_kb=st.vmpeak_kb if st else None, vmhwm_kb=st.vmhwm_kb if st else None,
               elapsed_s=elapsed, tree=tree, processes=processes,
               unmeasured=dict.fromkeys(("exit_code", "maxrss_kb", "user_s", "sys_s"),
                                        STILL_RUNNING))


def _with_peak(tree, job_cgroup, tracer):
    """The tree with the cgroup's peak, or with the reason it has none."""
    try:  # (list(): batchstep's thread may call this while the loop adds processes)
        peak = job_cgroup.peak_kb({tracer.child.pid, *(p.pid for p in list(tracer.procs))})
    except (cgroup.Unavailable, OSError) as exc:
        return tree, str(exc)
    return tree.replace(peak_kb=peak, peak_source=job_cgroup.version,
                        peak_cgroup=job_cgroup.shared()), None


def _make_run(argv, tracer, child, elapsed, tree) -> Run:
    status, rusage = tracer.result
    unmeasured = {}
    warnings = []
    never_started = tracer.command is None or child.trace_error == spawn.KILLED_EARLY
    if never_started:
        rusage = None  # (untraced, it would be our copy's that was to run the command)
    st = None if never_started else tracer.command.status
    if st is None or st.vmhwm_kb is None:
        if tracer.broken:
            reason = tracer.broken
        elif never_started:
            reason = "the command never started"
        elif child.trace_error:
            reason = child.trace_error
            warnings.append(f"{reason}: VmPeak and VmHWM not measured; MaxRSS from wait4 only")
        elif not child.traced:
            reason = "not traced (--no-trace)"
        elif not tracer.exit_stop_seen:
            reason = "no exit stop (killed before the kernel reported its exit)"
        elif tracer.command.cut:
            reason = tracer.command.cut
        elif tracer.command.read_error:
            reason = f"at the exit stop: {tracer.command.read_error}"
        else:
            reason = "/proc status had no memory lines at the exit stop"
        unmeasured["vmpeak_kb"] = unmeasured["vmhwm_kb"] = reason
        st = None
    if rusage is None:
        unmeasured["maxrss_kb"] = unmeasured["user_s"] = unmeasured["sys_s"] = \
            "the command never started" if never_started else "no rusage"
    maxrss = rusage.ru_maxrss if rusage else None
    if rusage is not None and not never_started and tracer.command.cut:
        unmeasured["maxrss_kb"], maxrss = tracer.command.cut, None
    if tracer.read_error:
        warnings.append(f"{tracer.read_error}: figures of some processes not measured")
    if tracer.cut:
        warnings.append(f"{tracer.cut}; left out")
    if tracer.cmd_error:
        warnings.append(f"{tracer.cmd_error}: command lines of some processes not read")
    if tracer.broken:
        warnings.append(f"{tracer.broken}; nothing measured after it, the command ran on")
    if tracer.relay.broken:
        warnings.append(f"{tracer.relay.broken}; signals sent to logmemory after it were lost")
    return Run(
        argv=tuple(argv),
        ended=time.localtime(),
        wait_status=status,
        pid=None if never_started else tracer.command.pid,
        vmpeak_line=st.vmpeak_line if st else None,
        vmhwm_line=st.vmhwm_line if st else None,
        vmpeak_kb=st.vmpeak_kb if st else None,
        vmhwm_kb=st.vmhwm_kb if st else None,
        maxrss_kb=maxrss,
        maxrss_floor_kb=None if never_started else child.floor_kb,
        elapsed_s=elapsed,
        user_s=rusage.ru_utime if rusage else None,
        sys_s=rusage.ru_stime if rusage else None,
        unmeasured=unmeasured,
        warnings=tuple(warnings),
        tree=tree,
        processes=tuple(p.record() for p in tracer.procs)
        if tracer.follow and not never_started else (),
    )
