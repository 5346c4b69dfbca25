"""Start the command: resolve it as execvp would, fork, optionally seize the child, exec."""

import errno
import os
import resource
import stat
import sys
import time

from logmemory import _ptrace, _signals, procfs
from logmemory.errors import CannotRun, Interrupted, LogMemoryError
from logmemory.value import value

# The command is forked by a small launcher rather than by this Python process: the kernel
# counts the pages a child inherits at fork in its ru_maxrss, and a Python parent would give
# every command a floor of about 10 MB where GNU time's is about 1 MB.
#
# The one-file binary is its own launcher: its bootloader, run with LAUNCH_VARIABLE set, forks
# and execs the command in C without starting Python (build/bootloader/pyi_user_cache.c), and
# passes the environment as it is.
BOOTLOADER = b"/proc/self/exe"
LAUNCH_VARIABLE = b"_PYI_LOGMEMORY_LAUNCH"

# Elsewhere (python -m logmemory) the launcher is sh with env(1), which keeps argv[0] as
# given and runs the command with execvp semantics even when its name is a shell builtin.
# The shell's own stderr goes to /dev/null: dash reports a child killed by a signal
# ("Terminated") while the command's redirections are in place, so the command runs in a
# subshell that execs it, and gets the caller's stderr back from a spare descriptor N (dash
# knows descriptors 0-9 only). Only `exec` redirects: dash saves a descriptor it redirects for
# one command at 10 or above, even for `exec`: the launcher needs a descriptor limit of at
# least LAUNCHER_FDS.
LAUNCH_SCRIPT = 'exec {n}>&2 2>/dev/null\n(exec 2>&{n} {n}>&-; exec "$@")\nexit'
LAUNCH_SCRIPT_NO_STDERR = 'exec 2>/dev/null\n(exec 2>&-; exec "$@")\nexit'

# What dash does to the environment it passes on: it sets these (PWD even when absent) and
# drops variables whose names are not shell names (bash's exported functions). env(1) puts
# the caller's values back. The rest of the environment travels in the shell's environment,
# not in its arguments, which any local user can read in /proc/PID/cmdline.
_SHELL_SETS = (b"PWD", b"IFS", b"OPTIND", b"PPID")

LAUNCHER_FDS = 12

LAUNCHER_OPTIONS = _ptrace.PTRACE_O_TRACEFORK | _ptrace.PTRACE_O_TRACEVFORK


# A started child: whether it runs the launcher under our trace (else trace_error says why not,
# or that it was killed before the command started), the name to give if the launcher cannot
# be run, the high-water mark it inherited at fork (untraced only), the exec-error pipe.
Child = value("Child", "pid traced launcher floor_kb error_fd trace_error")


def resolve(name: bytes) -> bytes:
    """Find the file execvp() would run for name, or raise CannotRun (126/127 semantics)."""
    if not name:
        raise CannotRun("", errno.ENOENT, os.strerror(errno.ENOENT))
    if b"/" in name:
        candidates = [name]
    else:
        path = os.environ.get("PATH", "/bin:/usr/bin")
        candidates = [os.path.join(os.fsencode(d) or b".", name) for d in path.split(os.pathsep)]
    denied = None
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.ENOTDIR, errno.ELOOP) and b"/" in name:
                raise CannotRun(os.fsdecode(name), exc.errno, exc.strerror) from exc
            continue
        if stat.S_ISREG(st.st_mode) and os.access(candidate, os.X_OK):
            _check_interpreter(name, candidate)
            return candidate
        denied = denied or candidate
    if denied is not None:
        msg = "Is a directory" if os.path.isdir(denied) else os.strerror(errno.EACCES)
        raise CannotRun(os.fsdecode(name), errno.EACCES, msg)
    raise CannotRun(os.fsdecode(name), errno.ENOENT, os.strerror(errno.ENOENT))


def _check_interpreter(name, path):
    """A script whose #! interpreter is missing fails in exec with ENOENT; say so now, as the
    command would otherwise fail inside the launcher's env(1), after logmemory had started it."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return  # not readable by us: exec will tell
    if not head.startswith(b"#!"):
        return
    words = head[2:].split(b"\n", 1)[0].split()
    if words and not os.access(words[0], os.X_OK):
        raise CannotRun(os.fsdecode(name), errno.ENOENT,
                        f"bad interpreter '{os.fsdecode(words[0])}': "
                        f"{os.strerror(errno.ENOENT)}")


def _open(fd):
    """Whether fd will be open in an exec'd child (ours are close-on-exec)."""
    try:
        return os.get_inheritable(fd)
    except OSError:
        return False


def _is_shell_name(name):
    """Whether sh keeps a variable of that name: ASCII letters, digits, '_', not a digit first
    (bytes methods are ASCII-only; no re here, its import costs the binary ~1.7 ms a run)."""
    return name[:1] not in b"0123456789" and name.replace(b"_", b"a").isalnum()


def _launcher_argv(argv, path, fd_limit):
    if getattr(sys, "frozen", False):
        return [BOOTLOADER, path, *argv]
    env = next((e for e in (b"/usr/bin/env", b"/bin/env") if os.access(e, os.X_OK)), None)
    if env is None or fd_limit < LAUNCHER_FDS:
        return None
    if _open(2):
        spare = next((fd for fd in range(3, 10) if not _open(fd)), None)
        if spare is None:
            return None
        script = LAUNCH_SCRIPT.format(n=spare).encode()
    else:
        script = LAUNCH_SCRIPT_NO_STDERR.encode()
    if b"=" in argv[0]:
        # env would take the name for a variable; the shell runs it itself (no builtin can
        # have such a name), at the price of the shell's changes to the environment.
        return [b"/bin/sh", b"-c", script, b"logmemory", *argv]
    unset = [w for name in _SHELL_SETS for w in (b"-u", name)]
    restore = [k + b"=" + v for k, v in os.environb.items()
               if k in _SHELL_SETS or not _is_shell_name(k)]
    return [b"/bin/sh", b"-c", script, b"logmemory", env, *unset, b"--", *restore, *argv]


def _exec_child(go_r, err_w, chld, argv, path, launcher, join_fd):
    """In the forked child: wait for the go byte, restore signals, exec; report errno on failure."""
    try:
        how = os.read(go_r, 1) if go_r is not None else b"U"
        _restore_signals(chld)
        if join_fd is not None:
            # Last, so that little of this Python copy is charged to the job before exec.
            os.write(join_fd, b"0")
        if how == b"T":
            if launcher[0] == BOOTLOADER:
                os.putenv(LAUNCH_VARIABLE, b"1")  # it unsets it before it runs the command
            os.execv(launcher[0], launcher)
        os.execv(path, argv)
    except OSError as exc:
        if err_w is not None:
            os.write(err_w, exc.errno.to_bytes(4, "little"))
        else:  # no pipe to report through: say it here, with the code we would have used
            os.write(2, f"logmemory: cannot run '{os.fsdecode(argv[0])}': {exc.strerror}\n"
                     .encode())
            os._exit(127 if exc.errno == errno.ENOENT else 126)
    finally:
        os._exit(127)


def _restore_signals(chld):
    """What the command inherits: the caller's mask and SIGCHLD disposition, default actions."""
    for sig in _signals.PYTHON_IGNORES:
        _signals.set_handler(sig, _signals.SIG_DFL)
    if chld.handler == _signals.SIG_IGN:
        _signals.set_handler(_signals.SIGCHLD, _signals.SIG_IGN)
    _signals.sigprocmask(_signals.SIG_SETMASK, _signals.caller_mask)


def loses_privileges(path) -> bool:
    """True if path is setuid/setgid/setcap and we lack CAP_SYS_PTRACE, so tracing drops its privileges."""
    st = os.stat(path)
    special = st.st_mode & (stat.S_ISUID | stat.S_ISGID)
    if not special:
        try:
            special = bool(os.getxattr(path, "security.capability"))
        except OSError:
            pass
    return bool(special) and not _has_cap_sys_ptrace()


def _has_cap_sys_ptrace():
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 19))
    return False


def become_subreaper():
    """Have orphaned descendants re-parented to us, so that we can wait for the whole tree."""
    PR_SET_CHILD_SUBREAPER = 36
    if _ptrace.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise LogMemoryError("cannot become a subreaper (prctl PR_SET_CHILD_SUBREAPER)")


def start(argv, path, trace=True, join_fd=None) -> Child:
    """Fork and exec argv (path resolved by resolve()); when trace, seize the child first.

    The child moves itself into a cgroup through join_fd just before it execs. A fatal signal
    that arrived for logmemory before the command could start stops it here: Interrupted."""
    # An ignored SIGCHLD (inherited across exec) would have the kernel reap our children
    # itself; the command gets the caller's disposition back.
    chld = _signals.set_handler(_signals.SIGCHLD, _signals.SIG_DFL)
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    launcher = _launcher_argv(argv, path, fd_limit) if trace else None
    try:
        go_r, go_w = os.pipe()
    except OSError as exc:
        return _start_bare(argv, path, chld, join_fd, exc)
    try:
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
    except OSError as exc:
        os.close(go_r)
        os.close(go_w)
        return _start_bare(argv, path, chld, join_fd, exc)
    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(err_r)
        _exec_child(go_r, err_w, chld, argv, path, launcher, join_fd)
    os.close(go_r)
    os.close(err_w)
    trace_error = None
    if launcher is None and trace:
        trace_error = (f"no launcher (env(1) missing, descriptors 3-9 all in use, or a "
                       f"descriptor limit below {LAUNCHER_FDS})")
    elif trace:
        try:
            _ptrace.seize(pid, LAUNCHER_OPTIONS)
        except OSError as exc:
            trace_error = KILLED_EARLY if _ended(pid) else f"ptrace refused ({exc.strerror})"
    traced = trace and trace_error is None
    floor = None
    if not traced:
        # The child is blocked reading go_r: its high-water mark now is what it inherited.
        try:
            floor = procfs.read_status(pid).vmhwm_kb
        except LogMemoryError:
            pass
    _stop_if_interrupted(pid)
    try:
        os.write(go_w, b"T" if traced else b"U")
    except BrokenPipeError:
        # It was killed before it read it (a signal to the whole tree): the command never
        # started, and the job ends as our child did.
        trace_error = KILLED_EARLY
    os.close(go_w)
    return Child(pid, traced, _launcher_name(launcher, argv), floor, err_r, trace_error)


KILLED_EARLY = "killed before the command started"


def _ended(pid):
    """Whether our child has ended (left unreaped: its status is the job's)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _launcher_name(launcher, argv):
    """The bootloader fails to run only for what the command brings (E2BIG: its arguments)."""
    if launcher is None:
        return None
    return argv[0] if launcher[0] == BOOTLOADER else launcher[0]


def _start_bare(argv, path, chld, join_fd, exc):
    """Too few descriptors for our pipes: start the command untraced all the same."""
    pid = os.fork()
    if pid == 0:
        _exec_child(None, None, chld, argv, path, None, join_fd)
    return Child(pid, False, None, None, None,
                 f"not traced: too few file descriptors ({exc.strerror})")


def _stop_if_interrupted(pid):
    """Before the go byte: a fatal signal sent to logmemory means the command must not start."""
    sig = _signals.take_interrupt()
    if sig is not None:
        os.kill(pid, _signals.SIGKILL)
        os.waitpid(pid, 0)
        raise Interrupted(sig)


def reap(child: Child, timeout=0.2):
    """Wait a little for the launcher shell, which exits as soon as the command is reaped.

    Until then it sits in the job's cgroup, and moving it out takes an RCU grace period."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitpid(child.pid, os.WNOHANG)[0] or time.monotonic() > deadline:
                return
        except ChildProcessError:
            return
        time.sleep(0.0002)


def exec_error(child: Child):
    """The errno the child reported if its exec failed, else None."""
    if child.error_fd is None:
        return None
    data = os.read(child.error_fd, 4)
    return int.from_bytes(data, "little") if data else None
