"""The signal thread: passes the signals sent to logmemory on to the command, once; samples RSS."""

import _thread
import os
import time

from logmemory import _signals, procfs
from logmemory.errors import LogMemoryError

# What a terminal sends to its foreground process group (si_code SI_KERNEL): the command, in
# that group too, has its own copy.
TERMINAL_SIGNALS = {_signals.SIGINT, _signals.SIGQUIT, _signals.SIGHUP}
SI_KERNEL = 0x80
# How long a signal sent to our whole process group may take to show in the command.
GROUP_SIGNAL_WAIT = 0.05
# How recent a delivery or terminal signal must be to count as the same signal.
SAME_SIGNAL = 0.5


class Relay:
    """Forwards every signal logmemory holds (see _signals.HELD) to the command.

    The event loop tells it when the command starts and ends, and which signals reached the
    command directly (its signal-delivery stops); it reads nothing else of the loop's."""

    def __init__(self, clock, relay_pid=None, sample=None, sample_s=None):
        self.clock = clock
        self.relay_pid = relay_pid    # a process that passes on every signal it gets (bootloader)
        self.sample = sample          # called every sample_s seconds, if given
        self.sample_s = sample_s
        self.lock = _thread.allocate_lock()
        self.started = _thread.allocate_lock()
        self.started.acquire()        # released once there is a command to signal (or never)
        self.targets = ()             # pids to signal
        self.delivered = {}           # signal -> (sender pid, when) it last reached the command
        self.tty_at = {}              # signal -> when a terminal last sent it to our group
        self.done = False
        self.broken = None            # a bug of ours in this thread; signals are then lost

    def start(self):
        _thread.start_new_thread(self._run, ())
        # pthread_create() gives the creating thread back its mask without 32 and 33.
        _signals.sigprocmask(_signals.SIG_BLOCK, _signals.HELD)

    def command_started(self, targets):
        with self.lock:
            self.targets = tuple(targets)
        if self.started.locked():
            self.started.release()

    def retarget(self, targets):
        """After the command ended (--wait-all): what is left of the job gets the signals."""
        with self.lock:
            self.targets = tuple(targets)

    def delivered_to_command(self, sig, sender):
        with self.lock:
            self.delivered[sig] = (sender, self.clock())

    def stop(self):
        self.done = True
        if self.started.locked():
            self.started.release()

    def _run(self):
        # glibc unblocks signal 32 (its SIGCANCEL) in every new thread: hold it here too.
        _signals.sigprocmask(_signals.SIG_BLOCK, _signals.HELD)
        try:
            if self.sample:
                self.sample()
            while not self.done:
                info = _signals.sigtimedwait(_signals.HELD, self.sample_s or 0.5)
                if info is not None and not self.done and not _signals.sent_by_us(info):
                    self._forward(info.si_signo, info.si_code, info.si_pid)
                if self.sample and not self.done:
                    self.sample()
        except Exception as exc:  # the job must not pay for it; the loop reports it
            self.broken = f"internal error in the signal thread ({type(exc).__name__}: {exc})"

    def _pending_in_command(self, sig):
        with self.lock:
            targets = self.targets
        try:
            return bool(targets) and procfs.read_pending(targets[0]) >> (sig - 1) & 1
        except LogMemoryError:
            return False

    def _forward(self, sig, code, sender):
        if code == SI_KERNEL and sig in TERMINAL_SIGNALS and not (
                sig == _signals.SIGHUP and os.getsid(0) == os.getpid()):
            # A hangup reaches the session leader alone: when that is us, the command has none.
            self.tty_at[sig] = self.clock()
            return
        self.started.acquire()  # until the launcher has started the command
        self.started.release()
        if self.done:
            return
        # kill(-pgrp) reaches the command directly too: its signal-delivery stop shows it. The
        # bootloader (relay_pid) passes on every signal it gets, so its copy is a duplicate
        # whoever sent the original.
        relayed = sender == self.relay_pid
        if relayed and self.clock() - self.tty_at.pop(sig, -1.0) < SAME_SIGNAL:
            return
        deadline = self.clock() + GROUP_SIGNAL_WAIT
        while True:
            with self.lock:
                by, at = self.delivered.get(sig, (None, -1.0))
            if (relayed or by == sender) and self.clock() - at < SAME_SIGNAL:
                return
            if self._pending_in_command(sig):
                return  # it has its copy, blocked or not yet taken: no delivery stop shows it
            if self.clock() >= deadline:
                break
            time.sleep(0.002)
        with self.lock:
            targets = self.targets
        for pid in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

