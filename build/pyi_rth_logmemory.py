# PyInstaller run-time hook for dist/logmemory: undo what the onefile bootloader would otherwise
# add to the command's run. It runs in the Python process before any of logmemory's code.
#
# Normally (build/bootloader: the per-user cache) the bootloader has run Python in the process the
# caller started. Where that cache cannot be used, the stock onefile way is the fallback: the
# bootloader (the pid the caller started) unpacks the bundle into a per-run _MEIxxxxxx, starts this
# Python process with a modified environment, waits for it, and at the end re-raises the signal that
# killed it, so the caller sees the same death.
#
# First, the cyclic garbage collector goes off until logmemory's imports are done (the entry script
# written by build/logmemory.spec freezes what they made and switches it back on): the imports make
# thousands of tracked objects and no garbage worth collecting, yet each 700 allocations start a
# collection that walks the young ones, and every tenth one the older ones too: ~2 ms of each start.
import gc

gc.disable()

import os  # noqa: E402
import sys  # noqa: E402


def _restore_environ(environ=os.environ):
    """Give the command the caller's environment, untouched.

    The bootloader sets LD_LIBRARY_PATH=<_MEIxxxxxx> (keeping an earlier value in
    LD_LIBRARY_PATH_ORIG) and _PYI_* bookkeeping variables. Left there, they reach the measured
    command: its libraries could be resolved from our temporary directory, and a command that is
    itself a PyInstaller program (logmemory wrapping logmemory) would take itself for our child and
    skip its own unpacking. They are only read at start-up, so they can go now.
    """
    saved = environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if saved is not None:
        environ["LD_LIBRARY_PATH"] = saved
    elif environ.get("LD_LIBRARY_PATH") == sys._MEIPASS:
        # The bootloader treats an empty value as unset, so an empty one comes back unset. The
        # per-user cache sets none: the caller's value stays.
        environ.pop("LD_LIBRARY_PATH")
    for name in [name for name in environ if name.startswith("_PYI_")]:
        del environ[name]


def _no_core_from_bootloader():
    """Switch off core dumps of the bootloader.

    logmemory ends itself with the command's signal with core dumps off; the bootloader then
    re-raises that signal with the caller's core limit, so under `ulimit -c unlimited` a command
    dying of SIGSEGV/SIGABRT/SIGQUIT left a 500 kB core of the bootloader in the current
    directory, and the caller saw WCOREDUMP where `python -m logmemory` gives none. Lower the
    bootloader's soft limit, and only if the parent really is this executable's bootloader.
    """
    if not os.path.basename(sys._MEIPASS).startswith("_MEI"):
        return  # no bootloader parent: it unpacked to the per-user cache and became us
    import resource

    ppid = os.getppid()
    try:
        if os.readlink("/proc/%d/exe" % ppid) != os.readlink("/proc/self/exe"):
            return
        _, hard = resource.prlimit(ppid, resource.RLIMIT_CORE)
        resource.prlimit(ppid, resource.RLIMIT_CORE, (0, hard))
    except OSError:
        pass  # not ours to change (another user, a hardened /proc): keep the caller's limit


def _hold_signals(environ=os.environ):
    """The bootloader has held every signal since its first instruction (build/bootloader:
    pyi_user_cache_hold_signals) and says what the caller's mask was; the command gets that."""
    from logmemory import _signals

    caller = environ.get("_PYI_LOGMEMORY_SIGMASK")
    _signals.hold(int(caller, 16) if caller else None)


_hold_signals()
_restore_environ()
_no_core_from_bootloader()
del _hold_signals, _restore_environ, _no_core_from_bootloader
