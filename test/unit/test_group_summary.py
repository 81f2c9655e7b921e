"""`make test`'s one line per group (test/support/group_summary.py), read off a real pytest run of a tiny tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"

TREE = {
    "test/unit/test_a.py": "def test_one():\n    pass\n\ndef test_two():\n    pass\n",
    "test/adapters/test_b.py": "import pytest\n\n@pytest.mark.skip('no')\ndef test_skipped():\n    pass\n",
    "test/e2e/test_c.py": "def test_passes():\n    pass\n\ndef test_fails():\n    assert False\n",
    "test/e2e/test_vm_d.py": "import pytest\n\npytestmark = pytest.mark.vm\n\ndef test_boots():\n    pass\n",
    "pytest.ini": "[pytest]\nmarkers =\n    vm: a real VM\naddopts = -p no:cacheprovider -p no:randomly\n",
}


def summary_lines(tmp_path: Path, *args: str) -> list[str]:
    for name, text in TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "group_summary", *args],
        cwd=tmp_path, env={"PYTHONPATH": str(SUPPORT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # the one failing test
    section = result.stdout.split("time per test group", 1)[1].splitlines()
    return [line.strip() for line in section if ": " in line and "s of test time" in line]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_each_group_gets_one_line_with_its_counts(tmp_path: Path, workers: list[str]) -> None:
    lines = summary_lines(tmp_path, *workers)
    assert [line.split(";")[0] for line in lines] == [
        "unit: 2 passed",
        "adapters: 1 skipped",
        "e2e: 1 failed, 1 passed",
        "vm: 1 passed",  # by its marker, although it lives in test/e2e
    ]
