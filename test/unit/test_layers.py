"""The house's rules, read from the source: which layer may import which, and how big a module may grow.

entry (pipe/pipe.py) -> config -> commands -> runner/report/pr -> bitbucket/providers; no arrow runs back up.
pipe/formats/ is the neutral ground config and report share. (Runner mode's plan is built from RunnerSettings:
pipe/runner/plan.py is the settings -> plan step, as make_provider takes the settings' cloud options.) Read
with ast, so a rule broken in any module, on any path, fails here rather than in review.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

PIPE = Path(__file__).resolve().parents[2] / "pipe"
# Product modules stay small enough to read in one sitting: past GUIDE_LINES a module is named (a warning, a
# place to look for a second idea), past MAX_LINES it fails. Size follows cohesion, not a count to get under.
# The idle agent ships to the VM as one program.
GUIDE_LINES = 300
MAX_LINES = 500
SHIPPED_WHOLE = {"bootstrap/agent.py"}
COMMANDS = ("runner", "report", "pr", "sweep", "bake", "restore")


def modules(folder: str = "") -> list[Path]:
    return sorted((PIPE / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every pipe module `path` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name == "pipe" or name.startswith("pipe.")}


def shown(path: Path) -> str:
    return str(path.relative_to(PIPE))


@pytest.mark.parametrize("domain", ["report", "pr", "formats", "bake"])
def test_the_domain_never_imports_config_or_commands(domain: str) -> None:
    """The domain takes plain values: it knows neither the variables nor the commands that call it."""
    wrong = {
        shown(path): sorted(n for n in imported(path) if n.startswith(("pipe.config", "pipe.commands")))
        for path in modules(domain)
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_config_never_imports_the_domain_or_the_commands() -> None:
    """Variables -> settings only; what config and report share lives in pipe/formats/."""
    domain = ("pipe.report", "pipe.pr", "pipe.runner", "pipe.commands", "pipe.providers", "pipe.bootstrap")
    wrong = {shown(path): sorted(n for n in imported(path) if n.startswith(domain)) for path in modules("config")}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_no_command_imports_another() -> None:
    for path in modules("commands"):
        others = {f"pipe.commands.{c}" for c in COMMANDS} - {f"pipe.commands.{path.stem}"}
        assert not imported(path) & others, shown(path)


def test_the_providers_read_no_environment() -> None:
    """A provider takes its options parsed (pipe/config/clouds.py) and its credentials picked for it; only
    make_provider (pipe/providers/__init__.py) sees the whole RunnerSettings."""
    for path in modules("providers"):
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "getenv" not in text, shown(path)
        if path.parent != PIPE / "providers":
            assert not imported(path) & {"pipe.config.runner", "pipe.config.common"}, shown(path)


def test_no_product_module_is_over_the_size_limit() -> None:
    lines = {shown(path): len(path.read_text(encoding="utf-8").splitlines()) for path in modules()}
    long = {name: n for name, n in lines.items() if n > GUIDE_LINES and name not in SHIPPED_WHOLE}
    for name, n in sorted(long.items()):
        warnings.warn(f"pipe/{name} has {n} lines (guide {GUIDE_LINES}): is it still one idea?", stacklevel=1)
    assert {name: n for name, n in long.items() if n > MAX_LINES} == {}


def test_the_rules_see_a_broken_arrow(tmp_path: Path) -> None:
    """The reader itself: an import inside a function counts, and so does `import pipe.config.x`."""
    probe = tmp_path / "probe.py"
    probe.write_text("import pipe.config.report\ndef f():\n    from pipe.commands import pr\n", encoding="utf-8")
    assert imported(probe) == {"pipe.config.report", "pipe.commands", "pipe.commands.pr"}
