"""Ask systemd for a transient scope with Delegate=yes that holds logmemory, as
`systemd-run --scope -p Delegate=yes` does, but for pids already running: nothing is exec'd."""

import os
import re
import time

# Cgroups that systemd manages: units in its slices, and whatever an user's manager runs.
MANAGED = re.compile(r"^/(user|system|machine)\.slice(/|$)|/user@\d+\.service(/|$)")
WAIT_S = 2.0  # the scope's pids move when systemd starts the unit, just after the call returns


class Refused(Exception):
    """systemd could not be asked, or did not move us; the message says why."""


def manages(cgroup_path):
    """Whether systemd runs here (as sd_booted() tells) and the cgroup is one of its units."""
    return os.path.isdir("/run/systemd/system") and bool(MANAGED.search(cgroup_path))


def scope(name, pids, cgroup_path, own_cgroup, user):
    """Move pids into a new transient scope name.scope with Delegate=yes: for root in the slice
    cgroup_path is in (its limits go on applying), for a user from their own manager.

    own_cgroup() reads our cgroup again; returns the new one."""
    import shutil  # here, not at start-up: only this case pays for them
    import subprocess
    busctl = shutil.which("busctl")
    if busctl is None:
        raise Refused("no busctl to ask systemd for a delegated scope")
    props = [("PIDs", "au", len(pids), *pids), ("Delegate", "b", "true"),
             ("CollectMode", "s", "inactive-or-failed")]
    if not user:
        props.append(("Slice", "s", _slice(cgroup_path)))
    argv = [busctl, *(["--user"] if user else []), "call", "--quiet",
            "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))",
            f"{name}.scope", "fail", str(len(props)),
            *(str(word) for prop in props for word in prop), "0"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Refused(f"could not ask systemd for a delegated scope: {exc}") from exc
    if done.returncode != 0:
        raise Refused(f"systemd refused a delegated scope ({os.path.basename(busctl)}: "
                      f"{done.stderr.decode(errors='replace').strip() or done.returncode})")
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

