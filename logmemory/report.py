"""`logmemory report`: read logs of any of our formats (and the original tool's), summarize per step.

Imported only when the report runs, so a measured command never pays for it.
"""

import json
import os
import re
import signal
import sys
import zlib

USAGE = "Usage: logmemory report [OPTION]... LOG..."

HELP = f"""{USAGE}
Summarize the records in each LOG (a file, a directory of per-run files, or - for
standard input; gzip'd files are read as such): per step, how much memory its runs
needed and what to request from the batch system.

      --by=KEY           group runs by label (default: the label given with --label,
                         else the program), program, command, host or job (the job or
                         job step as the batch system names it: 29.batch, 29_5.0, 123[4])
      --where=KEY=VALUE  only runs where KEY (label, program, command, host, or a
                         batch variable such as SLURM_JOB_ID) is VALUE; repeatable
      --headroom=PCT     recommend the maximum plus PCT percent (default 20)
      --format=FORMAT    table (default), tsv, json or markdown
      --help             display this help and exit

The figure of a run is the job's concurrent peak (TreePeak) where recorded, else
its largest process (TreeMaxVmHWM), else the command's VmHWM, else its MaxRSS.
Median and 95th percentile are nearest-rank: always one of the measured figures.
Requests are rounded up: Slurm --mem to whole MiB, Snakemake mem_mb to whole MB
(10^6 bytes), Nextflow memory to whole MB (Nextflow's MB is 1024 KB).
A run the OOM killer killed needed more than the limit it was killed at (where that is
unknown, more than its own figure): its step's request is above that, plus PCT percent,
and marked as a lower bound (>= in the table and in markdown).

Records that cannot be read (truncated, not a record, unknown keys) are skipped,
counted, and the first few places are named on standard error.

Exit status: 0 when something was summarized, 1 when no readable record was
found (or none matched --where), 125 on a usage error or an unreadable LOG.
"""

BY = ("label", "program", "command", "host", "job")
FORMATS = ("table", "tsv", "json", "markdown")
SHOWN_PLACES = 5

TEXT_KEYS = frozenset([b"Date", b"Cmd", b"VmPeak", b"VmHWM", b"MaxRSS", b"MaxRSSFloor", b"Exit",
                       b"Elapsed", b"User", b"System", b"Processes", b"TreeMaxVmHWM", b"TreePeak",
                       b"OOMKills", b"Process", b"Unmeasured", b"Label", b"Host",
                       b"Batch"])
JSON_KEYS = frozenset(["date", "cmd", "pid", "exit_code", "signal", "core_dumped", "vmpeak_kb",
                       "vmhwm_kb", "maxrss_kb", "maxrss_floor_kb", "elapsed_s", "user_s", "sys_s",
                       "unmeasured", "tree", "processes", "label", "host", "batch"])
# In order of preference: the job's concurrent peak, its largest process, the command, wait4.
SOURCES = ("TreePeak", "TreeMaxVmHWM", "VmHWM", "MaxRSS")
# kB; a figure at or above it is no measurement (8 EiB), and would not pack into 8 bytes.
FIGURE_LIMIT = 1 << 53


class UsageError(Exception):
    pass


class Bad(Exception):
    """A record that cannot be read; the message says why."""


class Run:
    """What the report needs of one record."""

    __slots__ = ("argv", "label", "host", "batch", "figure", "source", "failed", "elapsed",
                 "oom_kills", "oom_limit_kb")

    def __init__(self, argv, label, host, batch, figure, source, failed, elapsed, oom_kills,
                 oom_limit_kb):
        self.argv, self.label, self.host, self.batch = argv, label, host, batch
        self.figure, self.source, self.failed, self.elapsed = figure, source, failed, elapsed
        # OOM kills in the job's cgroup (0 where not counted) and the limit that was hit.
        self.oom_kills, self.oom_limit_kb = oom_kills, oom_limit_kb


def parse_text(lines):
    """A text or legacy record (the original tool's too), as a list of byte lines without ends."""
    try:
        f = dict(line.split(b":", 1) for line in lines)
    except ValueError:
        raise Bad(f"unknown line '{_show(next(x for x in lines if b':' not in x))}'") from None
    if not f.keys() <= TEXT_KEYS:
        raise Bad(f"unknown key '{_show(sorted(f.keys() - TEXT_KEYS)[0])}'")
    get = f.get
    try:
        for source, key in _TEXT_SOURCES:
            value = get(key)
            if value is not None:
                figure = int(value.split(None, 1)[0])
                if not 0 <= figure < FIGURE_LIMIT:
                    raise ValueError(f"{key.decode()} {figure}")
                break
        else:
            figure = source = None
        exit_, elapsed, label, host, batch = (get(b"Exit"), get(b"Elapsed"), get(b"Label"),
                                              get(b"Host"), get(b"Batch"))
        # The command stays bytes until a step is named after it: a labelled run never needs it.
        return Run(f[b"Cmd"][2:], None if label is None else _str(label),
                   None if host is None else _str(host),
                   dict(w.split("=", 1) for w in _str(batch).split()) if batch else {},
                   figure, source, None if exit_ is None else exit_.strip() != b"0",
                   None if elapsed is None else float(elapsed.split(None, 1)[0]),
                   *_text_oom(get(b"OOMKills")))
    except (KeyError, ValueError, IndexError) as exc:
        raise Bad(f"bad value ({exc})") from None


_TEXT_SOURCES = [(name, name.encode()) for name in SOURCES]


def _text_oom(value):
    """(kills, limit kB or None) of an OOMKills line: "1 (limit 97656 kB of /sys/fs/...)"."""
    if value is None:
        return 0, None
    words = value.split(None, 3)
    return _count(int(words[0]), "OOMKills"), (
        _count(int(words[2]), "OOMKills limit") if words[1:2] == [b"(limit"] else None)


def _count(value, name):
    """value if it is a count or kB figure we could have written; else ValueError."""
    if type(value) is not int or not 0 <= value < FIGURE_LIMIT:
        raise ValueError(f"{name} {value!r}")
    return value


# A text record as logmemory writes it, its lines in their order, in one match; any other
# paragraph goes through parse_text, which names what is wrong with it.
_TEXT = re.compile(
    rb"Date: [^\n]*\nCmd: ([^\n]*)(?:\nVmPeak:[^\n]*)?(?:\nVmHWM:\s*(\d+) kB)?"
    rb"(?:\nMaxRSS:\s*(\d+) kB)?(?:\nMaxRSSFloor:[^\n]*)?(?:\nExit:\t([^\n]*))?"
    rb"(?:\nElapsed:\t([\d.]+) s)?(?:\nUser:[^\n]*)?(?:\nSystem:[^\n]*)?(?:\nProcesses:[^\n]*)?"
    rb"(?:\nTreeMaxVmHWM:\s*(\d+) kB[^\n]*)?(?:\nTreePeak:\s*(\d+) kB[^\n]*)?"
    rb"(?:\nOOMKills:\t(\d{1,15})(?: \(limit (\d{1,15}) kB of [^\n]*\))?)?"
    rb"(?:\nLabel:\t([^\n]*))?(?:\nHost:\t([^\n]*))?(?:\nBatch:\t([^\n]*))?"
    rb"(?:\nProcess:[^\n]*)*(?:\nUnmeasured:[^\n]*)*")


def parse_paragraph(para):
    """A text record as one paragraph (no blank line in it), in one match; None if it is not
    one exactly as logmemory writes it."""
    m = _TEXT.fullmatch(para)
    if m is None:
        return None
    cmd, hwm, maxrss, exit_, elapsed, tree_max, peak, kills, limit, label, host, batch = m.groups()
    figure, source = ((int(peak), "TreePeak") if peak else (int(tree_max), "TreeMaxVmHWM")
                      if tree_max else (int(hwm), "VmHWM") if hwm else (int(maxrss), "MaxRSS")
                      if maxrss else (None, None))
    if figure is not None and figure >= FIGURE_LIMIT:
        return None
    return Run(cmd[1:], None if label is None else _str(label),
               None if host is None else _str(host),
               dict(w.split("=", 1) for w in _str(batch).split()) if batch else {},
               figure, source, None if exit_ is None else exit_ != b"0",
               None if elapsed is None else float(elapsed), int(kills) if kills else 0,
               None if limit is None else int(limit))


def _str(value):
    return value.strip().decode("utf-8", "backslashreplace")


def argv(run):
    """The command's words; a text record's are split at spaces, as it joined them."""
    if isinstance(run.argv, bytes):
        run.argv = run.argv.decode("utf-8", "backslashreplace").split(" ")
    return run.argv


def _show(data):
    return data[:40].decode("utf-8", "backslashreplace")


_STR = rb'(null|"(?:[^"\\]|\\.)*")'
# A JSON record as logmemory writes it, its keys in their order, up to what the report needs:
# JSON escapes every quote inside a string, so '", "label": ' and the like only end a value.
# Any other line goes through json.loads whole. The tree's keys between peak_unavailable_reason
# and oom (peak_sample) are null or objects without one inside. Counts of at most 15 digits are
# below FIGURE_LIMIT, in text records too.
_JSON = re.compile(
    rb'\{"date": "[^"]*", "cmd": (\[.*?\]), "label": ' + _STR + rb', "host": ' + _STR
    + rb', "batch": (\{[^}]*\}), "pid": [^,]*, "exit_code": (-?\d+|null), "signal": (null|"[^"]*"), '
    rb'"core_dumped": \w+, "vmpeak_kb": [^,]*, "vmhwm_kb": (\d+|null), "maxrss_kb": (\d+|null), '
    rb'"elapsed_s": ([^,]*), "user_s": [^,]*, "sys_s": [^,]*, (?:"maxrss_floor_kb": \d+, )?'
    rb'"unmeasured": \{.*?\}, "tree": \{"processes": [^,]*, "threads": [^,]*, '
    rb'"max_vmhwm_kb": (\d+|null), .*?"peak_kb": (\d+|null), "peak_source": (?:null|"[^"]*"), '
    rb'"peak_unavailable_reason": (?:null|"(?:[^"\\]|\\.)*"), (?:"\w+": (?:null|\{[^}]*\}), )*?'
    rb'"oom": (?:null|\{"kills": (\d{1,15}), "limit_kb": (\d{1,15}|null)), .*\]\}\Z')


def parse_json_line(line):
    """A JSON record (one line) in one match and one small decode; None if it is not one
    exactly as logmemory writes it."""
    m = _JSON.match(line)
    if m is None:
        return None
    cmd, label, host, batch, code, sig, hwm, maxrss, elapsed, tree_max, peak, kills, limit = (
        m.groups())
    if b"\\" in cmd or b"\\" in label or b"\\" in host or batch != b"{}":
        try:
            cmd, label, host, batch = json.loads(b"[%s, %s, %s, %s]" % (cmd, label, host, batch))
        except ValueError:
            return None
    else:
        # No escape in them (json.dumps escapes every quote and every non-ASCII character): the
        # strings are what stands between the quotes.
        cmd = cmd[2:-2].decode().split('", "') if cmd != b"[]" else []
        label = None if label == b"null" else label[1:-1].decode()
        host = None if host == b"null" else host[1:-1].decode()
        batch = {}
    figure, source = ((int(peak), "TreePeak") if peak != b"null" else (int(tree_max), "TreeMaxVmHWM")
                      if tree_max != b"null" else (int(hwm), "VmHWM") if hwm != b"null"
                      else (int(maxrss), "MaxRSS") if maxrss != b"null" else (None, None))
    if figure is not None and figure >= FIGURE_LIMIT:
        return None
    # Neither exit code nor signal: written before the command ended, as a text record without
    # Exit: (failed unknown).
    return Run(cmd, label, host, batch, figure, source,
               None if code == sig == b"null" else code != b"0",
               None if elapsed == b"null" else float(elapsed), int(kills) if kills else 0,
               None if limit is None or limit == b"null" else int(limit))


def parse_json(line):
    """A JSON record (one line), decoded whole."""
    try:
        d = json.loads(line)
    except ValueError:
        raise Bad("not a complete JSON record") from None
    if not isinstance(d, dict):
        raise Bad("not a JSON object")
    unknown = d.keys() - JSON_KEYS
    if unknown:
        raise Bad(f"unknown key '{sorted(unknown)[0]}'")
    try:
        tree = d.get("tree") or {}
        figure = source = None
        for name, value in zip(SOURCES, (tree.get("peak_kb"), tree.get("max_vmhwm_kb"),
                                         d["vmhwm_kb"], d["maxrss_kb"])):
            if value is not None:
                if type(value) is not int or not 0 <= value < FIGURE_LIMIT:
                    raise ValueError(f"{name} {value!r}")
                figure, source = value, name
                break
        cmd, label, host, batch = d["cmd"], d.get("label"), d.get("host"), d.get("batch") or {}
        if not (isinstance(cmd, list) and all(isinstance(w, str) for w in cmd)
                and isinstance(label, (str, type(None))) and isinstance(host, (str, type(None)))
                and isinstance(batch, dict) and all(isinstance(v, str) for v in batch.values())):
            raise ValueError("cmd, label, host or batch")
        return Run(cmd, label, host, batch, figure, source,
                   None if d["exit_code"] is None and d["signal"] is None
                   else d["exit_code"] != 0 or d["signal"] is not None,
                   None if d["elapsed_s"] is None else float(d["elapsed_s"]),
                   *_json_oom(tree.get("oom")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Bad(f"bad value ({exc!r})") from None


def _json_oom(oom):
    """(kills, limit kB or None) of a JSON record's tree.oom; null where nothing counted them."""
    if oom is None:
        return 0, None
    limit = oom["limit_kb"]
    return _count(oom["kills"], "oom kills"), None if limit is None else _count(limit, "limit_kb")


def _chunks(stream):
    """The stream's bytes in large pieces; gzip members (one or several, as gzip(1) reads them)
    inflated with zlib alone: the binary carries no gzip module."""
    if stream.peek(2)[:2] != b"\x1f\x8b":
        yield from iter(lambda: stream.read(1 << 20), b"")
        return
    inflate = zlib.decompressobj(31)
    while chunk := stream.read(1 << 20):
        while chunk:
            yield inflate.decompress(chunk)
            chunk = b""
            if inflate.eof:
                chunk, inflate = inflate.unused_data, zlib.decompressobj(31)


# A record that starts inside a line: what came before it is a record cut short (a full disk, a
# killed writer) that a later run appended after. asctime() ends the Date line. JSON escapes every
# quote inside its strings, so '{"date": ' only ever starts a record.
_DATE_LINE = re.compile(rb"Date: [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d -?\d+\Z")
_JSON_START = b'{"date": '
CARRY = 1 << 20
NOT_A_RECORD = "not a record"


def _cut(line):
    """Where another record starts inside line, or -1."""
    i = line.find(b"Date: ", 1)
    if i < 0 or not _DATE_LINE.match(line, i):
        i = line.find(_JSON_START, 1)
    return i


def records(stream, place):
    """Yield Run or Bad (with .place = (name, line)) for every record in a binary stream.

    Records are read a paragraph (up to a blank line) at a time; only a paragraph that is not
    one plain text record, or JSON lines, is looked at line by line."""
    n, carry = 1, b""
    for chunk in _chunks(stream):
        paragraphs = (carry + chunk).split(b"\n\n")
        carry = paragraphs.pop()
        for para in paragraphs:
            yield from _paragraph(para, place, n, True)
            n += para.count(b"\n") + 2
        if len(carry) > CARRY:
            # No blank line for long: JSON lines, or junk. Read all but a text record that may
            # still be going on (and a line still going on: a JSON record of a large tree can
            # take megabytes).
            i = carry.rfind(b"\nDate: ")
            if i < 0 or carry.find(b"\n{", i) >= 0:
                i = carry.rfind(b"\n")
            if i < 0:
                continue
            yield from _paragraph(carry[:i], place, n, False)
            n += carry.count(b"\n", 0, i) + 1
            carry = carry[i + 1:]
    if carry:
        yield from _paragraph(carry[:-1] if carry.endswith(b"\n") else carry, place, n, False)


def _paragraph(para, place, n, ended):
    """The records of one paragraph, whose first line is line n; ended: a blank line followed."""
    while para[:1] == b"{":
        line, _, rest = para.partition(b"\n")
        # A record that matches ends in "]}": another can only hide in it as a JSON record.
        run = parse_json_line(line) if line.find(_JSON_START, 1) < 0 else None
        if run is None:
            break
        yield run
        para, n = rest, n + 1
    # Every line of a record that matches must start with one of its keys in order, so another
    # record can only hide in its first line.
    run = (parse_paragraph(para) if ended and para[:6] == b"Date: "
           and para.find(b"Date: ", 1, 64) < 0 else None)
    if run is not None:
        yield run
    elif para:
        yield from _lines(para.split(b"\n"), place, n, ended)


def _lines(lines, place, n, ended):
    """A paragraph line by line: records cut short, junk, records that start mid-line."""
    text, start, junk = None, n, False
    for n, line in enumerate(lines, n):
        i = _cut(line)
        if i > 0:
            yield _bad("truncated record", place, n if text is None else start)
            text, line = None, line[i:]
        if text is not None:
            if not (line.startswith(b"Date: ") or line.startswith(b"{")):
                text.append(line)
                continue
            yield _bad("truncated record", place, start)
            text = None
        if line.startswith(b"{"):
            junk = False
            yield _one(parse_json, line, place, n)
        elif line.startswith(b"Date: "):
            junk, text, start = False, [line], n
        elif not line.strip():
            continue
        elif not junk:
            junk = True
            yield _bad(NOT_A_RECORD, place, n)
    if text is not None:
        yield _one(parse_text, text, place, start) if ended else _bad("truncated record", place, start)


def _one(parse, data, place, line):
    try:
        return parse(data)
    except Bad as exc:
        exc.place = (place, line)
        return exc


def _bad(why, place, line):
    exc = Bad(why)
    exc.place = (place, line)
    return exc


def _paths(logs):
    """Each LOG; a directory stands for its regular files, in name order."""
    for log in logs:
        if log != "-" and os.path.isdir(log):
            with os.scandir(log) as it:
                names = sorted(e.path for e in it if e.is_file())
            yield from names
        else:
            yield log


SHELLS = frozenset(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash"])
# Interpreter -> its options that take the next word as their value.
INTERPRETERS = {"python": {"-W", "-X"}, "perl": {"-I", "-M"}, "Rscript": set(), "ruby": {"-I", "-r"},
                "node": {"-r", "--require"}, "julia": set(), "php": set(),
                "java": {"-cp", "-classpath", "--class-path", "-p", "--module-path"}}
# Programs that run the rest of the line: their options that take a value, and how many words
# they take before the command.
PREFIXES = {"exec": ((), 0), "command": ((), 0), "nohup": ((), 0), "env": (("-u", "-C"), 0),
            "nice": (("-n",), 0), "time": (("-f", "-o"), 0), "timeout": (("-s", "-k"), 1),
            "stdbuf": ((), 0), "taskset": ((), 1), "ionice": (("-c", "-n"), 0)}
_PYTHON = re.compile(r"(python|pypy)[0-9.]*$")
_PERL = re.compile(r"perl[0-9.]*$")


def program(argv):
    """The step a command line stands for: the script or jar that sh -c or an interpreter runs,
    else the basename of the first word."""
    words, name = argv, "?"
    for _depth in range(8):
        words = _skip_prefixes(words)
        if not words:
            return name
        name = os.path.basename(words[0].strip("'\""))
        if name in SHELLS:
            words = _shell(name, words[1:])
            if isinstance(words, str):
                return words
            continue
        kind = "python" if _PYTHON.match(name) else "perl" if _PERL.match(name) else name
        return _script(kind, name, words[1:]) if kind in INTERPRETERS else name
    return name


def _skip_prefixes(words):
    """The words from the command on, past VAR=value words and env, nice, time and the like."""
    while words:
        if "=" in words[0] and words[0][0] != "-":
            words = words[1:]
            continue
        spec = PREFIXES.get(os.path.basename(words[0]))
        if spec is None:
            return words
        takes_value, positional = spec
        words = words[1:]
        while words and words[0][:1] == "-":
            words = words[2:] if words[0] in takes_value else words[1:]
        words = words[positional:]
    return words


def _shell(name, rest):
    """The words of the script after -c (one word in JSON, many in text: split either way), or
    the name of the script file the shell runs, or the shell's own name."""
    it = iter(rest)
    for w in it:
        if w in ("-o", "+o"):
            next(it, None)
        elif w[:1] == "-" and w[:2] != "--" and "c" in w:
            return [x.strip("'\"") for script in it for x in script.split()]
        elif w[:1] not in ("-", "+"):
            return os.path.basename(w)
    return name


def _script(kind, name, rest):
    it = iter(rest)
    for w in it:
        if kind == "java" and w == "-jar" or kind == "python" and w == "-m":
            return os.path.basename(next(it, name))
        if w in ("-c", "-e", "-E"):
            return f"{name} {w}"
        if w in INTERPRETERS[kind]:
            next(it, None)
        elif w[:1] != "-":
            return os.path.basename(w)
    return name


class Step:
    """The runs of one group, streaming: counts and sums, and the figures for percentiles packed
    8 bytes each."""

    __slots__ = ("name", "runs", "failed", "unmeasured", "sources", "figures", "longest", "total",
                 "oom_killed", "more_than")

    def __init__(self, name):
        self.name, self.runs, self.failed, self.unmeasured = name, 0, 0, 0
        self.sources, self.figures = {}, bytearray()
        self.longest = self.total = None
        # Runs the OOM killer killed, and the most any of them is known to have needed more than.
        self.oom_killed, self.more_than = 0, None

    def add(self, run):
        self.runs += 1
        if run.failed:
            self.failed += 1
        if run.figure is None:
            self.unmeasured += 1
        else:
            self.figures += run.figure.to_bytes(8, sys.byteorder)  # read back by cast("q")
            self.sources[run.source] = self.sources.get(run.source, 0) + 1
        if run.elapsed is not None:
            self.longest = max(self.longest or 0.0, run.elapsed)
            self.total = (self.total or 0.0) + run.elapsed
        if run.oom_kills:
            self._killed(run)

    def _killed(self, run):
        """An OOM-killed run: it needed more than the limit it was killed at, or where that is
        unknown, more than its own figure (its peak until the kill)."""
        self.oom_killed += 1
        more_than = run.figure if run.oom_limit_kb is None else run.oom_limit_kb
        if more_than is not None and (self.more_than is None or more_than > self.more_than):
            self.more_than = more_than

    def summary(self, headroom):
        figures = sorted(memoryview(self.figures).cast("q"))
        s = {"step": self.name, "runs": self.runs, "failed": self.failed,
             "oom_killed": self.oom_killed, "no_figure": self.unmeasured,
             "source": "+".join(n for n in SOURCES if n in self.sources) or None,
             "max_kb": None, "median_kb": None, "p95_kb": None, "needs_more_than_kb": self.more_than,
             "longest_s": _round(self.longest), "total_s": _round(self.total),
             "lower_bound": self.oom_killed > 0, "slurm": None, "snakemake": None, "nextflow": None,
             "request_bytes": None}
        if figures:
            s.update(max_kb=figures[-1], median_kb=_rank(figures, 50), p95_kb=_rank(figures, 95))
        need = _need(s["max_kb"], self.more_than)
        if need is not None:
            s.update(recommend(need, headroom))
        return s


def _need(max_kb, more_than):
    """The kB a request must cover: the largest figure, and 1 kB over what a killed run needed
    more than, so that even without headroom the request rounds up to above its limit."""
    if more_than is None:
        return max_kb
    return more_than + 1 if max_kb is None else max(max_kb, more_than + 1)


def _round(seconds):
    return None if seconds is None else round(seconds, 3)


def _rank(ordered, pct):
    """Nearest-rank percentile: the smallest figure with at least pct % of the runs at or below."""
    return ordered[max(0, -(-len(ordered) * pct // 100) - 1)]


def recommend(max_kb, headroom):
    """The request per scheduler for a step that needed max_kb: plus headroom %, rounded up."""
    need = -(-max_kb * 1024 * (100 + headroom) // 100)  # bytes
    mib = -(-need // (1 << 20))
    mb = -(-need // 1_000_000)
    return {"request_bytes": need,
            "slurm": f"--mem={mib // 1024}G" if mib % 1024 == 0 else f"--mem={mib}M",
            "snakemake": f"mem_mb={mb}",
            "nextflow": f"memory '{mib // 1024} GB'" if mib % 1024 == 0 else f"memory '{mib} MB'"}


def _key(by):
    if by == "label":
        return lambda r: r.label if r.label is not None else program(argv(r))
    if by == "program":
        return lambda r: program(argv(r))
    if by == "command":
        return lambda r: " ".join(argv(r))
    if by == "host":
        return lambda r: r.host or "?"
    return lambda r: job(r.batch)


def job(batch):
    """The job (Slurm: the job step) a run was, as its batch system names it; "?" outside one."""
    if "SLURM_JOB_ID" in batch:
        return _slurm_step(batch)
    if "PBS_JOBID" in batch:
        return batch["PBS_JOBID"]  # an array's subjob is already 123[4].server there
    if "JOB_ID" in batch:
        return _task(batch["JOB_ID"], batch.get("SGE_TASK_ID"), "{}.{}", "undefined")
    if "LSB_JOBID" in batch:
        return _task(batch["LSB_JOBID"], batch.get("LSB_JOBINDEX"), "{}[{}]", "0")
    return "?"


def is_batch_step(batch):
    """Whether a Slurm run is the batch script itself: Slurm sets SLURM_STEP_ID in srun's steps
    only."""
    return "SLURM_STEP_ID" not in batch


def _slurm_step(batch):
    """The step as sacct names it: 29.batch, 29.0; an array task's 29_5.batch."""
    job_id = batch["SLURM_JOB_ID"]  # an array task's own job id: sacct names it by the array's
    if "SLURM_ARRAY_JOB_ID" in batch and "SLURM_ARRAY_TASK_ID" in batch:
        job_id = f"{batch['SLURM_ARRAY_JOB_ID']}_{batch['SLURM_ARRAY_TASK_ID']}"
    return f"{job_id}.batch" if is_batch_step(batch) else f"{job_id}.{batch['SLURM_STEP_ID']}"


def _task(job_id, task, notation, none):
    """Grid Engine's 123.4, LSF's 123[4]; the job alone when the task variable says "no array"
    (Grid Engine sets it to "undefined", LSF to 0)."""
    return job_id if task in (None, none) else notation.format(job_id, task)


def _matches(run, where):
    for key, value in where:
        have = (run.label if key == "label" else program(argv(run)) if key == "program"
                else " ".join(argv(run)) if key == "command" else run.host if key == "host"
                else run.batch.get(key))
        if have != value:
            return False
    return True


def summarize(logs, by="label", where=(), headroom=20):
    """(steps sorted by need, records read, bad records, the first few as Bad with .place);
    OSError on a LOG that cannot be read."""
    key = _key(by)
    steps, runs, bad, places = {}, 0, 0, []
    for path in _paths(logs):
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")
        junk = False
        try:
            for item in records(stream, "-" if path == "-" else path):
                if isinstance(item, Bad):
                    # From lines that are no record up to the next good one, what cannot be
                    # read counts once: a binary file is one bad input.
                    if junk:
                        continue
                    junk = str(item) == NOT_A_RECORD
                    bad += 1
                    if len(places) < SHOWN_PLACES:
                        places.append(item)
                    continue
                junk = False
                runs += 1
                if where and not _matches(item, where):
                    continue
                k = key(item)
                step = steps.get(k)
                if step is None:
                    step = steps[k] = Step(k)
                step.add(item)
        except zlib.error as exc:
            bad += 1
            places.append(_bad(f"bad gzip data ({exc})", path, 0))
        finally:
            if path != "-":
                stream.close()
    out = [s.summary(headroom) for s in steps.values()]
    out.sort(key=lambda s: (-(s["request_bytes"] or -1), s["step"]))
    return out, runs, bad, places


def _mib(kb):
    return "-" if kb is None else f"{kb / 1024:.1f}"


def _secs(s):
    return "-" if s is None else f"{s:.1f}"


COLUMNS = ["step", "runs", "failed", "OOM killed", "no figure", "figure", "max MiB", "median MiB",
           "p95 MiB", "longest s", "total s", "Slurm", "Snakemake", "Nextflow", "need"]
# Words are left-aligned, numbers right-aligned.
LEFT = frozenset(["step", "figure", "Slurm", "Snakemake", "Nextflow", "need"])
BAR = 20
LOWER_BOUND = ">= "


def _cells(s, bar):
    return [s["step"], str(s["runs"]), str(s["failed"]), str(s["oom_killed"]),
            str(s["no_figure"]), s["source"] or "-", _mib(s["max_kb"]), _mib(s["median_kb"]),
            _mib(s["p95_kb"]), _secs(s["longest_s"]), _secs(s["total_s"]),
            _request(s, "slurm"), _request(s, "snakemake"), _request(s, "nextflow"), bar]


def _request(s, scheduler):
    """A request as the table shows it: >= in front where it is a lower bound."""
    if s[scheduler] is None:
        return "-"
    return LOWER_BOUND + s[scheduler] if s["lower_bound"] else s[scheduler]


def _bars(steps):
    """Each step's maximum as a bar, the largest BAR wide."""
    biggest = max((s["max_kb"] or 0 for s in steps), default=0) or 1
    return ["#" * -(-BAR * (s["max_kb"] or 0) // biggest) for s in steps]


def _notes(steps):
    """A line per step whose request is a lower bound, saying why."""
    return [_note(s) for s in steps if s["lower_bound"]]


def _note(s):
    n, more_than = s["oom_killed"], s["needs_more_than_kb"]
    known = "" if more_than is None else f", so it needs more than {_mib(more_than)} MiB"
    return (f"{s['step']}: {n} run{'s' if n != 1 else ''} killed by the OOM killer{known}: "
            f"its request ({LOWER_BOUND.strip()}) is a lower bound")


def _cell(text):
    return text.replace("\t", "\\t").replace("\n", "\\n")


def _tsv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):  # spelt as in the JSON format
        return "true" if value else "false"
    # A step named after a command may hold a tab or a line end: not in a TSV cell.
    return _cell(str(value))


def _json(steps):
    return json.dumps(steps, indent=1) + "\n"


def _tsv(steps):
    keys = list(steps[0]) if steps else []
    rows = ["\t".join(keys)] + ["\t".join(_tsv_cell(s[k]) for k in keys) for s in steps]
    return "\n".join(rows) + "\n"


def _markdown(steps):
    out = ["| " + " | ".join(COLUMNS) + " |",
           "|" + "|".join("---" if c in LEFT else "--:" for c in COLUMNS) + "|"]
    for s, bar in zip(steps, _bars(steps)):
        cells = _cells(s, "`" + bar + "`" if bar else "")
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    notes = _notes(steps)
    return "\n".join(out + ([""] + ["- " + n for n in notes] if notes else [])) + "\n"


def _table(steps):
    rows = [COLUMNS] + [_cells(s, bar) for s, bar in zip(steps, _bars(steps))]
    widths = [max(len(c) for c in col) for col in zip(*rows)]
    lines = ["  ".join(c.ljust(w) if name in LEFT else c.rjust(w)
                       for name, c, w in zip(COLUMNS, r, widths)).rstrip() for r in rows]
    notes = _notes(steps)
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


RENDER = {"table": _table, "tsv": _tsv, "json": _json, "markdown": _markdown}


def render(steps, fmt):
    """The summary as text in one of FORMATS."""
    return RENDER[fmt](steps)


def parse(args):
    """The report's options and LOG list."""
    opts = {"by": "label", "where": [], "headroom": 20, "format": "table", "help": False}
    logs = []
    args = list(args)
    while args:
        word = args.pop(0)
        if word == "--":
            logs += args
            break
        if not word.startswith("--"):
            logs.append(word)
            continue
        name, eq, value = word[2:].partition("=")
        if name == "help":
            opts["help"] = True
            continue
        if name not in ("by", "where", "headroom", "format"):
            raise UsageError(f"report: unrecognized option '{word}'")
        if not eq:
            if not args:
                raise UsageError(f"report: option '--{name}' needs a value")
            value = args.pop(0)
        if name == "by" and value not in BY:
            raise UsageError(f"report: --by takes {', '.join(BY)}, not '{value}'")
        if name == "format" and value not in FORMATS:
            raise UsageError(f"report: unknown format '{value}' ({', '.join(FORMATS)})")
        if name == "headroom":
            if not value.rstrip("%").isdigit():
                raise UsageError(f"report: --headroom takes a whole percentage, not '{value}'")
            value = int(value.rstrip("%"))
        if name == "where":
            k, sep, v = value.partition("=")
            if not sep or not k:
                raise UsageError(f"report: --where takes KEY=VALUE, not '{value}'")
            opts["where"].append((k, v))
            continue
        opts[name] = value
    if not logs and not opts["help"]:
        raise UsageError("report: no LOG given (use - for standard input)")
    return opts, logs


def main(args, say):
    """Run the report; returns the exit status. say() prints one prefixed line on stderr."""
    opts, logs = parse(args)
    # Like any filter: ^C or a reader that went away (| head) ends it, without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if opts["help"]:
        sys.stdout.write(HELP)
        return 0
    try:
        steps, runs, bad, places = summarize(logs, opts["by"], opts["where"], opts["headroom"])
    except OSError as exc:
        say(f"report: cannot read '{exc.filename}': {exc.strerror}")
        return 125
    if bad:
        shown = ", ".join(f"{b.place[0]}:{b.place[1]}: {b}" for b in places)
        more = ", ..." if bad > len(places) else ""
        say(f"report: skipped {bad} unreadable record{'s' if bad != 1 else ''} ({shown}{more})")
    if not runs:
        say("report: no readable record found")
        return 1
    if not steps:
        say("report: no record matches --where")
        return 1
    sys.stdout.write(render(steps, opts["format"]))
    return 0
