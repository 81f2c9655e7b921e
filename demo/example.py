"""The example pipeline the demo plays (examples/seeds/bitbucket-pipelines.yml): its two steps' pipe
variables, the training step's commands, and the example repository's files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seeds"
DVC_EXAMPLE = EXAMPLE.parent / "dvc"  # --dvc
WORKSPACE, REPO_SLUG = "acme", "ml-seeds"


@dataclass(frozen=True)
class ExamplePipeline:
    """What the demo takes from the example's bitbucket-pipelines.yml: the two steps' pipe variables."""

    runner_step: str
    runner_vars: dict[str, str]
    train_step: str
    runs_on: list[str]
    pr_vars: dict[str, str]
    python_commands: list[list[str]]  # the training step's `python ...` lines, in order
    dvc_commands: list[list[str]]  # its `dvc ...` lines (examples/dvc), in order


def _pipe_vars(step: Mapping[str, Any]) -> dict[str, Any] | None:
    for item in step.get("script", []):
        if isinstance(item, dict) and "pipe" in item:
            return dict(item.get("variables") or {})
    return None


def read_example(path: Path) -> ExamplePipeline:
    """The runner step and the training step of the example's pipeline.

    Values that reference repository variables ($BITBUCKET_ACCESS_TOKEN, $AWS_OIDC_ROLE_ARN...) are left out:
    the demo gives its own local credentials instead. A list (FILES) becomes FILES_COUNT, FILES_0... as
    Bitbucket passes it to a pipe.
    """
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    pipelines = doc["pipelines"]
    steps_list = pipelines.get("default") or next(iter(pipelines.get("branches", {}).values()))
    steps = [s["step"] for s in steps_list if isinstance(s, dict) and "step" in s]
    runner = next(s for s in steps if (_pipe_vars(s) or {}).get("COMMAND", "runner") == "runner")
    train = next(s for s in steps if s.get("runs-on"))

    def plain(variables: Mapping[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in variables.items():
            if isinstance(value, list):
                out[f"{name}_COUNT"] = str(len(value))
                out.update({f"{name}_{i}": str(v) for i, v in enumerate(value)})
            elif not str(value).startswith("$"):
                out[name] = str(value)
        return out

    return ExamplePipeline(
        runner_step=str(runner.get("name", "runner")),
        runner_vars={k: v for k, v in plain(_pipe_vars(runner) or {}).items() if k != "CLOUD"},
        train_step=str(train.get("name", "train")),
        runs_on=[str(label) for label in train["runs-on"]],
        pr_vars=plain(_pipe_vars(train) or {}),
        python_commands=[
            line.split()[1:] for line in train.get("script", []) if isinstance(line, str) and line.startswith("python ")
        ],
        dvc_commands=[
            line.split() for line in train.get("script", []) if isinstance(line, str) and line.startswith("dvc ")
        ],
    )


def example_files(example: Path = EXAMPLE) -> dict[str, bytes]:
    """The example repository as it is committed: its sources, not outputs of a local training run."""
    skip = {"model", "data", "metrics.json", "report.md", "__pycache__", ".venv"}
    skip |= {"model.pkl", "confusion.png", "dvc.lock", "cache", "tmp", "config.local"}  # examples/dvc's outputs
    return {
        p.relative_to(example).as_posix(): p.read_bytes()
        for p in sorted(example.rglob("*"))
        if p.is_file() and not (set(p.relative_to(example).parts) & skip)
    }
