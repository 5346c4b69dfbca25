"""Render a Run as a log record (text, legacy, JSON or a Snakemake benchmark row) and append it
in one write."""

import os
import time

from logmemory.record import ProcessRecord, Run, Tree, signal_name

FORMATS = ("text", "legacy", "json", "snakemake")
# Snakemake's benchmark TSV (snakemake/benchmark.py, BenchmarkRecord.get_header), written once at
# the top of a new file.
SNAKEMAKE_HEADER = b"s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _legacy_lines(run: Run):
    # Byte for byte what the original C tool wrote: asctime() ends with "\n", and each
    # argument is preceded by a space after "Cmd: ".
    yield b"Date: " + time.asctime(run.ended).encode() + b"\n"
    yield b"Cmd: " + b"".join(b" " + a for a in run.argv) + b"\n"
    if run.vmpeak_line is not None:
        yield run.vmpeak_line
    if run.vmhwm_line is not None:
        yield run.vmhwm_line


def _exit_text(status):
    if os.WIFSIGNALED(status):
        core = " (core dumped)" if os.WCOREDUMP(status) else ""
        return f"signal {signal_name(os.WTERMSIG(status))}{core}"
    return str(os.WEXITSTATUS(status))


def _cmd_text(argv):
    return b" ".join(argv) if argv else b"?"


def _tree_lines(tree: Tree):
    if tree.processes is not None:
        yield b"Processes:\t%d (threads: %d)\n" % (tree.processes, tree.threads)
    if tree.max_vmhwm_kb is not None:
        yield b"TreeMaxVmHWM:\t%8d kB (pid %d: %s)\n" % (
            tree.max_vmhwm_kb, tree.max_vmhwm_pid, _cmd_text(tree.max_vmhwm_cmd))
    if tree.peak_kb is not None:
        source = tree.peak_source.encode()
        if tree.peak_source == "sampled":
            source = b"sampled PSS every %d ms" % tree.sample_ms
        elif tree.peak_cgroup is not None:
            shared = tree.peak_cgroup
            source += b" of %s %s, which held %d kB when the command started" % (
                shared.owner.encode(), shared.path.encode(), shared.held_kb)
        yield b"TreePeak:\t%8d kB (%s)\n" % (tree.peak_kb, source)
    oom = tree.oom
    if oom is not None and (oom.kills or oom.cgroup_kills):
        line = b"OOMKills:\t%d" % oom.kills
        if oom.limit_bytes is not None:
            line += b" (limit %d kB of %s" % (oom.limit_bytes // 1024, oom.cgroup.encode())
            if oom.cgroup_kills:
                line += b"; %d more killed in that cgroup" % oom.cgroup_kills
            line += b")"
        yield line + b"\n"


def _process_line(p: ProcessRecord):
    fields = [b"pid %d ppid %d" % (p.pid, p.ppid)]
    for name, value in (("VmHWM", p.vmhwm_kb), ("VmPeak", p.vmpeak_kb), ("MaxRSS", p.maxrss_kb)):
        if value is not None:
            fields.append(b"%s %d kB" % (name.encode(), value))
    if p.wait_status is not None:
        fields.append(b"exit " + _exit_text(p.wait_status).encode())
    fields.append(b"start %.3f s" % p.start_s)
    if p.end_s is not None:
        fields.append(b"end %.3f s" % p.end_s)
    return b"Process:\t" + b" ".join(fields) + b": " + _cmd_text(p.cmd) + b"\n"


def _text_lines(run: Run, per_process):
    yield from _legacy_lines(run)
    if run.maxrss_kb is not None:
        yield b"MaxRSS:\t%8d kB\n" % run.maxrss_kb
    if run.maxrss_floor_kb is not None:
        yield b"MaxRSSFloor:\t%8d kB\n" % run.maxrss_floor_kb
    if run.wait_status is not None:  # else its reason is under Unmeasured
        yield f"Exit:\t{_exit_text(run.wait_status)}\n".encode()
    for key, value in (("Elapsed", run.elapsed_s), ("User", run.user_s), ("System", run.sys_s)):
        if value is not None:
            yield f"{key}:\t{value:.3f} s\n".encode()
    if run.tree is not None:
        yield from _tree_lines(run.tree)
    if run.label is not None:
        yield b"Label:\t" + run.label.encode("utf-8", "surrogateescape") + b"\n"
    if run.host is not None:
        yield b"Host:\t" + run.host.encode("utf-8", "surrogateescape") + b"\n"
    if run.batch:
        yield ("Batch:\t" + " ".join(f"{k}={v}" for k, v in run.batch.items()) + "\n").encode(
            "utf-8", "surrogateescape")
    if per_process:
        yield from map(_process_line, run.processes)
    unmeasured = {**run.unmeasured, **(run.tree.unmeasured if run.tree else {})}
    for name, reason in unmeasured.items():
        yield f"Unmeasured:\t{name}: {reason}\n".encode()


def _snakemake_row(run: Run):
    """Snakemake's columns in its units: seconds; MiB with 2 decimals; CPU % and seconds. NA for
    what logmemory does not measure (USS, PSS, I/O) and VmPeak of a job of several processes."""
    def mib(kb):
        return "NA" if kb is None else f"{kb / 1024:.2f}"
    seconds = run.elapsed_s
    days, rest = divmod(int(seconds), 86400)
    hms = "%d:%02d:%02d" % (rest // 3600, rest // 60 % 60, rest % 60)
    if days:
        hms = f"{days} day{'s' if days != 1 else ''}, {hms}"
    single = run.tree is not None and run.tree.processes == 1
    cpu = None if run.user_s is None or run.sys_s is None else run.user_s + run.sys_s
    row = [f"{seconds:.4f}", hms, mib(run.need()[0]), mib(run.vmpeak_kb if single else None),
           "NA", "NA", "NA", "NA",
           "NA" if cpu is None or not seconds else f"{100 * cpu / seconds:.2f}",
           "NA" if cpu is None else f"{cpu:.2f}"]
    return ("\t".join(row) + "\n").encode()


def render(run: Run, fmt: str, per_process=False) -> bytes:
    """One complete record as bytes, ready for a single write()."""
    if fmt == "snakemake":
        return _snakemake_row(run)
    if fmt == "json":
        return json_text(run.to_dict()).encode() + b"\n"
    lines = _legacy_lines(run) if fmt == "legacy" else _text_lines(run, per_process)
    return b"".join(lines) + b"\n"


def not_run(argv, reason) -> bytes:
    """The JSON record of a command that was not run, and why."""
    return json_text({"cmd": [a.decode("utf-8", "backslashreplace") for a in argv],
                      "not_run": reason}).encode() + b"\n"


class _Escapes(dict):
    """A str.translate table of JSON's escapes, filled as characters come."""

    def __missing__(self, code):
        if 0x20 <= code < 0x7f:
            text = chr(code)
        elif code > 0xffff:  # a surrogate pair, as JSON spells characters beyond 16 bits
            high, low = divmod(code - 0x10000, 0x400)
            text = "\\u%04x\\u%04x" % (0xd800 + high, 0xdc00 + low)
        else:
            text = "\\u%04x" % code
        self[code] = text
        return text


_ESCAPES = _Escapes({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                     ord("\t"): "\\t", ord("\b"): "\\b", ord("\f"): "\\f"})


def json_text(value) -> str:
    """value as json.dumps() writes it (ASCII, ", " and ": "), without importing json: with the
    re module it pulls in, that import cost each JSON record (every Perl call) ~12 ms."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(json_text(k) + ": " + json_text(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    raise TypeError(f"no JSON for {type(value).__name__}")
