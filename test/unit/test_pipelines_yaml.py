"""The pipe's own CI file and every pipeline in the README and the docs/ pages validate against Bitbucket's
schema; so do the YAML Definition snippets, as a step's script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import docs_pages
import yaml
from fixtures_pipe import REPO_ROOT

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
MODES = ("runner", "report", "pr", "sweep", "bake", "restore")


def validate_pipelines(*files: Path) -> subprocess.CompletedProcess[str]:
    # The vendored schema ships inside check-jsonschema: no network needed.
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.bitbucket-pipelines", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_own_pipeline_is_valid() -> None:
    proc = validate_pipelines(REPO_ROOT / "bitbucket-pipelines.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_yaml_block_is_a_pipeline_a_definition_or_a_kubernetes_manifest() -> None:
    """So that no example escapes the schema checks below by its shape."""
    for page in docs_pages.pages():
        for block in docs_pages.yaml_blocks(page):
            data = docs_pages.top_level(block)
            kubernetes = {"apiVersion", "kind"} <= set(data)
            assert "pipelines" in data or "script" in data or kubernetes, f"{page}: {block[:60]!r}"


def test_readme_pipelines_are_valid(tmp_path: Path) -> None:
    pipelines = [(page, b) for page in docs_pages.pages() for b in docs_pages.pipelines(page)]
    assert len(pipelines) >= 3
    files = []
    for i, (page, block) in enumerate(pipelines):
        path = tmp_path / f"{page.replace('/', '_')}-{i}.yml"
        path.write_text(block, encoding="utf-8")
        files.append(path)
    proc = validate_pipelines(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_yaml_definitions_are_valid_as_a_step(tmp_path: Path) -> None:
    """The YAML Definition snippets are a step's script: wrapped in a pipeline, they validate too."""
    snippets = [(page, b) for page in docs_pages.pages() for b in docs_pages.definitions(page)]
    assert sorted(page for page, _ in snippets) == sorted(["README.md"] + [f"docs/{m}.md" for m in MODES])
    files = []
    for i, (_, snippet) in enumerate(snippets):
        script = yaml.safe_load(snippet)["script"]
        path = tmp_path / f"definition-{i}.yml"
        path.write_text(yaml.safe_dump({"pipelines": {"default": [{"step": {"script": script}}]}}), encoding="utf-8")
        files.append(path)
    proc = validate_pipelines(*files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_example_step_runs_on_the_runner_labels() -> None:
    first = yaml.safe_load(docs_pages.pipelines("README.md")[0])
    steps = [item["step"] for item in first["pipelines"]["branches"]["main"]]  # main only: no chain of PR pipelines
    assert steps[0]["script"][0]["pipe"].startswith("docker://")
    assert steps[0]["script"][0]["variables"]["CLOUD"] == "aws"
    assert steps[1]["runs-on"] == ["self.hosted", "cml.runner"]
    assert steps[1]["script"][-1]["variables"]["COMMAND"] == "pr"
    assert "REPORT_FILE" in steps[1]["script"][-1]["variables"]
