"""Command line: parse options, run the command under the tracer, write the record, exit as it did."""

import errno
import os
import sys

from logmemory import exitcodes, spawn, tracer, writer
from logmemory.errors import CannotRun, LogMemoryError

USAGE = "Usage: logmemory -o LOGFILE [OPTION]... [--] COMMAND [ARG]..."

HELP = f"""{USAGE}
Run COMMAND and append the RAM high-water mark it reached to LOGFILE.

  -o, --output=LOGFILE   append the record to LOGFILE (created if missing)
      --format=FORMAT    text (default), legacy (the original tool's lines only)
                         or json (one object per line)
      --record=FILE      also write the record as JSON to FILE, replacing it;
                         -o is optional then
      --no-trace         do not use ptrace (for setuid/setcap commands): MaxRSS
                         only, and it includes what the command inherited at fork
      --no-follow        trace the command only, not the processes it starts
      --wait-all         wait for every descendant, also those that outlive the
                         command, and measure them (as their subreaper)
      --per-process      add one line per process to the text record
      --sample=MS        where no memory cgroup can be made for the job, sum the
                         RSS of its live processes every MS milliseconds for the
                         job's concurrent peak (labelled "sampled")
      --no-cgroup        make no cgroup for the job and change none (for callers
                         that manage cgroups themselves)
      --help             display this help and exit
      --version          output version information and exit

Options end at the first word that is not an option, or at "--".

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
                "no-cgroup": False, "help": False, "version": False}


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
                "no-cgroup": False, "help": False, "version": False}
    for name, value in _options(args):
        if name == "format" and value not in writer.FORMATS:
            raise UsageError(f"Aborting: unknown format '{value}' (text, legacy or json)")
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
        import tomllib
        with open(pyproject, "rb") as f:
            project = tomllib.load(f)["project"]
        if project.get("name") == "logmemory":
            return project["version"]
    except OSError:
        pass
    from importlib.metadata import version as installed_version
    return installed_version("logmemory")


def _say(message):
    if sys.stderr is not None:  # None when we were started with descriptor 2 closed
        sys.stderr.write(f"logmemory: {message}\n")
        sys.stderr.flush()


def _open(path, flags, what):
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | flags, 0o666)
    except OSError as exc:
        raise LogMemoryError(f"cannot open {what} '{path}': {exc.strerror}") from None


def _write(fd, path, data):
    """Append data; if that fails, the record must not be lost: it goes to stderr instead."""
    try:
        writer.append(fd, data)
    except OSError as exc:
        _say(f"cannot write to '{path}': {exc.strerror or exc}; the record follows")
        if sys.stderr is not None:
            sys.stderr.buffer.write(data)
            sys.stderr.flush()


def main(args=None):
    """Entry point; the only place that exits."""
    args = sys.argv[1:] if args is None else args
    try:
        settings = parse(args)
    except UsageError as exc:
        _say(str(exc))
        if sys.stderr is not None:
            sys.stderr.write("Try 'logmemory --help' for more information.\n")
        sys.exit(exitcodes.FAILURE)
    if settings["help"]:
        sys.stdout.write(HELP)
        sys.exit(0)
    if settings["version"]:
        sys.stdout.write(f"logmemory {version()}\n")
        sys.exit(0)
    argv = [os.fsencode(a) for a in settings["command"]]
    try:
        # Either may be descriptor 0 when we were started with stdin closed.
        log_fd = _open(settings["output"], os.O_APPEND, "log file") if settings["output"] else None
        record_fd = _open(settings["record"], os.O_TRUNC, "record file") if settings["record"] \
            else None
        path = spawn.resolve(argv[0])
        if not settings["no-trace"] and spawn.loses_privileges(path):
            _say(f"warning: '{os.fsdecode(path)}' is setuid/setcap; traced without CAP_SYS_PTRACE "
                 "it runs without those privileges (use --no-trace)")
        run = tracer.trace(argv, path, trace=not settings["no-trace"],
                           follow=not settings["no-follow"], wait_all=settings["wait-all"],
                           sample_ms=settings["sample"], use_cgroup=not settings["no-cgroup"],
                           # Text and legacy records name one process; JSON and --per-process all.
                           all_cmdlines=bool(settings["record"] or settings["per-process"]
                                             or settings["format"] == "json"),
                           relay_pid=os.getppid() if getattr(sys, "frozen", False) else None)
    except CannotRun as exc:
        _say(str(exc))
        sys.exit(exitcodes.NOT_FOUND if exc.errno == errno.ENOENT else exitcodes.CANNOT_EXECUTE)
    except LogMemoryError as exc:
        _say(str(exc))
        sys.exit(exitcodes.FAILURE)
    for warning in run.warnings:
        _say(f"warning: {warning}")
    if log_fd is not None:
        _write(log_fd, settings["output"], writer.render(run, settings["format"], settings["per-process"]))
    if record_fd is not None:
        _write(record_fd, settings["record"], writer.render(run, "json"))
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    # os._exit: nothing is left to clean up, and interpreter shutdown costs milliseconds per job.
    os._exit(exitcodes.die_like(run.wait_status))
