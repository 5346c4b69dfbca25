"""Kernel behaviour the design relies on, measured here rather than assumed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, gnu_time_maxrss, logmemory_env
from logmemory import _ptrace, procfs


def test_fork_from_python_inflates_ru_maxrss():
    """Why the command is forked by a small launcher: a Python parent passes on ~10 MB."""
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/true", ["/bin/true"])
    _, _, ru = os.wait4(pid, 0)
    assert ru.ru_maxrss > gnu_time_maxrss(["/bin/true"]) + 4096


def seized(argv, options):
    """Start argv stopped-free but seized with options before it execs; return its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(r, 1)
        os.execv(argv[0], argv)
    _ptrace.seize(pid, options)
    os.write(w, b"g")
    os.close(r), os.close(w)
    return pid


def next_stop(pid):
    _, status, _ = os.wait4(pid, _ptrace.WALL)
    return status


def test_exit_stop_comes_after_sigkill_with_memory_still_readable(memhog, tmp_path):
    pidfile = tmp_path / "pid"
    pid = seized([memhog, "-m", "20", "-p", str(pidfile), "-w", "30"], _ptrace.PTRACE_O_TRACEEXIT)
    while not pidfile.exists() or not pidfile.read_text().endswith("\n"):
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    status = next_stop(pid)
    assert os.WIFSTOPPED(status) and status >> 16 == _ptrace.PTRACE_EVENT_EXIT
    assert procfs.read_status(pid).vmhwm_kb >= 20 * 1024
    _ptrace.cont(pid)
    status = next_stop(pid)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_zombie_leader_has_no_vm_lines_but_its_threads_do(memhog):
    """main calls pthread_exit; its status loses the Vm lines, a live thread's task status keeps them."""
    p = subprocess.Popen([memhog, "-m", "10", "-T", "50"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            tids = [int(t) for t in os.listdir(f"/proc/{p.pid}/task")]
            if len(tids) == 2 and procfs.read_status(p.pid).vmhwm_kb is None:
                break
            time.sleep(0.005)
        other = next(t for t in tids if t != p.pid)
        assert procfs.read_status(p.pid).vmhwm_kb is None
        assert procfs.read_status(p.pid, other).vmhwm_kb >= 10 * 1024
    finally:
        p.wait()


def test_wait4_on_a_traced_grandchild_gives_its_own_rusage(memhog):
    """The tracer is not the command's parent (the launcher shell is), yet wait4 returns its rusage."""
    pid = seized(["/bin/sh", "-c", f"{memhog} -m 40; exit"],
                 _ptrace.PTRACE_O_TRACEFORK | _ptrace.PTRACE_O_TRACEVFORK)
    status = next_stop(pid)
    # dash starts commands with vfork, other shells with fork.
    assert status >> 16 in (_ptrace.PTRACE_EVENT_FORK, _ptrace.PTRACE_EVENT_VFORK)
    grandchild = _ptrace.geteventmsg(pid)
    _ptrace.detach(pid)
    while True:
        got, status, ru = os.wait4(grandchild, _ptrace.WALL)
        if not os.WIFSTOPPED(status):
            break
        _ptrace.cont(got, 0 if status >> 16 else os.WSTOPSIG(status))
    assert os.WIFEXITED(status)
    assert 40 * 1024 <= ru.ru_maxrss < 50 * 1024
    os.waitpid(pid, 0)


def test_no_stop_per_system_call(memhog):
    """dd making 20,000 system calls costs the tracer a handful of stops, not 40,000."""
    code = """
import sys
from logmemory import _ptrace, job, spawn
calls = []
real = _ptrace.ptrace
_ptrace.ptrace = lambda req, pid, addr=0, data=0: (calls.append(req), real(req, pid, addr, data))[1]
argv = [b"dd", b"if=/dev/zero", b"of=/dev/null", b"bs=1", b"count=10000", b"status=none"]
run = job.run(argv, spawn.resolve(argv[0]))
print(len(calls), run.exit_code, run.vmhwm_kb is not None)
"""
    r = subprocess.run([sys.executable, "-c", code], env=logmemory_env(), cwd=ROOT,
                       stdout=subprocess.PIPE, check=True)
    calls, code, measured = r.stdout.split()
    assert code == b"0" and measured == b"True"
    assert int(calls) < 20


def test_status_opened_before_exec_shows_the_new_image_at_exit_stop(memhog):
    """The tracer opens /proc/PID/status while the process starts and reads it at the exit stop:
    the descriptor follows the pid through exec, and each read is generated afresh."""
    pid = seized([memhog, "-m", "30"], _ptrace.PTRACE_O_TRACEEXIT)
    fd = procfs.open_status(pid)  # before the exec: the seized child still runs Python
    try:
        status = next_stop(pid)
        assert os.WIFSTOPPED(status) and status >> 16 == _ptrace.PTRACE_EVENT_EXIT
        data = procfs.read_fd(fd, pid)
        assert data.startswith(b"Name:\tmemhog\n")
        assert procfs.parse_status(data) == procfs.read_status(pid, pid)
        assert procfs.parse_status(data).vmhwm_kb >= 30 * 1024
    finally:
        os.close(fd)
        _ptrace.cont(pid)
        os.waitpid(pid, 0)


def fields(status):
    return [line.split(b":")[0] for line in status.splitlines()]


def test_proc_files_come_whole_in_one_read():
    """read_fd stops at the first short read: /proc fills status and cmdline in one piece."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)", "x" * 100_000])
    try:
        # Popen returns at exec's point of no return; the arguments are in place a moment later.
        while len(Path(f"/proc/{p.pid}/cmdline").read_bytes()) < 100_000:
            time.sleep(0.001)
        for name, size in (("status", 64), ("cmdline", 4096)):
            fd = os.open(f"/proc/{p.pid}/{name}", os.O_RDONLY)
            try:
                with open(f"/proc/{p.pid}/{name}", "rb") as f:
                    whole = f.read()  # read to b"", the slow way
                assert len(whole) > size
                # status is regenerated at every read (its counters move): compare its fields.
                for data in (os.pread(fd, len(whole) + 1, 0), procfs.read_fd(fd, p.pid, size)):
                    assert fields(data) == fields(whole) if name == "status" else data == whole
            finally:
                os.close(fd)
    finally:
        p.kill()
        p.wait()


def test_cgroup2_gives_controllers_only_below_cgroups_without_processes():
    """Why logmemory moves itself to a leaf on cgroup v2 before making the job's cgroup, and
    disables the controller again before anything moves back (a domain controller standing in
    for memory where v2 has no memory here)."""
    import errno

    import pytest
    from test_cgroup import v2_playground
    with v2_playground(("memory", "hugetlb", "pids", "io", "misc", "rdma")) as (play, controller):
        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            (play / "cgroup.procs").write_text(str(sleeper.pid))
            control = play / "cgroup.subtree_control"
            with pytest.raises(OSError) as busy:
                control.write_text(f"+{controller}")
            assert busy.value.errno == errno.EBUSY
            (play / "leaf").mkdir()
            (play / "leaf" / "cgroup.procs").write_text(str(sleeper.pid))
            control.write_text(f"+{controller}")
            (play / "job").mkdir()
            assert controller in (play / "job" / "cgroup.controllers").read_text().split()
            with pytest.raises(OSError) as busy:
                (play / "cgroup.procs").write_text(str(sleeper.pid))
            assert busy.value.errno == errno.EBUSY
            control.write_text(f"-{controller}")
            (play / "cgroup.procs").write_text(str(sleeper.pid))
        finally:
            sleeper.kill()
            sleeper.wait()


def test_a_signal_to_a_group_looks_the_same_as_one_to_the_process():
    """Why untraced, logmemory cannot tell a group signal (which the command got too) from one
    sent to it alone: the receiver's siginfo is the same, and nothing in /proc records a signal
    once it was delivered (the README's limits). Traced, the command's delivery stop tells."""
    code = ("import signal, sys\n"
            "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
            "print(flush=True)\n"
            "for _ in range(2):\n"
            "    i = signal.sigwaitinfo({signal.SIGUSR1})\n"
            "    print(i.si_code, i.si_pid, i.si_uid, i.si_status, i.si_errno, flush=True)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         process_group=0)
    assert p.stdout.readline() == b"\n"
    os.kill(p.pid, signal.SIGUSR1)
    direct = p.stdout.readline()
    os.killpg(p.pid, signal.SIGUSR1)
    group = p.stdout.readline()
    assert p.wait(timeout=30) == 0
    assert direct == group == f"0 {os.getpid()} {os.getuid()} 0 0\n".encode()
