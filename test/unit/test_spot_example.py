"""The seeds example's spot version (examples/seeds/train_epochs.py, bitbucket-pipelines-spot.yml): one checkpoint
per epoch, and a run cut short resumes from the newest, not from epoch 1; the pipeline restores before training,
retries the step and starts the runner under branches: main only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from fixtures_pipe import REPO_ROOT

SEEDS = REPO_ROOT / "examples" / "seeds"


def _run(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


def test_an_interrupted_training_resumes_from_the_newest_epoch(tmp_path: Path) -> None:
    assert _run(tmp_path, str(SEEDS / "data.py")).returncode == 0
    first = _run(tmp_path, str(SEEDS / "train_epochs.py"), "--epochs", "3")  # the run the cloud took back
    assert first.returncode == 0 and "No checkpoint: training from epoch 1" in first.stdout, first.stderr
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"epoch-{n}.joblib" for n in (1, 2, 3)]
    second = _run(tmp_path, str(SEEDS / "train_epochs.py"), "--epochs", "5")
    assert second.returncode == 0, second.stderr
    assert "Resumed from the checkpoint of epoch 3: training from epoch 4" in second.stdout
    assert "epoch 1/" not in second.stdout and "epoch 4/5" in second.stdout
    assert '"resumed_from_epoch": 3' in (tmp_path / "metrics.json").read_text()


def test_the_pipeline_restores_then_trains_and_retries_the_step() -> None:
    pipelines = yaml.safe_load((SEEDS / "bitbucket-pipelines-spot.yml").read_text())["pipelines"]
    assert list(pipelines) == ["branches"] and list(pipelines["branches"]) == ["main"]
    runner, train = (item["step"] for item in pipelines["branches"]["main"])
    variables = runner["script"][0]["variables"]
    assert (variables["CLOUD_SPOT"], variables["SPOT_RECOVERY"], variables["CHECKPOINT_PATH"]) == (
        "true", "true", "checkpoints/")  # fmt: skip
    assert train["on-fail"] == {"strategy": "retry", "maxRetryCount": int(variables["SPOT_ATTEMPTS"])}
    restore = train["script"][0]
    assert restore["variables"]["COMMAND"] == "restore" and restore["variables"]["CHECKPOINT_PATH"] == "checkpoints/"
    assert train["script"].index("python train_epochs.py --epochs 20") > 0


def test_the_spot_pipeline_is_valid_against_bitbucket_schema() -> None:
    """check-jsonschema's vendored Bitbucket Pipelines schema, as test_demo.py checks the seeds pipeline."""
    proc = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                           "vendor.bitbucket-pipelines", str(SEEDS / "bitbucket-pipelines-spot.yml")],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
