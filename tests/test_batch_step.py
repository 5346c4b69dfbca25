"""A Slurm batch step's way of ending a job, without Slurm (tests/test_slurm.py has the real
one): the script dies of SIGTERM, and what it started is SIGKILLed 10-15 ms later. logmemory,
the script's child, writes the record so far when the script has ended. A shell named
slurmstepd stands for Slurm's; cgroup v1 here, as root."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import logmemory_command, logmemory_env
from test_oom import own_memory_dir

ENTER = 'echo $$ > "$0/cgroup.procs" && exec "$@"'


@pytest.fixture
def batch_step(tmp_path):
    """job_N/step_batch/task_0 below our memory cgroup, as Slurm's task/cgroup makes it."""
    own = own_memory_dir()
    if own is None:
        pytest.skip("needs root and the memory controller on cgroup v1")
    top = own / f"slurm-{os.getpid()}-{tmp_path.name}"
    task = top / "job_1" / "step_batch" / "task_0"
    task.mkdir(parents=True)
    yield task
    for d in (task, task.parent, task.parent.parent, top):
        deadline = time.monotonic() + 5
        while d.exists():
            try:
                d.rmdir()
            except OSError:
                assert time.monotonic() < deadline, f"cannot remove {d}"
                time.sleep(0.01)


def stepd(tmp_path, batch_step, script):
    """`slurmstepd` (a shell of that name) in the step's cgroup, running `sh -c script` as its
    child; (stepd, the script's pid) once the script has started."""
    (tmp_path / "slurmstepd").symlink_to("/bin/sh")
    pidfile = tmp_path / "script.pid"
    body = tmp_path / "script.sh"
    body.write_text(f"echo $$ > {batch_step}/cgroup.procs\necho $$ > {pidfile}\n{script}\n")
    p = subprocess.Popen([str(tmp_path / "slurmstepd"), "-c", f"sh {body}; sleep 30"],
                         env=logmemory_env())
    return p, wait_for(pidfile)


def wait_for(pidfile):
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().endswith("\n"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return int(pidfile.read_text())


def test_the_scripts_end_leaves_a_record_of_the_figures_so_far(batch_step, tmp_path, memhog):
    log = tmp_path / "mem.log"
    pidfile = tmp_path / "pid"
    lm = " ".join([*logmemory_command(), "--format", "json", "-o", str(log), memhog, "-m",
                   "30", "-p", str(pidfile), "-w", "30"])
    step, script = stepd(tmp_path, batch_step, lm)
    wait_for(pidfile)
    os.kill(script, signal.SIGKILL)  # the script's end, as abrupt as it gets
    killed = time.monotonic()
    while not log.exists() or not log.read_bytes().endswith(b"\n"):
        assert time.monotonic() < killed + 5, "no record"
        time.sleep(0.0005)
    print(f"record written {1000 * (time.monotonic() - killed):.1f} ms after the script's end")
    for pid in (batch_step / "cgroup.procs").read_text().split():  # Slurm's SIGKILL
        os.kill(int(pid), signal.SIGKILL)
    step.kill()
    step.wait()
    (rec,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert (rec["exit_code"], rec["signal"], rec["maxrss_kb"]) == (None, None, None)
    assert rec["unmeasured"]["exit_code"].startswith("still running when the batch script ended")
    assert 30 * 1024 <= rec["vmhwm_kb"] < 40 * 1024
    assert rec["tree"]["peak_kb"] >= 30 * 1024 and rec["tree"]["max_vmhwm_kb"] is None
    assert rec["tree"]["peak_cgroup"]["path"] == str(batch_step)
    assert rec["cmd"] == [memhog, "-m", "30", "-p", str(pidfile), "-w", "30"]


@pytest.mark.parametrize("parent", ["a thread of the script", "a shell below the script"])
def test_only_the_scripts_own_end_counts(batch_step, tmp_path, memhog, parent):
    """A thread of the script that started logmemory ending, or a parent that is not the
    script ending: the command runs on, and the one record is written at its end."""
    log = tmp_path / "mem.log"
    lm = [*logmemory_command(), "--format", "json", "-o", str(log), memhog, "-m", "5", "-w", "1"]
    if parent == "a thread of the script":
        code = ("import subprocess, threading, time; "
                f"t = threading.Thread(target=subprocess.Popen, args=({lm!r},)); "
                "t.start(); t.join(); time.sleep(3)")
        script = f"exec {sys.executable} -c \"{code}\""
    else:
        script = f"sh -c '{' '.join(lm)} & sleep 0.2'\nsleep 3"
    step, _ = stepd(tmp_path, batch_step, script)
    deadline = time.monotonic() + 30
    while not log.exists() or not log.read_bytes().endswith(b"\n"):
        assert time.monotonic() < deadline, "no record"
        time.sleep(0.05)
    step.kill()
    step.wait()
    (rec,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert (rec["exit_code"], rec["signal"]) == (0, None)


def test_a_script_that_ends_normally_gets_one_record(batch_step, tmp_path, memhog):
    """No early record when the command ends before the script does."""
    log = tmp_path / "mem.log"
    script = " ".join([*logmemory_command(), "--format", "json", "-o", str(log), memhog, "-m", "5"])
    r = subprocess.run(["sh", "-c", ENTER, str(batch_step), "sh", "-c", script],
                       env=logmemory_env(), timeout=60)
    assert r.returncode == 0
    (rec,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert rec["exit_code"] == 0
