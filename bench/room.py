"""What logmemory costs a job under a memory limit: the room it takes, and whether the OOM
killer then stalls it. One run; root, and a memory cgroup we may make cgroups in.

    python bench/room.py [--runs N] [--bin dist/logmemory] [--limit BYTES]

Under a fresh cgroup limited to --limit (100,000,000 B), each round runs `memhog -m 300` with
GNU time inside, bare and under each logmemory, with the page cache emptied first (so that
logmemory's own pages are charged inside the limit, the hard case). Prints the medians of where
the OOM killer struck (GNU time's %M of the victim), the room logmemory took (bare less that),
logmemory's own charge (the cgroup's usage around `sleep` less bare `sleep`'s), and the longest
elapsed time of a killed run (a stall in reclaim shows as 2 s and more).
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
sys.path.insert(0, str(ROOT / "tests"))
from test_oom import ENTER, own_memory_dir  # noqa: E402 (the tests' own way to find the cgroup)


def in_cgroup(cg, argv, **kw):
    return subprocess.run(["sh", "-c", ENTER, str(cg), *argv], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def killed_at(cg, wrapper, memhog, tmp):
    """(kB GNU time saw when the OOM killer struck, seconds the run took)."""
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    out = Path(tmp) / "time.out"
    started = time.monotonic()
    in_cgroup(cg, [*wrapper, "/usr/bin/time", "-f", "%M", "-o", str(out), memhog, "-m", "300"])
    return int(out.read_text().split()[-1]), time.monotonic() - started


def charge(cg, wrapper):
    """The cgroup's usage, bytes, 0.3 s into `sleep 0.6`."""
    p = subprocess.Popen(["sh", "-c", ENTER, str(cg), *wrapper, "sleep", "0.6"],
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    usage = int((cg / "memory.usage_in_bytes").read_text())
    p.wait()
    return usage


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin", default=str(ROOT / "dist" / "logmemory"))
    parser.add_argument("--limit", type=int, default=100_000_000)
    args = parser.parse_args()
    own = own_memory_dir()
    if own is None or os.geteuid() != 0:
        print("room: skipped: needs root and a cgroup v1 memory hierarchy we may write")
        return 0
    tmp = tempfile.mkdtemp()
    memhog = os.path.join(tmp, "memhog")
    subprocess.run(["gcc", "-O2", "-pthread", "-o", memhog, str(ROOT / "tests/helpers/memhog.c")],
                   check=True)
    log = os.path.join(tmp, "L")
    wrappers = {"bare": [], "python -m logmemory": [sys.executable, "-m", "logmemory", "-o", log]}
    if os.access(args.bin, os.X_OK):
        wrappers["dist/logmemory"] = [args.bin, "-o", log]
    cg = own / f"bench-room-{os.getpid()}"
    cg.mkdir()
    try:
        (cg / "memory.limit_in_bytes").write_text(str(args.limit))
        kills = {name: [] for name in wrappers}
        took = {name: [] for name in wrappers}
        usage = {name: [] for name in wrappers}
        for _ in range(args.runs):
            for name, wrapper in wrappers.items():
                kb, seconds = killed_at(cg, wrapper, memhog, tmp)
                kills[name].append(kb)
                took[name].append(seconds)
                usage[name].append(charge(cg, wrapper))
        print("room: %d rounds under a %d-byte cgroup v1 limit, page cache emptied before each"
              % (args.runs, args.limit))
        print("%-22s %12s %12s %14s %12s" % ("", "killed at kB", "room taken", "own charge kB",
                                             "longest s"))
        bare_kb = statistics.median(kills["bare"])
        bare_use = statistics.median(usage["bare"])
        for name in wrappers:
            print("%-22s %12d %12d %14d %12.2f" % (
                name, statistics.median(kills[name]), bare_kb - statistics.median(kills[name]),
                (statistics.median(usage[name]) - bare_use) / 1024, max(took[name])))
    finally:
        for _ in range(100):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.05)
        shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
