"""The log: the legacy format byte for byte against the original tool, atomic appends, fallbacks."""

import json
import os
import re
import subprocess


from conftest import json_records, logmemory_env

RECORD_LINE = re.compile(
    rb"^(Date|Cmd|VmPeak|VmHWM|MaxRSS|Exit|Elapsed|User|System|Processes|TreeMaxVmHWM|TreePeak"
    rb"|Host):")


def masked(data):
    """Digits masked: dates and measured values differ run to run, the layout must not."""
    return re.sub(rb"\d", b"N", data)


def test_legacy_format_is_byte_identical_to_the_original(lm, original, memhog, tmp_path):
    ours, theirs = tmp_path / "ours.log", tmp_path / "theirs.log"
    subprocess.run([original, "-o", str(theirs), memhog, "-m", "64"], check=True)
    assert lm("--format", "legacy", "-o", str(ours), memhog, "-m", "64").returncode == 0
    assert masked(ours.read_bytes()) == masked(theirs.read_bytes())
    assert ours.read_bytes().split(b"\n")[1] == f"Cmd:  {memhog} -m 64".encode()
    # Same process, same kernel counters: the values agree closely too.
    hwm = [int(re.search(rb"VmHWM:\s+(\d+)", p.read_bytes()).group(1)) for p in (ours, theirs)]
    assert abs(hwm[0] - hwm[1]) <= 1024


def test_default_format_extends_the_legacy_lines(lm, log, memhog):
    assert lm("-o", str(log), memhog, "-m", "10", "-e", "3").returncode == 3
    lines = log.read_bytes().split(b"\n")
    assert [line.split(b":")[0] for line in lines[:9]] == [
        b"Date", b"Cmd", b"VmPeak", b"VmHWM", b"MaxRSS", b"Exit", b"Elapsed", b"User", b"System"]
    assert re.fullmatch(rb"MaxRSS:\t {0,7}\d+ kB", lines[4])
    assert lines[5] == b"Exit:\t3"
    assert lines[9] == b"Processes:\t1 (threads: 1)"
    assert re.fullmatch(rb"TreeMaxVmHWM:\t {0,7}\d+ kB \(pid \d+: .*memhog -m 10 -e 3\)", lines[10])
    assert re.fullmatch(rb"TreePeak:\t {0,7}\d+ kB \(cgroup[12]\)", lines[11])
    assert lines[12:] == [b"Host:\t" + os.uname().nodename.encode(), b"", b""]


def test_log_is_appended_never_truncated(lm, log):
    log.write_bytes(b"earlier\n")
    lm("-o", str(log), "true")
    lm("-o", str(log), "true")
    data = log.read_bytes()
    assert data.startswith(b"earlier\n") and data.count(b"Date: ") == 2


def test_concurrent_writers_never_interleave(lm_cmd, log, memhog):
    procs = [subprocess.Popen([*lm_cmd, "-o", str(log), memhog, "-m", "2", "-e", str(i)],
                              env=logmemory_env()) for i in range(32)]
    assert sorted(p.wait(timeout=120) for p in procs) == list(range(32))
    records = log.read_bytes().split(b"\n\n")
    assert records[-1] == b""
    records = records[:-1]
    assert len(records) == 32
    seen = set()
    for rec in records:
        lines = rec.split(b"\n")
        assert all(RECORD_LINE.match(line) for line in lines), rec
        seen.add(int(re.search(rb"-e (\d+)\n", rec + b"\n").group(1)))
    assert seen == set(range(32))


def test_non_utf8_argument_is_logged_as_its_bytes(lm, tmp_path, log):
    arg = b"caf\xe9"
    assert lm("-o", str(log), b"echo", arg, stdout=subprocess.DEVNULL).returncode == 0
    assert b"Cmd:  echo caf\xe9\n" in log.read_bytes()
    jlog = tmp_path / "j.log"
    lm("--format", "json", "-o", str(jlog), b"echo", arg, stdout=subprocess.DEVNULL)
    assert json_records(jlog)[0]["cmd"] == ["echo", "caf\\xe9"]


def test_record_goes_to_stderr_when_the_log_cannot_be_written(lm):
    r = lm("-o", "/dev/full", "sh", "-c", "exit 6")
    assert r.returncode == 6
    err = r.stderr.split(b"\n", 1)
    assert err[0] == b"logmemory: cannot write to '/dev/full': No space left on device; the record follows"
    assert err[1].startswith(b"Date: ") and b"\nExit:\t6\n" in err[1]


def test_json_record_has_every_key(lm, log):
    lm("--format", "json", "-o", str(log), "true")
    (rec,) = json_records(log)
    for key in ("date", "cmd", "pid", "exit_code", "signal", "core_dumped", "vmpeak_kb", "vmhwm_kb",
                "maxrss_kb", "elapsed_s", "user_s", "sys_s", "unmeasured"):
        assert key in rec
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", rec["date"])


def test_record_file_is_replaced_and_log_optional(lm, tmp_path):
    rec_file = tmp_path / "rec.json"
    rec_file.write_text("old\n" * 10)
    assert lm("--record", str(rec_file), "sh", "-c", "exit 2").returncode == 2
    rec = json.loads(rec_file.read_text())
    assert rec["exit_code"] == 2 and rec_file.read_text().count("\n") == 1
