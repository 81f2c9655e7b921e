"""Generate the YAML Definitions and Variables tables of README.md and docs/ from the Variable declarations.

    python tools/readme_variables.py          # rewrite the generated parts of every page in PAGES
    python tools/readme_variables.py --check  # exit 1 if any page is out of date (.ci/run and the tests run this)

The generated parts sit between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`
markers; everything else in a page is written by hand. Every variable a user sets is in at least one
page's table, or this tool stops and says which.
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
MODES = ("runner", "report", "pr", "sweep", "bake", "restore")
CLOUDS = {
    "aws": ("AWS", ("AWS_", "CLOUD_AWS_")),
    "gcp": ("GCP", ("GCP_", "GOOGLE_", "CLOUD_GCP_")),
    "azure": ("Azure", ("AZURE_", "CLOUD_AZURE_")),
    "kubernetes": ("Kubernetes", ("KUBE", "CLOUD_KUBERNETES_")),
}

Predicate = Callable[[Variable], bool]
Group = tuple[str, Predicate]


def pipe_image() -> str:
    metadata = yaml.safe_load((REPO_ROOT / "pipe.yml").read_text(encoding="utf-8"))
    return str(metadata["image"])


def _is_cloud(v: Variable) -> bool:
    return v.name.startswith(CLOUD_PREFIXES) and not v.testing


def cloud_of(v: Variable) -> str | None:
    """The cloud whose page lists the variable (None: a variable of every cloud, like CLOUD_TYPE)."""
    return next((cloud for cloud, (_, prefixes) in CLOUDS.items() if v.name.startswith(prefixes)), None)


def in_mode(v: Variable, mode: str) -> bool:
    return mode in v.modes or "all" in v.modes


def _every_mode(v: Variable) -> bool:
    return "all" in v.modes and not v.testing


def _every_mode_but_auth(v: Variable) -> bool:
    """COMMAND: restore takes no Bitbucket token (pipe/config/common.py load): its page lists none."""
    return _every_mode(v) and v.name not in AUTH


def _own(mode: str) -> Predicate:
    """The mode's variables that belong to no one cloud."""
    return lambda v: mode in v.modes and "all" not in v.modes and cloud_of(v) is None and not v.testing


def _required(mode: str) -> Predicate:
    own = _own(mode)
    return lambda v: own(v) and v.is_required(mode)


def _cloud(cloud: str, mode: str | None = None) -> Predicate:
    return lambda v: cloud_of(v) == cloud and not v.testing and (mode is None or mode in v.modes)


MODE_TITLES = {
    "runner": "Runner mode (`COMMAND: runner`, the default)",
    "report": "Report mode (`COMMAND: report`)",
    "pr": "PR mode (`COMMAND: pr`)",
    "sweep": "Sweep mode (`COMMAND: sweep`)",
    "bake": "Bake mode (`COMMAND: bake`)",
    "restore": "Restore mode (`COMMAND: restore`)",
}


def mode_groups(mode: str) -> list[Group]:
    every = _every_mode_but_auth if mode == "restore" else _every_mode
    groups: list[Group] = [("Every mode", every), (MODE_TITLES[mode], _own(mode))]
    if mode in ("runner", "sweep", "bake"):
        groups += [(f"{title} (`CLOUD: {cloud}`)", _cloud(cloud, mode)) for cloud, (title, _) in CLOUDS.items()]
    return groups


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


REQUIRED_NOTE = "_(*) = required in its mode._"


def variables_table(
    variables: Iterable[Variable], groups: list[Group], note: str = REQUIRED_NOTE, mode: str | None = None
) -> str:
    """The tables of groups; with mode, (*) marks what that mode requires (REPORT_FILE not in pr mode)."""
    shown = [v for v in variables if not v.context]
    lines: list[str] = []
    placed: set[str] = set()
    for title, belongs in groups:
        rows = [v for v in shown if v.name not in placed and belongs(v)]
        if not rows:
            continue
        placed.update(v.name for v in rows)
        lines += ["", f"**{title}**", "", "| Variable | Usage |", "| --- | --- |"]
        for v in rows:
            required = v.is_required(mode) if mode else v.required
            name = f"{v.name} (*)" if required else v.name
            usage = v.description
            if v.default:
                usage += f" Default: `{v.default}`."
            if v.secret:
                usage += " Secret: use a secured variable."
            lines.append(f"| {_cell(name)} | {_cell(usage)} |")
    if note:
        lines += ["", note]
    return "\n".join(lines[1:])


def yaml_definition(variables: Iterable[Variable], image: str, mode: str, required_only: bool = False) -> str:
    """The mode's snippet: required variables set, optional ones commented out, as Atlassian's READMEs do."""
    by_name = [v for v in variables if not v.context and not v.testing and v.example]
    own = [v for v in by_name if mode in v.modes and "all" not in v.modes]
    lines = ["```yaml", "script:", f"  - pipe: docker://{image}", "    variables:"]
    if mode != "runner":
        lines.append(f"      COMMAND: '{mode}'")
    if mode != "restore":  # restore speaks only to the checkpoint store
        lines.append(f"      BITBUCKET_ACCESS_TOKEN: $BITBUCKET_ACCESS_TOKEN # Or {AUTH[1]} + {AUTH[2]}")
    for v in own:
        if v.is_required(mode):
            lines.append(f"      {v.name}: {v.example}")
    if not required_only:
        for v in own:
            if not v.is_required(mode) and not (mode in ("sweep", "bake") and _is_cloud(v)):
                lines.append(f"      # {v.name}: {v.example} # Optional")
        for v in by_name:
            if "all" in v.modes and v.name not in AUTH and v.name != "COMMAND":
                lines.append(f"      # {v.name}: {v.example} # Optional")
    lines.append("```")
    return "\n".join(lines)


Section = Callable[[tuple[Variable, ...], str], str]


def _definition(mode: str, required_only: bool = False) -> Section:
    return lambda variables, image: yaml_definition(variables, image, mode, required_only)


def _table(groups: list[Group], note: str = REQUIRED_NOTE, mode: str | None = None) -> Section:
    return lambda variables, image: variables_table(variables, groups, note, mode)


# Every page with generated parts, and what each part is. README.md keeps the short form (runner mode's
# required variables); each mode's page has its whole definition and table, each cloud's page its own variables.
PAGES: dict[str, dict[str, Section]] = {
    "README.md": {
        "yaml-definition": _definition("runner", required_only=True),
        "variables": _table([("Every mode", _every_mode)] + [(MODE_TITLES[m], _required(m)) for m in MODES]),
    },
    **{
        f"docs/{mode}.md": {"yaml-definition": _definition(mode), "variables": _table(mode_groups(mode), mode=mode)}
        for mode in MODES
    },
    **{
        f"docs/clouds/{cloud}.md": {"variables": _table([(f"{title} (`CLOUD: {cloud}`)", _cloud(cloud))], note="")}
        for cloud, (title, _) in CLOUDS.items()
    },
    "docs/development.md": {
        "variables": _table([("For tests and the local demo", lambda v: v.testing)], note=""),
    },
}


def unplaced(variables: Iterable[Variable]) -> list[str]:
    """Variables a user sets that no page's table lists."""
    listed: set[str] = set()
    for sections in PAGES.values():
        for name, section in sections.items():
            if name == "variables":
                listed.update(re.findall(r"^\| (\w+)", section(tuple(variables), ""), re.MULTILINE))
    return [v.name for v in variables if not v.context and v.name not in listed]


def _between_markers(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group(1) + body + "\n" + match.group(2)


def render(page: str, text: str, variables: tuple[Variable, ...] | None = None, image: str | None = None) -> str:
    variables = all_variables() if variables is None else variables
    image = pipe_image() if image is None else image
    for name, section in PAGES[page].items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{page} has no <!-- generated:{name} --> section")
        text = pattern.sub(_between_markers(section(variables, image)), text)
    return text


def main(argv: list[str]) -> int:
    variables, image = all_variables(), pipe_image()
    missing = unplaced(variables)
    if missing:
        raise SystemExit(f"variables in no page's table: {missing}")
    stale = []
    for page in PAGES:
        path = REPO_ROOT / page
        current = path.read_text(encoding="utf-8")
        wanted = render(page, current, variables, image)
        if current != wanted:
            stale.append(page)
            if "--check" not in argv:
                path.write_text(wanted, encoding="utf-8")
    if stale and "--check" in argv:
        print(f"out of date: {', '.join(stale)}: run python tools/readme_variables.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
