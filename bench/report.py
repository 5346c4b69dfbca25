"""`logmemory report` over a log of 1,000,000 records of mixed formats: time and peak memory.

    python bench/report.py [--records N] [--bin dist/logmemory] [--keep FILE]

Writes one real record of each format (text, legacy, json) with logmemory itself, copies them
N times in turn with other figures, labels and commands, then runs the report over the file under
GNU time, beside `wc -l` and `grep -c VmHWM` over the same file: the floor any reader pays to read
it. Target (issue 14): at most 10 s for 1,000,000 records. The report keeps 8 bytes per run for
its percentiles, so its peak grows by about 8 MB per million runs over the interpreter's own.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_S = 10.0
STEPS = ["align", "sort", "call", "merge", "qc"]


def timed(argv, env=None):
    """(elapsed s, CPU s, peak RSS kB, stdout) of argv under GNU time."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", *argv], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, check=False)
    elapsed, user, system, peak = r.stderr.decode().strip().splitlines()[-1].split()
    return float(elapsed), float(user) + float(system), int(peak), r.stdout


def templates(lm, tmp, env):
    """One real record of each format, written by logmemory."""
    out = []
    for fmt in ("text", "legacy", "json"):
        log = os.path.join(tmp, f"one.{fmt}")
        subprocess.run([*lm, "--format", fmt, "-o", log, "--label", "LABEL", "sh", "-c", "true"],
                       env=env, check=True)
        with open(log, "rb") as f:
            out.append(f.read())
    return out


def write_log(path, n, records):
    """n records, the three formats in turn, with figures and steps varied by a counter."""
    # Figures in kB, in text ("1684 kB") and JSON ("vmhwm_kb": 1684).
    number = re.compile(rb"\d+(?= kB)|(?<=_kb\": )\d+")
    with open(path, "wb") as f:
        batch = []
        for i in range(n):
            rec = records[i % 3]
            step = STEPS[i % len(STEPS)].encode()
            rec = number.sub(lambda m, i=i: b"%d" % (int(m.group()) + i % 9973), rec)
            # Commands differ by their arguments, as a pipeline's samples do.
            batch.append(rec.replace(b"LABEL", step).replace(b"true", step + b".py s%d" % i))
            if len(batch) == 10000:
                f.write(b"".join(batch))
                batch = []
        f.write(b"".join(batch))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--bin", default=None, help="the binary (default: python -m logmemory)")
    parser.add_argument("--keep", help="write the log here and keep it")
    parser.add_argument("--log", help="an existing log to read instead of writing one")
    args = parser.parse_args()
    lm = [args.bin] if args.bin else [sys.executable, "-m", "logmemory"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        log = args.log or args.keep or os.path.join(tmp, "big.log")
        if not args.log:
            write_log(log, args.records, templates(lm, tmp, env))
        size = os.path.getsize(log)
        rows = [("logmemory report", [*lm, "report", "--format", "tsv", log]),
                ("wc -l", ["wc", "-l", log]),
                ("grep -c VmHWM", ["grep", "-c", "VmHWM", log])]
        print(f"report bench: {args.records:,} records (text, legacy, json in turn), "
              f"{size / 1e6:.0f} MB; program: {' '.join(lm)}")
        # Wall time depends on what else the machine runs; CPU time much less so.
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"{'command':<20}{'wall s':>8}{'CPU s':>8}{'peak MB':>10}")
        results = {}
        for name, argv in rows:
            elapsed, cpu, peak, out = timed(argv, env)
            results[name] = (elapsed, out)
            print(f"{name:<20}{elapsed:>8.2f}{cpu:>8.2f}{peak / 1024:>10.1f}")
        runs = sum(int(line.split(b"\t")[1]) for line in results["logmemory report"][1]
                   .splitlines()[1:])
        print(f"runs summarized: {runs:,} of {args.records:,}")
        elapsed = results["logmemory report"][0]
        verdict = "PASS" if elapsed <= TARGET_S and runs == args.records else "FAIL"
        print(f"{verdict}: report {elapsed:.2f} s for {args.records:,} records "
              f"(target <= {TARGET_S:.0f} s for 1,000,000)")


if __name__ == "__main__":
    main()
