"""A real single-node Slurm for the tests, started by hand (no systemd): munged, mariadbd,
slurmdbd, slurmctld and slurmd, with all their state in one temporary directory and every
address on the loopback. SlurmCluster.start() raises Unavailable (a one-line reason) where this
machine cannot run it; stop() ends the jobs and daemons and removes the cgroups and files they
left. Made for Debian 12's Slurm 22.05 on cgroup v1, as root."""

import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CLUSTER = "lmtest"
START_TIMEOUT = 60

# Program -> the Debian package that ships it (what .ci/run installs).
PROGRAMS = {"munged": "munge", "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server",
            "slurmdbd": "slurmdbd", "slurmctld": "slurmctld", "slurmd": "slurmd",
            "sbatch": "slurm-client", "srun": "slurm-client", "sacct": "slurm-client",
            "sacctmgr": "slurm-client", "scancel": "slurm-client", "sinfo": "slurm-client",
            "squeue": "slurm-client"}

# sacct's states of a job that will not change any more.
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "OUT_OF_MEMORY", "TIMEOUT", "NODE_FAIL",
                "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


class Unavailable(Exception):
    """This machine cannot run the cluster; str() is the one-line reason. packages: the
    reason is a missing package (an install step's fault, not the machine's)."""

    def __init__(self, reason, packages=False):
        super().__init__(reason)
        self.packages = packages


class StartFailed(RuntimeError):
    """A daemon did not come up although everything it needs is there."""


@dataclass
class SacctRow:
    jobid: str        # "42", "42.batch", "42.0", "41_3"
    state: str        # first word: "CANCELLED by 0" -> "CANCELLED"
    exit_code: str    # "exit:signal", as sacct prints it
    maxrss_kb: int | None


def prerequisites():
    """None, or an Unavailable saying what this machine lacks for the cluster."""
    if os.geteuid() != 0:
        return Unavailable("the Slurm tests need root (slurmd makes the jobs' cgroups)")
    missing = sorted({pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None})
    if missing:
        return Unavailable(f"Slurm tests: packages missing: {' '.join(missing)}", packages=True)
    for controller in ("memory", "freezer"):
        if not (CGROUP_ROOT / controller / "cgroup.procs").exists():
            return Unavailable(f"Slurm tests: no cgroup v1 {controller} controller at "
                               f"{CGROUP_ROOT / controller}")
    return None


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held open together, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def parse_rss_kb(text):
    """sacct's MaxRSS ("205696K", "1.5G", "0", "") in kB, or None when empty."""
    if not text:
        return None
    units = {"K": 1, "M": 1024, "G": 1024 ** 2, "T": 1024 ** 3}
    if text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text) // 1024  # a bare number is bytes


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


JOBID_LINE = re.compile(r"^srun: jobid (\d+):", re.M)


@dataclass
class BackgroundSrun:
    job: int
    proc: subprocess.Popen
    stderr_path: Path

    def wait(self, timeout=60):
        """srun's exit status and its stderr, once it ended."""
        rc = self.proc.wait(timeout)
        return rc, self.stderr_path.read_text()


class SlurmCluster:
    """One node, one partition, accounting through slurmdbd into a private MariaDB."""

    def __init__(self):
        self.node = socket.gethostname().split(".")[0]
        # Job ids from a random base: no job_N cgroup of an earlier run can be taken for ours.
        self.first_job_id = random.randrange(1, 600) * 100_000
        self.base = None
        self.daemons = []  # [(name, Popen)] in start order

    # -- life cycle ------------------------------------------------------------------------

    def start(self):
        """Start every daemon and wait until the node is idle; stops what it started on error."""
        why = prerequisites()
        if why:
            raise why
        deadline = time.monotonic() + START_TIMEOUT
        # Not under pytest's 0700 tmp dirs: munged wants its socket's directories open to all.
        self.base = Path(tempfile.mkdtemp(prefix="lmslurm-", dir="/tmp"))
        self.base.chmod(0o755)
        try:
            self._write_config()
            self._start_munged(deadline)
            self._start_mariadb(deadline)
            self._start_daemon("slurmdbd", ["slurmdbd", "-D"], lambda: _can_connect(self.dbd_port),
                               deadline)
            self._retry(["sacctmgr", "-i", "add", "cluster", CLUSTER], deadline)
            self._start_daemon("slurmctld", ["slurmctld", "-D"],
                               lambda: _can_connect(self.ctld_port), deadline)
            self._start_daemon("slurmd", ["slurmd", "-D"], self._node_idle, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Cancel the jobs, end the daemons, kill what is left in our jobs' cgroups, remove the
        cgroups and the directory. Safe to call twice and after a failed start."""
        if self.base is None:
            return
        if any(name == "slurmctld" and p.poll() is None for name, p in self.daemons):
            try:
                self.reset()
            except (OSError, subprocess.SubprocessError):
                pass  # a hung controller: what is left is killed below
        for name, proc in reversed(self.daemons):
            self._end(proc)
        self.daemons = []
        for job in self._our_job_dirs():
            self._sweep_dir(job)
        for top in CGROUP_ROOT.glob(f"*/slurm_{self.node}"):
            for d in [*top.glob("uid_*"), top]:  # slurmd leaves these; only if empty
                try:
                    d.rmdir()
                except OSError:
                    pass
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def reset(self):
        """Between tests: cancel every job, wait until the queue is empty, and remove the
        cgroups (and kill the processes) that the jobs left behind."""
        if self.run("squeue", "-h", "-o", "%i", timeout=10).stdout.strip():
            self.run("scancel", "--user=root", timeout=20)
            self._wait(lambda: not self.run("squeue", "-h", "-o", "%i", timeout=10).stdout.strip(),
                       20)
        for job in self._our_job_dirs():
            self._sweep_dir(job)

    # -- configuration and daemons ---------------------------------------------------------

    def _write_config(self):
        b = self.base
        for d in ("etc", "log", "state", "spool", "munge", "db", "jobs"):
            (b / d).mkdir(mode=0o755)
        (b / "munge-key").mkdir(mode=0o700)
        self.munge_socket = b / "munge" / "munge.socket"
        self.mysql_port, self.dbd_port, self.ctld_port, self.slurmd_port = free_ports(4)
        auth = f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\n"
        mem_mb = min(4096, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2 ** 20 // 2)
        cpus = min(2, os.cpu_count() or 1)
        (b / "etc" / "slurm.conf").write_text(f"""\
ClusterName={CLUSTER}
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
{auth}CredType=cred/munge
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool
SlurmctldPidFile={b}/slurmctld.pid
SlurmdPidFile={b}/slurmd.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
FirstJobId={self.first_job_id}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/cgroup
JobAcctGatherFrequency=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.dbd_port}
AccountingStoragePass={self.munge_socket}
KillWait=10
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")
        (b / "etc" / "cgroup.conf").write_text(
            "CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n"
            "ConstrainRAMSpace=yes\nConstrainSwapSpace=no\n")
        dbd = b / "etc" / "slurmdbd.conf"
        dbd.touch(mode=0o600)  # slurmdbd refuses a config others can read
        dbd.write_text(f"""\
{auth}DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.dbd_port}
SlurmUser=root
LogFile={b}/log/slurmdbd.log
PidFile={b}/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.mysql_port}
StorageUser=root
StorageLoc=slurm_acct_db
""")

    def _start_munged(self, deadline):
        key = self.base / "munge-key" / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(1024))
        os.close(fd)
        m = self.base / "munge"
        self._start_daemon("munged", [
            "munged", "-F", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={m}/munged.pid", f"--log-file={self.base}/log/munged.log",
            f"--seed-file={m}/munged.seed"], self.munge_socket.exists, deadline)

    def _start_mariadb(self, deadline):
        db = self.base / "db"
        common = ["--no-defaults", f"--datadir={db}", "--user=root", "--innodb-log-file-size=8M"]
        # --skip-name-resolve makes it create root@127.0.0.1 (no password), the account we use.
        r = subprocess.run(["mariadb-install-db", *common, "--auth-root-authentication-method=normal",
                            "--skip-test-db", "--skip-name-resolve"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if r.returncode:
            raise StartFailed(f"mariadb-install-db failed: {self._last_line(r.stdout.decode())}")
        self._start_daemon("mariadbd", [
            "mariadbd", *common, f"--socket={self.base}/mysql.sock", "--bind-address=127.0.0.1",
            f"--port={self.mysql_port}", f"--pid-file={self.base}/mariadbd.pid",
            f"--log-error={self.base}/log/mariadbd.log", "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M", "--innodb-lock-wait-timeout=900"],
            lambda: _can_connect(self.mysql_port), deadline)

    def _start_daemon(self, name, argv, ready, deadline):
        """Run argv in the foreground mode of the daemon (so its pid is ours to end) and wait
        for ready(); StartFailed with the last line of its log if it exits or times out."""
        out = open(self.base / "log" / f"{name}.out", "wb")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=self.env(), cwd=self.base, start_new_session=True)
        out.close()
        self.daemons.append((name, proc))
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited {proc.returncode}" if proc.poll() is not None else "timed out"
                raise StartFailed(f"{name} {state}: {self._log_tail(name)}")
            time.sleep(0.05)

    def _retry(self, argv, deadline):
        while True:
            r = self.run(*argv, timeout=30)
            if r.returncode == 0:
                return r
            if time.monotonic() > deadline:
                raise StartFailed(f"{shlex.join(argv)}: {self._last_line(r.stdout + r.stderr)}")
            time.sleep(0.2)

    def _node_idle(self):
        r = self.run("sinfo", "-h", "-N", "-n", self.node, "-o", "%T", timeout=10)
        return r.stdout.strip() == "idle"

    def _log_tail(self, name):
        for path in (self.base / "log" / f"{name}.log", self.base / "log" / f"{name}.out"):
            if path.exists() and path.stat().st_size:
                return self._last_line(path.read_text(errors="replace"))
        return "no log"

    @staticmethod
    def _last_line(text):
        lines = [line for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
        return (errors or lines or ["no output"])[-1].strip()

    @staticmethod
    def _end(proc, grace=10):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    @staticmethod
    def _wait(cond, timeout, step=0.1):
        """True once cond() holds, False after timeout seconds."""
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                return False
            time.sleep(step)
        return True

    # -- commands --------------------------------------------------------------------------

    def env(self, base=None):
        """base (default os.environ) without the Slurm variables of any outer job, plus ours."""
        env = {k: v for k, v in (os.environ if base is None else base).items()
               if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_", "SACCT_"))}
        if self.base is not None:
            env["SLURM_CONF"] = str(self.base / "etc" / "slurm.conf")
        return env

    def run(self, *argv, env=None, timeout=120, **kw):
        """A Slurm command against this cluster; CompletedProcess with text output."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("cwd", self.base / "jobs")  # job files never land in the checkout
        return subprocess.run(argv, env=self.env(env), text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kw)

    def srun(self, *args, env=None, timeout=120):
        """srun -v --export=ALL args (options, then the command): (job id, CompletedProcess).
        -v makes srun name the job id on stderr (sacct finds a job by name only seconds
        later), so stderr also holds srun's "srun: ..." progress lines."""
        r = self.run("srun", "-v", "--export=ALL", *args, env=env, timeout=timeout)
        m = JOBID_LINE.search(r.stderr)
        if not m:
            raise RuntimeError(f"srun named no job: {r.stderr[-500:]!r}")
        return int(m[1]), r

    def srun_background(self, *args, env=None):
        """srun as in srun(), in the background: a BackgroundSrun once the job id is known."""
        err = self.base / "jobs" / f"srun-{uuid.uuid4().hex[:12]}.err"
        with open(err, "w") as f:
            p = subprocess.Popen(["srun", "-v", "--export=ALL", *args], env=self.env(env),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f,
                                 cwd=self.base / "jobs")
        found = []
        if not self._wait(lambda: found.extend(JOBID_LINE.findall(err.read_text())) or found
                          or p.poll() is not None, 30):
            p.kill()
        if not found:
            p.wait(10)
            raise RuntimeError(f"srun named no job: {err.read_text()[-500:]!r}")
        return BackgroundSrun(int(found[0]), p, err)

    def sbatch(self, script, *opts, wait=False, env=None, timeout=120):
        """sbatch --parsable --export=ALL opts script (--wait if asked: its exit status is the
        job's); (job id, CompletedProcess)."""
        argv = ["sbatch", "--parsable", "--export=ALL", *opts, *(["--wait"] if wait else []),
                str(script)]
        r = self.run(*argv, env=env, timeout=timeout)
        first = r.stdout.split("\n", 1)[0].split(";")[0].strip()
        if not first.isdecimal():
            raise RuntimeError(f"sbatch printed no job id: {r.stdout!r} {r.stderr!r}")
        return int(first), r

    def scancel(self, target, *opts):
        """scancel target ("N" or "N.STEP")."""
        return self.run("scancel", *opts, str(target), timeout=30)

    def state(self, job):
        """squeue's state of the job (RUNNING, PENDING, ...), or "" once it left the queue."""
        return self.run("squeue", "-h", "-j", str(job), "-o", "%T", timeout=10).stdout.strip()

    def wait_running(self, job, timeout=30):
        if not self._wait(lambda: self.state(job) == "RUNNING", timeout):
            raise RuntimeError(f"job {job} not running after {timeout} s: {self.state(job)!r}")

    def sacct(self, job):
        """sacct -j job -P -n -o JobID,State,ExitCode,MaxRSS as SacctRows."""
        out = self.run("sacct", "-j", str(job), "-P", "-n", "-o", "JobID,State,ExitCode,MaxRSS",
                       timeout=20).stdout
        rows = []
        for line in out.splitlines():
            jobid, state, code, rss = line.split("|")
            rows.append(SacctRow(jobid, state.split()[0] if state else "", code, parse_rss_kb(rss)))
        return rows

    def wait_accounted(self, job, steps=(), timeout=30):
        """sacct's rows once the job and the steps named (".0", ".batch") are all final and
        every step's own end record is in: a cancelled job's steps are marked CANCELLED with
        0:0 at once, and get their exit code (and a MaxRSS) when slurmstepd reports."""
        rows = []

        def done():
            rows[:] = self.sacct(job)
            ids = {r.jobid for r in rows}
            return (rows and all(r.state in FINAL_STATES for r in rows)
                    and all(r.maxrss_kb is not None for r in rows if "." in r.jobid)
                    and all(f"{job}{s}" in ids for s in steps))
        if not self._wait(done, timeout, 0.2):
            raise RuntimeError(f"job {job} not accounted as finished after {timeout} s: {rows}")
        return {r.jobid: r for r in rows}

    # -- cgroups ---------------------------------------------------------------------------

    def job_cgroups(self, job):
        """The job's cgroup directories that exist, in every hierarchy."""
        return sorted(CGROUP_ROOT.glob(f"*/slurm_{self.node}/uid_*/job_{job}"))

    def wait_cgroups_gone(self, job, timeout=10):
        """[] once Slurm removed the job's cgroups, else those still there after timeout s."""
        self._wait(lambda: not self.job_cgroups(job), timeout)
        return self.job_cgroups(job)

    def logmemory_cgroups(self):
        """Every directory named logmemory-* below a Slurm cgroup tree (/sys/fs/cgroup/*/slurm*)."""
        found = []
        for top in CGROUP_ROOT.glob("*/slurm*"):
            for root, dirs, _ in os.walk(top):
                found += [Path(root) / d for d in dirs if d.startswith("logmemory-")]
        return sorted(found)

    def sweep(self, job):
        """Kill what is left in the job's cgroups and remove them: what Slurm could not."""
        for d in self.job_cgroups(job):
            self._sweep_dir(d)

    def _our_job_dirs(self):
        dirs = CGROUP_ROOT.glob(f"*/slurm_{self.node}/uid_*/job_*")
        return [d for d in dirs if d.name[4:].isdecimal()
                and self.first_job_id <= int(d.name[4:]) < self.first_job_id + 100_000]

    @staticmethod
    def _sweep_dir(top):
        for root, _, _ in os.walk(top):
            try:
                pids = (Path(root) / "cgroup.procs").read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for root, _, _ in os.walk(top, topdown=False):  # children before their parents
            for _ in range(50):  # a killed process leaves its cgroup a moment after SIGKILL
                try:
                    os.rmdir(root)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
