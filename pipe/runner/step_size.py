"""Step sizes against the machine's memory: warn before a step the runner will take is starved.

A runner step gets the memory of its `size:` (1x by default): 4 GB for 1x, 8 GB for 2x, 16 GB for 4x,
32 GB for 8x; 4x and 8x exist for runner steps only, and 8x is the most a runner step can have
(support.atlassian.com/bitbucket-cloud/docs/step-options/ "size"; .../docs/runners/ "Max available memory.
With Runners, you can configure up to 32GB (8x)"). The runner itself needs the rest of the host: Atlassian asks
for a host of at least 8 GB for 1x steps, 4 GB beyond the step (.../docs/runners/, "Minimum Requirements";
"Allocate at least minimum 512MB memory for the runner container"), which we keep for every size.

The sizes come from the repository's own bitbucket-pipelines.yml (the pipe runs in the clone): the steps whose
`runs-on` labels this runner has. A missing or unreadable file is not an error: this only warns.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import yaml

# Atlassian's "GB" here are 1024 MB (1x is 4096 MB), so they compare with the clouds' GiB as they are.
STEP_MEMORY_GB = {"1x": 4, "2x": 8, "4x": 16, "8x": 32}
RUNNER_HOST_OVERHEAD_GB = 4
PIPELINES_FILE = "bitbucket-pipelines.yml"


def _steps(node: Any) -> Iterator[dict[str, Any]]:
    """Every step of the file, wherever it sits (pipelines, parallel groups, stages, definitions)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "step" and isinstance(value, dict):
                yield value
            else:
                yield from _steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _steps(item)


def runner_step_sizes(pipelines: Any, labels: Collection[str]) -> set[str]:
    """The sizes of the steps a runner with these labels can take (their runs-on labels are all among them)."""
    if not isinstance(pipelines, dict):
        return set()
    options = pipelines.get("options")
    default = str(options.get("size", "1x")) if isinstance(options, dict) else "1x"
    sizes = set()
    for step in _steps(pipelines.get("pipelines", {})):
        runs_on = step.get("runs-on")
        wanted = {runs_on} if isinstance(runs_on, str) else set(runs_on or [])
        if wanted and "self.hosted" in wanted and wanted <= set(labels):
            sizes.add(str(step.get("size", default)))
    return sizes


def memory_warning(sizes: Collection[str], instance_type: str, memory_gib: float | None) -> str:
    """One line when a size cannot run on a runner, or the machine is too small for it; "" when all is well."""
    too_big = sorted(s for s in sizes if s not in STEP_MEMORY_GB)
    if too_big:
        return (
            f"steps for this runner ask for size {', '.join(too_big)}, which runner steps cannot have (at most 8x, "
            "32 GB): Bitbucket will not run them here"
        )
    if memory_gib is None or not sizes:
        return ""
    size = max(sizes, key=STEP_MEMORY_GB.__getitem__)
    need_gb = STEP_MEMORY_GB[size] + RUNNER_HOST_OVERHEAD_GB
    if memory_gib >= need_gb:
        return ""
    return (
        f"steps for this runner use size {size} ({STEP_MEMORY_GB[size]} GB), and the runner needs "
        f"{RUNNER_HOST_OVERHEAD_GB} GB more for itself: {instance_type} has {memory_gib:g} GiB. Choose a larger "
        f"CLOUD_TYPE, or a smaller size for those steps"
    )


def warn_if_too_small(
    clone_dir: str, labels: Collection[str], instance_type: str, memory_gib: float | None, log: logging.Logger
) -> None:
    path = Path(clone_dir or ".") / PIPELINES_FILE
    try:
        pipelines = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as problem:
        log.debug("Step sizes not checked: %s: %s", path, str(problem).splitlines()[0] if str(problem) else "")
        return
    warning = memory_warning(runner_step_sizes(pipelines, labels), instance_type, memory_gib)
    if warning:
        log.warning("Step size: %s.", warning)
