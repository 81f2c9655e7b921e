"""The demo with --vm (`make demo DEMO_ARGS=--vm`): the instance is a real VM (test/support/fakes/vm) whose runner
comes ONLINE from the pipe's user-data; the demo shows the boot steps from its console and, on exit, stops
the VM with everything else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.vm.image import Images
from fixtures_pipe import REPO_ROOT

pytestmark = pytest.mark.vm


def qemu_processes_under(path: Path) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("qemu-system") and str(path) in cmdline:
            found.append(int(pid))
    return found


def test_the_demo_boots_a_real_vm_and_stops_it_on_exit(vm_images: Images, tmp_path: Path) -> None:
    work = tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "demo" / "run.py"), "--vm", "--cloud", "aws", "--workdir", str(work)],
        cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", proc.stdout)
    assert proc.returncode == 0, out + proc.stderr
    assert "a real VM (QEMU) boots each new instance" in out
    assert re.search(r"Runner cml-\w+ is ONLINE", out)
    [console] = re.findall(r"in a real VM; console (\S+)", out)
    assert "cml-runner: boot done in" in Path(console).read_text(errors="replace")
    assert re.search(r"\| step start-runner: done in \d+ ms", out)  # the boot steps, read from the console
    assert qemu_processes_under(work) == []
