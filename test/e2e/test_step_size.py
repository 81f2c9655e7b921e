"""Step sizes against the chosen machine: the runner-mode refusal (a warning with ALLOW_SMALL and a native
type), on plain data and through the real process."""

from __future__ import annotations

from pathlib import Path

import docs_pages
import pytest
import yaml
from fixtures_pipe import output_lines, run_pipe, strip_ansi

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
        ({"8x"}, "m5.2xlarge", 32, "size 8x (32 GB), and the runner needs 4 GB more for itself (36 GiB in all): "
         "m5.2xlarge has 32 GiB"),
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


def run_dry(tmp_path: Path, pipelines: str, cloud_type: str = "m", **env: str) -> tuple[int, str]:
    """The exit code, and the output with the pipe's last line (its success or failure line, on stdout) last."""
    (tmp_path / "bitbucket-pipelines.yml").write_text(pipelines, encoding="utf-8")
    variables = {"CLOUD": "aws", "CLOUD_TYPE": cloud_type, "DRY_RUN": "true", "BITBUCKET_CLONE_DIR": str(tmp_path)}
    proc = run_pipe({**variables, **env})
    last = strip_ansi(proc.stdout).strip().splitlines()[-1:]
    return proc.returncode, "\n".join([*output_lines(proc), *last])


def failure(out: str) -> str:
    return out.strip().splitlines()[-1]


TRAIN_4X = """
pipelines:
  branches:
    main:
      - step: {name: train, runs-on: [self.hosted, cml.runner], size: 4x, script: [python train.py]}
"""


def test_a_machine_smaller_than_the_step_is_refused_naming_both_numbers_and_the_smallest_fit(tmp_path: Path) -> None:
    # The case: size 4x (16 GB for the step, 20 GiB with the runner) on a 16 GiB g4dn.xlarge.
    code, out = run_dry(tmp_path, TRAIN_4X, cloud_type="g4dn.xlarge")
    assert code == 1, out
    line = failure(out)
    assert "size 4x (16 GB)" in line and "(20 GiB in all)" in line and "g4dn.xlarge has 16 GiB" in line, line
    assert "The smallest type that fits is g4dn.12xlarge (192 GiB; CLOUD_TYPE: l with CLOUD_GPU: t4" in line, line
    assert "Plan: startup script" not in out and "Traceback" not in out
    # A generic type: the smallest CPU machine of the catalog that fits.
    code, out = run_dry(tmp_path, TRAIN_4X, cloud_type="s")
    assert code == 1 and "t3.large has 8 GiB" in failure(out), out
    fits = "The smallest type that fits is m5.2xlarge (32 GiB; CLOUD_TYPE: m, or CLOUD_TYPE: m5.2xlarge)"
    assert fits in failure(out)


def test_allow_small_with_a_native_type_launches_anyway_with_one_warning(tmp_path: Path) -> None:
    code, out = run_dry(tmp_path, TRAIN_4X, cloud_type="g4dn.xlarge", ALLOW_SMALL="true")
    assert code == 0, out
    [line] = [line for line in out.splitlines() if "Step size:" in line]
    assert line.startswith("WARNING:") and "g4dn.xlarge has 16 GiB" in line and "ALLOW_SMALL" in line, line
    # A generic type is the pipe's own choice: ALLOW_SMALL does not make it launch too small.
    code, out = run_dry(tmp_path, TRAIN_4X, cloud_type="s", ALLOW_SMALL="true")
    assert code == 1 and "with a native CLOUD_TYPE" in failure(out), out


def test_runner_mode_refuses_when_the_machine_cannot_hold_the_step_size(tmp_path: Path) -> None:
    code, out = run_dry(tmp_path, PIPELINES.replace("cml.gpu", "cml.other"))
    assert code == 1, out
    line = failure(out)
    assert "size 8x (32 GB)" in line and "m5.2xlarge has 32 GiB" in line, line
    assert "The smallest type that fits is g4dn.12xlarge" not in line and "m5.8xlarge (128 GiB; CLOUD_TYPE: l" in line
    code, out = run_dry(tmp_path, PIPELINES, cloud_type="l")  # m5.8xlarge: 128 GiB
    assert code == 0 and "Step size:" not in out, out


def test_the_readme_training_example_fits_its_machine_and_says_how_to_get_more_memory(tmp_path: Path) -> None:
    example = docs_pages.pipelines("README.md")[0]
    train = yaml.safe_load(example)["pipelines"]["branches"]["main"][1]["step"]
    assert train["size"] == "4x"
    code, out = run_dry(tmp_path, example)
    assert code == 0 and "Step size:" not in out, out
    code, out = run_dry(tmp_path, example.replace("size: 4x", "size: 8x"))
    assert code == 1 and "Step size:" in failure(out), out
