"""Faults around the job: signals at start-up and of every kind, full disks, broken stderr,
few descriptors. The status is always the command's (or, before it started, the signal's)."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import json_records, logmemory_command, logmemory_env
from test_measure import wait_for_pid

# Every signal whose default action ends a process, but those the other tests cover.
FATAL = [signal.SIGILL, signal.SIGTRAP, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE,
         signal.SIGSEGV, signal.SIGSTKFLT, signal.SIGXCPU, signal.SIGVTALRM, signal.SIGPROF,
         signal.SIGIO, signal.SIGPWR, signal.SIGSYS, signal.SIGUSR1, signal.SIGALRM,
         signal.SIGPIPE, signal.SIGXFSZ, 32, 33, signal.SIGRTMIN, signal.SIGRTMIN + 5,
         signal.SIGRTMAX]


def no_core():
    """Children start without core dumps and with 32 and 33 at their default action: make
    starts its children with both ignored, and the bare command would then ignore them too."""
    from logmemory import _signals
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for sig in (32, 33):
        _signals.set_handler(sig, _signals.SIG_DFL)


@pytest.mark.parametrize("sig", FATAL, ids=lambda s: f"sig{int(s)}")
def test_every_fatal_signal_reaches_the_command(memhog, tmp_path, sig):
    """Sent to logmemory, it kills the command, and logmemory ends the same way, with the record."""
    log, pidfile = tmp_path / "m.log", tmp_path / "pid"
    p = subprocess.Popen([*logmemory_command(), "--format", "json", "-o", str(log), memhog,
                          "-p", str(pidfile), "-w", "30"], env=logmemory_env(),
                         stderr=subprocess.PIPE, preexec_fn=no_core)
    wait_for_pid(pidfile)
    os.kill(p.pid, sig)
    assert p.wait(timeout=30) == -sig, p.stderr.read()
    (rec,) = json_records(log)
    names = {signal.SIGRTMIN: "SIGRTMIN", signal.SIGRTMAX: "SIGRTMAX"}
    assert rec["signal"] == names.get(sig, signal.Signals(sig).name if 0 < sig < 32
                                      else f"SIG{int(sig)}")


@pytest.mark.parametrize("sig", [32, 33])
def test_death_by_a_reserved_signal_comes_back_as_that_signal(lm, log, sig):
    code = f"import os; os.kill(os.getpid(), {sig})"
    assert subprocess.run([sys.executable, "-c", code], preexec_fn=no_core).returncode == -sig
    r = lm("-o", str(log), sys.executable, "-c", code, preexec_fn=no_core)
    assert r.returncode == -sig, r.stderr
    assert f"Exit:\tsignal SIG{sig}\n".encode() in log.read_bytes()


def test_a_signal_before_the_command_started_ends_logmemory_without_it(tmp_path):
    """logmemory opens its log before it starts the command: a FIFO with no reader holds it
    there, where a SIGTERM comes; the command is not run, logmemory says so and ends by it,
    without waiting for a reader that may never come."""
    ran, fifo = tmp_path / "ran", tmp_path / "log"
    os.mkfifo(fifo)
    p = subprocess.Popen([*logmemory_command(), "-o", str(fifo), "touch", str(ran)],
                         env=logmemory_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    # It waits for the reader in short sleeps, between which a signal can end it.
    while Path(f"/proc/{p.pid}/wchan").read_text() != "hrtimer_nanosleep":
        assert time.monotonic() < deadline, "logmemory never waited for its log's reader"
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == -signal.SIGTERM
    assert not ran.exists()
    assert p.stderr.read() == \
        b"logmemory: SIGTERM received before the command started: it was not run\n"


def test_a_fifo_log_gets_the_record_once_a_reader_comes(tmp_path):
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    p = subprocess.Popen([*logmemory_command(), "-o", str(fifo), "sh", "-c", "exit 3"],
                         env=logmemory_env(), stderr=subprocess.PIPE)
    time.sleep(0.3)
    with open(fifo, "rb") as reader:
        assert p.wait(timeout=30) == 3, p.stderr.read()
        assert b"Exit:\t3\n" in reader.read()


def test_group_signal_reaches_a_command_without_main_thread_once(memhog, tmp_path):
    """The command's main thread has called pthread_exit: the group's SIGINT shows in another
    thread's delivery stop, and logmemory must not send a second copy."""
    ints, pidfile = tmp_path / "ints", tmp_path / "pid"
    p = subprocess.Popen([*logmemory_command(), "-o", str(tmp_path / "m.log"), memhog, "-i",
                          str(ints), "-p", str(pidfile), "-T", "1", "-l", "2"],
                         env=logmemory_env(), process_group=0)
    pid = wait_for_pid(pidfile)
    deadline = time.monotonic() + 10
    while open(f"/proc/{pid}/task/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGINT)
    assert p.wait(timeout=30) == 0
    assert len(ints.read_text().splitlines()) == 1


def test_short_write_is_taken_back_and_the_record_goes_to_stderr(lm_cmd, tmp_path):
    """A file size limit lets only part of the record in: the log keeps none of it."""
    log = tmp_path / "m.log"
    log.write_bytes(b"x" * 1000)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1040, resource.RLIM_INFINITY))
    r = subprocess.run([*lm_cmd, "-o", str(log), "sh", "-c", "exit 3"], env=logmemory_env(),
                       stderr=subprocess.PIPE, preexec_fn=limit, timeout=60)
    assert r.returncode == 3
    assert log.read_bytes() == b"x" * 1000
    assert b"logmemory: cannot write to" in r.stderr and b"taken back" in r.stderr
    assert b"Exit:\t3\n" in r.stderr


def test_nowhere_to_write_keeps_the_status(lm_cmd, tmp_path):
    cmd = [*lm_cmd, "-o", "/dev/full", "sh", "-c", "exit 3"]
    r = subprocess.run(["sh", "-c", 'exec "$@" 2>/dev/full', "sh", *cmd], env=logmemory_env(),
                       timeout=60)
    assert r.returncode == 3


@pytest.mark.parametrize("option", ["--help", "--version"])
def test_help_to_a_full_stdout_is_an_error(lm_cmd, option):
    r = subprocess.run(["sh", "-c", 'exec "$@" >/dev/full', "sh", *lm_cmd, option],
                       env=logmemory_env(), stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 1
    assert r.stderr == b"logmemory: write error: No space left on device\n"


@pytest.mark.parametrize("code,status", [("", 127), ("chmod 644 x; ", 126)])
def test_record_says_the_command_did_not_run(lm_cmd, tmp_path, code, status):
    script = f'cd {tmp_path}; touch x; {code}exec "$@" --record r ./x'
    r = subprocess.run(["sh", "-c", script if status == 126 else script.replace("./x", "./y"),
                        "sh", *lm_cmd], env=logmemory_env(), stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == status
    rec = json.loads((tmp_path / "r").read_text())
    assert rec["not_run"] == r.stderr.decode().removeprefix("logmemory: ").strip()


@pytest.mark.parametrize("limit", [8, 9, 10, 11, 16])
def test_standard_descriptors_closed_and_few_descriptors(lm_cmd, tmp_path, limit):
    """Where the bare command runs, it runs under logmemory too."""
    ran = tmp_path / "ran"

    def closed_and_limited():
        for fd in (0, 1, 2):
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, 4096))
    r = subprocess.run([*lm_cmd, "-o", str(tmp_path / "m.log"), "sh", "-c",
                        f"echo > {ran}; exit 3"], env=logmemory_env(),
                       preexec_fn=closed_and_limited, timeout=60)
    assert r.returncode == 3 and ran.exists()
    assert b"Exit:\t3\n" in (tmp_path / "m.log").read_bytes()


@pytest.mark.parametrize("spare", [4, 5, 6, 8])
def test_many_inherited_descriptors_and_a_limit_just_above(lm_cmd, tmp_path, spare):
    """1,000 inherited descriptors, a limit a few above: the command runs, traced or not."""
    ran = tmp_path / "ran"
    code = ("import os, resource, sys\n"
            "for _ in range(997): os.dup(0)\n"
            f"resource.setrlimit(resource.RLIMIT_NOFILE, (1000 + {spare}, 4096))\n"
            "os.execvp(sys.argv[1], sys.argv[1:])\n")
    r = subprocess.run([sys.executable, "-c", code, *lm_cmd, "-o", str(tmp_path / "m.log"),
                        "sh", "-c", f"echo > {ran}; exit 3"], env=logmemory_env(),
                       stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 3 and ran.exists(), r.stderr
    assert b"Exit:\t3\n" in (tmp_path / "m.log").read_bytes()


def test_script_with_a_missing_interpreter_is_not_found_before_it_runs(lm, log, tmp_path):
    script = tmp_path / "s"
    script.write_text("#!/nonexistent/interp -x\nexit 0\n")
    script.chmod(0o755)
    r = lm("-o", str(log), str(script))
    assert r.returncode == 127 and log.read_bytes() == b""
    assert r.stderr == (f"logmemory: cannot run '{script}': bad interpreter '/nonexistent/interp': "
                        "No such file or directory\n").encode()


STOP_IF_INTERRUPTED = """
import os, signal, sys
from logmemory import _signals, spawn
from logmemory.errors import Interrupted
signal.signal(signal.SIGHUP, signal.SIG_IGN)     # as under nohup
_signals.hold()
child = os.fork()
if child == 0:
    os.pause()
os.kill(os.getpid(), signal.SIGHUP)              # ignored by the caller: not an interruption
signal.raise_signal(signal.SIGUSR2)              # sent by ourselves: not one either
spawn._stop_if_interrupted(child)
os.kill(os.getpid(), signal.SIGUSR1)             # from outside, it would be: here from a child
if os.fork() == 0:
    os.kill(os.getppid(), signal.SIGTERM)
    os._exit(0)
os.wait()
try:
    spawn._stop_if_interrupted(child)
except Interrupted as exc:
    print(exc.sig)
"""


def test_only_signals_that_would_have_ended_the_command_stop_it_from_starting():
    r = subprocess.run([sys.executable, "-c", STOP_IF_INTERRUPTED], env=logmemory_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.stdout.split() in ([b"10"], [b"15"]), r.stderr


def test_a_log_locked_by_another_program_delays_the_record_by_a_second_at_most(lm_cmd, tmp_path):
    """flock(1) around the job holds the log's lock: the record goes in unlocked."""
    import fcntl
    log = tmp_path / "m.log"
    with open(log, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = subprocess.run([*lm_cmd, "-o", str(log), "sh", "-c", "exit 3"], env=logmemory_env(),
                           timeout=30)
    assert r.returncode == 3 and b"Exit:\t3\n" in log.read_bytes()


def test_a_record_file_that_cannot_be_written_is_not_left_empty(lm_cmd, tmp_path):
    def no_room():
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
    record = tmp_path / "r.json"
    r = subprocess.run([*lm_cmd, "--record", str(record), "sh", "-c", "exit 3"],
                       env=logmemory_env(), stderr=subprocess.PIPE, preexec_fn=no_room,
                       timeout=30)
    assert r.returncode == 3 and b'"exit_code": 3' in r.stderr
    assert not record.exists()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 16 KiB tmpfs of our own: a disk that fills up after a few dozen records."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "lm", str(mnt)],
                                           stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_concurrent_writers_on_a_filling_disk_each_record_whole_and_once(lm_cmd, small_tmpfs):
    """64 runs append to one log on a disk that fills up midway: every record in the log is
    whole, and each run's record is either there or on its stderr, never both, never lost."""
    log = small_tmpfs / "m.log"
    # Most of the disk is taken: some records fit, then short writes (part of a record fits in
    # the last page) and failed ones (none fits) race with whole ones.
    (small_tmpfs / "filler").write_bytes(b"x" * 6000)
    runs = [subprocess.Popen([*lm_cmd, "-o", str(log), "--format=json", f"--label=run{i}",
                              "sh", "-c", f"exit {i % 5}"],
                             env=logmemory_env(), stderr=subprocess.PIPE) for i in range(64)]
    in_stderr = set()
    for i, p in enumerate(runs):
        err = p.stderr.read()
        assert p.wait(timeout=60) == i % 5, err
        for line in err.splitlines():
            if line.startswith(b"{"):
                in_stderr.add(json.loads(line)["label"])
            else:
                assert line.startswith(b"logmemory: cannot write to"), err
    in_log = [json.loads(line)["label"] for line in log.read_bytes().splitlines()]
    assert len(in_log) == len(set(in_log))
    assert not set(in_log) & in_stderr
    assert set(in_log) | in_stderr == {f"run{i}" for i in range(64)}
    assert in_log and in_stderr, "the disk did not fill midway: the test proves nothing"
