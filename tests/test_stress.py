"""Randomized stress: random trees, signals at random moments to random members, to logmemory
and to its process group, with and without --wait-all.

A short seeded round runs in `make test`; long ones with `make stress N=5000 SEED=7`
(STRESS_N, STRESS_SEED). Every run is bounded by a timeout; on a hang the test prints each
process's state, tracer and wait channel. Asserted for every run: no hang; logmemory's status
is the one its record gives for the command (or, with no record, it ended by the signal it got
before the command started, and said so); no cgroup of it left; the record is whole.
"""

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import logmemory_command, logmemory_env
from test_tree import job_cgroups

N = int(os.environ.get("STRESS_N", "120"))
SEED = int(os.environ.get("STRESS_SEED", "20261201"))
TIMEOUT = 30

# Jobs; M is the test child (tests/helpers/memhog.c).
JOBS = [
    "sh -c 'M -m 2 & M -m 3; wait'",
    "sh -c 'M -m 1 | cat >/dev/null'",
    "sh -c 'x=$(M -m 1; echo hi); test -n \"$x\"'",
    "M -C 20 -m 1",
    "M -T 2 -l 0.05",
    "M -P -m 1 -- M -m 2",
    "sh -c '(sh -c \"sleep 0.1 &\"); M -m 1'",
    "sh -c 'for i in 1 2 3 4 5; do /bin/true & done; wait'",
    "sh -c 'i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done'",
    "sh -c 'sh -c \"i=0; while [ \\$i -lt 60 ]; do /bin/true; i=\\$((i+1)); done; echo x\" | cat'",
    "sh -c 'exit 3'",
]
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT,
           signal.SIGALRM, signal.SIGPWR, signal.SIGRTMIN, signal.SIGKILL]


def descendants(pid):
    """pids below pid, from /proc/PID/task/TID/children."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                found += kids
                todo += kids
        except OSError:
            pass
    return found


def states(pids):
    lines = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
            wchan = Path(f"/proc/{pid}/wchan").read_text()
        except OSError:
            continue
        tracer = next(x for x in status.splitlines() if x.startswith("TracerPid"))
        lines.append(f"{pid} {stat.rsplit(')', 1)[1].split()[0]} {tracer} wchan={wchan} "
                     f"{stat[:stat.index(')') + 1]}")
    return "\n".join(lines)


def one_run(rng, memhog, tmp_path, i):
    job = rng.choice(JOBS).replace("M ", memhog + " ")
    wait_all = rng.random() < 0.3
    log = tmp_path / f"{i}.log"
    argv = [*logmemory_command(), "--format", "json", "-o", str(log),
            *(["--wait-all"] if wait_all else []), "sh", "-c", job]
    p = subprocess.Popen(argv, env=logmemory_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, process_group=0, preexec_fn=_no_core)
    delay = rng.uniform(0, 0.08)
    time.sleep(delay)
    target = rng.choice(["logmemory", "group", "member", "member", "none"])
    sig = rng.choice(SIGNALS)
    if target == "logmemory" and sig != signal.SIGKILL:
        os.kill(p.pid, sig)
    elif target == "group" and sig != signal.SIGKILL:
        os.killpg(p.pid, sig)
    elif target == "member":
        kids = descendants(p.pid)
        if kids:
            try:
                os.kill(rng.choice(kids), sig)
            except ProcessLookupError:
                pass
    what = f"run {i}: {argv[-1]!r} wait_all={wait_all} {sig.name} to {target} after {delay:.4f} s"
    try:
        rc = p.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pids = [p.pid, *descendants(p.pid)]
        report = states(pids)
        os.killpg(p.pid, signal.SIGKILL)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()
        pytest.fail(f"hang: {what}\n{report}")
    err = p.stderr.read()
    assert f"logmemory-{p.pid}" not in job_cgroups(), what
    data = log.read_bytes() if log.exists() else b""
    if not data:
        # Before the command started, logmemory ends by the signal: from its first statement
        # on, saying so; before that (the interpreter's start-up) by the signal's default
        # action, or for SIGINT by Python's KeyboardInterrupt (python -m: exit 1).
        assert rc == -sig or (rc == 1 and err.rstrip().endswith(b"KeyboardInterrupt")), \
            (what, rc, err)
        if b"received before the command started" in err:
            return "not started, said so"
        # The binary's bootloader holds every signal from its first instruction: only before
        # it (exec and the dynamic loader, a fraction of a millisecond) may one act unsaid.
        assert not os.environ.get("LOGMEMORY_BIN") or delay < 0.003, (what, delay, rc, err)
        assert not log.exists() and (err == b"" or err.rstrip().endswith(b"KeyboardInterrupt")), \
            (what, err)
        return "killed before logmemory's first statement"
    assert data.endswith(b"\n") and data.count(b"\n") == 1, (what, data)
    rec = json.loads(data)
    if rec["signal"] is not None:
        assert rc == -signal.Signals[rec["signal"]], (what, rc, rec["signal"], err)
    else:
        assert rc == rec["exit_code"], (what, rc, rec["exit_code"], err)
    assert b"Traceback" not in err, (what, err)
    return "record"


def _no_core():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def test_stress(memhog, tmp_path):
    rng = random.Random(SEED)
    outcomes = {}
    for i in range(N):
        outcome = one_run(rng, memhog, tmp_path, i)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"stress: seed {SEED}, {N} runs: {outcomes}")
