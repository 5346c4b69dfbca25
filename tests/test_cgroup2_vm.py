"""cgroup v2 live: one VM per session (virtme-ng, Debian's kernel, under TCG) runs the cases of
tests/vm/inside_cgroup2.py as root in a real v2 hierarchy with memory; each case reports here."""

import ast
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import ROOT

INSIDE = Path(__file__).resolve().parent / "vm" / "inside_cgroup2.py"
CASES = [node.name for node in ast.parse(INSIDE.read_text()).body
         if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
BOOT_TIMEOUT = 600  # TCG on a busy 2-core machine; a boot alone takes ~25 s


def _missing():
    """Why the VM cannot boot here, or None."""
    if os.geteuid() != 0:
        return "needs root"  # qemu needs no root, but vng shares / and the cases run as root
    vng = Path(sys.executable).parent / "vng"
    if not vng.exists():
        return f"no {vng} (virtme-ng from build/requirements.txt)"
    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("busybox", "busybox-static")):
        if shutil.which(tool) is None:
            return f"no {tool} (Debian package {package}; .ci/run installs it)"
    if not kernel():
        return "no /boot/vmlinuz-* (Debian package linux-image-amd64; .ci/run installs it)"
    return None


def kernel():
    images = sorted(glob.glob("/boot/vmlinuz-*"))
    return images[-1] if images else None


@pytest.fixture(scope="session")
def vm_results(memhog):
    """Boot once; {case name: None if passed, else the failure text}, and the inner run's output."""
    why = _missing()
    if why:
        pytest.skip(f"cgroup v2 VM cannot boot: {why}")
    shared = Path(tempfile.mkdtemp(prefix="lm-vm-"))
    try:
        shutil.copy(memhog, shared / "memhog")  # gcc in the VM takes 10-20 s
        inner = " ".join([
            f"cd {ROOT} &&", "LOGMEMORY_IN_VM=1 PYTHONDONTWRITEBYTECODE=1",
            f"LOGMEMORY_VM_MEMHOG={shared}/memhog",
            f"LOGMEMORY_BIN={os.environ.get('LOGMEMORY_BIN', '')}" if os.environ.get(
                "LOGMEMORY_BIN") else "",
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
            f"--junitxml={shared}/inner.xml", str(INSIDE.relative_to(ROOT)),
            f"> {shared}/inner.out 2>&1"])
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        boot = subprocess.run(
            [Path(sys.executable).parent / "vng", "--run", kernel(), "--user", "root",
             # With KVM, qemu aborts on this host (failed to set MSR 0x10a).
             "--disable-kvm", "--memory", "1G", "--rwdir", str(shared), "--exec", inner],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, timeout=BOOT_TIMEOUT)
        output = (shared / "inner.out").read_text() if (shared / "inner.out").exists() else ""
        if not (shared / "inner.xml").exists():
            pytest.fail(f"the VM ran no case (vng exit {boot.returncode}):\n"
                        f"{boot.stdout.decode(errors='replace')[-3000:]}\n{output[-3000:]}")
        results = {}
        for case in ET.parse(shared / "inner.xml").iter("testcase"):
            problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
            results[case.get("name")] = None if problem is None else \
                f"{problem.tag}: {problem.get('message')}\n{problem.text or ''}"
        return results, output
    finally:
        shutil.rmtree(shared)


@pytest.mark.parametrize("case", CASES)
def test_in_cgroup2_vm(vm_results, case):
    results, output = vm_results
    assert case in results, f"{case} did not run in the VM:\n{output[-3000:]}"
    assert results[case] is None, results[case]
