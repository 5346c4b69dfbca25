"""Out of memory under a limit that covers logmemory too (cgroup v1 here): the victim's figures,
no stall, and the OOM reported. GNU time runs inside the job, so both see the same run."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import json_records, logmemory_command, logmemory_env

LIMIT = 100_000_000


def own_memory_dir():
    """Our memory cgroup's directory on the v1 mount, if we may make cgroups below it."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            d = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            if d.is_dir() and os.access(d, os.W_OK):
                return d
    return None


@pytest.fixture
def limited(tmp_path):
    """Make cgroups below our own: limited(*names, limit_on=0) -> the innermost's directory,
    with LIMIT on the cgroup at index limit_on of the chain."""
    own = own_memory_dir()
    if own is None:
        pytest.skip("needs root and the memory controller on cgroup v1 (the v2 run is the VM's)")
    made = []

    def make(*names, limit_on=0, limit=LIMIT):
        d = own
        for i, name in enumerate(names):
            d = d / f"{name}-{os.getpid()}-{tmp_path.name}"
            d.mkdir()
            made.append(d)
            if i == limit_on:
                (d / "memory.limit_in_bytes").write_text(str(limit))
        return d
    yield make
    for d in reversed(made):
        d.rmdir()


def run_in(cgroup_dir, log, *argv):
    """logmemory -o log argv, started inside cgroup_dir."""
    enter = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    r = subprocess.run(["sh", "-c", enter, str(cgroup_dir), *logmemory_command(), "--format",
                        "json", "-o", str(log), *argv], env=logmemory_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    (rec,) = json_records(log)
    return r, rec


def time_inside(tmp_path, *argv):
    """GNU time around argv, writing %M to a file: it sees the run logmemory measures."""
    out = tmp_path / "time.out"
    return out, ["/usr/bin/time", "-f", "%M", "-o", str(out), *argv]


def victim(rec):
    (p,) = [p for p in rec["processes"] if p["signal"] == "SIGKILL"]
    return p


@pytest.mark.parametrize("workload", ["memhog", "dd"])
def test_oom_killed_figures_match_gnu_time(limited, tmp_path, log, memhog, workload):
    argv = {"memhog": [memhog, "-m", "200"],
            "dd": ["dd", "if=/dev/zero", "of=/dev/null", "ibs=100000000", "obs=100000000",
                   "count=1"]}[workload]
    cg = limited("oom")
    # Three runs: whether reclaim took the tracer's pages before the kill varied from run to run.
    for _ in range(3):
        out, timed = time_inside(tmp_path, *argv)
        log.unlink(missing_ok=True)
        r, rec = run_in(cg, log, *timed)
        gnu = int(out.read_text().split()[-1])
        p = victim(rec)
        # Killed at the job's limit: the enclosing one less logmemory's own size and room.
        assert 50 * 1024 < gnu < LIMIT // 1024
        assert abs(p["vmhwm_kb"] - gnu) <= 1024 and abs(p["maxrss_kb"] - gnu) <= 1024
        assert rec["elapsed_s"] < 1.0
        assert rec["tree"]["oom"] == {"kills": 1, "limit_kb": LIMIT // 1024, "cgroup": str(cg),
                                      "cgroup_kills": None}
        assert r.stderr == b""


def test_oom_reported_in_text(limited, log, memhog):
    cg = limited("oom")
    enter = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
    r = subprocess.run(["sh", "-c", enter, str(cg), *logmemory_command(), "-o", str(log),
                        memhog, "-m", "200"], env=logmemory_env(), stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == -9
    assert f"OOMKills:\t1 (limit {LIMIT // 1024} kB of {cg})\n" in log.read_text()


def test_limit_two_levels_up(limited, tmp_path, log, memhog):
    inner = limited("outer", "middle", "inner", limit_on=0)
    out, timed = time_inside(tmp_path, memhog, "-m", "200")
    _, rec = run_in(inner, log, *timed)
    gnu = int(out.read_text().split()[-1])
    assert abs(victim(rec)["vmhwm_kb"] - gnu) <= 1024
    assert rec["elapsed_s"] < 1.0
    oom = rec["tree"]["oom"]
    assert oom["kills"] == 1 and oom["cgroup"] == str(inner.parent.parent)


def test_no_oom_no_report(limited, log, memhog):
    r, rec = run_in(limited("oom"), log, memhog, "-m", "20")
    assert r.returncode == 0
    assert rec["tree"]["oom"] == {"kills": 0, "limit_kb": None, "cgroup": None,
                                  "cgroup_kills": None}
    assert "oom" not in rec["tree"]["unmeasured"]


def test_no_room_under_a_tight_limit_is_said_and_the_job_runs(limited, log, memhog):
    """25 MB: logmemory's own 12-14 MB and the tracer's 8 MiB leave too little for a limit."""
    cg = limited("tight", limit=25_000_000)
    r, rec = run_in(cg, log, memhog, "-m", "5")
    assert r.returncode == 0
    assert r.stderr.decode() == (f"logmemory: warning: no room for the job under the memory limit "
                                 f"of {cg}; if the OOM killer strikes, its figures may be cut\n")
    assert rec["tree"]["oom"]["kills"] == 0
