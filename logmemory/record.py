"""The measurement of one run: plain frozen data, no I/O."""

import os
import time

from logmemory.signames import name as signal_name  # noqa: F401 (writer uses it)
from logmemory.value import Value, value

_FIELDS = [
    "argv",             # tuple of bytes, as given
    "ended",            # time.struct_time, local time (with tm_gmtoff)
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
    "tree",             # Tree: the job as a whole
    "processes",        # ProcessRecord for every process followed, in order of creation
    "label",            # the step's name, from --label
    "host",             # the node's name (uname)
    "batch",            # batch variable -> value, for those of BATCH_VARIABLES that were set
]

# The job and step ids that batch systems set, as their manuals name them (Slurm; PBS Pro and
# Torque; Grid Engine; LSF). Grid Engine's JOB_ID is too generic a name to trust on its own: it
# counts only beside SGE_ROOT, which Grid Engine sets for every job.
BATCH_VARIABLES = ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
                   "PBS_JOBID", "PBS_ARRAY_INDEX", "PBS_ARRAYID", "JOB_ID", "SGE_TASK_ID",
                   "LSB_JOBID", "LSB_JOBINDEX")


def batch_ids(environ):
    """The batch system's ids for this run, from an environment mapping."""
    ids = {k: environ[k] for k in BATCH_VARIABLES if environ.get(k)}
    if "SGE_ROOT" not in environ:
        ids.pop("JOB_ID", None)
    return ids


# The whole job: counts, the largest single process, the concurrent peak with its source (and
# for "sampled", every how many ms; for a cgroup not made for the job, which one), and what the
# OOM killer did.
Tree = value("Tree", "processes threads max_vmhwm_kb max_vmhwm_pid max_vmhwm_cmd "
                     "peak_kb peak_source unmeasured oom sample_ms peak_cgroup",
             defaults={"processes": None, "threads": None, "max_vmhwm_kb": None,
                       "max_vmhwm_pid": None, "max_vmhwm_cmd": None, "peak_kb": None,
                       "peak_source": None, "unmeasured": {}, "oom": None, "sample_ms": None,
                       "peak_cgroup": None})

# The cgroup logmemory was started in, when its peak stands for the job's: its directory, whose
# it is, and what it held when the command started (logmemory itself, a batch step's shell).
SharedCgroup = value("SharedCgroup", "path owner held_kb")

# OOM kills in the job's cgroup; the limit that was hit and its cgroup, known only beside a kill;
# that cgroup's own kills where it, not the job's, was the one hit.
Oom = value("Oom", "kills limit_bytes cgroup cgroup_kills")

class ProcessRecord(Value):
    """One process of the job; maxrss_kb is wait4's, so it covers its waited-for children too."""

    __slots__ = ("pid", "ppid", "cmd", "vmhwm_kb", "vmpeak_kb", "maxrss_kb", "wait_status",
                 "threads", "start_s", "end_s")

    def to_dict(self):
        d = {"pid": self.pid, "ppid": self.ppid, "cmd": _strings(self.cmd),
             "vmhwm_kb": self.vmhwm_kb, "vmpeak_kb": self.vmpeak_kb, "maxrss_kb": self.maxrss_kb}
        d.update(_exit(self.wait_status))
        d.update({"threads": self.threads, "start_s": _round(self.start_s),
                  "end_s": _round(self.end_s)})
        return d


def _strings(argv):
    return None if argv is None else [a.decode("utf-8", "backslashreplace") for a in argv]


def _exit(status):
    """exit_code and signal of a wait status; both null while it is unknown (still running)."""
    if status is None:
        return {"exit_code": None, "signal": None}
    if os.WIFSIGNALED(status):
        return {"exit_code": None, "signal": signal_name(os.WTERMSIG(status))}
    return {"exit_code": os.WEXITSTATUS(status), "signal": None}



class Run(Value):
    """What logmemory measured about one command; None means not measured (see unmeasured)."""

    __slots__ = tuple(_FIELDS)
    DEFAULTS = {**dict.fromkeys(_FIELDS[2:], None), "unmeasured": {}, "warnings": (),
                "processes": (), "batch": {}}

    @property
    def exit_code(self):
        return _exit(self.wait_status)["exit_code"]

    @property
    def core_dumped(self):
        """None while the command's end is unknown (a record written before it)."""
        if self.wait_status is None:
            return None
        return os.WIFSIGNALED(self.wait_status) and os.WCOREDUMP(self.wait_status)

    def need(self):
        """(kB, source) of the figure a memory request is based on, best first; (None, None)."""
        tree = self.tree or Tree()
        for kb, source in ((tree.peak_kb, "TreePeak"), (tree.max_vmhwm_kb, "TreeMaxVmHWM"),
                           (self.vmhwm_kb, "VmHWM"), (self.maxrss_kb, "MaxRSS")):
            if kb is not None:
                return kb, source
        return None, None

    def to_dict(self):
        """The JSON form: every key always present, null where not measured."""
        d = {
            "date": iso8601(self.ended),
            "cmd": _strings(self.argv),
            "label": self.label,
            "host": self.host,
            "batch": dict(self.batch),
            "pid": self.pid,
            **_exit(self.wait_status),
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
        if self.tree is not None:
            t = self.tree
            d["tree"] = {
                "processes": t.processes, "threads": t.threads,
                "max_vmhwm_kb": t.max_vmhwm_kb, "max_vmhwm_pid": t.max_vmhwm_pid,
                "max_vmhwm_cmd": _strings(t.max_vmhwm_cmd),
                "peak_kb": t.peak_kb, "peak_source": t.peak_source,
                "peak_unavailable_reason": t.unmeasured.get("peak_kb"),
                "peak_sample": {"every_ms": t.sample_ms, "of": "pss"}
                if t.peak_source == "sampled" else None,
                "peak_cgroup": None if t.peak_cgroup is None else {
                    "path": t.peak_cgroup.path, "owner": t.peak_cgroup.owner,
                    "held_kb": t.peak_cgroup.held_kb},
                "oom": _oom(t.oom),
                "unmeasured": dict(t.unmeasured),
            }
            d["processes"] = [p.to_dict() for p in self.processes]
        return d


def _oom(oom):
    if oom is None:
        return None
    return {"kills": oom.kills, "limit_kb": None if oom.limit_bytes is None else oom.limit_bytes // 1024,
            "cgroup": oom.cgroup, "cgroup_kills": oom.cgroup_kills}


def iso8601(t):
    """2013-02-11T21:17:55+01:00 from a struct_time with tm_gmtoff."""
    offset = abs(t.tm_gmtoff)
    sign = "-" if t.tm_gmtoff < 0 else "+"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f"{sign}{offset // 3600:02d}:{offset // 60 % 60:02d}"


def _round(seconds):
    return None if seconds is None else round(seconds, 6)
