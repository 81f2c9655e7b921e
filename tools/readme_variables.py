"""Generate the README's YAML Definition and Variables table from the Variable declarations.

    python tools/readme_variables.py          # rewrite the generated parts of README.md
    python tools/readme_variables.py --check  # exit 1 if README.md is out of date (the tests run this)

The generated parts sit between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`
markers; everything else in the README is written by hand.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import yaml  # noqa: E402  # after the path fix, like the pipe's own imports

from pipe.config import all_variables  # noqa: E402
from pipe.config.variables import Variable  # noqa: E402

README = REPO_ROOT / "README.md"
CLOUD_PREFIXES = ("AWS_", "GCP_", "GOOGLE_", "AZURE_")
AUTH = ("BITBUCKET_ACCESS_TOKEN", "ATLASSIAN_ACCOUNT_EMAIL", "ATLASSIAN_API_TOKEN", "BITBUCKET_APP_PASSWORD")


def pipe_image() -> str:
    metadata = yaml.safe_load((REPO_ROOT / "pipe.yml").read_text(encoding="utf-8"))
    return str(metadata["image"])


def _is_cloud(v: Variable) -> bool:
    return v.name.startswith(CLOUD_PREFIXES) and not v.testing


def _mode(v: Variable) -> str:
    return "all" if "all" in v.modes else v.modes[0]


GROUPS: tuple[tuple[str, Callable[[Variable], bool]], ...] = (
    ("Every mode", lambda v: _mode(v) == "all" and not v.testing),
    (
        "Runner mode (`COMMAND: runner`, the default; `sweep` reads CLOUD and CLOUD_REGION)",
        lambda v: _mode(v) == "runner" and not _is_cloud(v) and not v.testing,
    ),
    ("Cloud credentials (runner, sweep and bake modes)", _is_cloud),
    ("Report mode (`COMMAND: report`)", lambda v: _mode(v) == "report" and not v.testing),
    ("PR mode (`COMMAND: pr`)", lambda v: _mode(v) == "pr" and not v.testing),
    ("For tests and the local demo", lambda v: v.testing),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def variables_table(variables: Iterable[Variable]) -> str:
    shown = [v for v in variables if not v.context]
    lines: list[str] = []
    placed: set[str] = set()
    for title, belongs in GROUPS:
        rows = [v for v in shown if v.name not in placed and belongs(v)]
        if not rows:
            continue
        placed.update(v.name for v in rows)
        lines += ["", f"**{title}**", "", "| Variable | Usage |", "| --- | --- |"]
        for v in rows:
            name = f"{v.name} (*)" if v.required else v.name
            usage = v.description
            if v.default:
                usage += f" Default: `{v.default}`."
            if v.secret:
                usage += " Secret: use a secured variable."
            lines.append(f"| {_cell(name)} | {_cell(usage)} |")
    missing = [v.name for v in shown if v.name not in placed]
    if missing:
        raise SystemExit(f"variables in no README group: {missing}")
    lines += ["", "_(*) = required in its mode._"]
    return "\n".join(lines[1:])


def yaml_definition(variables: Iterable[Variable], image: str) -> str:
    """One snippet per mode: required variables set, optional ones commented out, as Atlassian's READMEs do."""
    by_name = [v for v in variables if not v.context and not v.testing and v.example]
    blocks: list[str] = []
    for mode in ("runner", "report", "pr", "sweep", "bake"):
        own = [v for v in by_name if mode in v.modes and "all" not in v.modes]
        if not own:
            continue
        lines = ["```yaml", "script:", f"  - pipe: docker://{image}", "    variables:"]
        if mode != "runner":
            lines.append(f"      COMMAND: '{mode}'")
        lines.append(f"      BITBUCKET_ACCESS_TOKEN: $BITBUCKET_ACCESS_TOKEN # Or {AUTH[1]} + {AUTH[2]}")
        for v in own:
            if v.is_required(mode):
                lines.append(f"      {v.name}: {v.example}")
        for v in own:
            if not v.is_required(mode) and not (mode in ("sweep", "bake") and _is_cloud(v)):
                lines.append(f"      # {v.name}: {v.example} # Optional")
        for v in by_name:
            if "all" in v.modes and v.name not in AUTH and v.name != "COMMAND":
                lines.append(f"      # {v.name}: {v.example} # Optional")
        lines.append("```")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def generated_sections() -> dict[str, str]:
    variables = all_variables()
    return {"yaml-definition": yaml_definition(variables, pipe_image()), "variables": variables_table(variables)}


def _between_markers(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group(1) + body + "\n" + match.group(2)


def render(readme: str) -> str:
    for name, body in generated_sections().items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- generated:{name} --> section")
        readme = pattern.sub(_between_markers(body), readme)
    return readme


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if "--check" in argv:
        if current != wanted:
            print("README.md is out of date: run python tools/readme_variables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
