"""What the Perl module costs a caller: loading it, and each call against CORE::system.

    python bench/perl_module.py [--runs N] [--bin dist/logmemory] [--lib DIR]...

Load: `perl -I LIB -MLogMemory -e1` against `perl -e1`, N interleaved runs each, median wall
time and median peak RSS (GNU time's %M: a child forked from this Python process would count
Python's pages in its ru_maxrss). Call: one perl process
times N calls of memsystem("/bin/true") and N of system("/bin/true"), interleaved, and prints
the medians; the first memsystem (which loads JSON::PP and File::Temp) is shown apart.
--lib (repeatable) names the copies of the module to compare, default perl/lib; the per-call
row uses the first.
"""

import argparse
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CALLS = r"""
use strict; use warnings; use Time::HiRes qw(time);
use LogMemory qw(memsystem);
my $n = shift;
my $t = time; memsystem('/bin/true'); my $first = time - $t;
my (@mine, @core);
for (1 .. $n) {
    $t = time; memsystem('/bin/true'); push @mine, time - $t;
    $t = time; system('/bin/true');    push @core, time - $t;
}
sub median { my @s = sort { $a <=> $b } @_; return $s[$#s / 2] * 1000 }
printf "%.2f %.2f %.2f\n", $first * 1000, median(@mine), median(@core);
"""


def run_once(argv, env):
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True)
    ms = (time.perf_counter() - start) * 1000.0
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, check=True,
                         capture_output=True, text=True)
    return ms, int(out.stderr.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per row (default 30)")
    parser.add_argument("--bin", default=os.path.join(ROOT, "dist", "logmemory"))
    parser.add_argument("--lib", action="append", help="a copy of the module (default perl/lib)")
    args = parser.parse_args()
    libs = args.lib or [os.path.join(ROOT, "perl", "lib")]
    env = dict(os.environ, LOGMEMORY_BIN=os.path.abspath(args.bin))

    rows = [("perl -e1", ["perl", "-e1"])]
    rows += [(f"-MLogMemory ({i})", ["perl", "-I", lib, "-MLogMemory", "-e1"]) for i, lib in enumerate(libs, 1)]
    samples = {label: [] for label, _ in rows}
    for _ in range(args.runs):
        for label, argv in rows:
            samples[label].append(run_once(argv, env))
    print(f"perl module: {', '.join(f'({i}) {lib}' for i, lib in enumerate(libs, 1))}")
    print(f"{args.runs} interleaved runs, medians")
    print(f"{'load':<24}{'ms':>8}{'maxrss kB':>11}")
    base = None
    for label, _ in rows:
        ms = statistics.median(s[0] for s in samples[label])
        kb = statistics.median(s[1] for s in samples[label])
        added = f"  +{ms - base[0]:.1f} ms, +{kb - base[1]:.0f} kB" if base else ""
        print(f"{label:<24}{ms:8.1f}{kb:11.0f}{added}")
        base = base or (ms, kb)

    if not os.access(args.bin, os.X_OK):
        print(f"no binary at {args.bin}: per-call row skipped")
        return
    out = subprocess.run(["perl", "-I", libs[0], "-e", CALLS, str(args.runs)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    first, mine, core = map(float, out)
    print(f"per call, /bin/true: memsystem {mine:.1f} ms (first call {first:.1f} ms), "
          f"system {core:.2f} ms: {mine / core:.0f}x")


if __name__ == "__main__":
    main()
