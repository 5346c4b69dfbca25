"""The measurement of one run: plain frozen data, no I/O."""

import os
import signal
from collections import namedtuple

_FIELDS = [
    "argv",             # tuple of bytes, as given
    "ended",            # datetime, local and timezone-aware
    "wait_status",
    "pid",
    "vmpeak_line",      # rest of the /proc status line, verbatim
    "vmhwm_line",
    "vmpeak_kb",
    "vmhwm_kb",
    "maxrss_kb",
    "maxrss_floor_kb",  # memory inherited at fork that ru_maxrss already counts
    "elapsed_s",
    "user_s",
    "sys_s",
    "unmeasured",       # field name -> why it is None
    "warnings",         # said once on stderr; not part of the record
]


class Run(namedtuple("Run", _FIELDS, defaults=(None,) * 11 + ({}, ()))):
    """What logmemory measured about one command; None means not measured (see unmeasured)."""

    __slots__ = ()

    @property
    def exit_code(self):
        return os.WEXITSTATUS(self.wait_status) if os.WIFEXITED(self.wait_status) else None

    @property
    def signal(self):
        return os.WTERMSIG(self.wait_status) if os.WIFSIGNALED(self.wait_status) else None

    @property
    def signal_name(self):
        sig = self.signal
        if sig is None:
            return None
        try:
            return signal.Signals(sig).name
        except ValueError:
            return f"SIG{sig}"

    @property
    def core_dumped(self):
        return os.WIFSIGNALED(self.wait_status) and os.WCOREDUMP(self.wait_status)

    def to_dict(self):
        """The JSON form: every key always present, null where not measured."""
        d = {
            "date": self.ended.isoformat(timespec="seconds"),
            "cmd": [a.decode("utf-8", "backslashreplace") for a in self.argv],
            "pid": self.pid,
            "exit_code": self.exit_code,
            "signal": self.signal_name,
            "core_dumped": self.core_dumped,
            "vmpeak_kb": self.vmpeak_kb,
            "vmhwm_kb": self.vmhwm_kb,
            "maxrss_kb": self.maxrss_kb,
            "elapsed_s": _round(self.elapsed_s),
            "user_s": _round(self.user_s),
            "sys_s": _round(self.sys_s),
        }
        if self.maxrss_floor_kb is not None:
            d["maxrss_floor_kb"] = self.maxrss_floor_kb
        d["unmeasured"] = dict(self.unmeasured)
        return d


def _round(seconds):
    return None if seconds is None else round(seconds, 6)
