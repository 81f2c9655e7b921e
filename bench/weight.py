"""Image weight: the runtime dependencies (requirements.txt) installed into a fresh target directory,
as the Dockerfile installs them, with bytecode compiled as the Dockerfile does (compileall); and the
import time of each cloud path (pipe.providers.<cloud>.lifecycle: the adapter and its SDK) from that copy
in a fresh process, with the bytecode and without it.

The target directory is cached in bench/.cache/image (keyed by requirements.txt and the Python
version); --fresh deletes it and measures from scratch. pip is this interpreter's pip with the
machine's own index configuration.

"Without bytecode": the measuring process makes the import system ignore every .pyc under the
copy (cache_from_source raises NotImplementedError for those paths, so the source is compiled
in memory and nothing is written); the standard library keeps its bytecode, as in the base image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.table import Row, median

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / "bench" / ".cache" / "image"
GOAL_MB = 250.0
CLOUDS = ("aws", "gcp", "azure")

# argv: module, root of the copy, 'pyc' or 'nopyc'. Prints the import's seconds.
IMPORT_PROBE = """
import importlib, sys, time
module, root, mode = sys.argv[1:4]
sys.path[:0] = [root + "/app", root + "/site"]
if mode == "nopyc":
    import importlib._bootstrap_external as ext
    original = ext.cache_from_source
    def cache_from_source(path, *args, **kwargs):
        if path.startswith(root):
            raise NotImplementedError("bytecode ignored for the benchmark")
        return original(path, *args, **kwargs)
    ext.cache_from_source = cache_from_source
start = time.perf_counter()
importlib.import_module(module)
print(time.perf_counter() - start)
"""


@dataclass
class Weight:
    cached: bool
    source_mb: float
    compiled_mb: float
    install_s: float
    compile_s: float
    imports: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # cloud -> pyc/nopyc -> seconds


def _key() -> str:
    text = (REPO_ROOT / "requirements.txt").read_bytes() + sys.version.encode()
    return hashlib.sha256(text).hexdigest()


def _size_mb(root: Path) -> float:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.stat(path).st_size
    return total / 1e6


def build(fresh: bool) -> Weight:
    """The cached copy, or a new one (install, measure, compile, measure)."""
    marker = CACHE / "marker.json"
    if not fresh and marker.exists():
        known = json.loads(marker.read_text())
        if known.get("key") == _key():
            return Weight(True, known["source_mb"], known["compiled_mb"], known["install_s"], known["compile_s"])
    shutil.rmtree(CACHE, ignore_errors=True)
    site = CACHE / "site"
    CACHE.mkdir(parents=True)
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--no-compile",
         "--disable-pip-version-check", "--target", str(site), "-r", str(REPO_ROOT / "requirements.txt")],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    install_s = time.monotonic() - start
    source_mb = _size_mb(site)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(site)], check=True, stdout=subprocess.DEVNULL)
    compile_s = time.monotonic() - start
    weight = Weight(False, source_mb, _size_mb(site), install_s, compile_s)
    marker.write_text(json.dumps({"key": _key(), **asdict(weight)}, indent=2))
    return weight


def _copy_app() -> None:
    """The pipe's own code, as the image has it (COPY pipe /pipe, then compileall)."""
    app = CACHE / "app"
    shutil.rmtree(app, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "pipe", app / "pipe", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(app)], check=True, stdout=subprocess.DEVNULL)


def import_seconds(cloud: str, mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-S", "-E", "-B", "-c", IMPORT_PROBE, f"pipe.providers.{cloud}.lifecycle", str(CACHE), mode],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"import of pipe.providers.{cloud}.lifecycle failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(fresh: bool, repeats: int, without_bytecode: bool = True, allow_build: bool = True) -> Weight | None:
    """repeats: imports with bytecode per cloud (median); without bytecode once (it costs seconds per cloud)."""
    if not allow_build and not fresh and not (CACHE / "marker.json").exists():
        return None
    weight = build(fresh)
    _copy_app()
    for cloud in CLOUDS:
        samples: dict[str, list[float]] = {"pyc": [], "nopyc": []}
        for _ in range(repeats):
            samples["pyc"].append(import_seconds(cloud, "pyc"))
        if without_bytecode:
            samples["nopyc"].append(import_seconds(cloud, "nopyc"))
        weight.imports[cloud] = samples
    return weight


def rows(weight: Weight | None) -> list[Row]:
    if weight is None:
        note = "skipped: no cached copy (run once without --quick)"
        return [Row("Image weight: runtime deps + bytecode", note, f"<= {GOAL_MB:.0f} MB", None)]
    how = "cached copy, built with" if weight.cached else "fresh:"
    out = [
        Row(
            "Image weight: runtime deps + bytecode",
            f"{weight.compiled_mb:.0f} MB ({weight.source_mb:.0f} MB before compileall; {how} pip "
            f"{weight.install_s:.0f} s + compileall {weight.compile_s:.0f} s)",
            f"<= {GOAL_MB:.0f} MB",
            weight.compiled_mb <= GOAL_MB,
            asdict(weight),
        )
    ]
    for cloud, samples in weight.imports.items():
        without = f"{median(samples['nopyc']):.2f} s" if samples["nopyc"] else "not measured (--quick)"
        out.append(
            Row(
                f"Import time pipe.providers.{cloud} (image copy)",
                f"{median(samples['pyc']):.2f} s with bytecode (median of {len(samples['pyc'])}), {without} without",
                "-",
                None,
                {"pyc_s": samples["pyc"], "nopyc_s": samples["nopyc"]},
            )
        )
    return out
