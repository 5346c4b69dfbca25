"""`make install PREFIX=...`: the binary, logmemory(1), the Perl module and its man pages land
where the README says, the installed module finds the installed binary, and `make uninstall`
removes every file again."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINARY = os.environ.get("LOGMEMORY_BIN")

pytestmark = pytest.mark.skipif(not BINARY, reason="installs the built binary: needs LOGMEMORY_BIN")


def make(*args):
    # -o: take the binary under test as it is, never rebuild it.
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-o", BINARY, f"BIN={BINARY}", *args],
                   check=True, stdout=subprocess.DEVNULL)


def test_install_and_uninstall(tmp_path):
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}")
    files = {str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file()}
    modules = sorted(f for f in files if f.endswith(".pm"))
    assert {"bin/logmemory", "share/man/man1/logmemory.1"} <= files
    assert {"share/man/man3/LogMemory.3pm", "share/man/man3/LogMemory::Result.3pm",
            "share/man/man3/LogMemory::Error.3pm", "share/man/man3/LogMemory::Plan.3pm"} <= files
    assert [Path(m).name for m in modules] == ["LogMemory.pm", "Error.pm", "Plan.pm", "Result.pm"]
    assert (prefix / "share/man/man1/logmemory.1").read_text().count(".TH LOGMEMORY 1") == 1

    # As the README says: PERL5LIB names the directory under the prefix; the module then runs
    # the binary installed beside it, with no LOGMEMORY_BIN and no logmemory in PATH.
    libdir = prefix / Path(modules[0]).parent
    env = {k: v for k, v in os.environ.items() if k != "LOGMEMORY_BIN"}
    env.update(PATH="/usr/bin:/bin", PERL5LIB=str(libdir))
    out = subprocess.run(["perl", "-MLogMemory=memrun", "-e",
                          'print LogMemory::find_binary(), "\\n", memrun("true")->exit_code, "\\n"'],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout == f"{prefix}/bin/logmemory\n0\n"

    make("uninstall", f"PREFIX={prefix}")
    assert [p for p in prefix.rglob("*") if p.is_file()] == []
