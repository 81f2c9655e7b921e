"""Every example starts its cloud runner and PR mode under the same safe trigger: `branches: main`.

Under `pipelines: default` PR mode's own push of its branch would start the pipeline again (another machine,
a PR of the PR); `branches: main` starts nothing on that branch even with SKIP_CI: 'false'. Pull-request and
custom (manual or scheduled) pipelines are started by no push, so report, sweep and bake may use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docs_pages
import pytest
import yaml
from fixtures_pipe import REPO_ROOT

SAFE = ["main"]


def _examples() -> Iterator[tuple[str, dict[str, Any]]]:
    for page in docs_pages.pages():  # README.md and docs/
        for i, block in enumerate(docs_pages.pipelines(page)):
            yield f"{page} example {i}", yaml.safe_load(block)["pipelines"]
    for path in sorted((REPO_ROOT / "examples").glob("*/bitbucket-pipelines.yml")):
        yield str(path.relative_to(REPO_ROOT)), yaml.safe_load(path.read_text(encoding="utf-8"))["pipelines"]


EXAMPLES = dict(_examples())


def _pipe_commands(steps: Any) -> set[str]:
    """The COMMANDs of the pipe steps in a pipeline (runner mode when COMMAND is unset)."""
    found: set[str] = set()
    for item in steps if isinstance(steps, list) else []:
        for step in [item.get("step")] + [p.get("step") for p in item.get("parallel", [])]:
            for line in (step or {}).get("script", []):
                if isinstance(line, dict) and "pipe" in line:
                    found.add(str(line.get("variables", {}).get("COMMAND", "runner")))
    return found


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 5 and any(name.startswith("examples/seeds") for name in EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_runner_and_pr_mode_run_under_branches_main_only(name: str) -> None:
    pipelines = EXAMPLES[name]
    assert "default" not in pipelines, f"{name}: `pipelines: default` would run again on PR mode's branch"
    for section, definitions in pipelines.items():
        for key, steps in definitions.items():
            pushing = _pipe_commands(steps) & {"runner", "pr"}
            if section == "branches":
                assert [key] == SAFE, f"{name}: branches: {key}"
            elif section != "custom":
                assert not pushing, f"{name}: {section}: {key} starts a runner or PR mode; use branches: main"
    assert set(pipelines) <= {"branches", "pull-requests", "custom"}, name
