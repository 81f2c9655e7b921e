"""Step sizes against the machine's memory: refuse a launch whose steps would be starved.

A runner step gets the memory of its `size:` (1x by default): 4 GB for 1x, 8 GB for 2x, 16 GB for 4x,
32 GB for 8x; 4x and 8x exist for runner steps only, and 8x is the most a runner step can have
(support.atlassian.com/bitbucket-cloud/docs/step-options/ "size"; .../docs/runners/ "Max available memory.
With Runners, you can configure up to 32GB (8x)"). The runner itself needs the rest of the host: Atlassian asks
for a host of at least 8 GB for 1x steps, 4 GB beyond the step (.../docs/runners/, "Minimum Requirements";
"Allocate at least minimum 512MB memory for the runner container"), which we keep for every size.

The sizes come from the repository's own bitbucket-pipelines.yml (the pipe runs in the clone): the steps whose
`runs-on` labels this runner has. A missing or unreadable file is not an error: nothing is checked then.

A machine smaller than the largest such step needs is refused before anything is created, naming both numbers
and the smallest type of the catalog that fits (same cloud, same GPU). A native CLOUD_TYPE with ALLOW_SMALL:
'true' launches anyway, with a warning: the user chose that machine knowingly. Only memory is checked:
Atlassian documents memory per size for runner steps, and no disk (.../docs/runners/, "Usage limits").
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import yaml

from pipe.config.variables import ConfigError
from pipe.providers.catalog import SIZES
from pipe.providers.machine_types import MACHINE_TYPES

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


def _need_gb(sizes: Collection[str]) -> tuple[str, int]:
    size = max(sizes, key=STEP_MEMORY_GB.__getitem__)
    return size, STEP_MEMORY_GB[size] + RUNNER_HOST_OVERHEAD_GB


def unknown_sizes(sizes: Collection[str]) -> str:
    """One line when a size is none a runner step can have; "" otherwise."""
    too_big = sorted(s for s in sizes if s not in STEP_MEMORY_GB)
    if not too_big:
        return ""
    return (
        f"steps for this runner ask for size {', '.join(too_big)}, which runner steps cannot have (at most 8x, "
        "32 GB): Bitbucket will not run them here"
    )


def memory_shortfall(sizes: Collection[str], instance_type: str, memory_gib: float | None) -> str:
    """What the largest step needs against what the machine has, as a sentence; "" when it fits or is unknown."""
    known = [s for s in sizes if s in STEP_MEMORY_GB]
    if memory_gib is None or not known:
        return ""
    size, need_gb = _need_gb(known)
    if memory_gib >= need_gb:
        return ""
    return (
        f"steps for this runner use size {size} ({STEP_MEMORY_GB[size]} GB), and the runner needs "
        f"{RUNNER_HOST_OVERHEAD_GB} GB more for itself ({need_gb} GiB in all): {instance_type} has {memory_gib:g} GiB"
    )


def smallest_fit(cloud: str, gpu: str, need_gb: float) -> str:
    """The catalog's smallest machine of this cloud with this GPU (or none) and at least need_gb, as the user
    would ask for it; "" when the catalog has none."""
    rows = [(row[4], row[3], size, row[0]) for (size, g), row in MACHINE_TYPES.get(cloud, {}).items()
            if g == gpu and row[4] >= need_gb]  # fmt: skip
    if not rows:
        return ""
    memory, _, size, native = min(rows, key=lambda r: (r[0], r[1], SIZES.index(r[2])))
    generic = f"CLOUD_TYPE: {size}" + (f" with CLOUD_GPU: {gpu}" if gpu else "")
    return f"{native} ({memory:g} GiB; {generic}, or CLOUD_TYPE: {native})"


def memory_warning(sizes: Collection[str], instance_type: str, memory_gib: float | None) -> str:
    """One line when a size cannot run on a runner, or the machine is too small for it; "" when all is well."""
    return unknown_sizes(sizes) or memory_shortfall(sizes, instance_type, memory_gib)


def check_step_sizes(
    clone_dir: str,
    labels: Collection[str],
    machine: tuple[str, str, str, float | None],
    *,
    allow_small: bool,
    log: logging.Logger,
) -> None:
    """machine: (cloud, instance type, generic GPU or "", memory GiB or None). Raises ConfigError (one line)
    when the steps this runner takes need more memory than the machine has, unless allow_small (ALLOW_SMALL:
    'true' with a native CLOUD_TYPE): then one warning."""
    cloud, instance_type, gpu, memory_gib = machine
    path = Path(clone_dir or ".") / PIPELINES_FILE
    try:
        pipelines = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as problem:
        log.debug("Step sizes not checked: %s: %s", path, str(problem).splitlines()[0] if str(problem) else "")
        return
    sizes = runner_step_sizes(pipelines, labels)
    unknown = unknown_sizes(sizes)
    if unknown:
        log.warning("Step size: %s.", unknown)
    shortfall = memory_shortfall(sizes, instance_type, memory_gib)
    if not shortfall:
        return
    if allow_small:
        log.warning("Step size: %s; launching it anyway (ALLOW_SMALL: 'true').", shortfall)
        return
    fit = smallest_fit(cloud, gpu, _need_gb([s for s in sizes if s in STEP_MEMORY_GB])[1])
    choose = f"The smallest type that fits is {fit}" if fit else "Choose a larger CLOUD_TYPE"
    raise ConfigError(
        "CLOUD_TYPE", instance_type, "", message=f"Step size: {shortfall}. {choose}; or give those steps a smaller "
        "size, or set ALLOW_SMALL: 'true' with a native CLOUD_TYPE to launch it anyway"
    )  # fmt: skip
