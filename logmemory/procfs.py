"""Readers for /proc files: pure parsers over bytes, plus thin read_* wrappers with an injectable root."""

import errno
import os
from collections import namedtuple

from logmemory.errors import AccessDenied, ProcessGone

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

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


def parse_statm_rss_kb(data: bytes, page_kb=4) -> int:
    """Resident set size from /proc/<pid>/statm (second field, in pages)."""
    return int(data.split()[1]) * page_kb


def read_rss_kb(pid, root="/proc") -> int:
    try:
        with open(f"{root}/{pid}/statm", "rb") as f:
            return parse_statm_rss_kb(f.read(), PAGE_KB)
    except OSError as exc:
        raise translate_oserror(exc, pid) from exc


def parse_cmdline(data: bytes) -> tuple:
    """The argument vector from /proc/<pid>/cmdline (NUL-separated, NUL-terminated)."""
    return tuple(data.split(b"\0")[:-1]) if data.endswith(b"\0") else tuple(data.split(b"\0"))


def read_cmdline(pid, tid=None, root="/proc") -> tuple:
    """Empty for a zombie or a kernel thread."""
    path = f"{root}/{pid}/task/{tid}/cmdline" if tid else f"{root}/{pid}/cmdline"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise translate_oserror(exc, pid) from exc
    return parse_cmdline(data) if data else ()
