"""The CLI contract: exit statuses, death by signal, usage errors; run through the real program."""

import os
import signal
import subprocess

import pytest

from conftest import json_records


@pytest.mark.parametrize("code", [0, 1, 3, 5, 100, 123, 125, 126, 128, 255])
def test_exit_code_is_the_commands(lm, log, memhog, code):
    r = lm("-o", str(log), memhog, "-e", str(code))
    assert r.returncode == code
    assert r.stdout == b"" and r.stderr == b""
    assert json_records_of(lm, log, memhog, code)["exit_code"] == code


def json_records_of(lm, log, memhog, code):
    jlog = log.with_suffix(".json")
    lm("--format", "json", "-o", str(jlog), memhog, "-e", str(code))
    (rec,) = json_records(jlog)
    return rec


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT])
def test_death_by_signal_is_seen_by_the_caller(lm, log, memhog, sig, tmp_path):
    r = lm("--format", "json", "-o", str(log), memhog, "-m", "8", "-s", str(int(sig)),
           cwd=tmp_path)
    assert r.returncode == -sig, r.stderr     # subprocess: WIFSIGNALED with that signal
    assert r.stderr == b""                     # no "Killed"/"Terminated" from inside logmemory
    (rec,) = json_records(log)
    assert rec["signal"] == sig.name and rec["exit_code"] is None
    assert rec["maxrss_kb"] >= 8 * 1024
    # The exit stop comes for every one of these deaths, SIGKILL included.
    assert rec["vmhwm_kb"] >= 8 * 1024


def test_caller_sees_signal_through_a_shell(lm_cmd, log, memhog):
    """The Perl idiom runs logmemory through sh: the shell must see a signal death too."""
    from conftest import logmemory_env
    cmd = " ".join([*lm_cmd, "-o", str(log), memhog, "-s", "15"])
    r = subprocess.run(["sh", "-c", cmd + "; echo $?"], stdout=subprocess.PIPE, env=logmemory_env())
    assert r.stdout.strip() == b"143"


def test_command_not_found_is_127(lm, log):
    r = lm("-o", str(log), "no-such-command-xyz")
    assert r.returncode == 127
    assert r.stderr == b"logmemory: cannot run 'no-such-command-xyz': No such file or directory\n"
    assert not log.exists() or log.read_bytes() == b""


def test_command_not_executable_is_126(lm, log, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    r = lm("-o", str(log), str(script))
    assert r.returncode == 126
    assert r.stderr == f"logmemory: cannot run '{script}': Permission denied\n".encode()
    r = lm("-o", str(log), str(tmp_path))
    assert r.returncode == 126 and b"Is a directory" in r.stderr


@pytest.mark.parametrize("args, message", [
    ([], "Error: program to execute is missing. Exiting..."),
    (["-o", "x.log"], "Error: program to execute is missing. Exiting..."),
    (["-o"], "Aborting: argument for option -o is missing"),
    (["-q", "CMD"], "Aborting: unrecognized option '-q'"),
    (["--bogus", "CMD"], "Aborting: unrecognized option '--bogus'"),
    (["CMD"], "Error: log filename can't be empty"),
    (["-o", "", "CMD"], "Error: log filename can't be empty"),
    (["--format", "xml", "-o", "x.log", "CMD"], "Aborting: unknown format 'xml' (text, legacy, json or snakemake)"),
])
def test_usage_errors_exit_125_without_running(lm, tmp_path, args, message):
    marker = tmp_path / "ran"
    command = ["sh", "-c", f"touch {marker}"]
    r = lm(*[w for a in args for w in (command if a == "CMD" else [a])], cwd=tmp_path)
    assert r.returncode == 125
    assert r.stderr.decode().splitlines() == [
        f"logmemory: {message}", "Try 'logmemory --help' for more information."]
    assert not marker.exists()


def test_options_end_at_the_command(lm, log, tmp_path):
    """getopt "+o:": the command's own -o and -- pass through untouched."""
    out = tmp_path / "args"
    r = lm("-o", str(log), "sh", "-c", f'printf "%s\\n" "$@" > {out}', "sh", "-o", "x", "--", "-q")
    assert r.returncode == 0
    assert out.read_text().splitlines() == ["-o", "x", "--", "-q"]
    r = lm("-o", str(log), "--", "sh", "-c", "exit 4")
    assert r.returncode == 4


def test_long_options(lm, tmp_path):
    log = tmp_path / "long.log"
    assert lm(f"--output={log}", "--format=json", "true").returncode == 0
    assert json_records(log)[0]["cmd"] == ["true"]


def test_help_and_version_on_stdout(lm):
    r = lm("--help")
    assert r.returncode == 0 and r.stderr == b""
    text = r.stdout.decode()
    for needle in ("Usage: logmemory -o LOGFILE", "125", "126", "127", "ru_maxrss",
                   "four times too large", "--no-trace", "--record"):
        assert needle in text
    r = lm("--version")
    assert r.returncode == 0 and r.stdout.decode().startswith("logmemory ")


def test_unwritable_log_is_125_and_command_not_run(lm, tmp_path):
    marker = tmp_path / "ran"
    r = lm("-o", str(tmp_path / "no-dir" / "m.log"), "touch", str(marker))
    assert r.returncode == 125
    assert r.stderr.startswith(b"logmemory: cannot open log file '")
    assert b"No such file or directory" in r.stderr
    assert not marker.exists()


def test_stdin_stdout_stderr_and_environment_reach_the_command(lm, log):
    env = dict(__import__("conftest").logmemory_env(), LM_PROBE="probe-value")
    r = lm("-o", str(log), "sh", "-c", 'cat; echo "$LM_PROBE"; echo err >&2',
           input=b"from stdin\n", env=env)
    assert r.stdout == b"from stdin\nprobe-value\n"
    assert r.stderr == b"err\n"


def test_argv0_and_builtin_names_run_the_program(lm, log, tmp_path):
    """`echo` is a shell builtin in the launcher shell; the external program must run."""
    r = lm("-o", str(log), "--format", "json", "echo", "hi")
    assert r.stdout == b"hi\n"
    (rec,) = json_records(log)
    assert rec["vmhwm_kb"] is not None and rec["cmd"] == ["echo", "hi"]


@pytest.mark.parametrize("args, output, command", [
    (["-o", "m.log", "ls", "-o", "x"], "m.log", ["ls", "-o", "x"]),
    (["-om.log", "ls"], "m.log", ["ls"]),
    (["--output=m.log", "ls"], "m.log", ["ls"]),
    (["--out", "m.log", "--", "-ls"], "m.log", ["-ls"]),
    (["-o", "m.log", "-", "x"], "m.log", ["-", "x"]),
])
def test_parse(args, output, command):
    from logmemory.cli import parse
    settings = parse(args)
    assert settings["output"] == output and settings["command"] == command


def test_parse_rejects_a_value_for_a_flag():
    from logmemory.cli import UsageError, parse
    with pytest.raises(UsageError, match="'--no-trace' doesn't allow an argument"):
        parse(["--no-trace=1", "-o", "x", "ls"])


def test_setuid_command_warns_when_tracing_would_drop_its_privileges(lm_cmd, tmp_path):
    """Without CAP_SYS_PTRACE the kernel runs a traced setuid program without its privileges."""
    import shutil
    from conftest import logmemory_env
    prog = tmp_path / "suid-true"
    shutil.copy("/bin/true", prog)
    prog.chmod(0o4755)
    log = tmp_path / "m.log"
    drop = ["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"]
    r = subprocess.run([*drop, *lm_cmd, "-o", str(log), str(prog)], stderr=subprocess.PIPE,
                       env=logmemory_env())
    assert r.returncode == 0
    assert r.stderr.decode() == (
        f"logmemory: warning: '{prog}' is setuid/setcap; traced without CAP_SYS_PTRACE it runs "
        "without those privileges (use --no-trace)\n")
    r = subprocess.run([*drop, *lm_cmd, "--no-trace", "-o", str(log), str(prog)],
                       stderr=subprocess.PIPE, env=logmemory_env())
    assert r.returncode == 0 and r.stderr == b""
    r = subprocess.run([*lm_cmd, "-o", str(log), str(prog)], stderr=subprocess.PIPE,
                       env=logmemory_env())
    assert r.stderr == b""  # root here has CAP_SYS_PTRACE: nothing is lost, nothing to say


def test_environment_reaches_the_command_exactly(lm_cmd, tmp_path):
    """No PWD added or rewritten, names a shell cannot parse (bash functions) kept."""
    from conftest import ROOT
    env = {b"LANG": b"C.UTF-8", b"A": b"1", b"B C": b"2", b"BASH_FUNC_f%%": b"() {  echo x\n}",
           b"IFS": b"x", b"OPTIND": b"7", b"PPID": b"1", b"PYTHONPATH": str(ROOT).encode(),
           b"9X": b"3", b"\xc3\xa9": b"4", b"_u1": b"5"}
    for extra in ({}, {b"PWD": b"/stale"}):
        r = subprocess.run([*lm_cmd, "-o", str(tmp_path / "m.log"), "/usr/bin/env", "-0"],
                           env={**env, **extra}, cwd=tmp_path, stdout=subprocess.PIPE)
        assert r.returncode == 0
        got = [tuple(i.split(b"=", 1)) for i in r.stdout.split(b"\0") if i]
        assert dict(got) == {**env, **extra}
        if os.environ.get("LOGMEMORY_BIN"):  # python -m's launcher shell reorders it (README)
            assert got == list({**env, **extra}.items())


def test_environment_is_not_shown_in_process_arguments(lm, log, tmp_path):
    """/proc/PID/cmdline is readable by every local user; /proc/PID/environ is not."""
    from conftest import logmemory_env
    out = tmp_path / "cmdlines"
    script = f"cat /proc/[0-9]*/cmdline > {out} 2>/dev/null; true"
    r = lm("-o", str(log), "sh", "-c", script, env={**logmemory_env(), "LM_SECRET": "hunter2"})
    assert r.returncode == 0
    assert b"hunter2" not in out.read_bytes()


def test_command_name_with_an_equals_sign(lm, log, tmp_path):
    prog = tmp_path / "a=b"
    prog.write_text("#!/bin/sh\necho ran a=b\n")
    prog.chmod(0o755)
    r = lm("-o", str(log), str(prog), "echo", "other")
    assert r.returncode == 0 and r.stdout == b"ran a=b\n"


def test_empty_command_name_is_not_found(lm, log):
    r = lm("-o", str(log), "")
    assert r.returncode == 127
    assert r.stderr == b"logmemory: cannot run '': No such file or directory\n"


@pytest.mark.parametrize("fd", [0, 1, 2])
def test_closed_standard_descriptor(lm_cmd, tmp_path, fd):
    """The command runs with the same descriptor closed, and the record is written."""
    from conftest import logmemory_env
    log, ran = tmp_path / "m.log", tmp_path / "ran"
    cmd = [*lm_cmd, "-o", str(log), "sh", "-c", f"touch {ran}; exit 3"]
    r = subprocess.run(["sh", "-c", f'exec "$@" {fd}>&-', "sh", *cmd], env=logmemory_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 3, r.stderr
    assert ran.exists() and b"Exit:\t3\n" in log.read_bytes()


@pytest.mark.parametrize("sig", [32, 33, 34])
def test_death_by_a_signal_glibc_reserves(lm, log, tmp_path, sig):
    """Deaths by 32 and 33, which glibc keeps for itself, come back as deaths by signal too."""
    from test_faults import no_core
    assert subprocess.run(["sh", "-c", f"kill -{sig} $$"], preexec_fn=no_core).returncode == -sig
    r = lm("--format", "json", "-o", str(log), "sh", "-c", f"kill -{sig} $$", preexec_fn=no_core)
    assert r.returncode == -sig and b"Traceback" not in r.stderr
    assert json_records(log)[0]["signal"] in (f"SIG{sig}", "SIGRTMIN")
