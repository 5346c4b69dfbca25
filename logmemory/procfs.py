"""Readers for /proc files: pure parsers over bytes, plus thin read_* wrappers with an injectable root."""

import errno
from collections import namedtuple

from logmemory.errors import AccessDenied, ProcessGone

# The memory lines of /proc/<pid>/status (raw, in the kernel's exact layout) and their values.
Status = namedtuple("Status", "vmpeak_line vmhwm_line vmpeak_kb vmhwm_kb")


def _kb(line):
    fields = line.split(b":", 1)[1].split()
    return int(fields[0]) if fields and fields[0].isdigit() else None


def parse_status(data: bytes) -> Status:
    """Pick VmPeak and VmHWM out of a status file; zombies and kernel threads have neither."""
    peak = hwm = None
    for line in data.splitlines(keepends=True):
        # The original tool matched with strstr(), i.e. anywhere in the line; the kernel only
        # ever puts these names at the start, so startswith is the same test and cheaper.
        if line.startswith(b"VmPeak:"):
            peak = line
        elif line.startswith(b"VmHWM:"):
            hwm = line
    return Status(peak, hwm, _kb(peak) if peak else None, _kb(hwm) if hwm else None)


def translate_oserror(exc, pid):
    """Map an OSError from /proc to the domain error it means."""
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return ProcessGone(f"process {pid} is gone")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"no access to /proc/{pid}: {exc.strerror}")
    return exc


def read_status(pid, tid=None, root="/proc") -> Status:
    """Read the status of thread tid of process pid (the task path works while the leader is a zombie)."""
    path = f"{root}/{pid}/task/{tid}/status" if tid else f"{root}/{pid}/status"
    try:
        with open(path, "rb") as f:
            return parse_status(f.read())
    except OSError as exc:
        raise translate_oserror(exc, pid) from exc
