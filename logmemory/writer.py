"""Render a Run as a log record (text, legacy or JSON) and append it in one write."""

import json
import os
import time

from logmemory.record import Run

FORMATS = ("text", "legacy", "json")


def _legacy_lines(run: Run):
    # Byte for byte what the original C tool wrote: asctime() ends with "\n", and each
    # argument is preceded by a space after "Cmd: ".
    yield b"Date: " + time.asctime(run.ended.timetuple()).encode() + b"\n"
    yield b"Cmd: " + b"".join(b" " + a for a in run.argv) + b"\n"
    if run.vmpeak_line is not None:
        yield run.vmpeak_line
    if run.vmhwm_line is not None:
        yield run.vmhwm_line


def _text_lines(run: Run):
    yield from _legacy_lines(run)
    if run.maxrss_kb is not None:
        yield b"MaxRSS:\t%8d kB\n" % run.maxrss_kb
    if run.maxrss_floor_kb is not None:
        yield b"MaxRSSFloor:\t%8d kB\n" % run.maxrss_floor_kb
    if run.signal is not None:
        core = " (core dumped)" if run.core_dumped else ""
        yield f"Exit:\tsignal {run.signal_name}{core}\n".encode()
    else:
        yield b"Exit:\t%d\n" % run.exit_code
    for key, value in (("Elapsed", run.elapsed_s), ("User", run.user_s), ("System", run.sys_s)):
        if value is not None:
            yield f"{key}:\t{value:.3f} s\n".encode()
    for name, reason in run.unmeasured.items():
        yield f"Unmeasured:\t{name}: {reason}\n".encode()


def render(run: Run, fmt: str) -> bytes:
    """One complete record as bytes, ready for a single write()."""
    if fmt == "json":
        return json.dumps(run.to_dict(), separators=(", ", ": ")).encode() + b"\n"
    lines = _legacy_lines(run) if fmt == "legacy" else _text_lines(run)
    return b"".join(lines) + b"\n"


def append(fd, data: bytes):
    """Write data with one write() on an O_APPEND descriptor, so concurrent records never interleave."""
    written = os.write(fd, data)
    if written != len(data):
        raise OSError(f"short write ({written} of {len(data)} bytes)")
