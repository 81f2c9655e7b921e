"""`make demo DEMO_ARGS=--spot` (demo/spot.py): an interruption and the resumed run, well under 2 minutes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.isolation import isolated_env
from fixtures_pipe import REPO_ROOT


@pytest.mark.slow  # over 10 s in CI: `make test-fast` leaves it out
def test_the_spot_demo_shows_the_interruption_and_the_resumed_run(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "demo/run.py", "--spot", "--workdir", str(tmp_path)], cwd=REPO_ROOT,
                          env=isolated_env(str(tmp_path / "home")), capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert time.monotonic() - started < 120
    for expected in ("No checkpoint: training from epoch 1", "checkpoint (interruption):",
                     "relaunch: interruption 1, replacement", "(spot) takes the retried step",
                     "(interruption, attempt 2 after 1 interruption) into checkpoints/",
                     "Resumed from the checkpoint of epoch 3: training from epoch 4"):  # fmt: skip
        assert expected in out, expected
    assert "Traceback" not in out
