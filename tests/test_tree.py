"""Process trees: every descendant's figures, the largest process, the job's concurrent peak."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import json_records, logmemory_command, logmemory_env
from test_measure import wait_for_pid

MIB = 1024


def run_json(lm, log, *argv, **kw):
    r = lm("--format", "json", "-o", str(log), *argv, **kw)
    (rec,) = json_records(log)
    return r, rec


def own_memory_cgroup(pid="self"):
    text = Path(f"/proc/{pid}/cgroup").read_text()
    return next(line.split(":", 2)[2] for line in text.splitlines()
                if ":memory:" in line or line.startswith("0::"))


def job_cgroups():
    base = Path("/sys/fs/cgroup/memory") / own_memory_cgroup().lstrip("/")
    return [p.name for p in base.glob("logmemory-*")] if base.is_dir() else []


def leftover_cgroups():
    """Job cgroups below this test's own memory cgroup whose logmemory has ended (must be none;
    other logmemory processes running meanwhile have theirs)."""
    return [name for name in job_cgroups() if not Path("/proc", name.split("-")[1]).exists()]


def test_nested_tree_all_alive_together(lm, log, memhog):
    """A holds 10 MiB and starts B (20 MiB) which starts C (30 MiB): the job used 60 MiB."""
    r, rec = run_json(lm, log, memhog, "-m", "10", "--", memhog, "-m", "20", "--",
                      memhog, "-m", "30", "-w", "0.2")
    assert r.returncode == 0
    tree = rec["tree"]
    assert tree["processes"] == 3 and tree["threads"] == 3
    assert tree["peak_source"] == "cgroup1" and tree["peak_unavailable_reason"] is None
    assert tree["peak_kb"] >= 60 * MIB
    assert 30 * MIB <= tree["max_vmhwm_kb"] < 36 * MIB
    assert tree["max_vmhwm_cmd"] == [memhog, "-m", "30", "-w", "0.2"]
    c = rec["processes"][2]
    assert tree["max_vmhwm_pid"] == c["pid"] and c["ppid"] == rec["processes"][1]["pid"]
    assert rec["processes"][1]["ppid"] == rec["pid"]
    assert 10 * MIB <= rec["vmhwm_kb"] < 16 * MIB   # the top process keeps its own lines
    assert leftover_cgroups() == []


def test_no_cgroup_makes_none_and_says_it_was_asked(lm, log, memhog):
    r, rec = run_json(lm, log, "--no-cgroup", memhog, "-m", "10")
    assert r.returncode == 0 and r.stderr == b""
    tree = rec["tree"]
    assert tree["peak_kb"] is None and tree["peak_source"] is None
    assert tree["peak_unavailable_reason"] == "no cgroup made, as asked (--no-cgroup)"
    assert leftover_cgroups() == []


def test_same_tree_one_after_another(lm, log, memhog):
    script = f"{memhog} -m 10; {memhog} -m 20; {memhog} -m 30"
    r, rec = run_json(lm, log, "sh", "-c", script)
    assert r.returncode == 0
    tree = rec["tree"]
    assert tree["processes"] == 4
    assert 30 * MIB <= tree["peak_kb"] < 45 * MIB
    assert 30 * MIB <= tree["max_vmhwm_kb"] < 36 * MIB


def test_shell_wrapper_names_the_real_program(lm, log, memhog):
    r, rec = run_json(lm, log, "sh", "-c", f"{memhog} -m 200; exit 0")
    assert r.returncode == 0
    assert rec["vmhwm_kb"] < 10 * MIB
    assert rec["tree"]["max_vmhwm_kb"] >= 200 * MIB
    assert rec["tree"]["max_vmhwm_cmd"] == [memhog, "-m", "200"]


def test_text_record_names_the_largest_of_a_sequence(lm, log, memhog):
    # Text records read a command line only when a process may be the largest so far; the
    # largest here is neither the first nor the last to run.
    r = lm("-o", str(log), "sh", "-c", f"{memhog} -m 10; {memhog} -m 40; {memhog} -m 20; true")
    assert r.returncode == 0
    line = next(x for x in log.read_bytes().splitlines() if x.startswith(b"TreeMaxVmHWM:"))
    assert line.endswith(f": {memhog} -m 40)".encode()), line


@pytest.mark.parametrize("limit, inherited", [(100, 0), (256, 180)])
def test_more_live_processes_than_descriptors(lm, log, memhog, limit, inherited):
    """logmemory keeps a status descriptor per live process only while it has descriptors to
    spare, counting those its caller passed it; past that, exit stops open the file themselves.
    Every process is still measured."""
    import resource

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        null = os.open(os.devnull, os.O_RDONLY)
        for fd in range(20, 20 + inherited):
            os.dup2(null, fd)

    script = f"for i in $(seq 120); do {memhog} -m 1 -w 0.5 & done; wait"
    r, rec = run_json(lm, log, "sh", "-c", script, preexec_fn=few_descriptors, close_fds=False)
    assert r.returncode == 0 and r.stderr == b""
    assert rec["tree"]["processes"] == 122  # sh, seq and the 120
    hogs = [p for p in rec["processes"] if p["cmd"] and p["cmd"][0] == memhog]
    assert len(hogs) == 120 and all(p["vmhwm_kb"] >= 1024 for p in hogs)


LATE_THREAD_C = r"""
/* No arguments: the main thread exits at once; a second thread then touches 100 MiB. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void *late(void *a) {
    (void)a; usleep(100000);
    for (int i = 0; i < 100; i++) memset(malloc(1 << 20), 1, 1 << 20);
    exit(0);
}
int main(void) { pthread_t t; pthread_create(&t, NULL, late, NULL); pthread_exit(NULL); }
"""


def test_text_record_names_the_program_of_the_last_image(lm, log, memhog, tmp_path):
    """A threaded process reads its command line at a thread's exit stop, then execs a program
    whose main thread exits first and whose last thread makes it the largest: the name is the
    new program's. (Text records read command lines only when they may be needed.)"""
    (tmp_path / "late.c").write_text(LATE_THREAD_C)
    late = str(tmp_path / "late")
    subprocess.run(["gcc", "-O2", "-pthread", "-o", late, str(tmp_path / "late.c")], check=True)
    script = f"{memhog} -C 1 -w 0.5 -x {late} & sleep 0.2; {memhog} -m 5; wait"
    assert lm("-o", str(log), "sh", "-c", script).returncode == 0
    line = next(x for x in log.read_bytes().splitlines() if x.startswith(b"TreeMaxVmHWM:"))
    assert line.endswith(f": {late})".encode()), line


def test_largest_may_still_be_running_when_the_command_ends(lm, log, memhog):
    """A background process whose main thread has exited (measured at its exit stop) while a
    thread still runs when the command ends is the tree's largest; logmemory returns with the
    command and sees nothing later of it."""
    r = lm("-o", str(log), "sh", "-c", f"{memhog} -m 50 -T 1 & sleep 0.15")
    assert r.returncode == 0
    line = next(x for x in log.read_bytes().splitlines() if x.startswith(b"TreeMaxVmHWM:"))
    assert int(line.split()[1]) >= 50 * MIB
    assert line.endswith(f": {memhog} -m 50 -T 1)".encode()), line


def test_posix_spawn_child_is_followed(lm, log, memhog):
    r, rec = run_json(lm, log, memhog, "-m", "5", "-P", "--", memhog, "-m", "40")
    assert r.returncode == 0
    assert rec["tree"]["processes"] == 2
    assert rec["processes"][1]["vmhwm_kb"] >= 40 * MIB


def test_threads_are_counted(lm, log, memhog):
    r, rec = run_json(lm, log, memhog, "-C", "50")
    assert r.returncode == 0
    assert rec["tree"]["processes"] == 1 and rec["tree"]["threads"] == 51


def test_descendant_killed_by_sigkill(lm, log, memhog):
    r, rec = run_json(lm, log, "sh", "-c", f"{memhog} -m 25 -s 9; exit 0")
    assert r.returncode == 0
    child = rec["processes"][1]
    assert child["signal"] == "SIGKILL" and child["exit_code"] is None
    assert child["vmhwm_kb"] >= 25 * MIB


def daemon_script(memhog, tmp_path):
    """A double fork: the grandchild outlives the command by about a second."""
    return f"({memhog} -m 20 -w 1 -p {tmp_path}/pid -- touch {tmp_path}/done >/dev/null 2>&1 &); exit 0"


def test_daemon_outlives_the_command(lm, log, memhog, tmp_path):
    """By default logmemory returns when the command ends and the daemon runs on untraced."""
    start = time.monotonic()
    r, rec = run_json(lm, log, "sh", "-c", daemon_script(memhog, tmp_path))
    assert r.returncode == 0 and time.monotonic() - start < 1.0
    pid = wait_for_pid(tmp_path / "pid")
    # The daemon is back in the cgroup it would have had without logmemory, and not traced.
    assert own_memory_cgroup(pid) == own_memory_cgroup()
    assert "TracerPid:\t0\n" in Path(f"/proc/{pid}/status").read_text()
    deadline = time.monotonic() + 10
    while not (tmp_path / "done").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (tmp_path / "done").exists()
    assert leftover_cgroups() == []


def test_wait_all_measures_the_daemon(lm, log, memhog, tmp_path):
    start = time.monotonic()
    r, rec = run_json(lm, log, "--wait-all", "sh", "-c", daemon_script(memhog, tmp_path))
    assert r.returncode == 0 and time.monotonic() - start >= 1.0
    assert (tmp_path / "done").exists()
    assert rec["tree"]["max_vmhwm_kb"] >= 20 * MIB
    assert rec["tree"]["processes"] == 4   # sh, the subshell, memhog, touch
    assert leftover_cgroups() == []


def test_no_follow_traces_the_top_only(lm, log, memhog):
    r, rec = run_json(lm, log, "--no-follow", "sh", "-c", f"{memhog} -m 30; exit 0")
    assert r.returncode == 0
    assert rec["processes"] == [] and rec["tree"]["processes"] is None
    assert rec["tree"]["peak_kb"] >= 30 * MIB   # the cgroup still sees the whole job
    assert rec["maxrss_kb"] >= 30 * MIB         # wait4 folds in the waited-for child


def test_per_process_text_lines(lm, log, memhog):
    r = lm("--per-process", "-o", str(log), memhog, "-m", "5", "--", memhog, "-m", "6", "-e", "2")
    assert r.returncode == 2
    lines = [x for x in log.read_text().splitlines() if x.startswith("Process:\t")]
    assert len(lines) == 2
    assert lines[1].endswith(f"exit 2 start {lines[1].split('start ')[1].split(' s')[0]} s end "
                             f"{lines[1].split('end ')[1].split(' s')[0]} s: {memhog} -m 6 -e 2")


def test_cgroup_removed_when_logmemory_is_interrupted(memhog, tmp_path):
    log = tmp_path / "m.log"
    p = subprocess.Popen([*logmemory_command(), "-o", str(log), memhog, "-m", "10", "-p",
                          str(tmp_path / "pid"), "-w", "30"], env=logmemory_env())
    wait_for_pid(tmp_path / "pid")
    assert job_cgroups()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == -signal.SIGINT
    assert leftover_cgroups() == []
    assert "TreePeak:" in log.read_text()


@pytest.fixture
def nobody_dir(tmp_path_factory, memhog):
    """A directory the unprivileged user can use, holding a copy of memhog."""
    d = Path(tmp_path_factory.mktemp("nobody"))
    d.chmod(0o777)
    for parent in d.parents:
        if str(parent) == "/tmp":
            break
        parent.chmod(parent.stat().st_mode | 0o711)
    shutil.copy(memhog, d / "memhog")
    # Copies of the program under test: the checkout may sit below a directory nobody can enter.
    from conftest import ROOT
    shutil.copytree(ROOT / "logmemory", d / "logmemory")
    shutil.copy(ROOT / "pyproject.toml", d / "pyproject.toml")
    if os.environ.get("LOGMEMORY_BIN"):
        shutil.copy(os.environ["LOGMEMORY_BIN"], d / "logmemory-bin")
    return d


def as_nobody(args, d):
    """Run logmemory as user nobody, who cannot make cgroups."""
    env = dict(logmemory_env(), HOME=str(d), PYTHONPATH=str(d))
    if os.environ.get("LOGMEMORY_BIN"):
        command = [str(d / "logmemory-bin")]
    else:
        command = [os.path.realpath(sys.executable), "-m", "logmemory"]
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           *command, *args], env=env, cwd=d,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)


def test_no_cgroup_means_no_peak_with_the_reason(nobody_dir):
    log = nobody_dir / "m.log"
    r = as_nobody(["--format", "json", "-o", str(log), str(nobody_dir / "memhog"), "-m", "20"],
                  nobody_dir)
    assert r.returncode == 0, r.stderr
    tree = json_records(log)[0]["tree"]
    assert tree["peak_kb"] is None and tree["peak_source"] is None
    assert "Permission denied" in tree["peak_unavailable_reason"]


def test_sampled_peak_where_no_cgroup(nobody_dir):
    log = nobody_dir / "s.log"
    r = as_nobody(["--sample", "10", "--format", "json", "-o", str(log),
                   str(nobody_dir / "memhog"), "-m", "30", "-w", "0.3"], nobody_dir)
    assert r.returncode == 0, r.stderr
    tree = json_records(log)[0]["tree"]
    assert tree["peak_source"] == "sampled"
    assert tree["peak_sample"] == {"every_ms": 10, "of": "pss"}
    assert 30 * MIB <= tree["peak_kb"] < 40 * MIB


def test_sampled_tree_counts_shared_pages_once(lm, log, memhog, nobody_dir):
    """A/B/C alive together, each forked (no exec) from the one before, so that B and C hold
    what they inherited too (an RSS sum counts it again in each: 100 MiB)."""
    tree_argv = ["-m", "10", "-f", "20", "-f", "30", "-w", "0.3"]
    _, rec = run_json(lm, log, memhog, *tree_argv)
    by_cgroup = rec["tree"]["peak_kb"]
    assert 60 * MIB <= by_cgroup < 70 * MIB
    sampled_log = nobody_dir / "abc.log"
    r = as_nobody(["--sample", "10", "--format", "json", "-o", str(sampled_log),
                   str(nobody_dir / "memhog"), *tree_argv], nobody_dir)
    assert r.returncode == 0, r.stderr
    sampled = json_records(sampled_log)[0]["tree"]["peak_kb"]
    assert abs(sampled - by_cgroup) <= by_cgroup * 0.10, (sampled, by_cgroup)


def test_sampled_peak_through_a_live_thread(nobody_dir):
    """The main thread calls pthread_exit; the other thread then holds 300 MiB."""
    log = nobody_dir / "t.log"
    r = as_nobody(["--sample", "10", "--format", "json", "-o", str(log),
                   str(nobody_dir / "memhog"), "-T", "300"], nobody_dir)
    assert r.returncode == 0, r.stderr
    assert json_records(log)[0]["tree"]["peak_kb"] >= 300 * MIB


def test_sample_takes_milliseconds(lm):
    r = lm("--sample", "fast", "-o", "x", "true")
    assert r.returncode == 125
    assert r.stderr.startswith(b"logmemory: Aborting: --sample takes milliseconds")


def test_a_debugger_in_the_job_still_traces_its_children(lm, log, memhog):
    """One tracer per process: children of strace are left to strace, and the record says so."""
    r, rec = run_json(lm, log, "strace", "-f", "-o", os.devnull, memhog, "-m", "5", "-e", "3")
    assert r.returncode == 3 and r.stderr == b""
    assert rec["tree"]["processes"] == 1
    assert "not followed: it traces them itself" in rec["tree"]["unmeasured"]["processes"]
    r = lm("--no-follow", "-o", str(log), "strace", "-o", os.devnull, "true")
    assert r.returncode == 0 and r.stderr == b""
