"""Signals: forwarded to the command, job control as without logmemory, terminal signals once."""

import os
import pty
import signal
import subprocess
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
