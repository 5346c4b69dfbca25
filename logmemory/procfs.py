"""Readers for /proc files: pure parsers over bytes, plus thin read_* wrappers with an injectable root."""

import errno
import os

from logmemory.errors import AccessDenied, ProcessGone, Unreadable
from logmemory.value import value

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# The memory lines of /proc/<pid>/status (raw, in the kernel's exact layout) and their values.
Status = value("Status", "vmpeak_line vmhwm_line vmpeak_kb vmhwm_kb")


def _line(data, key):
    start = data.find(key)
    if start < 0:
        return None
    end = data.find(b"\n", start + 1)
    return data[start:] if end < 0 else data[start:end + 1]


def _kb(line):
    fields = line.split(b":", 1)[1].split()
    return int(fields[0]) if fields and fields[0].isdigit() else None


def parse_status(data: bytes) -> Status:
    """Pick VmPeak and VmHWM out of a status file; zombies and kernel threads have neither."""
    # The original tool matched with strstr(); the kernel writes each name once, at the start
    # of its line, so find() on the whole file is the same test, and it runs at every exit stop.
    data = b"\n" + data
    peak = _line(data, b"\nVmPeak:")
    hwm = _line(data, b"\nVmHWM:")
    peak, hwm = peak and peak[1:], hwm and hwm[1:]
    return Status(peak, hwm, _kb(peak) if peak else None, _kb(hwm) if hwm else None)


def translate_oserror(exc, pid):
    """Map an OSError from /proc to the domain error it means."""
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        return ProcessGone(f"process {pid} is gone")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"no access to /proc/{pid}: {exc.strerror}")
    return Unreadable(f"cannot read /proc/{pid}: {exc.strerror}")


def _read(path, pid):
    """The whole of a small /proc file; plain os calls, since this runs at every exit stop."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate_oserror(exc, pid) from exc
    try:
        return read_fd(fd, pid)
    finally:
        os.close(fd)


def read_fd(fd, pid, size=65536):
    """The whole file behind an open /proc descriptor, from its start."""
    # The kernel fills these files in one piece: a read shorter than asked is the end of the file,
    # which spares the second read() that would only return b"".
    try:
        data = os.pread(fd, size, 0)
        while len(data) % size == 0 and data:
            chunk = os.pread(fd, size, len(data))
            if not chunk:
                break
            data += chunk
        return data
    except OSError as exc:
        raise translate_oserror(exc, pid) from exc


def open_status(pid, root="/proc", name="status"):
    """A descriptor on a process's status (or another file of its), opened ahead of its exit
    stop: the first look-up of a new pid in /proc costs ~20 us, paid while the process runs
    rather than while it waits. A read shows the program image of the time of the read."""
    try:
        return os.open(f"{root}/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise translate_oserror(exc, pid) from exc


def read_status_fd(fd, pid) -> Status:
    return parse_status(read_fd(fd, pid))


def read_status(pid, tid=None, root="/proc") -> Status:
    """Read the status of thread tid of process pid (the task path works while the leader is a zombie)."""
    return parse_status(_read(f"{root}/{pid}/task/{tid}/status" if tid else f"{root}/{pid}/status", pid))


def parse_statm_rss_kb(data: bytes, page_kb=4) -> int:
    """Resident set size from /proc/<pid>/statm (second field, in pages)."""
    return int(data.split()[1]) * page_kb


def read_rss_kb(pid, root="/proc") -> int:
    return parse_statm_rss_kb(_read(f"{root}/{pid}/statm", pid), PAGE_KB)


def parse_pss_kb(data: bytes):
    """Pss from /proc/<pid>/smaps_rollup: the resident pages, each shared one divided among
    the processes that map it, so that a sum over processes counts it once. None if absent."""
    line = _line(b"\n" + data, b"\nPss:")
    return _kb(line) if line else None


def read_pss_kb(pid, tids=(), root="/proc"):
    """A process's Pss, through its main thread or, once that has exited (its files then fail
    with ESRCH), through one of tids still alive."""
    for path in [f"{root}/{pid}/smaps_rollup", *(f"{root}/{pid}/task/{t}/smaps_rollup" for t in tids)]:
        try:
            pss = parse_pss_kb(_read(path, pid))
        except ProcessGone:
            continue
        if pss is not None:
            return pss
    raise ProcessGone(f"process {pid} has no live thread to read")


def parse_cmdline(data: bytes) -> tuple:
    """The argument vector from /proc/<pid>/cmdline (NUL-separated, NUL-terminated)."""
    return tuple(data.split(b"\0")[:-1]) if data.endswith(b"\0") else tuple(data.split(b"\0"))


def read_cmdline(pid, tid=None, root="/proc") -> tuple:
    """Empty for a zombie or a kernel thread."""
    data = _read(f"{root}/{pid}/task/{tid}/cmdline" if tid else f"{root}/{pid}/cmdline", pid)
    return parse_cmdline(data) if data else ()


def read_cmdline_fd(fd, pid) -> tuple:
    data = read_fd(fd, pid)
    return parse_cmdline(data) if data else ()


def parse_ids(data: bytes) -> tuple:
    """(Tgid, PPid) from a status file."""
    data = b"\n" + data
    return tuple(int(_line(data, key)[len(key):]) for key in (b"\nTgid:", b"\nPPid:"))


def read_ids(pid, root="/proc") -> tuple:
    return parse_ids(_read(f"{root}/{pid}/status", pid))


def parse_pending(data: bytes) -> int:
    """The signals pending for a process, as a mask: its own (ShdPnd) and its main thread's
    (SigPnd), from a status file."""
    data = b"\n" + data
    return int(_line(data, b"\nShdPnd:")[8:], 16) | int(_line(data, b"\nSigPnd:")[8:], 16)


def read_pending(pid, root="/proc") -> int:
    return parse_pending(_read(f"{root}/{pid}/status", pid))
