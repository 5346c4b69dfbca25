"""Cost of following process trees and threads: medians from one run, ratios to bare.

A shell loop that starts 500 /bin/true processes, run bare, under logmemory --no-follow, under
logmemory (following every process), under GNU time, and under strace following the same
events in C (-f --seccomp-bpf -e trace=exit_group); and a program that starts and joins 2,000
threads. Both also with --sample 10 (Pss of every live process every 10 ms). Rounds interleave
the variants so the machine's noise hits all alike.

    python bench/tree.py [--rounds N]          LOGMEMORY_BIN=dist/logmemory python bench/tree.py

"less start-up" subtracts logmemory's fixed cost (its median on `true` minus bare `true`).
Targets: following <= 1.5x bare, and no slower than the strace run.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOP = ["sh", "-c", "i=0; while [ $i -lt 500 ]; do /bin/true; i=$((i+1)); done"]


def wall(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    opts = ap.parse_args()
    binary = os.environ.get("LOGMEMORY_BIN")
    lm = [binary] if binary else [sys.executable, "-m", "logmemory"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        memhog = str(Path(tmp) / "memhog")
        subprocess.run(["gcc", "-O2", "-pthread", "-o", memhog, str(ROOT / "tests/helpers/memhog.c")],
                       check=True)
        log = str(Path(tmp) / "bench.log")
        threads = [memhog, "-C", "2000"]
        variants = {
            "bare true": ["true"],
            "logmemory true": [*lm, "-o", log, "true"],
            "bare": LOOP,
            "logmemory --no-follow": [*lm, "--no-follow", "-o", log, *LOOP],
            "logmemory (follow)": [*lm, "-o", log, *LOOP],
            "logmemory --sample 10": [*lm, "--sample", "10", "-o", log, *LOOP],
            "GNU time": ["/usr/bin/time", "-f", "%M", "-o", os.devnull, *LOOP],
            "threads bare": threads,
            "threads logmemory": [*lm, "-o", log, *threads],
            "threads logmemory --sample 10": [*lm, "--sample", "10", "-o", log, *threads],
        }
        if shutil.which("strace"):
            strace = ["strace", "-f", "--seccomp-bpf", "-e", "trace=exit_group", "-o", os.devnull]
            variants["strace -f --seccomp-bpf"] = [*strace, *LOOP]
            variants["threads strace"] = [*strace, *threads]
        times = {name: [] for name in variants}
        for _ in range(opts.rounds):
            for name, argv in variants.items():
                times[name].append(wall(argv, env))
    med = {name: statistics.median(v) for name, v in times.items()}
    fixed = med["logmemory true"] - med["bare true"]
    print(f"logmemory under test: {' '.join(lm)}; {opts.rounds} rounds, medians; "
          f"fixed start-up cost {fixed * 1000:.1f} ms")
    print(f"{'500 x /bin/true in sh':30} {'s':>7} {'x bare':>7} {'less start-up':>14}")
    for name in ("bare", "logmemory --no-follow", "logmemory (follow)", "logmemory --sample 10",
                 "GNU time", "strace -f --seccomp-bpf"):
        if name in med:
            less = (med[name] - fixed) / med["bare"] if name.startswith("logmemory") else None
            print(f"{name:30} {med[name]:7.3f} {med[name] / med['bare']:6.2f}x"
                  + (f" {less:13.2f}x" if less else ""))
    print(f"{'2,000 threads started+joined':30} {'s':>7} {'x bare':>7}")
    for name in ("threads bare", "threads logmemory", "threads logmemory --sample 10",
                 "threads strace"):
        if name in med:
            print(f"{name:30} {med[name]:7.3f} {med[name] / med['threads bare']:6.2f}x")
    follow = med["logmemory (follow)"] / med["bare"]
    print(f"{'PASS' if follow <= 1.5 else 'FAIL'}: following {follow:.2f}x bare (target <= 1.5x)")
    if "strace -f --seccomp-bpf" in med:
        s = med["strace -f --seccomp-bpf"]
        ok = med["logmemory (follow)"] <= s
        print(f"{'PASS' if ok else 'FAIL'}: following {med['logmemory (follow)']:.3f} s vs strace "
              f"{s:.3f} s (target: no slower)")


if __name__ == "__main__":
    main()
