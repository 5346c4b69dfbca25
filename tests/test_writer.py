"""Record formats, on fixed Run objects (no processes)."""

import json
import os
import time

import pytest

from logmemory import logfile, writer
from logmemory.record import Run

WHEN = time.struct_time((2013, 2, 11, 21, 17, 55, 0, 42, 0), {"tm_zone": "CET", "tm_gmtoff": 3600})
FULL = Run(argv=(b"ls", b"-l"), ended=WHEN, wait_status=0, pid=7,
           vmpeak_line=b"VmPeak:\t    5004 kB\n", vmhwm_line=b"VmHWM:\t    1284 kB\n",
           vmpeak_kb=5004, vmhwm_kb=1284, maxrss_kb=1300, elapsed_s=0.0123, user_s=0.001, sys_s=0.004)


def test_legacy_is_the_original_record():
    assert writer.render(FULL, "legacy") == (
        b"Date: Mon Feb 11 21:17:55 2013\n"
        b"Cmd:  ls -l\n"
        b"VmPeak:\t    5004 kB\n"
        b"VmHWM:\t    1284 kB\n"
        b"\n")


def test_asctime_pads_the_day_with_a_space():
    when = time.struct_time((2013, 2, 1, 9, 5, 3, 4, 32, 0), {"tm_zone": "UTC", "tm_gmtoff": 0})
    run = Run(argv=(b"x",), ended=when, wait_status=0)
    assert writer.render(run, "legacy").startswith(b"Date: Fri Feb  1 09:05:03 2013\n")


def test_text_adds_lines_in_the_same_style():
    assert writer.render(FULL, "text") == (
        b"Date: Mon Feb 11 21:17:55 2013\n"
        b"Cmd:  ls -l\n"
        b"VmPeak:\t    5004 kB\n"
        b"VmHWM:\t    1284 kB\n"
        b"MaxRSS:\t    1300 kB\n"
        b"Exit:\t0\n"
        b"Elapsed:\t0.012 s\n"
        b"User:\t0.001 s\n"
        b"System:\t0.004 s\n"
        b"\n")


def test_unmeasured_values_are_left_out_of_text_and_null_in_json():
    run = Run(argv=(b"x",), ended=WHEN, wait_status=9, maxrss_kb=900, elapsed_s=1.0,
              unmeasured={"vmpeak_kb": "ptrace refused", "vmhwm_kb": "ptrace refused"})
    text = writer.render(run, "text")
    assert b"VmPeak" not in text and b"VmHWM" not in text
    assert b"Exit:\tsignal SIGKILL\n" in text
    assert b"Unmeasured:\tvmhwm_kb: ptrace refused\n" in text
    rec = json.loads(writer.render(run, "json"))
    assert rec["vmpeak_kb"] is None and rec["user_s"] is None
    assert rec["signal"] == "SIGKILL" and rec["exit_code"] is None
    assert rec["unmeasured"]["vmhwm_kb"] == "ptrace refused"


def test_json_is_one_line_with_offset_date():
    data = writer.render(FULL, "json")
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    rec = json.loads(data)
    assert rec["date"] == "2013-02-11T21:17:55+01:00"
    assert rec["cmd"] == ["ls", "-l"] and rec["exit_code"] == 0 and rec["signal"] is None


def test_negative_utc_offset():
    when = time.struct_time((2013, 2, 1, 9, 5, 3, 4, 32, 0), {"tm_zone": "X", "tm_gmtoff": -34200})
    rec = json.loads(writer.render(Run(argv=(b"x",), ended=when, wait_status=0), "json"))
    assert rec["date"] == "2013-02-01T09:05:03-09:30"


def test_core_dump_is_named():
    status = 11 | 0x80
    assert os.WCOREDUMP(status)
    run = Run(argv=(b"x",), ended=WHEN, wait_status=status)
    assert b"Exit:\tsignal SIGSEGV (core dumped)\n" in writer.render(run, "text")


def test_append_is_one_write(tmp_path):
    fd = os.open(tmp_path / "l", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    logfile.append(fd, b"abc")
    os.close(fd)
    assert (tmp_path / "l").read_bytes() == b"abc"


def test_json_text_is_what_json_dumps_writes():
    """The record's JSON is written without the json module (its import costs ~12 ms)."""
    import random
    rng = random.Random(7)
    chars = [chr(c) for c in [*range(0, 0x80), 0xe9, 0x7ff, 0x800, 0xd7ff, 0xdc80, 0xdfff,
                              0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff]]

    def any_value(depth=0):
        kind = rng.randrange(8 if depth < 3 else 6)
        if kind == 0:
            return rng.choice([None, True, False])
        if kind == 1:
            return rng.randrange(-10**20, 10**20)
        if kind == 2:
            return round(rng.uniform(-1e6, 1e6), rng.randrange(7))
        if kind < 6:
            return "".join(rng.choice(chars) for _ in range(rng.randrange(12)))
        if kind == 6:
            return [any_value(depth + 1) for _ in range(rng.randrange(4))]
        return {str(i) + rng.choice(chars): any_value(depth + 1)
                for i in range(rng.randrange(4))}
    for _ in range(3000):
        v = any_value()
        assert writer.json_text(v) == json.dumps(v, separators=(", ", ": ")), repr(v)
    with pytest.raises(TypeError):
        writer.json_text(b"bytes")
