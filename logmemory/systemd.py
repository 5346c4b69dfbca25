"""Ask systemd for a transient scope with Delegate=yes that holds logmemory, as
`systemd-run --scope -p Delegate=yes` does, but for pids already running: nothing is exec'd."""

import os
import time

WAIT_S = 2.0  # the scope's pids move when systemd starts the unit, just after the call returns


class Refused(Exception):
    """systemd could not be asked, or did not move us; the message says why."""


def manages(cgroup_path):
    """Whether systemd runs here (as sd_booted() tells) and the cgroup is one of its units."""
    return os.path.isdir("/run/systemd/system") and is_unit_path(cgroup_path)


def is_unit_path(cgroup_path):
    """Whether the cgroup is in one of systemd's slices, or anywhere below a user's manager
    (user@UID.service). String tests, not re: its import costs the binary ~2 ms a run."""
    words = cgroup_path.split("/")
    if len(words) > 1 and words[1] in ("user.slice", "system.slice", "machine.slice"):
        return True
    return any(w.startswith("user@") and w.endswith(".service") and w[5:-8].isdecimal()
               for w in words)


def scope(name, pids, cgroup_path, own_cgroup, user):
    """Move pids into a new transient scope name.scope with Delegate=yes: for root in the slice
    cgroup_path is in (its limits go on applying), for a user from their own manager.

    own_cgroup() reads our cgroup again; returns the new one."""
    busctl = _which("busctl")
    if busctl is None:
        raise Refused("no busctl to ask systemd for a delegated scope")
    props = [("PIDs", "au", len(pids), *pids), ("Delegate", "b", "true"),
             ("CollectMode", "s", "inactive-or-failed")]
    if not user:
        props.append(("Slice", "s", _slice(cgroup_path)))
    argv = [busctl, *(["--user"] if user else []), "--timeout=5", "call", "--quiet",
            "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))",
            f"{name}.scope", "fail", str(len(props)),
            *(str(word) for prop in props for word in prop), "0"]
    status, err = _call(argv)
    if status != 0:
        raise Refused(f"systemd refused a delegated scope (busctl: "
                      f"{err.decode(errors='replace').strip() or f'status {status}'})")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        now = own_cgroup()
        if now.endswith(f"/{name}.scope"):
            return now
        time.sleep(0.002)
    raise Refused(f"systemd did not move logmemory into {name}.scope within {WAIT_S} s")


def _slice(cgroup_path):
    """The slice a unit's cgroup is in: its parent directory's name."""
    parent = cgroup_path.rstrip("/").rsplit("/", 1)[0]
    return parent.rsplit("/", 1)[1] if parent else "-.slice"


def _which(program):
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        path = os.path.join(directory, program)
        if os.access(path, os.X_OK):
            return path
    return None


def _call(argv):
    """Run argv (stdin, stdout on /dev/null; no signal blocked) to its end: (status, stderr).

    posix_spawn, not subprocess: the one-file binary leaves subprocess out."""
    read_end, write_end = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ, setsigmask=(), file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1),
            (os.POSIX_SPAWN_DUP2, write_end, 2)])
    finally:
        os.close(write_end)
        os.close(null)
    with os.fdopen(read_end, "rb") as f:
        err = f.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err
