"""A Slurm batch step's way of ending a job, without Slurm (tests/test_slurm.py has the real
one): the script dies of SIGTERM, and what it started is SIGKILLed 10-15 ms later. logmemory,
the script's child, writes the record so far when its parent dies. cgroup v1 here, as root."""

import json
import os
import signal
import subprocess
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


def test_the_scripts_end_leaves_a_record_of_the_figures_so_far(batch_step, tmp_path, memhog):
    log = tmp_path / "mem.log"
    pidfile = tmp_path / "pid"
    script = " ".join([*logmemory_command(), "--format", "json", "-o", str(log), memhog, "-m",
                       "30", "-p", str(pidfile), "-w", "30"])
    shell = subprocess.Popen(["sh", "-c", ENTER, str(batch_step), "sh", "-c", script],
                             env=logmemory_env())
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text().endswith("\n"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(shell.pid, signal.SIGKILL)  # the script's end, as abrupt as it gets
    killed = time.monotonic()
    shell.wait()
    while not log.exists() or not log.read_bytes().endswith(b"\n"):
        assert time.monotonic() < killed + 5, "no record"
        time.sleep(0.0005)
    print(f"record written {1000 * (time.monotonic() - killed):.1f} ms after the script's end")
    for pid in (batch_step / "cgroup.procs").read_text().split():  # Slurm's SIGKILL
        os.kill(int(pid), signal.SIGKILL)
    (rec,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert (rec["exit_code"], rec["signal"], rec["maxrss_kb"]) == (None, None, None)
    assert rec["unmeasured"]["exit_code"].startswith("still running when the batch script ended")
    assert 30 * 1024 <= rec["vmhwm_kb"] < 40 * 1024
    assert rec["tree"]["peak_kb"] >= 30 * 1024
    assert rec["tree"]["peak_cgroup"]["path"] == str(batch_step)
    assert rec["processes"][0]["cmd"] == [memhog, "-m", "30", "-p", str(pidfile), "-w", "30"]


def test_a_script_that_ends_normally_gets_one_record(batch_step, tmp_path, memhog):
    """No early record when the command ends before the script does."""
    log = tmp_path / "mem.log"
    script = " ".join([*logmemory_command(), "--format", "json", "-o", str(log), memhog, "-m", "5"])
    r = subprocess.run(["sh", "-c", ENTER, str(batch_step), "sh", "-c", script],
                       env=logmemory_env(), timeout=60)
    assert r.returncode == 0
    (rec,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert rec["exit_code"] == 0
