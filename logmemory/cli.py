"""Command line: parse options, run the command under the tracer, write the record, exit as it did."""

import _thread
import errno
import os
import stat
import sys
import time

from logmemory import _signals, exitcodes, job, logfile, record, spawn, writer
from logmemory.errors import CannotRun, Interrupted, LogMemoryError

USAGE = ("Usage: logmemory -o LOGFILE [OPTION]... [--] COMMAND [ARG]...\n"
         "  or:  logmemory report [OPTION]... LOG...")

HELP = f"""{USAGE}
Run COMMAND and append the RAM high-water mark it reached to LOGFILE.

  -o, --output=LOGFILE   append the record to LOGFILE (created if missing); if
                         LOGFILE is a directory, write it to a new file of its own
                         there, named so that no two runs collide
      --format=FORMAT    text (default), legacy (the original tool's lines only),
                         json (one object per line) or snakemake (Snakemake's
                         benchmark TSV, its header once in a new file)
      --label=NAME       name the step this run belongs to, for `logmemory report`
      --record=FILE      also write the record as JSON to FILE, replacing it;
                         -o is optional then
      --no-trace         do not use ptrace (for setuid/setcap commands): MaxRSS
                         only, and it includes what the command inherited at fork
      --no-follow        trace the command only, not the processes it starts
      --wait-all         wait for every descendant, also those that outlive the
                         command, and measure them (as their subreaper)
      --per-process      add one line per process to the text record
      --sample=MS        where no memory cgroup can be made for the job, sum the
                         PSS of its live processes every MS milliseconds for the
                         job's concurrent peak (labelled "sampled PSS every MS ms")
      --no-cgroup        make no cgroup for the job and change none (for callers
                         that manage cgroups themselves)
      --help             display this help and exit
      --version          output version information and exit

Options end at the first word that is not an option, or at "--". `logmemory
report --help` describes the report over the logs.

The record: VmPeak and VmHWM are the lines of /proc/PID/status at the command's
exit, verbatim; they belong to the last program the process ran (after exec).
MaxRSS is the kernel's ru_maxrss (wait4) over the process's whole life, in kB.
GNU time 1.7 printed this figure four times too large (it took kB for pages).
A process forked from a large one starts with the pages it inherited counted;
logmemory forks the command from a small shell, so MaxRSS matches
'/usr/bin/time -f %M' within about 1 MiB. Under ptrace without CAP_SYS_PTRACE
the kernel runs setuid/setcap programs without their privileges: logmemory warns
and --no-trace avoids it.

{exitcodes.EPILOG}
"""

# Long option -> takes a value. getopt's own module pulls in gettext; start-up time matters here.
LONG_OPTIONS = {"output": True, "format": True, "record": True, "no-trace": False,
                "no-follow": False, "wait-all": False, "sample": True, "per-process": False,
                "help": False, "version": False, "label": True, "no-cgroup": False}


class UsageError(Exception):
    pass


def _options(args):
    """Yield (name, value) like getopt "+o:" with GNU long options; leave the command in args."""
    while args and args[0].startswith("-") and args[0] != "-":
        word = args.pop(0)
        if word == "--":
            return
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            matches = [o for o in LONG_OPTIONS if o.startswith(name)]
            if name not in LONG_OPTIONS and len(matches) != 1:
                raise UsageError(f"Aborting: unrecognized option '{word}'")
            name = name if name in LONG_OPTIONS else matches[0]
            if not LONG_OPTIONS[name]:
                if eq:
                    raise UsageError(f"Aborting: option '--{name}' doesn't allow an argument")
                yield name, None
                continue
        elif word[1] == "o":
            name, eq, value = "output", bool(word[2:]), word[2:]
        else:
            raise UsageError(f"Aborting: unrecognized option '-{word[1]}'")
        if not eq:
            if not args:
                raise UsageError(f"Aborting: argument for option {word} is missing")
            value = args.pop(0)
        yield name, value


def parse(args):
    """Options up to the first word that is not one (or "--"), then the command."""
    args = list(args)
    settings = {"output": None, "format": "text", "record": None, "no-trace": False,
                "no-follow": False, "wait-all": False, "sample": None, "per-process": False,
                "help": False, "version": False, "label": None, "no-cgroup": False}
    for name, value in _options(args):
        if name == "format" and value not in writer.FORMATS:
            raise UsageError(f"Aborting: unknown format '{value}' (text, legacy, json or snakemake)")
        if name == "label" and (not value or not value.isprintable()):
            raise UsageError("Aborting: --label takes a name of printable characters")
        if name == "sample":
            if not value.isdigit() or int(value) == 0:
                raise UsageError(f"Aborting: --sample takes milliseconds (a whole number > 0), "
                                 f"not '{value}'")
            value = int(value)
        settings[name] = True if value is None else value
    settings["command"] = args
    if settings["help"] or settings["version"]:
        return settings
    if not args:
        raise UsageError("Error: program to execute is missing. Exiting...")
    if not settings["output"] and not settings["record"]:
        raise UsageError("Error: log filename can't be empty")
    return settings


def version():
    """The version, from pyproject.toml (its one source): beside the package in a checkout and
    in the binary's bundle; from the installed metadata otherwise."""
    pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "pyproject.toml")
    try:
        with open(pyproject, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    # The lines the Makefile reads as well (no TOML parser: tomllib's import alone costs ~20 ms).
    if 'name = "logmemory"' in lines:
        for line in lines:
            if line.startswith('version = "') and line.endswith('"'):
                return line[len('version = "'):-1]
    from importlib.metadata import version as installed_version
    return installed_version("logmemory")


def _say(message):
    """One line on stderr; a stderr that cannot take it (closed, full, a broken pipe) is no
    reason to change how logmemory ends."""
    _to_stderr(f"logmemory: {message}\n".encode())


def _to_stderr(data):
    try:
        os.write(2, data)
    except OSError:
        pass


def _open(path, flags, what):
    flags |= os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    try:
        if not _is_fifo(path):
            return os.open(path, flags, 0o666)
        # A FIFO blocks open() until a reader comes, with every signal held: wait for the reader
        # here instead, where a signal can still end us (the command has not started), within
        # 10 ms for the first second, then 100 ms (each look costs ~0.2 ms of CPU).
        started = time.monotonic()
        while True:
            try:
                fd = os.open(path, flags | os.O_NONBLOCK)
                os.set_blocking(fd, True)
                return fd
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
            sig = _signals.take_interrupt()
            if sig is not None:
                raise Interrupted(sig)
            time.sleep(0.01 if time.monotonic() - started < 1 else 0.1)
    except OSError as exc:
        raise LogMemoryError(f"cannot open {what} '{path}': {exc.strerror}") from None


def _is_fifo(path):
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _open_log(path, fmt):
    """The log's descriptor and path; in a directory, a new file that no other run can pick."""
    if not os.path.isdir(path):
        return _open(path, os.O_APPEND, "log file"), path
    stamp = time.strftime("%Y%m%dT%H%M%S")
    suffix = {"json": ".json", "snakemake": ".tsv"}.get(fmt, ".log")
    while True:  # O_EXCL: a name some other run took (in all likelihood never) is drawn again
        name = os.path.join(path, f"{stamp}-{os.uname().nodename}-{os.getpid()}-"
                                  f"{os.urandom(4).hex()}{suffix}")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
        except OSError as exc:
            raise LogMemoryError(f"cannot create a log file in '{path}': {exc.strerror}") from None


def _write(fd, path, data, append=True):
    """Write the record whole or not at all; if it cannot go there, it goes to stderr instead."""
    try:
        (logfile.append if append else logfile.replace)(fd, data)
    except OSError as exc:
        _say(f"cannot write to '{path}': {exc.strerror or exc}; the record follows")
        _to_stderr(data)
        if not append:
            _remove_empty(path)


def _remove_empty(path):
    """A record file left empty by a failed write: no file rather than one that is not JSON."""
    try:
        if stat.S_ISREG(os.lstat(path).st_mode) and os.path.getsize(path) == 0:
            os.unlink(path)
    except OSError:
        pass


def _print(text):
    """--help and --version: a stdout that cannot take them is an error of ours (exit 1)."""
    try:
        data = text.encode()
        while data:
            data = data[os.write(1, data):]
    except OSError as exc:
        _say(f"write error: {exc.strerror}")
        os._exit(1)
    os._exit(0)


def _bootloader_pid():
    """The one-file bootloader's pid if it waits as our parent, relaying signals (it then unpacked
    to a per-run _MEIxxxxxx); with the per-user unpack cache, our parent is the caller."""
    if os.path.basename(getattr(sys, "_MEIPASS", "")).startswith("_MEI"):
        return os.getppid()
    return None


def _usage_error(message, help_command):
    _say(message)
    _to_stderr(f"Try '{help_command}' for more information.\n".encode())
    os._exit(exitcodes.FAILURE)


def main(args=None):
    """Entry point; the only place that exits."""
    # First: from here on a signal for logmemory waits for us, whatever moment it comes.
    _signals.hold()
    args = sys.argv[1:] if args is None else args
    if args[:1] == ["report"]:
        # A filter like any other: signals act on it as the caller left them.
        _signals.sigprocmask(_signals.SIG_SETMASK, _signals.caller_mask)
        from logmemory import report  # only here: a measured command never pays for it
        try:
            sys.exit(report.main(args[1:], _say))
        except report.UsageError as exc:
            _usage_error(str(exc), "logmemory report --help")
    try:
        settings = parse(args)
    except UsageError as exc:
        _usage_error(str(exc), "logmemory --help")
    if settings["help"]:
        _print(HELP)
    if settings["version"]:
        _print(f"logmemory {version()}\n")
    argv = [os.fsencode(a) for a in settings["command"]]
    log_fd = record_fd = None
    try:
        # Either may be descriptor 0 when we were started with stdin closed.
        log_fd, log_path = _open_log(settings["output"], settings["format"]) \
            if settings["output"] else (None, None)
        record_fd = _open(settings["record"], 0, "record file") if settings["record"] else None
        path = spawn.resolve(argv[0])
        if not settings["no-trace"] and spawn.loses_privileges(path):
            _say(f"warning: '{os.fsdecode(path)}' is setuid/setcap; traced without CAP_SYS_PTRACE "
                 "it runs without those privileges (use --no-trace)")
        json_needed = settings["record"] or settings["format"] == "json"
        # One record a run: the one written when a batch step's script ended (batchstep.py,
        # from its thread: Slurm's SIGKILL follows), or the one written at the end.
        written, writing = {"early": False, "final": False}, _thread.allocate_lock()

        def early(snapshot):
            with writing:
                if snapshot is not None and not written["final"]:
                    written["early"] = True
                    _emit(snapshot, settings, log_fd, log_path, record_fd)
        run = job.run(argv, path, trace=not settings["no-trace"],
                      follow=not settings["no-follow"], wait_all=settings["wait-all"],
                      sample_ms=settings["sample"], use_cgroup=not settings["no-cgroup"],
                      # Text and legacy records name one process; JSON and --per-process all.
                      all_cmdlines=bool(json_needed or settings["per-process"]),
                      relay_pid=_bootloader_pid(), early=early)
    except (CannotRun, Interrupted, LogMemoryError) as exc:
        _say(str(exc))
        if record_fd is not None:
            _write(record_fd, settings["record"], writer.not_run(argv, str(exc)), append=False)
        if isinstance(exc, Interrupted):
            os._exit(exitcodes.die_like(exc.sig))
        if isinstance(exc, CannotRun):
            os._exit(exitcodes.NOT_FOUND if exc.errno == errno.ENOENT
                     else exitcodes.CANNOT_EXECUTE)
        os._exit(exitcodes.FAILURE)
    for warning in run.warnings:
        _say(f"warning: {warning}")
    with writing:
        written["final"] = True
        if not written["early"]:
            _emit(run, settings, log_fd, log_path, record_fd)
    # os._exit: nothing is left to clean up, and interpreter shutdown costs milliseconds per job.
    os._exit(exitcodes.die_like(run.wait_status))


def _emit(run, settings, log_fd, log_path, record_fd):
    """Write the run's record to the log and the --record file."""
    run = run.replace(label=settings["label"], host=os.uname().nodename,
                      batch=record.batch_ids(os.environ))
    if log_fd is not None:
        data = writer.render(run, settings["format"], settings["per-process"])
        if settings["format"] == "snakemake" and os.fstat(log_fd).st_size == 0:
            data = writer.SNAKEMAKE_HEADER + data
        _write(log_fd, log_path, data)
    if record_fd is not None:
        _write(record_fd, settings["record"], writer.render(run, "json"), append=False)
