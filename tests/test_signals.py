"""Signals: forwarded to the command, job control as without logmemory, terminal signals once."""

import os
import pty
import signal
import subprocess
import sys
import time

import pytest

from conftest import json_records, logmemory_command, logmemory_env
from test_measure import wait_for_pid


def start(log, *argv):
    # A process group of its own whose parent (pytest) is in the same session: not orphaned, so
    # the kernel honours SIGTSTP (it drops it in orphaned groups, with or without logmemory).
    return subprocess.Popen([*logmemory_command(), "--format", "json", "-o", str(log), *argv],
                            env=logmemory_env(), stderr=subprocess.PIPE, process_group=0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_signal_to_logmemory_reaches_the_command(log, memhog, tmp_path, sig):
    pidfile = tmp_path / "pid"
    p = start(log, memhog, "-t", str(int(sig)), "-p", str(pidfile), "-w", "30")
    wait_for_pid(pidfile)
    p.send_signal(sig)
    assert p.wait(timeout=30) == 42        # the command's handler ran and exited 42
    assert p.stderr.read() == b""
    (rec,) = json_records(log)
    assert rec["exit_code"] == 42 and rec["vmhwm_kb"] is not None


def test_sigterm_to_logmemory_kills_the_command_and_is_reraised(log, memhog, tmp_path):
    pidfile = tmp_path / "pid"
    p = start(log, memhog, "-m", "10", "-p", str(pidfile), "-w", "30")
    wait_for_pid(pidfile)
    p.terminate()
    assert p.wait(timeout=30) == -signal.SIGTERM
    (rec,) = json_records(log)
    assert rec["signal"] == "SIGTERM" and rec["maxrss_kb"] >= 10 * 1024


def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.parametrize("stop", [signal.SIGSTOP, signal.SIGTSTP])
def test_job_control_on_the_command(log, memhog, tmp_path, stop):
    """Stopped by a signal it stays stopped (not resumed by the tracer) until SIGCONT."""
    pidfile = tmp_path / "pid"
    p = start(log, memhog, "-p", str(pidfile), "-w", "0.3")
    pid = wait_for_pid(pidfile)
    os.kill(pid, stop)
    time.sleep(1.0)                          # longer than the command's whole sleep
    assert state(pid) in ("T", "t")
    assert p.poll() is None
    os.kill(pid, signal.SIGCONT)
    assert p.wait(timeout=30) == 0
    (rec,) = json_records(log)
    assert rec["exit_code"] == 0


def test_terminal_interrupt_reaches_the_command_once(memhog, tmp_path):
    """^C on a terminal signals the whole foreground group; logmemory must not send it again."""
    log, ints, pidfile = tmp_path / "m.log", tmp_path / "ints", tmp_path / "pid"
    pid, fd = pty.fork()
    if pid == 0:
        argv = [*logmemory_command(), "-o", str(log), memhog, "-i", str(ints), "-p", str(pidfile),
                "-w", "1"]
        os.execvpe(argv[0], argv, logmemory_env())
    try:
        wait_for_pid(pidfile)
        os.write(fd, b"\x03")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    si_kernel = 0x80
    assert ints.read_text().split() == [str(si_kernel), "0"]


def test_signal_to_the_whole_group_reaches_the_command_once(memhog, tmp_path):
    """kill(-pgrp) signals logmemory and the command alike: no second copy from logmemory."""
    ints = tmp_path / "ints"
    p = subprocess.Popen([*logmemory_command(), "-o", str(tmp_path / "m.log"), memhog, "-i",
                          str(ints), "-p", str(tmp_path / "pid"), "-w", "1"],
                         env=logmemory_env(), process_group=0)
    wait_for_pid(tmp_path / "pid")
    os.killpg(p.pid, signal.SIGINT)
    assert p.wait(timeout=30) == 0
    assert len(ints.read_text().splitlines()) == 1


def test_timer_signal_inherited_by_logmemory_is_passed_on(lm_cmd, tmp_path):
    """An alarm() set before exec'ing logmemory would have killed the command: it still does."""
    r = subprocess.run(["perl", "-e", "alarm 1; exec @ARGV", *lm_cmd, "-o",
                        str(tmp_path / "m.log"), "sleep", "5"], env=logmemory_env(), timeout=30)
    assert r.returncode == 128 + signal.SIGALRM or r.returncode == -signal.SIGALRM


def test_parent_killed_around_fork_leaves_no_child_stopped(tmp_path):
    """A child whose parent dies (SIGKILL) before its fork event is seen must still run."""
    import random
    pidfile = tmp_path / "pid"
    loop = f"sh -c 'echo $$ > {pidfile}; while :; do /bin/true; done' | cat; echo done"
    for _ in range(20):
        pidfile.unlink(missing_ok=True)
        p = subprocess.Popen([*logmemory_command(), "--wait-all", "-o", str(tmp_path / "m.log"),
                              "sh", "-c", loop], env=logmemory_env(), stdout=subprocess.PIPE)
        pid = wait_for_pid(pidfile)
        time.sleep(random.uniform(0, 0.05))
        os.kill(pid, signal.SIGKILL)
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 0 and out == b"done\n"


BLOCKS_A_WHILE = r"""
/* Blocks SIGRTMIN+1 (queued: each copy counts), writes its pid, then counts what came. */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    sigset_t set; siginfo_t info; struct timespec none = {0, 0};
    int n = 0;
    sigemptyset(&set); sigaddset(&set, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    FILE *f = fopen(argv[1], "w"); fprintf(f, "%d\n", (int)getpid()); fclose(f);
    sleep(1);
    while (sigtimedwait(&set, &info, &none) > 0) n++;
    return n;
}
"""


def test_group_signal_to_a_command_that_blocks_it_arrives_once(tmp_path):
    """No delivery stop shows a blocked signal: its pending bit in the command does."""
    (tmp_path / "b.c").write_text(BLOCKS_A_WHILE)
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "b"), str(tmp_path / "b.c")], check=True)
    pidfile = tmp_path / "pid"
    p = subprocess.Popen([*logmemory_command(), "-o", str(tmp_path / "m.log"),
                          str(tmp_path / "b"), str(pidfile)], env=logmemory_env(),
                         process_group=0)
    wait_for_pid(pidfile)
    os.killpg(p.pid, signal.SIGRTMIN + 1)
    assert p.wait(timeout=30) == 1


def test_hangup_reaches_the_command_when_logmemory_leads_the_session(tmp_path):
    """ssh -t host logmemory ...: a hangup signals the session leader alone, which is us."""
    import fcntl
    import termios
    pidfile = tmp_path / "pid"
    master, slave = pty.openpty()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        argv = [*logmemory_command(), "-o", str(tmp_path / "m.log"), sys.executable, "-c",
                f"import os, time; open({str(pidfile)!r}, 'w').write(f'{{os.getpid()}}\\n'); "
                "time.sleep(30)"]
        os.execvpe(argv[0], argv, logmemory_env())
    os.close(slave)
    wait_for_pid(pidfile)
    os.close(master)  # hang up
    deadline = time.monotonic() + 20
    while not os.waitpid(pid, os.WNOHANG)[0]:
        assert time.monotonic() < deadline, "the command still runs after the hangup"
        time.sleep(0.05)
    assert "Exit:\tsignal SIGHUP" in (tmp_path / "m.log").read_text()
