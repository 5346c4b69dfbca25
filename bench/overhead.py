"""Overhead of logmemory on the command it runs: ratios (logmemory / bare) from one run.

Workloads: the syscall-heavy dd of issue 2 (300,000 one-byte reads and writes), the same with
ten times the bytes, and a fork-free CPU loop in sh. Each round runs every variant once,
interleaved, so the machine's noise hits all alike; medians are printed.

    python bench/overhead.py [--rounds N] [--original]
    LOGMEMORY_BIN=dist/logmemory python bench/overhead.py

Ratios: "total" is the whole `logmemory ... CMD` wall time over bare CMD; "less start-up"
subtracts logmemory's fixed cost (its median on `true` minus bare `true`, from the same run),
which is what the tracing itself costs the command. The dd target (<= 1.10x) is on that.
"cmd as recorded" is the command's elapsed time in logmemory's record (launcher included) over
bare wall time; "cmd CPU" the command's user+sys time (from wait4) over the same bare.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKLOADS = {
    "dd 300k x 1 B": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=300000", "status=none"],
    "dd 3M x 1 B": ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=3000000", "status=none"],
    "sh loop (CPU)": ["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"],
}


def logmemory():
    binary = os.environ.get("LOGMEMORY_BIN")
    return ([binary], binary) if binary else ([sys.executable, "-m", "logmemory"], "python -m logmemory")


def wall(argv, env, cpu=None):
    """Wall time of argv; its children's user+sys CPU time is appended to cpu."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, null.fileno(), 1)])
    _, status, ru = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    if cpu is not None:
        cpu.append(ru.ru_utime + ru.ru_stime)
    return elapsed


def build_original(tmp):
    out = Path(tmp) / "original_logmemory"
    subprocess.run(["gcc", "-O2", "-o", str(out), str(ROOT / "tests/helpers/original_logmemory.c")],
                   check=True)
    return str(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--original", action="store_true",
                    help="also time the original C tool on the first dd workload")
    opts = ap.parse_args()
    lm, name = logmemory()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        log = str(Path(tmp) / "bench.log")
        original = build_original(tmp) if opts.original else None
        times = {}
        recorded = {}
        cpu = {}
        for _ in range(opts.rounds):
            for label, argv in [("true", ["true"]), *WORKLOADS.items()]:
                times.setdefault((label, "bare"), []).append(
                    wall(argv, env, cpu.setdefault((label, "bare"), [])))
                times.setdefault((label, "lm"), []).append(
                    wall([*lm, "--format", "json", "-o", log, *argv], env))
                rec = json.loads(Path(log).read_text().splitlines()[-1])
                recorded.setdefault(label, []).append(rec["elapsed_s"])
                cpu.setdefault((label, "lm"), []).append(rec["user_s"] + rec["sys_s"])
        if original:
            argv = WORKLOADS["dd 300k x 1 B"]
            times[("dd 300k x 1 B", "original")] = [
                wall([original, "-o", log, *argv], env) for _ in range(min(opts.rounds, 3))]
    med = {k: statistics.median(v) for k, v in times.items()}
    fixed = med[("true", "lm")] - med[("true", "bare")]
    print(f"logmemory under test: {name}; {opts.rounds} rounds, medians; "
          f"fixed start-up cost (logmemory true - true): {fixed * 1000:.1f} ms")
    print(f"{'workload':16} {'bare s':>8} {'logmem s':>9} {'total':>7} {'less start-up':>14}"
          f" {'cmd as recorded':>16} {'cmd CPU':>8}")
    results = {}
    for label in WORKLOADS:
        bare, lmt = med[(label, "bare")], med[(label, "lm")]
        less = (lmt - fixed) / bare
        results[label] = less
        cpu_ratio = statistics.median(cpu[(label, "lm")]) / statistics.median(cpu[(label, "bare")])
        print(f"{label:16} {bare:8.3f} {lmt:9.3f} {lmt / bare:6.2f}x {less:13.2f}x"
              f" {statistics.median(recorded[label]) / bare:15.2f}x {cpu_ratio:7.2f}x")
    if original:
        o = med[("dd 300k x 1 B", "original")]
        print(f"{'original C tool':16} {med[('dd 300k x 1 B', 'bare')]:8.3f} {o:9.3f} "
              f"{o / med[('dd 300k x 1 B', 'bare')]:6.1f}x   (PTRACE_SYSCALL: a stop per system call)")
    verdict = "PASS" if results["dd 300k x 1 B"] <= 1.10 else "FAIL"
    print(f"{verdict}: dd 300k tracing overhead {results['dd 300k x 1 B']:.2f}x (target <= 1.10x)")


if __name__ == "__main__":
    main()
