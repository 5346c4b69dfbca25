"""The event loop on scripted wait4() results: every stop gets its restart in its own iteration."""

import os
from collections import namedtuple

import pytest

from logmemory import _ptrace, relay, spawn, stops, tracer

SIGTRAP = 5
Usage = namedtuple("Usage", "ru_maxrss ru_utime ru_stime")


def stopped(event, sig=SIGTRAP):
    return (event << 16) | (sig << 8) | 0x7F


NEW_TASK = stopped(_ptrace.PTRACE_EVENT_STOP)
EXIT_STOP = stopped(_ptrace.PTRACE_EVENT_EXIT)
KILLED = 9  # wait status of a death by SIGKILL


def test_decode():
    assert stops.decode(5, NEW_TASK, None) == stops.NewTaskStop(5)
    assert stops.decode(5, stopped(_ptrace.PTRACE_EVENT_STOP, 19), None) == stops.GroupStop(5, 19)
    assert stops.decode(5, stopped(0, 15), None) == stops.SignalStop(5, 15)
    assert stops.decode(5, stopped(_ptrace.PTRACE_EVENT_VFORK), None) == stops.CreationStop(5, 2)
    assert stops.decode(5, EXIT_STOP, None) == stops.ExitStop(5)
    assert stops.decode(5, 3 << 8, "ru") == stops.Exited(5, 3 << 8, "ru")


def test_default_restart_is_what_an_untraced_task_would_do():
    assert stops.default_restart(stops.SignalStop(5, 15)) == stops.Cont(15)
    assert stops.default_restart(stops.GroupStop(5, 19)) == stops.Listen()
    assert stops.default_restart(stops.ExitStop(5)) == stops.Cont(0)


@pytest.fixture
def scripted(tmp_path, monkeypatch):
    """Run a Tracer over a list of (tid, status) with a fake /proc; return the restarts given."""
    def run(events, procs):
        for tid, (tgid, ppid) in procs.items():
            (tmp_path / str(tid)).mkdir()
            (tmp_path / str(tid) / "status").write_text(
                f"Name:\tx\nTgid:\t{tgid}\nPid:\t{tid}\nPPid:\t{ppid}\nVmHWM:\t  100 kB\n")
        queue = [(tid, status, Usage(1, 0.0, 0.0)) for tid, status in events]
        restarts = []
        monkeypatch.setattr(os, "wait4", lambda pid, options: queue.pop(0))
        monkeypatch.setattr(stops, "apply", lambda tid, restart: restarts.append((tid, restart)))
        # No signal thread: it would hold every signal in this (pytest's) process too.
        monkeypatch.setattr(relay.Relay, "start", lambda self: None)
        child = spawn.Child(pid=100, traced=True, launcher=b"/bin/sh", floor_kb=None, error_fd=None, trace_error=None)
        t = tracer.Tracer(child, lambda: 0.0, 0.0, proc_root=str(tmp_path))
        t.run()
        assert queue == []
        return t, restarts
    return run


def test_a_child_whose_parent_died_first_is_started(scripted):
    """The hang of issue 11: the parent (200) is SIGKILLed before its fork event reached us;
    its child's first stop (300) comes after the parent's death was handled."""
    t, restarts = scripted(
        [(101, NEW_TASK),                    # the command, claimed before the launcher's event
         (200, NEW_TASK),                    # a process the command started
         (200, KILLED),                      # killed before its fork event was reported
         (300, NEW_TASK),                    # its child: reparented to init, PPid 1
         (101, EXIT_STOP), (101, 0)],
        {101: (101, 100), 200: (200, 101), 300: (300, 1)})
    assert restarts == [(101, stops.Start(tracer.FOLLOW_OPTIONS)), (200, stops.Start(0)),
                        (300, stops.Start(0)), (101, stops.Cont(0))]
    assert [p.pid for p in t.procs] == [101, 200, 300]
    assert t.result[0] == 0


def test_a_thread_seen_before_its_clone_event_is_started(scripted, monkeypatch):
    monkeypatch.setattr(_ptrace, "geteventmsg", lambda tid: 102)
    t, restarts = scripted(
        [(101, NEW_TASK), (102, NEW_TASK), (101, stopped(_ptrace.PTRACE_EVENT_CLONE)),
         (102, 0), (101, 0)],
        {101: (101, 100), 102: (101, 100)})
    assert restarts[1:3] == [(102, stops.Start(0)), (101, stops.Cont(0))]
    assert t.procs[0].thread_count == 2 and not t.broken


def test_a_bug_of_ours_still_restarts_the_stop(scripted, monkeypatch):
    def boom(self, tid):
        raise RuntimeError("boom")
    monkeypatch.setattr(tracer.Tracer, "_on_exit_stop", boom)
    t, restarts = scripted([(101, NEW_TASK), (101, EXIT_STOP), (101, 7 << 8)],
                           {101: (101, 100)})
    assert restarts[1] == (101, stops.Cont(0))
    assert t.broken == "internal error (RuntimeError: boom)" and t.result[0] == 7 << 8


def test_a_thread_that_ended_before_its_clone_event_stays_a_thread(scripted, monkeypatch):
    """Claimed at its first stop, gone by the time its clone event is read: not a process."""
    monkeypatch.setattr(_ptrace, "geteventmsg", lambda tid: 102)
    t, restarts = scripted(
        [(101, NEW_TASK), (102, NEW_TASK), (102, EXIT_STOP), (102, 0),
         (101, stopped(_ptrace.PTRACE_EVENT_CLONE)), (101, 0)],
        {101: (101, 100), 102: (101, 100)})
    assert [p.pid for p in t.procs] == [101] and t.procs[0].thread_count == 2
    assert t.expected == {} and 102 not in t.claimed


def test_the_launcher_woken_from_a_group_stop_is_not_taken_for_the_command(scripted):
    """SIGSTOP/SIGCONT to the launcher before it forks: its wake-up is a PTRACE_EVENT_STOP too."""
    t, restarts = scripted(
        [(100, stopped(_ptrace.PTRACE_EVENT_STOP, 19)), (100, NEW_TASK), (101, NEW_TASK),
         (101, EXIT_STOP), (101, 0)],
        {100: (100, 1), 101: (101, 100)})
    assert restarts[:2] == [(100, stops.Listen()), (100, stops.Cont(0))]
    assert t.command.pid == 101 and [p.pid for p in t.procs] == [101]


def test_a_task_killed_in_its_creation_stop_does_not_break_the_tracer(scripted, monkeypatch):
    """A pending SIGKILL makes ptrace refuse GETEVENTMSG: the child is claimed at its first stop."""
    def killed(tid):
        raise ProcessLookupError(3, "No such process")
    monkeypatch.setattr(_ptrace, "geteventmsg", killed)
    t, restarts = scripted(
        [(101, NEW_TASK), (101, stopped(_ptrace.PTRACE_EVENT_FORK)), (102, NEW_TASK), (102, 0),
         (101, 9)],
        {101: (101, 100), 102: (102, 101)})
    assert not t.broken and [p.pid for p in t.procs] == [101, 102]


def test_a_child_killed_before_its_fork_event_is_no_process_left_running(scripted, monkeypatch):
    """Its end came first (it never stopped): the fork event must not enter it as live."""
    monkeypatch.setattr(_ptrace, "geteventmsg", lambda tid: 102)
    t, restarts = scripted(
        [(101, NEW_TASK), (102, 9), (101, stopped(_ptrace.PTRACE_EVENT_FORK)), (101, 0)],
        {101: (101, 100)})
    assert [p.pid for p in t.procs] == [101] and t.expected == {}
