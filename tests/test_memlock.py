"""What logmemory locks in memory where mlockall is refused: its files' code, then their
read-only data, within RLIMIT_MEMLOCK; and that the lock holds in a real process."""

import os
import subprocess
import sys

from conftest import ROOT
from logmemory import memlock

MAPS = b"""\
55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 100 /usr/bin/python3.11
55d0c0a02000-55d0c0c00000 r-xp 00002000 08:01 100 /usr/bin/python3.11
55d0c1000000-55d0c1100000 rw-p 00000000 00:00 0   [heap]
7f0000000000-7f0000400000 r-xp 00000000 08:01 200 /tmp/logmemory-0/x/libpython3.11.so.1.0
7f0000400000-7f0000500000 r--p 00400000 08:01 200 /tmp/logmemory-0/x/libpython3.11.so.1.0
7f0000500000-7f0000510000 rw-p 00500000 08:01 200 /tmp/logmemory-0/x/libpython3.11.so.1.0
7f0000600000-7f0000601000 r--s 00000000 08:01 300 /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0   [stack]
"""


def test_code_first_then_read_only_data_of_files_only():
    assert memlock.parse_maps(MAPS) == [
        (0x55d0c0a02000, 0x1fe000), (0x7f0000000000, 0x400000),
        (0x55d0c0a00000, 0x2000), (0x7f0000400000, 0x100000)]


def test_a_user_without_cap_ipc_lock_gets_our_code_locked_within_the_limit():
    """mlockall is refused where RLIMIT_MEMLOCK (8 MiB) is below the address space and
    CAP_IPC_LOCK is missing (root here, less that capability): the code is locked within the
    limit, as VmLck shows."""
    script = ("import resource; resource.setrlimit(resource.RLIMIT_MEMLOCK, (8 << 20, 8 << 20));"
              "from logmemory import memlock; why = memlock.lock();"
              "lck = [l for l in open('/proc/self/status') if l.startswith('VmLck')][0].split()[1];"
              "print(why, lck)")
    drop = ["setpriv", "--bounding-set", "-ipc_lock", "--inh-caps", "-ipc_lock"] \
        if os.geteuid() == 0 else []
    out = subprocess.run([*drop, sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True).stdout.split()
    assert out[0] == "None"
    assert 1024 < int(out[1]) <= 8 * 1024
