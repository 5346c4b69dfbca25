"""Domain errors raised below the CLI; only cli.py turns them into exit codes."""

from logmemory.signames import name


class LogMemoryError(Exception):
    """A failure of logmemory itself (exit status 125)."""


class CannotRun(LogMemoryError):
    """The command could not be started; errno says whether it was not found or not executable."""

    def __init__(self, command, errno, strerror):
        super().__init__(f"cannot run '{command}': {strerror}")
        self.errno = errno


class ProcessGone(LogMemoryError):
    """The process (or its /proc entry) no longer exists."""


class AccessDenied(LogMemoryError):
    """/proc refused to show the process."""


class Unreadable(LogMemoryError):
    """/proc could not be read for another reason (out of file descriptors, of memory)."""


class Interrupted(LogMemoryError):
    """A fatal signal reached logmemory before the command started: it was not started."""

    def __init__(self, sig):
        super().__init__(f"{name(sig)} received before the command started: it was not run")
        self.sig = sig
