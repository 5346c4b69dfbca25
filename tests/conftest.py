"""Fixtures: the program under test (package or binary), compiled test children, log readers."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HELPERS = Path(__file__).resolve().parent / "helpers"


def logmemory_command():
    """The program under test: $LOGMEMORY_BIN (the built binary) or `python -m logmemory`."""
    binary = os.environ.get("LOGMEMORY_BIN")
    return [binary] if binary else [sys.executable, "-m", "logmemory"]


def logmemory_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="session")
def lm_cmd():
    return logmemory_command()


@pytest.fixture
def lm(lm_cmd):
    """Run logmemory with args; returns CompletedProcess (stdout/stderr as bytes)."""
    def run(*args, timeout=120, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.run([*lm_cmd, *args], env=kw.pop("env", logmemory_env()),
                              timeout=timeout, **kw)
    return run


def _compile(tmp_path_factory, source, name, *flags):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the test children")
    out = tmp_path_factory.mktemp("bin") / name
    subprocess.run(["gcc", "-O2", "-o", str(out), str(HELPERS / source), *flags], check=True)
    return str(out)


@pytest.fixture(scope="session")
def memhog(tmp_path_factory):
    """Path of the compiled controllable child (see tests/helpers/memhog.c)."""
    return _compile(tmp_path_factory, "memhog.c", "memhog", "-pthread")


@pytest.fixture(scope="session")
def original(tmp_path_factory):
    """The original C logmemory, as the reference for the legacy format."""
    return _compile(tmp_path_factory, "original_logmemory.c", "original_logmemory")


@pytest.fixture
def log(tmp_path):
    return tmp_path / "mem.log"


def json_records(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def gnu_time_maxrss(argv):
    """Max RSS in kB of argv as GNU time reports it (%M)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=True)
    return int(r.stderr.decode().strip().splitlines()[-1])
