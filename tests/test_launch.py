"""The process the caller started is logmemory's own (issue 10): statuses, signals, limits, /tmp.

The one-file binary used to be two processes (a bootloader parent unpacking to /tmp/_MEIxxxxxx on
every run), which lost statuses and left copies behind; it now unpacks once into a per-user
cache ($TMPDIR/logmemory-UID/VERSION-KEY) and runs in the caller's child. The tests of the cache
run on the binary only; the rest on both programs under test.
"""

import errno
import os
import random
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import logmemory_env

BINARY = os.environ.get("LOGMEMORY_BIN")
binary_only = pytest.mark.skipif(not BINARY, reason="the per-user cache is the binary's")


def sigchld_ignored():
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)


@pytest.mark.parametrize("trace", [[], ["--no-trace"]], ids=["traced", "no-trace"])
def test_caller_ignoring_sigchld_from_python_gets_the_status(lm, log, trace):
    r = lm(*trace, "-o", str(log), "sh", "-c", "exit 3", preexec_fn=sigchld_ignored)
    assert (r.returncode, r.stderr) == (3, b"")
    assert "Exit:\t3\n" in log.read_text()


@pytest.mark.parametrize("trace", [[], ["--no-trace"]], ids=["traced", "no-trace"])
def test_caller_ignoring_sigchld_from_perl_gets_the_status(lm_cmd, log, trace):
    script = ('my $pid = fork // die; if (!$pid) { $SIG{CHLD} = "IGNORE"; exec @ARGV or die } '
              'waitpid($pid, 0); print $?')
    r = subprocess.run(["perl", "-e", script, *lm_cmd, *trace, "-o", str(log), "sh", "-c", "exit 3"],
                       env=logmemory_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert (r.stdout, r.stderr) == (b"768", b"")


@pytest.mark.parametrize("trace", [
    pytest.param([], marks=pytest.mark.skipif(not BINARY, reason="python -m's launcher shell "
                                                                 "resets it (README)")),
    ["--no-trace"]], ids=["traced", "no-trace"])
def test_command_keeps_the_callers_ignored_sigchld(lm, log, trace):
    r = lm(*trace, "-o", str(log), "grep", "^SigIgn:", "/proc/self/status",
           preexec_fn=sigchld_ignored)
    assert r.returncode == 0
    assert int(r.stdout.split()[1], 16) & (1 << (signal.SIGCHLD - 1))


def test_sigterm_just_after_the_command_ends_gives_what_the_record_says(lm_cmd, log):
    # The one-file bootloader's clean-up window turned 34 % of these into 143 with a record
    # saying "Exit: 7": 30 runs miss such a rate with probability 0.66**30 < 1e-5.
    for run in range(30):
        p = subprocess.Popen([*lm_cmd, "-o", str(log), "sh", "-c", "echo; exit 7"],
                             env=logmemory_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        assert p.stdout.read(1) == b"\n"
        time.sleep(random.uniform(0, 0.01))
        p.send_signal(signal.SIGTERM)
        status = p.wait(timeout=60)
        p.stdout.close()
        last = log.read_text().split("\nExit:\t")[-1].split("\n")[0]
        assert status == (7 if last == "7" else -signal.SIGTERM), (run, last, status)


def _max_true_args(arg):
    """The most copies of arg that /bin/true can be run with here."""
    lo, hi = 1, 1 << 20
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            subprocess.run(["/bin/true", *[arg] * mid], check=True)
            lo = mid
        except OSError as exc:
            assert exc.errno == errno.E2BIG
            hi = mid - 1
    return lo


def test_near_the_argument_length_limit_it_runs_or_says_why(lm_cmd, log):
    arg = "x" * 99
    most = _max_true_args(arg)
    for n in (most - 8, most - 1):
        try:
            r = subprocess.run([*lm_cmd, "-o", str(log), "/bin/true", *[arg] * n],
                               env=logmemory_env(), stderr=subprocess.PIPE, timeout=60)
        except OSError as exc:  # python -m logmemory's own longer command line
            assert exc.errno == errno.E2BIG and not BINARY
            continue
        if r.returncode == 0:
            assert r.stderr == b""
        else:
            assert r.returncode == 126
            assert r.stderr.startswith(b"logmemory: ") and r.stderr.count(b"\n") == 1, r.stderr


def _remove_job_cgroup(pid):
    """Remove the job cgroup a SIGKILLed logmemory leaves (a documented limitation), once the
    job's last process is gone, so that the tests counting leftover cgroups do not see it."""
    text = Path("/proc/self/cgroup").read_text()
    own = next((line.split(":", 2)[2] for line in text.splitlines() if ":memory:" in line), None)
    if own is None:
        return
    job = Path("/sys/fs/cgroup/memory") / own.lstrip("/") / f"logmemory-{pid}"
    deadline = time.monotonic() + 10
    while job.exists() and time.monotonic() < deadline:
        try:
            job.rmdir()
        except OSError:
            time.sleep(0.01)


def _with_descriptors(top, limit):
    """A preexec_fn: inherit open descriptors up to top, under a descriptor limit."""
    def setup():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        fd = 0
        while fd < top:
            fd = os.open("/dev/null", os.O_RDONLY)
            os.set_inheritable(fd, True)
    return setup


@binary_only
@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_few_descriptors_fail_no_earlier_than_python_m_logmemory(tmp_path, cache):
    package = [sys.executable, "-m", "logmemory"]
    for top in range(994, 1001):
        private_tmp = tmp_path / f"tmp{top if cache == 'cold' else ''}"
        private_tmp.mkdir(exist_ok=True)
        results = []
        for cmd in ([BINARY], package):
            p = subprocess.Popen([*cmd, "-o", str(tmp_path / "L"), "sh", "-c", "exit 5"],
                                 env=dict(logmemory_env(), TMPDIR=str(private_tmp)),
                                 stderr=subprocess.DEVNULL, preexec_fn=_with_descriptors(top, 1004))
            results.append(p.wait(timeout=60) == 5)
            _remove_job_cgroup(p.pid)  # what a failure to start the command leaves
        assert results[0] >= results[1], (top, results)


def _job(lm_cmd, log, private_tmp, **kw):
    """Start logmemory on a long command; return once the command runs."""
    env = dict(logmemory_env(), TMPDIR=str(private_tmp))
    p = subprocess.Popen([*lm_cmd, "-o", str(log), "sh", "-c", "echo; exec sleep 30"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **kw)
    assert p.stdout.read(1) == b"\n"
    p.stdout.close()
    return p


@pytest.fixture
def private_tmp(tmp_path):
    """A temporary directory of our own, to give logmemory as TMPDIR."""
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def _tree(top):
    return sorted(os.path.relpath(os.path.join(d, n), top)
                  for d, dirs, files in os.walk(top) for n in dirs + files)


def _cache_entries(private_tmp):
    return sorted(os.listdir(private_tmp / f"logmemory-{os.geteuid()}")) if BINARY else []


@pytest.mark.parametrize("group", [False, True], ids=["logmemory", "process-group"])
def test_sigkill_leaves_nothing_new_in_the_temporary_directory(lm, lm_cmd, log, private_tmp, group):
    assert lm("-o", str(log), "true", env=dict(logmemory_env(), TMPDIR=str(private_tmp))).returncode == 0
    before = _tree(private_tmp)
    assert len(_cache_entries(private_tmp)) == (1 if BINARY else 0)
    for _ in range(3):
        p = _job(lm_cmd, log, private_tmp, start_new_session=True)
        if group:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=60)
        else:
            p.kill()
            p.wait(timeout=60)
            # Then the job it left running (the command may not have exec'd sleep yet).
            subprocess.run(["pkill", "-KILL", "-s", str(p.pid)], check=False)
        _remove_job_cgroup(p.pid)
    assert _tree(private_tmp) == before


@binary_only
def test_cache_is_unpacked_once_and_reused(lm, log, private_tmp):
    env = dict(logmemory_env(), TMPDIR=str(private_tmp))
    assert lm("-o", str(log), "true", env=env).returncode == 0
    (key,) = _cache_entries(private_tmp)
    user_dir = private_tmp / f"logmemory-{os.geteuid()}"
    assert stat.S_IMODE(user_dir.stat().st_mode) == 0o700
    lib = user_dir / key / "libffi.so.8"
    inode = lib.stat().st_ino
    r = lm("-o", str(log), "sh", "-c", "exit 4", env=env)
    assert (r.returncode, r.stderr) == (4, b"")
    assert lib.stat().st_ino == inode
    assert _cache_entries(private_tmp) == [key]


@binary_only
def test_concurrent_first_runs_share_one_copy(lm_cmd, log, private_tmp):
    env = dict(logmemory_env(), TMPDIR=str(private_tmp))
    jobs = [subprocess.Popen([*lm_cmd, "-o", str(log), "sh", "-c", f"exit {n}"], env=env,
                             stderr=subprocess.PIPE) for n in range(1, 9)]
    assert [(p.wait(timeout=120), p.stderr.read()) for p in jobs] == [(n, b"") for n in range(1, 9)]
    assert len(_cache_entries(private_tmp)) == 1


@binary_only
def test_a_thinned_out_cache_is_unpacked_again(lm, log, private_tmp):
    env = dict(logmemory_env(), TMPDIR=str(private_tmp))
    assert lm("-o", str(log), "true", env=env).returncode == 0
    (key,) = _cache_entries(private_tmp)
    copy = private_tmp / f"logmemory-{os.geteuid()}" / key
    (json_module,) = (copy / "python3.11" / "lib-dynload").glob("_json.*")
    json_module.unlink()
    os.truncate(copy / "libz.so.1", 100)
    r = lm("--format", "json", "-o", str(log), "sh", "-c", "exit 4", env=env)
    assert (r.returncode, r.stderr) == (4, b"")
    assert json_module.exists() and (copy / "libz.so.1").stat().st_size > 100
    assert _cache_entries(private_tmp) == [key]


@binary_only
@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_run_removes_what_a_killed_unpacking_left(lm, log, private_tmp, cache):
    env = dict(logmemory_env(), TMPDIR=str(private_tmp))
    if cache == "warm":
        assert lm("-o", str(log), "true", env=env).returncode == 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    user_dir = private_tmp / f"logmemory-{os.geteuid()}"
    (user_dir / f".unpack-{dead.pid}-abcdef" / "python3.11").mkdir(parents=True)
    (user_dir / f".unpack-{os.getpid()}-abcdef").mkdir()  # a live unpacking: kept
    user_dir.chmod(0o700)
    r = lm("-o", str(log), "true", env=env)
    assert (r.returncode, r.stderr) == (0, b"")
    assert [n for n in os.listdir(user_dir) if n.startswith(".")] == [f".unpack-{os.getpid()}-abcdef"]


def _untrusted_symlink(user_dir):
    user_dir.with_name("elsewhere").mkdir(mode=0o700)
    user_dir.symlink_to("elsewhere")


def _untrusted_mode(user_dir):
    user_dir.mkdir()
    user_dir.chmod(0o777)


def _untrusted_owner(user_dir):
    user_dir.mkdir(mode=0o700)
    os.chown(user_dir, 65534, 65534)


@binary_only
@pytest.mark.parametrize("make", [_untrusted_symlink, _untrusted_mode, _untrusted_owner])
def test_an_untrusted_cache_is_not_used(lm, log, private_tmp, make):
    if make is _untrusted_owner and os.geteuid() != 0:
        pytest.skip("needs root to give a directory away")
    user_dir = private_tmp / f"logmemory-{os.geteuid()}"
    make(user_dir)
    before = _tree(private_tmp)
    r = lm("-o", str(log), "sh", "-c", "exit 6", env=dict(logmemory_env(), TMPDIR=str(private_tmp)))
    assert r.returncode == 6
    assert r.stderr.startswith(b"logmemory: cannot use ") and r.stderr.count(b"\n") == 1, r.stderr
    assert b"unpacking to a temporary directory" in r.stderr
    assert _tree(private_tmp) == before


@binary_only
@pytest.mark.parametrize("owned", ["itself", "above"])
def test_a_temporary_directory_of_another_user_is_not_used(lm, log, private_tmp, owned):
    # Its owner, or the owner of a directory above it, could rename our directory and put
    # another in its place.
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away")
    tmp = private_tmp / "below" if owned == "above" else private_tmp
    tmp.mkdir(exist_ok=True)
    os.chown(private_tmp, 65534, 65534)
    r = lm("-o", str(log), "true", env=dict(logmemory_env(), TMPDIR=str(tmp)))
    assert r.returncode == 0
    assert r.stderr.startswith(b"logmemory: cannot use ") and b"owned by another user" in r.stderr
    assert os.listdir(tmp) == []


@binary_only
def test_a_tmpdir_that_is_no_directory_means_tmp(lm, log, tmp_path):
    r = lm("-o", str(log), "true", env=dict(logmemory_env(), TMPDIR=str(tmp_path / "missing")))
    assert (r.returncode, r.stderr) == (0, b"")
    assert os.path.isdir(f"/tmp/logmemory-{os.geteuid()}")


@binary_only
def test_a_temporary_directory_others_can_write_must_be_sticky(lm, log, private_tmp):
    private_tmp.chmod(0o777)
    r = lm("-o", str(log), "true", env=dict(logmemory_env(), TMPDIR=str(private_tmp)))
    assert r.returncode == 0
    assert r.stderr.startswith(b"logmemory: cannot use ") and b"not sticky" in r.stderr
    assert os.listdir(private_tmp) == []
    private_tmp.chmod(0o1777)
    r = lm("-o", str(log), "true", env=dict(logmemory_env(), TMPDIR=str(private_tmp)))
    assert (r.returncode, r.stderr) == (0, b"")
    assert len(_cache_entries(private_tmp)) == 1


@binary_only
def test_python_runs_in_the_process_the_caller_started(lm_cmd, log, private_tmp):
    p = _job(lm_cmd, log, private_tmp, start_new_session=True)
    try:
        with open(f"/proc/{p.pid}/maps") as f:
            assert "libpython" in f.read()
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=60)
        _remove_job_cgroup(p.pid)


@binary_only
def test_the_launcher_mode_is_not_taken_by_chance(lm, log):
    """The bootloader launches a command only as spawn.py runs it (argv[0] /proc/self/exe)."""
    r = lm("-o", str(log), "sh", "-c", 'echo "[$_PYI_LOGMEMORY_LAUNCH]"; exit 3',
           env=dict(logmemory_env(), _PYI_LOGMEMORY_LAUNCH="1"))
    assert (r.returncode, r.stdout, r.stderr) == (3, b"[]\n", b"")
    assert "Exit:\t3\n" in log.read_text()
