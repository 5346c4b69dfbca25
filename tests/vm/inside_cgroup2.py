"""Cases run as root inside a VM whose kernel mounts cgroup v2 with memory (tests/test_cgroup2_vm.py
boots it): the job's cgroup in the root, in a delegated cgroup, in cgroups not ours."""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from conftest import ROOT, json_records, logmemory_command, logmemory_env
from test_measure import wait_for_pid

CG = Path("/sys/fs/cgroup")
MIB = 1024
NOBODY = 65534

if os.environ.get("LOGMEMORY_IN_VM") != "1":
    # These cases change the hierarchy's root: only in the VM that tests/test_cgroup2_vm.py boots.
    pytest.skip("runs only inside the test VM", allow_module_level=True)


def leftovers():
    """Every logmemory-* cgroup anywhere in the hierarchy."""
    return [d for path, dirs, _ in os.walk(CG) for d in dirs if d.startswith("logmemory-")]


def control(cg):
    return (cg / "cgroup.subtree_control").read_text().split()


def procs(cg):
    return (cg / "cgroup.procs").read_text().split()


@pytest.fixture(scope="session")
def memhog():
    """Compiled on the host by the test that boots us."""
    return os.environ["LOGMEMORY_VM_MEMHOG"]


@pytest.fixture
def world(memhog):
    """A directory any user may write, with memhog any user may run."""
    d = Path(tempfile.mkdtemp(dir="/tmp"))
    d.chmod(0o777)
    shutil.copy(memhog, d / "memhog")
    (d / "memhog").chmod(0o755)
    yield d
    shutil.rmtree(d)


def as_user(cgroup, uid):
    """A preexec_fn: join cgroup (as root), then become uid."""
    def preexec():
        (cgroup / "cgroup.procs").write_text("0")
        if uid:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    return preexec


def logmemory(uid):
    """The program under test, runnable by uid (the venv's python lives in /root)."""
    cmd = logmemory_command()
    return ["/usr/bin/python3", *cmd[1:]] if uid and len(cmd) > 1 else cmd


def start(world, argv, cgroup=CG, uid=0):
    log = world / "m.log"
    return subprocess.Popen([*logmemory(uid), "--format", "json", "-o", str(log), *argv],
                            env=logmemory_env(), cwd=ROOT, stderr=subprocess.PIPE,
                            preexec_fn=as_user(cgroup, uid)), log


def run(world, argv, **kw):
    p, log = start(world, argv, **kw)
    _, err = p.communicate(timeout=120)
    (rec,) = json_records(log)
    return p.returncode, err, rec["tree"]


def tree_argv(world):
    """A holds 10 MiB and starts B (20 MiB) which starts C (30 MiB): 60 MiB at once."""
    hog = str(world / "memhog")
    return [hog, "-m", "10", "--", hog, "-m", "20", "--", hog, "-m", "30", "-w", "0.2"]


def sigterm_mid_job(world, **kw):
    """SIGTERM to logmemory while the command runs: the command dies of it, and so do we."""
    pidfile = world / "pid"
    p, log = start(world, [str(world / "memhog"), "-m", "10", "-p", str(pidfile), "-w", "30"],
                   **kw)
    wait_for_pid(pidfile)
    p.terminate()
    assert p.wait(timeout=30) == -signal.SIGTERM
    (rec,) = json_records(log)
    assert rec["signal"] == "SIGTERM"
    return rec["tree"]


@pytest.fixture
def root_as_before():
    """The root's subtree_control and children are the same after the test."""
    before = control(CG), sorted(p.name for p in CG.iterdir() if p.is_dir())
    assert "memory" not in before[0], "an earlier case left memory enabled in the root"
    yield
    assert leftovers() == []
    assert (control(CG), sorted(p.name for p in CG.iterdir() if p.is_dir())) == before


def test_root_tree_peak(world, root_as_before):
    status, err, tree = run(world, tree_argv(world))
    assert status == 0, err
    assert tree["peak_source"] == "cgroup2", tree["peak_unavailable_reason"]
    assert tree["peak_kb"] >= 60 * MIB


def test_root_three_in_sequence(world, root_as_before):
    hog = world / "memhog"
    status, err, tree = run(world, ["sh", "-c", f"{hog} -m 10; {hog} -m 20; {hog} -m 30"])
    assert status == 0, err
    assert tree["peak_source"] == "cgroup2"
    assert 30 * MIB <= tree["peak_kb"] < 45 * MIB


def test_root_sigterm(world, root_as_before):
    assert sigterm_mid_job(world)["peak_source"] == "cgroup2"


@pytest.fixture
def made():
    """Cgroups the test makes below the root (memory enabled there for them); removed after,
    with any process left in them moved back to the root."""
    enabled = "memory" not in control(CG)
    if enabled:
        (CG / "cgroup.subtree_control").write_text("+memory")
    paths = []

    def make(rel, owner=0, memory_below=False):
        path = CG / rel
        path.mkdir()
        paths.append(path)
        if memory_below:
            (path / "cgroup.subtree_control").write_text("+memory")
        if owner:
            # What systemd's Delegate=yes hands over: the directory and these three files.
            for p in (path, *(path / f for f in ("cgroup.procs", "cgroup.subtree_control",
                                                 "cgroup.threads"))):
                os.chown(p, owner, owner)
        return path
    yield make
    for top in reversed(paths):
        # Deepest first, with whatever a failed case left inside (a scope of the fake systemd).
        for path, _, _ in os.walk(top, topdown=False) if top.exists() else ():
            for pid in procs(Path(path)):
                os.kill(int(pid), signal.SIGKILL)
                (CG / "cgroup.procs").write_text(pid)
            os.rmdir(path)
    if enabled:
        (CG / "cgroup.subtree_control").write_text("-memory")


@pytest.fixture
def sibling():
    """A process to put in a cgroup beside logmemory."""
    started = []

    def start_in(cgroup):
        p = subprocess.Popen(["sleep", "300"], preexec_fn=as_user(cgroup, 0))
        started.append(p)
        return p
    yield start_in
    for p in started:
        p.kill()
        p.wait()


def delegated_as_it_was(cg):
    assert leftovers() == []
    assert [p for p in cg.iterdir() if p.is_dir()] == []
    assert "memory" not in control(cg)


def test_delegated_alone(world, made):
    cg = made("delegated", owner=NOBODY)
    status, err, tree = run(world, tree_argv(world), cgroup=cg, uid=NOBODY)
    assert status == 0, err
    assert tree["peak_source"] == "cgroup2", tree["peak_unavailable_reason"]
    assert tree["peak_kb"] >= 60 * MIB
    delegated_as_it_was(cg)
    assert procs(cg) == []


def test_delegated_alone_sigterm(world, made):
    cg = made("delegated", owner=NOBODY)
    assert sigterm_mid_job(world, cgroup=cg, uid=NOBODY)["peak_source"] == "cgroup2"
    delegated_as_it_was(cg)


def test_delegated_with_a_sibling(world, made, sibling):
    cg = made("delegated", owner=NOBODY)
    other = sibling(cg)
    status, err, tree = run(world, tree_argv(world), cgroup=cg, uid=NOBODY)
    assert status == 0, err
    assert tree["peak_kb"] is None
    assert "also holds other processes (1)" in tree["peak_unavailable_reason"]
    assert procs(cg) == [str(other.pid)]
    delegated_as_it_was(cg)


def test_delegated_with_a_sibling_sigterm(world, made, sibling):
    cg = made("delegated", owner=NOBODY)
    other = sibling(cg)
    assert sigterm_mid_job(world, cgroup=cg, uid=NOBODY)["peak_kb"] is None
    assert procs(cg) == [str(other.pid)]
    delegated_as_it_was(cg)


def slurm_step(made, sibling):
    """A populated job_1/step_0 as Slurm makes it, memory given to the step."""
    made("slurm", memory_below=True)
    made("slurm/job_1", memory_below=True)
    step = made("slurm/job_1/step_0")
    return step, sibling(step)


def test_slurm_step_is_not_ours(world, made, sibling):
    step, task = slurm_step(made, sibling)
    status, err, tree = run(world, tree_argv(world), cgroup=step)
    assert status == 0, err
    assert tree["peak_kb"] is None
    reason = tree["peak_unavailable_reason"]
    assert "Slurm job step" in reason and "--sample" in reason
    assert procs(step) == [str(task.pid)]
    assert control(step) == [] and [p for p in step.iterdir() if p.is_dir()] == []
    assert leftovers() == []


def test_slurm_step_alone_gives_its_own_peak(world, made):
    """srun logmemory ...: the step holds only logmemory; its own watermark, no cgroup of ours."""
    made("slurm", memory_below=True)
    made("slurm/job_1", memory_below=True)
    step = made("slurm/job_1/step_0")
    status, err, tree = run(world, tree_argv(world), cgroup=step)
    assert status == 0, err
    assert tree["peak_source"] == "cgroup2", tree["peak_unavailable_reason"]
    shared = tree["peak_cgroup"]
    assert shared["path"] == str(step) and shared["owner"] == "a Slurm job step"
    assert tree["peak_kb"] >= 60 * MIB + shared["held_kb"] - 2 * MIB
    assert control(step) == [] and [p for p in step.iterdir() if p.is_dir()] == []
    assert leftovers() == []


def test_slurm_step_sigterm(world, made, sibling):
    step, task = slurm_step(made, sibling)
    assert sigterm_mid_job(world, cgroup=step)["peak_kb"] is None
    assert procs(step) == [str(task.pid)]
    assert leftovers() == []



def _unit_call(argv):
    """(user, unit name, {property: values}) of a busctl StartTransientUnit call."""
    user = argv[0] == "--user"
    words = argv[argv.index("StartTransientUnit") + 2:]
    name, count, props = words[0], int(words[2]), {}
    words = words[3:]
    for _ in range(count):
        prop, sig, words = words[0], words[1], words[2:]
        n = int(words.pop(0)) if sig.startswith("a") else 1
        props[prop], words = words[:n], words[n:]
    return user, name, props


def _slice_dir(name):
    """systemd's slice naming: a-b.slice lives in a.slice."""
    parts = name.removesuffix(".slice").split("-")
    return CG.joinpath(*("-".join(parts[:i + 1]) + ".slice" for i in range(len(parts))))


def fake_manager(fifo):
    """What systemd's managers do for StartTransientUnit of a scope with Delegate=yes: make its
    cgroup (in the given slice; for --user in the caller's manager's app.slice, owned by the
    caller) and move the pids there, as root."""
    while True:
        with open(fifo) as f:
            uid, reply, *argv = f.read().splitlines()
        if not argv:
            return
        try:
            user, name, props = _unit_call(argv)
            assert props["Delegate"] == ["true"], props
            where = (CG / f"user.slice/user-{uid}.slice/user@{uid}.service/app.slice" if user
                     else _slice_dir(props["Slice"][0]))
            (where / name).mkdir()
            if user:
                os.chown(where / name, int(uid), int(uid))
                for f in ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                    os.chown(where / name / f, int(uid), int(uid))
            for pid in props["PIDs"]:
                (where / name / "cgroup.procs").write_text(pid)
            answer = "ok"
        except (AssertionError, KeyError, OSError, ValueError) as exc:
            answer = repr(exc)
        with open(reply, "w") as f:
            f.write(answer + "\n")


@pytest.fixture
def fake_systemd(monkeypatch):
    """systemd's marks (/run/systemd/system, busctl) with the fake manager behind them."""
    booted = Path("/run/systemd/system")
    made_run = not booted.exists()
    booted.mkdir(parents=True, exist_ok=True)
    fifo = Path(tempfile.mkdtemp(dir="/tmp")) / "bus"
    fifo.parent.chmod(0o755)
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    monkeypatch.setenv("LOGMEMORY_FAKE_SYSTEMD", str(fifo))
    monkeypatch.setenv("PATH", f"{Path(__file__).parent}:{os.environ['PATH']}")
    manager = threading.Thread(target=fake_manager, args=(fifo,), daemon=True)
    manager.start()
    yield
    with open(fifo, "w") as f:
        f.write("0\n-\n")
    manager.join(10)
    shutil.rmtree(fifo.parent)
    if made_run:
        booted.rmdir()


def scopes(where):
    return [p for p in where.iterdir() if p.name.endswith(".scope") and p.name.startswith("logmemory-")]


def collected(where):
    """logmemory left its scope empty, for systemd to collect; the fake collects it here."""
    (scope,) = scopes(where)
    assert procs(scope) == [] and [p for p in scope.iterdir() if p.is_dir()] == []
    scope.rmdir()


def system_service(made, sibling):
    """A service of the system manager with its daemon running, memory below system.slice."""
    made("system.slice", memory_below=True)
    service = made("system.slice/cron.service")
    return service, sibling(service)


def test_systemd_system_service(world, made, sibling, fake_systemd):
    service, daemon = system_service(made, sibling)
    status, err, tree = run(world, tree_argv(world), cgroup=service)
    assert status == 0, err
    assert tree["peak_source"] == "cgroup2", tree["peak_unavailable_reason"]
    assert tree["peak_kb"] >= 60 * MIB
    assert procs(service) == [str(daemon.pid)]
    collected(CG / "system.slice")


def test_systemd_system_service_sigterm(world, made, sibling, fake_systemd):
    service, daemon = system_service(made, sibling)
    assert sigterm_mid_job(world, cgroup=service)["peak_source"] == "cgroup2"
    assert procs(service) == [str(daemon.pid)]
    collected(CG / "system.slice")


def user_session(made, sibling):
    """An ordinary user's login session beside their own manager (Delegate=yes to them)."""
    made("user.slice", memory_below=True)
    made(f"user.slice/user-{NOBODY}.slice", memory_below=True)
    session = made(f"user.slice/user-{NOBODY}.slice/session-1.scope")
    manager = made(f"user.slice/user-{NOBODY}.slice/user@{NOBODY}.service", owner=NOBODY,
                   memory_below=True)
    apps = made(f"user.slice/user-{NOBODY}.slice/user@{NOBODY}.service/app.slice", owner=NOBODY,
                memory_below=True)
    assert manager.exists()
    return session, sibling(session), apps


def test_systemd_user_session(world, made, sibling, fake_systemd):
    session, shell, apps = user_session(made, sibling)
    status, err, tree = run(world, tree_argv(world), cgroup=session, uid=NOBODY)
    assert status == 0, err
    assert tree["peak_source"] == "cgroup2", tree["peak_unavailable_reason"]
    assert tree["peak_kb"] >= 60 * MIB
    assert procs(session) == [str(shell.pid)]
    collected(apps)


def test_systemd_user_session_sigterm(world, made, sibling, fake_systemd):
    session, shell, apps = user_session(made, sibling)
    assert sigterm_mid_job(world, cgroup=session, uid=NOBODY)["peak_source"] == "cgroup2"
    assert procs(session) == [str(shell.pid)]
    collected(apps)


def test_systemd_unit_without_systemd_running(world, made, sibling):
    """The same service where systemd does not run: nothing to ask, the reason says why."""
    service, daemon = system_service(made, sibling)
    status, err, tree = run(world, tree_argv(world), cgroup=service)
    assert status == 0, err
    assert "also holds other processes (1)" in tree["peak_unavailable_reason"]
    assert procs(service) == [str(daemon.pid)]
    assert scopes(CG / "system.slice") == []


# Out of memory under a v2 limit that covers logmemory too (tests/test_oom.py is the v1 twin).
LIMIT = 100_000_000


def run_limited(world, cgroup, argv):
    """logmemory in cgroup, with GNU time inside the job around argv; (status, record, %M)."""
    out = world / "time.out"
    p, log = start(world, ["/usr/bin/time", "-f", "%M", "-o", str(out), *argv], cgroup=cgroup)
    _, err = p.communicate(timeout=300)
    (rec,) = json_records(log)
    return p.returncode, err, rec, int(out.read_text().split()[-1])


def bare_seconds(world, cgroup, argv):
    """How long argv takes to be killed in cgroup without logmemory."""
    import time
    started = time.monotonic()
    subprocess.run(argv, preexec_fn=as_user(cgroup, 0), stderr=subprocess.DEVNULL, timeout=300)
    return time.monotonic() - started


def limited(made, rel):
    cg = made(rel)
    (cg / "memory.max").write_text(str(LIMIT))
    return cg


def victim(rec):
    (p,) = [p for p in rec["processes"] if p["signal"] == "SIGKILL"]
    return p


def oom_matches_gnu_time(world, made, argv):
    cg = limited(made, "oom")
    status, err, rec, gnu = run_limited(world, cg, argv)
    p = victim(rec)
    assert 50 * MIB < gnu < LIMIT // 1024, err
    assert abs(p["vmhwm_kb"] - gnu) <= 1024 and abs(p["maxrss_kb"] - gnu) <= 1024
    # Under TCG everything is slow: compare with the bare command killed the same way.
    assert rec["elapsed_s"] < bare_seconds(world, cg, argv) + 1.0
    assert rec["tree"]["oom"] == {"kills": 1, "limit_kb": LIMIT // 1024, "cgroup": str(cg),
                                  "cgroup_kills": 0}
    assert leftovers() == [] and procs(cg) == []


def test_oom_under_a_v2_limit_memhog(world, made):
    oom_matches_gnu_time(world, made, [str(world / "memhog"), "-m", "200"])


def test_oom_under_a_v2_limit_dd(world, made):
    oom_matches_gnu_time(world, made, ["dd", "if=/dev/zero", "of=/dev/null", "ibs=100000000",
                                       "obs=100000000", "count=1"])


def test_oom_under_a_v2_limit_two_levels_up(world, made):
    made("outer", memory_below=True)
    (CG / "outer" / "memory.max").write_text(str(LIMIT))
    made("outer/middle", memory_below=True)
    inner = made("outer/middle/inner")
    status, err, rec, gnu = run_limited(world, inner, [str(world / "memhog"), "-m", "200"])
    assert abs(victim(rec)["vmhwm_kb"] - gnu) <= 1024, err
    oom = rec["tree"]["oom"]
    assert oom["kills"] == 1 and oom["cgroup"] == str(CG / "outer")


def test_no_oom_under_a_v2_limit_no_report(world, made):
    cg = limited(made, "oom")
    status, err, rec, _ = run_limited(world, cg, [str(world / "memhog"), "-m", "20"])
    assert status == 0, err
    assert rec["tree"]["oom"] == {"kills": 0, "limit_kb": None, "cgroup": None,
                                  "cgroup_kills": None}


def test_the_job_has_the_room_it_has_without_logmemory_v2(world, made):
    cg = limited(made, "room")
    hog = [str(world / "memhog"), "-m", "80"]
    assert subprocess.run(hog, preexec_fn=as_user(cg, 0)).returncode == 0
    status, err, rec, _ = run_limited(world, cg, hog)
    assert status == 0, err
    assert rec["tree"]["oom"]["kills"] == 0
    assert leftovers() == [] and procs(cg) == []


def test_nothing_is_left_when_logmemory_is_killed_v2(world, made):
    """SIGKILL to logmemory alone in a limited cgroup: the watcher gives everything back (the
    command to the cgroup, logmemory's leaf and the memory controller removed)."""
    import time
    cg = limited(made, "killed")
    pidfile = world / "pid"
    p, _ = start(world, [str(world / "memhog"), "-m", "5", "-p", str(pidfile), "-w", "30"],
                 cgroup=cg)
    wait_for_pid(pidfile)
    assert leftovers() != []
    p.kill()
    p.wait()
    command = pidfile.read_text().strip()
    deadline = time.monotonic() + 10
    while leftovers() or "memory" in control(cg):
        assert time.monotonic() < deadline, (leftovers(), control(cg))
        time.sleep(0.1)
    assert command in procs(cg)
    os.kill(int(command), signal.SIGKILL)
