"""logmemory under a real Slurm (22.05, cgroup v1, one node started by tests/slurm_cluster.py):
records, exit status and sacct's view as without logmemory, Slurm's memory limit and OOM
handling untouched, scancel, arrays; and the Slurm behaviour the design relies on."""

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import json_records, logmemory_command, logmemory_env
from slurm_cluster import SlurmCluster, StartFailed, Unavailable

# How many times the batch-script scancel is repeated (each run is a race against SIGKILL).
CANCELS = int(os.environ.get("LOGMEMORY_SLURM_CANCELS", "10"))
MEM_LIMIT_KB = 100 * 1024  # --mem=100M: Slurm's M is MiB

# probe.sh OUT CMD...: runs CMD, then writes the max usage (bytes) of the memory cgroup of the
# step it runs in to OUT, and exits as CMD did. Run as logmemory's command, it reads the step's
# high-water mark while the step still exists (Slurm removes the cgroup when the step ends).
PROBE = r"""#!/bin/sh
out=$1; shift
"$@"; rc=$?
d=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
while [ "$d" != /sys/fs/cgroup/memory ]; do
    case ${d##*/} in step_*) break ;; esac
    d=${d%/*}
done
cat "$d/memory.max_usage_in_bytes" > "$out"
exit $rc
"""

# A child that logs each catchable signal it gets ("SIGTERM from PID") to argv[1].
SIGLOG = r"""
import os, signal, sys
sigs = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCONT, signal.SIGUSR1}
signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
out = open(sys.argv[1], "a", buffering=1)
print("started", os.getpid(), file=out)
while True:
    si = signal.sigwaitinfo(sigs)
    print(signal.Signals(si.si_signo).name, "from", si.si_pid, file=out)
"""


@pytest.fixture(scope="session")
def cluster():
    """The cluster, started once; skipped with the reason where this machine cannot run it
    (failed where CI should have installed the packages)."""
    c = SlurmCluster()
    try:
        c.start()
    except Unavailable as e:
        if e.packages and os.environ.get("CI") == "true":
            pytest.fail(f"{e} (.ci/run installs them)")
        pytest.skip(str(e))
    except StartFailed as e:
        pytest.fail(f"the Slurm test cluster did not start: {e}")
    yield c
    c.stop()


@pytest.fixture
def slurm(cluster):
    """The cluster, with every job of the test over and its leftover cgroups removed after."""
    yield cluster
    cluster.reset()


@pytest.fixture
def probe(tmp_path):
    return script(tmp_path / "probe.sh", PROBE)


def script(path, text):
    """Write an executable script (a #!/bin/sh line is added when text has none)."""
    path.write_text(text if text.startswith("#!") else "#!/bin/sh\n" + text)
    path.chmod(0o755)
    return str(path)


def lm_json(log):
    """logmemory writing a JSON record to log, as the command line's start."""
    return [*logmemory_command(), "--format", "json", "-o", str(log)]


def batch_opts(tmp_path, name):
    return [f"--output={tmp_path / name}.out", f"--chdir={tmp_path}"]


@dataclass
class Run:
    job: int
    rc: int     # srun's, or sbatch --wait's (the job's exit code)
    err: str    # srun's stderr, or the batch job's output file
    step: str   # the step logmemory runs in: ".0" or ".batch"


def run_job(slurm, launcher, argv, tmp_path, name, *opts):
    """argv as an srun step, or as the one line of a batch script; waits for the end."""
    if launcher == "srun":
        job, r = slurm.srun(*opts, *argv, env=logmemory_env())
        return Run(job, r.returncode, r.stderr, ".0")
    path = script(tmp_path / f"{name}.sh", shlex.join(argv) + "\n")
    job, r = slurm.sbatch(path, *opts, *batch_opts(tmp_path, name), wait=True, env=logmemory_env())
    return Run(job, r.returncode, (tmp_path / f"{name}.out").read_text(), ".batch")


def outcome(slurm, job, step):
    """sacct's (State, ExitCode) of the job and of the step, once both are final."""
    rows = slurm.wait_accounted(job, (step,))
    return {"job": (rows[str(job)].state, rows[str(job)].exit_code),
            "step": (rows[f"{job}{step}"].state, rows[f"{job}{step}"].exit_code)}


def whole_or_absent(log):
    """The record if the log holds exactly one whole JSON line, None if it is absent or empty;
    "partial: ..." for anything else."""
    if not log.exists() or log.stat().st_size == 0:
        return None
    data = log.read_bytes()
    if data.count(b"\n") != 1 or not data.endswith(b"\n"):
        return f"partial: {data[:80]!r}... ({len(data)} bytes)"
    try:
        return json.loads(data)
    except ValueError:
        return f"partial: {data[:80]!r}... ({len(data)} bytes)"


def wait_for_file(path, timeout=30):
    """Until path holds a whole line (memhog -p writes its pid once it has allocated)."""
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"{path} not written within {timeout} s"
        time.sleep(0.02)


def step_max_kb(out):
    return int(Path(out).read_text()) // 1024


def assert_peak_is_the_steps(rec, out, mib):
    """The tree's peak covers what the command touched, is no more than the kernel's high-water
    mark of the whole step, and short of it by at most what logmemory itself can hold there
    (its resident 6-15 MB, and the page cache its first start reads, charged to the step)."""
    peak, step = rec["tree"]["peak_kb"], step_max_kb(out)
    assert peak is not None, rec["tree"]["peak_unavailable_reason"]
    assert mib * 1024 <= peak <= step + 2048, (peak, step)
    assert step - peak <= 16 * 1024, (peak, step)


# -- a. a job under logmemory is the job it would be without it --------------------------------

@pytest.mark.parametrize("code", [0, 3])
@pytest.mark.parametrize("launcher", ["srun", "sbatch"])
def test_record_status_and_peak(slurm, memhog, probe, tmp_path, launcher, code):
    """memhog -m 60 under logmemory: one record, the exit status and sacct's state and exit code
    as without logmemory, and a peak within a few MiB of the step cgroup's."""
    hog = [memhog, "-m", "60", "-e", str(code)]
    log, out = tmp_path / "mem.log", tmp_path / "step_max"
    bare = run_job(slurm, launcher, hog, tmp_path, "bare")
    lm = run_job(slurm, launcher, [*lm_json(log), probe, str(out), *hog], tmp_path, "lm")
    assert lm.rc == bare.rc == code
    (rec,) = json_records(log)
    assert (rec["exit_code"], rec["signal"]) == (code, None)
    assert_peak_is_the_steps(rec, out, 60)
    got = outcome(slurm, lm.job, lm.step)
    assert got == outcome(slurm, bare.job, bare.step)
    if code == 0:
        assert got == {"job": ("COMPLETED", "0:0"), "step": ("COMPLETED", "0:0")}


# -- b, c. Slurm's memory limit is the job's, and so is its OOM --------------------------------

@pytest.mark.parametrize("launcher", ["srun", "sbatch"])
def test_room_under_the_limit_is_the_commands(slurm, memhog, tmp_path, launcher):
    """--mem=100M: memhog -m 85 fits without logmemory, so it must fit with it (no smaller
    limit of logmemory's own)."""
    hog = [memhog, "-m", "85"]
    log = tmp_path / "mem.log"
    bare = run_job(slurm, launcher, hog, tmp_path, "bare", "--mem=100M")
    assert bare.rc == 0, f"the premise: memhog -m 85 fits under --mem=100M: {bare.err}"
    lm = run_job(slurm, launcher, [*lm_json(log), *hog], tmp_path, "lm", "--mem=100M")
    assert lm.rc == 0, lm.err
    (rec,) = json_records(log)
    assert (rec["exit_code"], rec["signal"]) == (0, None)
    assert outcome(slurm, lm.job, lm.step) == outcome(slurm, bare.job, bare.step) == {
        "job": ("COMPLETED", "0:0"), "step": ("COMPLETED", "0:0")}


@pytest.mark.parametrize("launcher", ["srun", "sbatch"])
def test_oom_is_slurms_as_without_logmemory(slurm, memhog, tmp_path, launcher):
    """--mem=100M, memhog -m 300: OUT_OF_MEMORY with the same exit code and Slurm's oom-kill
    message with logmemory as without it; the record has the SIGKILL and Slurm's limit."""
    hog = [memhog, "-m", "300"]
    log = tmp_path / "mem.log"
    bare = run_job(slurm, launcher, hog, tmp_path, "bare", "--mem=100M")
    lm = run_job(slurm, launcher, [*lm_json(log), *hog], tmp_path, "lm", "--mem=100M")
    want = outcome(slurm, bare.job, bare.step)
    assert want["step"][0] == "OUT_OF_MEMORY", "the premise: Slurm saw the OOM of the bare run"
    assert "oom-kill event" in bare.err
    (rec,) = json_records(log)
    assert rec["signal"] == "SIGKILL"
    assert rec["tree"]["oom"]["kills"] >= 1 and rec["tree"]["oom"]["limit_kb"] == MEM_LIMIT_KB
    assert outcome(slurm, lm.job, lm.step) == want
    assert "oom-kill event" in lm.err
    assert lm.rc == bare.rc


# -- d. scancel ------------------------------------------------------------------------------

@dataclass
class Cancelled:
    record: object       # the record, None (absent) or "partial: ..."
    sacct: dict
    rc: int | None       # srun's exit status (None for a batch job)
    leftovers: list      # logmemory-* cgroups below Slurm's trees
    remaining: list      # the job's cgroups Slurm did not remove within some seconds


def settle(slurm, job, step, log, rc=None):
    """After a cancel: what sacct, the log and the cgroups say; then clear what is left."""
    sacct = outcome(slurm, job, step)  # first: the step is accounted once logmemory ended
    got = Cancelled(whole_or_absent(log), sacct, rc, slurm.logmemory_cgroups(),
                    slurm.wait_cgroups_gone(job, timeout=5))
    slurm.sweep(job)
    return got


def early(rec):
    """A record written when the batch script ended, before Slurm's SIGKILL: the figures so far."""
    return (rec["exit_code"], rec["signal"]) == (None, None) and \
        rec["unmeasured"]["exit_code"].startswith("still running when the batch script ended") \
        and rec["tree"]["peak_kb"] is not None and rec["vmhwm_kb"] >= 50 * 1024


def assert_clean_cancel(got, bare):
    """The record whole (with the signal) or absent, the status as without logmemory, no
    logmemory cgroup left, and the job's cgroups gone."""
    assert not isinstance(got.record, str), got.record
    assert got.record is None or got.record["signal"] is not None or early(got.record)
    assert (got.sacct, got.rc) == (bare.sacct, bare.rc)
    assert got.leftovers == []
    assert got.remaining == []


@pytest.mark.parametrize("target", ["step", "job"])
def test_scancel_srun(slurm, memhog, tmp_path, target):
    """scancel of srun logmemory memhog, its step (SIGKILL at once) or its job (SIGTERM to
    logmemory, SIGKILL after KillWait): a clean end, as the bare step's."""
    results = {}
    for kind in ("bare", "lm"):
        log, pid = tmp_path / f"{kind}.log", tmp_path / f"{kind}.pid"
        hog = [memhog, "-m", "50", "-w", "100", "-p", str(pid)]
        bg = slurm.srun_background(*(hog if kind == "bare" else [*lm_json(log), *hog]),
                                   env=logmemory_env())
        wait_for_file(pid)
        slurm.scancel(f"{bg.job}.0" if target == "step" else bg.job)
        rc, _ = bg.wait(60)
        results[kind] = settle(slurm, bg.job, ".0", log, rc)
    print(f"slurm: scancel of an srun {target}: record "
          f"{'whole' if isinstance(results['lm'].record, dict) else results['lm'].record}, "
          f"sacct {results['lm'].sacct}, srun exit {results['lm'].rc}; bare {results['bare'].sacct}")
    assert_clean_cancel(results["lm"], results["bare"])


def cancel_batch(slurm, tmp_path, name, line, pid):
    """Submit a batch script of one line, scancel it once memhog has allocated, settle."""
    path = script(tmp_path / f"{name}.sh", line + "\n")
    job, _ = slurm.sbatch(path, *batch_opts(tmp_path, name), env=logmemory_env())
    wait_for_file(pid)
    slurm.scancel(job)
    return settle(slurm, job, ".batch", tmp_path / f"{name}.log")


@pytest.mark.parametrize("form", ["child", "exec"])
def test_scancel_batch_script(slurm, memhog, tmp_path, form):
    """scancel of a batch job whose script runs logmemory memhog (as sh's child, or exec'd),
    CANCELS times: each time a clean end, as the bare script's."""
    prefix = "exec " if form == "exec" else ""

    def line(name, lm):
        hog = [memhog, "-m", "50", "-w", "100", "-p", str(tmp_path / f"{name}.pid")]
        return prefix + shlex.join([*lm_json(tmp_path / f"{name}.log"), *hog] if lm else hog)
    bare = cancel_batch(slurm, tmp_path, "bare", line("bare", False), tmp_path / "bare.pid")
    runs = [cancel_batch(slurm, tmp_path, f"lm{i}", line(f"lm{i}", True), tmp_path / f"lm{i}.pid")
            for i in range(CANCELS)]
    kinds = [("whole" if isinstance(r.record, dict) else "absent" if r.record is None else
              "partial") for r in runs]
    print(f"slurm: scancel of a batch script ({form}): record whole {kinds.count('whole')}, "
          f"absent {kinds.count('absent')}, partial {kinds.count('partial')} of {CANCELS}; "
          f"sacct {[r.sacct['step'] for r in runs][:3]}..., bare {bare.sacct['step']}")
    for got in runs:
        assert_clean_cancel(got, bare)


# -- e, f. arrays; the figures side by side ---------------------------------------------------

def test_array_records_carry_the_array_ids(slurm, memhog, tmp_path):
    """--array=1-3: each record's batch ids name the array job and its task."""
    log = tmp_path / "mem.log"
    path = script(tmp_path / "arr.sh", shlex.join([*lm_json(log), memhog, "-m", "1"]) + "\n")
    job, r = slurm.sbatch(path, "--array=1-3", f"--output={tmp_path}/arr-%a.out",
                          f"--chdir={tmp_path}", wait=True, env=logmemory_env())
    assert r.returncode == 0
    batch = [rec["batch"] for rec in json_records(log)]
    assert sorted(b.get("SLURM_ARRAY_TASK_ID") for b in batch) == ["1", "2", "3"]
    assert {b.get("SLURM_ARRAY_JOB_ID") for b in batch} == {str(job)}
    assert len({b.get("SLURM_JOB_ID") for b in batch}) == 3


def test_figures_side_by_side(slurm, memhog, probe, tmp_path):
    """A 200 MiB job (held 2 s, so sacct's 1 s sampling sees it): logmemory's peak within 5 %
    of the step cgroup's high-water mark; sacct's MaxRSS printed beside them."""
    log, out = tmp_path / "mem.log", tmp_path / "step_max"
    job, r = slurm.srun(*lm_json(log), probe, str(out), memhog, "-m", "200", "-w", "2",
                        env=logmemory_env())
    assert r.returncode == 0, r.stderr
    (rec,) = json_records(log)
    rows = slurm.wait_accounted(job, (".0",))
    peak, step = rec["tree"]["peak_kb"], step_max_kb(out)
    print(f"slurm: 200 MiB: logmemory tree.peak_kb {peak}, step memory.max_usage_in_bytes "
          f"{step} kB, sacct MaxRSS {rows[f'{job}.0'].maxrss_kb} kB, VmHWM {rec['vmhwm_kb']} kB")
    assert peak is not None, rec["tree"]["peak_unavailable_reason"]
    assert abs(peak - step) <= 0.05 * step


# -- Slurm 22.05 on cgroup v1, as measured here: what logmemory has to live with --------------

TASK_CGROUP = "/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)"


def test_fact_oom_in_a_child_cgroup_is_hidden_from_slurm(slurm, memhog, tmp_path):
    """The kernel counts a v1 OOM kill in the victim's own cgroup only, and Slurm reads the
    task's counter: a child cgroup of task_0, even without a limit, hides the OOM."""
    counters = tmp_path / "oom_kill"
    body = f"""T={TASK_CGROUP}
mkdir "$T/x"
sh -c 'echo $$ > "$0/x/cgroup.procs" && exec "$1" -m 300' "$T" {shlex.quote(memhog)}
rc=$?
for c in "$T/x" "$T"; do sed -n 's/^oom_kill //p' "$c/memory.oom_control"; done > {counters}
rmdir "$T/x"
exit $rc
"""
    job, r = slurm.srun("--mem=100M", script(tmp_path / "child.sh", body))
    assert r.returncode == 137
    assert counters.read_text().split() == ["1", "0"]  # the child's, task_0's
    assert outcome(slurm, job, ".0")["step"][0] == "FAILED"  # not OUT_OF_MEMORY
    assert "oom-kill event" not in r.stderr


def test_fact_a_leftover_child_cgroup_keeps_the_jobs_cgroup(slurm, tmp_path):
    """Slurm does not remove a job's memory cgroup that still has a child directory."""
    job, r = slurm.sbatch(script(tmp_path / "left.sh", f'mkdir "{TASK_CGROUP}/leftover"\n'),
                          *batch_opts(tmp_path, "left"), wait=True)
    assert r.returncode == 0
    outcome(slurm, job, ".batch")
    remaining = slurm.wait_cgroups_gone(job, timeout=3)
    assert [d.parent.parent.parent.name for d in remaining] == ["memory"]


def test_fact_batch_cancel_terms_the_script_only(slurm, tmp_path):
    """scancel sends SIGTERM to the batch script's process alone; once the script is gone,
    what it started is SIGKILLed at once (well within KillWait's 10 s)."""
    siglog = tmp_path / "signals"
    body = f"""{shlex.join([sys.executable, "-c", SIGLOG, str(siglog)])} &
sleep 100
"""
    job, _ = slurm.sbatch(script(tmp_path / "sig.sh", body), *batch_opts(tmp_path, "sig"))
    wait_for_file(siglog)
    start = time.monotonic()
    slurm.scancel(job)
    assert outcome(slurm, job, ".batch")["step"] == ("CANCELLED", "0:15")  # the script: TERM
    assert time.monotonic() - start < 5
    assert siglog.read_text().splitlines()[1:] == []  # its child got no catchable signal
