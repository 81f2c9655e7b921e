"""Step sizes against the chosen machine: the runner-mode warning, on plain data and through the real process."""

from __future__ import annotations

from pathlib import Path

import docs_pages
import pytest
import yaml
from fixtures_pipe import output_lines, run_pipe

from pipe.runner.step_size import memory_warning, runner_step_sizes

LABELS = ("self.hosted", "linux", "cml.runner", "cml.runner.pipe")

PIPELINES = """
options:
  size: 2x
pipelines:
  default:
    - step: {name: start, script: [echo]}
    - step: {name: train, runs-on: [self.hosted, cml.runner], size: 8x, script: [echo]}
    - parallel:
        steps:
          - step: {name: eval, runs-on: [self.hosted, cml.runner], script: [echo]}
          - step: {name: other runner, runs-on: [self.hosted, cml.gpu], size: 4x, script: [echo]}
  custom:
    nightly:
      - step: {name: cloud step, size: 4x, script: [echo]}
"""


def test_only_the_steps_this_runner_can_take_count_with_the_global_default() -> None:
    assert runner_step_sizes(yaml.safe_load(PIPELINES), LABELS) == {"8x", "2x"}
    assert runner_step_sizes(yaml.safe_load(PIPELINES), ("self.hosted", "linux", "cml.gpu")) == {"4x"}
    assert runner_step_sizes(None, LABELS) == set()


@pytest.mark.parametrize(
    ("sizes", "instance_type", "memory", "expected"),
    [
        ({"4x"}, "m5.2xlarge", 32, ""),
        ({"8x"}, "m5.2xlarge", 32, "size 8x (32 GB), and the runner needs 4 GB more for itself: m5.2xlarge has 32 GiB"),
        ({"1x", "4x"}, "g4dn.xlarge", 16, "size 4x (16 GB)"),
        ({"2x"}, "g4dn.xlarge", 16, ""),
        ({"1x"}, "t3.large", 8, ""),
        ({"16x"}, "m5.8xlarge", 128, "size 16x, which runner steps cannot have (at most 8x"),
        ({"8x"}, "c7i.large", None, ""),  # a native type outside the catalog: memory unknown, no guess
    ],
)
def test_the_warning(sizes: set[str], instance_type: str, memory: float | None, expected: str) -> None:
    warning = memory_warning(sizes, instance_type, memory)
    assert (expected in warning) if expected else warning == ""


def run_dry(tmp_path: Path, pipelines: str, cloud_type: str = "m") -> str:
    (tmp_path / "bitbucket-pipelines.yml").write_text(pipelines, encoding="utf-8")
    proc = run_pipe({"CLOUD": "aws", "CLOUD_TYPE": cloud_type, "DRY_RUN": "true", "BITBUCKET_CLONE_DIR": str(tmp_path)})
    out = "\n".join(output_lines(proc))
    assert proc.returncode == 0, out
    return out


def test_runner_mode_warns_when_the_machine_cannot_hold_the_step_size(tmp_path: Path) -> None:
    out = run_dry(tmp_path, PIPELINES.replace("cml.gpu", "cml.other"))
    [line] = [line for line in out.splitlines() if "Step size:" in line]
    assert "size 8x (32 GB)" in line and "m5.2xlarge has 32 GiB" in line and "larger CLOUD_TYPE" in line
    assert "Step size:" not in run_dry(tmp_path, PIPELINES, cloud_type="l")  # m5.8xlarge: 128 GiB


def test_the_readme_training_example_fits_its_machine_and_says_how_to_get_more_memory(tmp_path: Path) -> None:
    example = docs_pages.pipelines("README.md")[0]
    train = yaml.safe_load(example)["pipelines"]["branches"]["main"][1]["step"]
    assert train["size"] == "4x"
    assert "Step size:" not in run_dry(tmp_path, example)
    assert "Step size:" in run_dry(tmp_path, example.replace("size: 4x", "size: 8x"))
