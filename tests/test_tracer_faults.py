"""When the tracer's own parts fail mid-job: the command runs on and its status comes back."""

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, logmemory_env

PRELUDE = """
import json, os, sys
from logmemory import job, procfs, spawn, tracer
from logmemory.errors import Unreadable

def report(run):
    print(json.dumps({"status": run.wait_status, "warnings": list(run.warnings),
                      "unmeasured": run.unmeasured}))
"""


def traced(code):
    r = subprocess.run([sys.executable, "-c", PRELUDE + code], env=logmemory_env(), cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_unreadable_proc_leaves_figures_out_with_the_reason():
    out = traced("""
def fail(*args):
    raise Unreadable("cannot read /proc/1: Too many open files")
procfs.read_status_fd = procfs.read_status = fail
argv = [b"sh", b"-c", b"/bin/true; exit 3"]
report(job.run(argv, spawn.resolve(argv[0])))
""")
    assert out["status"] == 3 << 8
    assert out["unmeasured"]["vmhwm_kb"] == "at the exit stop: cannot read /proc/1: Too many open files"
    assert out["warnings"] == ["cannot read /proc/1: Too many open files: "
                               "figures of some processes not measured"]


def test_a_bug_in_the_tracer_does_not_reach_the_job():
    """An exception of ours at the first exit stop: the rest of the job goes on untraced (so a
    debugger in it can trace its own child), and the command's own status, a signal included,
    still comes back, with the reason for what is missing."""
    for script, status in ((b"/bin/true; sleep 0.1 & wait; /bin/true; exit 5", 5 << 8),
                           (b"/bin/true; strace -o /dev/null /bin/true && exit 6", 6 << 8),
                           (b"/bin/true; kill -TERM $$", 15)):
        out = traced(f"""
def boom(*args):
    raise RuntimeError("boom")
procfs.read_status_fd = procfs.read_status = boom
argv = [b"sh", b"-c", {script!r}]
report(job.run(argv, spawn.resolve(argv[0])))
""")
        assert out["status"] == status, script
        assert out["warnings"] == ["internal error (RuntimeError: boom); nothing measured after "
                                   "it, the command ran on"]
        assert out["unmeasured"]["vmhwm_kb"] == "internal error (RuntimeError: boom)"


def test_a_bug_while_releasing_a_new_task_does_not_hang_the_job():
    """The failing call had taken the task's first stop: the kernel still shows it stopped,
    and it is let go."""
    script = b"for i in 1 2 3 4 5 6; do /bin/true & /bin/true; done; wait; exit 6"
    for fail_at in range(2, 8):
        out = traced(f"""
calls = 0
real = tracer.Tracer._start
def start(self, tid, action):
    global calls
    calls += 1
    if calls == {fail_at}:
        raise RuntimeError("boom")
    return real(self, tid, action)
tracer.Tracer._start = start
argv = [b"sh", b"-c", {script!r}]
report(job.run(argv, spawn.resolve(argv[0])))
""")
        assert out["status"] == 6 << 8, fail_at


def test_no_descriptor_is_kept_after_a_run():
    """Status files opened ahead are closed when their process ends, and at the end for those
    that outlive the command."""
    out = traced("""
before = sorted(os.listdir("/proc/self/fd"))
argv = [b"sh", b"-c", b"for i in 1 2 3; do /bin/true; done; sleep 1 & exit 0"]
job.run(argv, spawn.resolve(argv[0]))
after = sorted(os.listdir("/proc/self/fd"))
print(json.dumps({"status": 0, "warnings": [], "unmeasured": {}, "fds": [before, after]}))
""")
    before, after = out["fds"]
    assert before == after


EXEC_FROM_THREAD_C = r"""
/* A second thread execs argv[1]: the kernel gives it the leader's id, its own ends unreported. */
#include <pthread.h>
#include <unistd.h>
static char **av;
static void *thr(void *a) { (void)a; execv(av[1], av + 1); _exit(127); }
int main(int argc, char **argv) { pthread_t t; av = argv; pthread_create(&t, NULL, thr, NULL); pause(); }
"""


@pytest.fixture(scope="module")
def exec_from_thread(tmp_path_factory):
    """A program whose second thread execs its arguments."""
    tmp = tmp_path_factory.mktemp("exec_from_thread")
    (tmp / "x.c").write_text(EXEC_FROM_THREAD_C)
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(tmp / "x"), str(tmp / "x.c")], check=True)
    return str(tmp / "x")


def test_no_task_is_left_behind_by_a_thread_that_execs(exec_from_thread):
    """Else a new process that gets the old thread id would be taken for the old process."""
    prog = exec_from_thread
    out = traced(f"""
t = None
class Tracer(tracer.Tracer):
    def run(self):
        global t
        t = self
        super().run()
job.Tracer = Tracer
argv = [b"sh", b"-c", b"{prog} /bin/true; {prog} /bin/true; exit 4"]
run = job.run(argv, spawn.resolve(argv[0]))
print(json.dumps({{"status": run.wait_status, "warnings": list(run.warnings), "unmeasured": {{}},
                  "left": sorted(t.tasks)}}))
""")
    assert out["status"] == 4 << 8 and out["left"] == []


FAIL_AT = """
real = {target}
calls = 0
def failing(*args):
    global calls
    calls += 1
    if calls == {n}:
        raise RuntimeError("boom")
    return real(*args)
{target} = failing
"""


def faulty(target, n, script):
    """Code that runs sh -c script traced, with target (a dotted name) raising at its nth call."""
    return FAIL_AT.format(target=target, n=n) + f"""
argv = [b"sh", b"-c", {script!r}]
report(job.run(argv, spawn.resolve(argv[0])))
"""


def test_a_bug_as_the_command_ends_keeps_its_status():
    # The second process to end is the command: a bug while noting its end; or, at the third
    # call, in closing what is left once the command has ended.
    for n in (2, 3):
        out = traced(faulty("tracer.Tracer._close_status", n, b"/bin/true; sleep 1 & exit 5"))
        assert out["status"] == 5 << 8, n


def test_a_bug_keeps_the_commands_threads_traced(exec_from_thread):
    """One of them may exec and take over the command's pid; untraced, its end would be lost."""
    script = f"/bin/true; exec {exec_from_thread} /bin/sh -c 'exit 7'".encode()
    out = traced(faulty("procfs.read_status_fd", 1, script))
    assert out["status"] == 7 << 8
    assert out["warnings"][0].startswith("internal error (RuntimeError: boom)")


def test_a_bug_before_the_command_started_still_follows_it():
    """A bug while the launcher hands over: the command is still the one whose end comes back
    (a death by signal stays one) and the one that gets the signals sent to logmemory."""
    out = traced(faulty("tracer.Tracer._on_created", 1, b"kill -TERM $$"))
    assert out["status"] == signal.SIGTERM
    code = PRELUDE + faulty("tracer.Tracer._on_created", 1, b"exec sleep 5")
    p = subprocess.Popen([sys.executable, "-c", code],
                         env=logmemory_env(), cwd=ROOT, stdout=subprocess.PIPE)
    time.sleep(0.5)
    started = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out = json.loads(p.communicate(timeout=10)[0])
    assert out["status"] == signal.SIGTERM and time.monotonic() - started < 2


def test_samples_that_read_nothing_give_no_figure_rather_than_0():
    out = traced("""
from logmemory import cgroup
from logmemory.errors import ProcessGone
def no_cgroup(*args, **kw):
    raise cgroup.Unavailable("none here")
def gone(pid, *args, **kw):
    raise ProcessGone(f"process {pid} is gone")
cgroup.create, procfs.read_pss_kb = no_cgroup, gone
argv = [b"sh", b"-c", b"sleep 0.1"]
run = job.run(argv, spawn.resolve(argv[0]), sample_ms=5)
print(json.dumps(run.to_dict()["tree"]))
""")
    assert out["peak_kb"] is None and out["peak_source"] is None
    assert out["unmeasured"]["peak_kb"] == "no sample found a process of the job to read"


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_child_killed_before_the_go_byte_ends_the_job_as_that_signal(when):
    """A signal to the whole tree can kill logmemory's child before it is told to start the
    command: the job ends by that signal, as the bare command would have, without a traceback
    from the write to its closed pipe."""
    out = traced(f"""
from logmemory import _ptrace
real = _ptrace.seize
def seize(pid, options):
    if "{when}" == "after":
        real(pid, options)
    os.kill(pid, 9)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    if "{when}" == "before":
        real(pid, options)
_ptrace.seize = seize
argv = [b"sh", b"-c", b"exit 3"]
report(job.run(argv, spawn.resolve(argv[0])))
""")
    assert out["status"] == 9 and out["warnings"] == []
    # Untraced ("before"), wait4's figures would be our copy's, not the command's.
    assert out["unmeasured"]["vmhwm_kb"] == out["unmeasured"]["maxrss_kb"] == \
        "the command never started"
