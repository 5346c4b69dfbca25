"""The numbers: checked against the kernel's own accounting (GNU time's %M) on real workloads."""

import os
import signal
import subprocess
import time

from conftest import gnu_time_maxrss, json_records, logmemory_env


def run_json(lm, log, *argv, **kw):
    r = lm("--format", "json", "-o", str(log), *argv, **kw)
    (rec,) = json_records(log)
    return r, rec


def test_200_mib_workload_high_water_mark(lm, log, memhog):
    """The original tool's own test: 200 x 1 MiB touched."""
    r, rec = run_json(lm, log, memhog, "-m", "200")
    assert r.returncode == 0
    assert rec["vmhwm_kb"] >= 204_800
    assert rec["vmpeak_kb"] >= rec["vmhwm_kb"]
    assert abs(rec["maxrss_kb"] - gnu_time_maxrss([memhog, "-m", "200"])) <= 1024
    assert rec["unmeasured"] == {}


def test_small_command_maxrss_matches_gnu_time(lm, log):
    """The inherited-at-fork floor must not show: /bin/true as GNU time sees it, within 1 MiB."""
    _, rec = run_json(lm, log, "/bin/true")
    assert abs(rec["maxrss_kb"] - gnu_time_maxrss(["/bin/true"])) <= 1024


def test_main_thread_exits_first(lm, log, memhog):
    """main touches 50 MiB and calls pthread_exit; another thread then touches 300 MiB."""
    r, rec = run_json(lm, log, memhog, "-m", "50", "-T", "300")
    assert r.returncode == 0
    assert rec["vmhwm_kb"] >= 350 * 1024
    assert rec["maxrss_kb"] >= 350 * 1024


def test_exec_keeps_maxrss_but_vmhwm_is_the_last_image(lm, log, memhog):
    r, rec = run_json(lm, log, memhog, "-m", "200", "-x", "/bin/true")
    assert r.returncode == 0
    assert rec["vmhwm_kb"] < 10 * 1024
    assert rec["maxrss_kb"] >= 200 * 1024


def test_threads_are_followed(lm, log, memhog):
    r, rec = run_json(lm, log, memhog, "-m", "20", "-C", "50")
    assert r.returncode == 0 and rec["vmhwm_kb"] >= 20 * 1024


def test_sigkill_still_writes_a_record(lm, log, memhog, tmp_path):
    pidfile = tmp_path / "pid"
    p = subprocess.Popen(["sh", "-c", " ".join(lm_args(lm, log, memhog, "-m", "30", "-p",
                                                        str(pidfile), "-w", "30"))],
                         env=logmemory_env())
    pid = wait_for_pid(pidfile)
    os.kill(pid, signal.SIGKILL)
    assert p.wait(timeout=30) == 128 + 9  # the shell saw logmemory die of SIGKILL
    (rec,) = json_records(log)
    assert rec["signal"] == "SIGKILL" and rec["pid"] == pid
    assert rec["maxrss_kb"] >= 30 * 1024


def test_ptrace_unavailable_degrades(lm, log, memhog):
    """Under strace the tool cannot trace: the command still runs, MaxRSS only, one warning."""
    from conftest import logmemory_command
    r = subprocess.run(["strace", "-f", "-o", "/dev/null", *logmemory_command(), "--format", "json",
                        "-o", str(log), memhog, "-m", "20", "-e", "7"],
                       stderr=subprocess.PIPE, env=logmemory_env(), timeout=120)
    assert r.returncode == 7
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("logmemory: warning: ptrace refused")
    (rec,) = json_records(log)
    assert rec["vmhwm_kb"] is None and rec["vmpeak_kb"] is None
    assert "ptrace refused" in rec["unmeasured"]["vmhwm_kb"]
    assert rec["maxrss_kb"] >= 20 * 1024
    assert rec["maxrss_floor_kb"] > 0


def test_no_trace_option(lm, log, memhog):
    r, rec = run_json(lm, log, "--no-trace", memhog, "-m", "20")
    assert r.returncode == 0 and r.stderr == b""
    assert rec["vmhwm_kb"] is None and rec["maxrss_kb"] >= 20 * 1024
    assert rec["unmeasured"]["vmhwm_kb"] == "not traced (--no-trace)"


def lm_args(lm, log, *argv):
    from conftest import logmemory_command
    return [*logmemory_command(), "--format", "json", "-o", str(log), *argv]


def wait_for_pid(pidfile, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = pidfile.read_text()
            if text.endswith("\n"):
                return int(text)
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"{pidfile} never written")
