"""The pipe's own CI file and every pipeline in the README validate against Bitbucket's schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from fixtures_pipe import REPO_ROOT

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def validate_pipelines(*files: Path) -> subprocess.CompletedProcess[str]:
    # The vendored schema ships inside check-jsonschema: no network needed.
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.bitbucket-pipelines", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def readme_yaml_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```yaml\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_own_pipeline_is_valid() -> None:
    proc = validate_pipelines(REPO_ROOT / "bitbucket-pipelines.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_pipelines_are_valid(tmp_path: Path) -> None:
    blocks = readme_yaml_blocks()
    pipelines = [b for b in blocks if "pipelines" in (yaml.safe_load(b) or {})]
    assert len(pipelines) >= 3
    files = []
    for i, block in enumerate(pipelines):
        path = tmp_path / f"example-{i}.yml"
        path.write_text(block, encoding="utf-8")
        files.append(path)
    proc = validate_pipelines(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_yaml_definitions_are_valid_as_a_step(tmp_path: Path) -> None:
    """The YAML Definition snippets are a step's script: wrapped in a pipeline, they validate too."""
    snippets = [b for b in readme_yaml_blocks() if "pipelines" not in (yaml.safe_load(b) or {})]
    assert len(snippets) == 5  # runner, report, pr, sweep, bake
    files = []
    for i, snippet in enumerate(snippets):
        script = yaml.safe_load(snippet)["script"]
        path = tmp_path / f"definition-{i}.yml"
        path.write_text(yaml.safe_dump({"pipelines": {"default": [{"step": {"script": script}}]}}), encoding="utf-8")
        files.append(path)
    proc = validate_pipelines(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_example_step_runs_on_the_runner_labels() -> None:
    first = yaml.safe_load(next(b for b in readme_yaml_blocks() if "pipelines" in b))
    steps = [item["step"] for item in first["pipelines"]["branches"]["main"]]  # main only: no chain of PR pipelines
    assert steps[0]["script"][0]["pipe"].startswith("docker://")
    assert steps[1]["runs-on"] == ["self.hosted", "cml.runner"]
    assert steps[1]["script"][-1]["variables"]["COMMAND"] == "pr"
    assert "REPORT_FILE" in steps[1]["script"][-1]["variables"]
