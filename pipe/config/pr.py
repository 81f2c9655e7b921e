"""PR mode's variables and their typed, validated settings.

REPORT_FILE is declared by report mode (pipe/config/report.py): with it, the PR's description is the report
and the report is also posted on the PR, so report mode's variables are parsed here too, before anything is
created (UPDATE is implied: one report per PR, edited on a re-run).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import get_args

from pipe.bitbucket.models import MergeStrategy
from pipe.config import report as report_config
from pipe.config.parsers import check_text, parse_bool
from pipe.config.report import ReportSettings
from pipe.config.variables import ConfigError, Variable
from pipe.paths import has_git_part

MERGE_STRATEGIES: tuple[MergeStrategy, ...] = get_args(MergeStrategy)

# CML's author is "Olivaw[bot] <olivaw@iterative.ai>"; ours names this pipe, at an address nobody receives mail on.
DEFAULT_AUTHOR = "CML Runner <cml-runner@users.noreply.bitbucket.org>"

VARIABLES: tuple[Variable, ...] = (
    Variable(
        "FILES",
        "Paths or glob patterns (`**` for any depth) relative to the clone directory: the files to commit, "
        "regular files inside the clone and never under `.git`. A list, or one space-separated string.",
        required=True,
        modes=("pr",),
        example="['<string>']",
    ),
    Variable(
        "BRANCH",
        "The PR's source branch, created from the build's commit.",
        default="<target>-cml-pr-<commit[:8]>",
        modes=("pr",),
    ),
    Variable(
        "TARGET_BRANCH",
        "The branch the PR merges into; it must exist.",
        default="the build's branch ($BITBUCKET_BRANCH)",
        modes=("pr",),
    ),
    Variable("MESSAGE", "The commit message.", default="CML PR for <commit[:8]>", modes=("pr",)),
    Variable(
        "SKIP_CI",
        "Append `[skip ci]` to the commit message, so that the push of the PR's branch starts no pipeline "
        "(without it, a `default` pipeline would train again on that branch). `'false'` lets the push start one.",
        default="true",
        modes=("pr",),
        example="'<boolean>'",
    ),
    Variable("TITLE", "The PR's title.", default="CML PR for <target> <commit[:8]>", modes=("pr",)),
    Variable(
        "DESCRIPTION",
        "The PR's description; ignored when REPORT_FILE is given (the report is the description).",
        default="Automated commits for <commit link> created by CML Runner.",
        modes=("pr",),
    ),
    Variable(
        "CLOSE_SOURCE_BRANCH",
        "Delete the source branch when the PR is merged.",
        default="true",
        modes=("pr",),
        example="'<boolean>'",
    ),
    Variable(
        "MERGE",
        "Merge the PR right after creating it with this strategy: merge_commit, squash or fast_forward.",
        default="no merge",
        modes=("pr",),
    ),
    Variable("AUTHOR", "The commit's author, as `Name <email>`.", default=DEFAULT_AUTHOR, modes=("pr",)),
)

_AUTHOR = re.compile(r"^[^<>\n]+ <[^<>@\s]+@[^<>@\s]+>$")
# git check-ref-format, for a branch name: what Bitbucket would refuse after we had started.
_BAD_REF = re.compile(r"(^[-/.]|/\.|\.\.|//|@\{|[\x00-\x20\x7f~^:?*\[\\]|\.lock$|/$|\.$|^@$)")


@dataclass(frozen=True)
class PrSettings:
    files: tuple[str, ...]
    branch: str = ""  # empty: <target>-cml-pr-<sha8>
    target_branch: str = ""  # empty: the build's branch
    message: str = ""  # empty: CML PR for <sha8>
    skip_ci: bool = True
    title: str = ""  # empty: CML PR for <target> <sha8>
    description: str = ""  # empty: a link to the build's commit
    close_source_branch: bool = True
    merge: MergeStrategy | None = None
    author: str = DEFAULT_AUTHOR
    report: ReportSettings | None = None  # REPORT_FILE and report mode's variables; None: no report


def check_branch_name(name: str, value: str) -> str:
    """The name, or "" for none; refuses what git (and so Bitbucket) would refuse only once we had started."""
    if value and _BAD_REF.search(value):
        raise ConfigError(name, value, "use a valid git branch name (no spaces, '..', '~^:?*[\\', or leading '-')")
    return value


def parse_files(env: Mapping[str, str]) -> tuple[str, ...]:
    """FILES as Bitbucket's array form (FILES_COUNT, FILES_0, ...) or one string of space-separated patterns."""
    count = env.get("FILES_COUNT", "").strip()
    if count:
        if not count.isdigit():
            raise ConfigError("FILES_COUNT", count, "a whole number (Bitbucket sets it for a FILES list)")
        patterns = []
        for i in range(int(count)):
            item = env.get(f"FILES_{i}", "").strip()
            if not item:
                raise ConfigError(f"FILES_{i}", item, f"FILES_COUNT is {count}, so FILES_{i} needs a path or pattern")
            patterns.append(item)
    else:
        raw = env.get("FILES", "")
        try:
            patterns = shlex.split(raw)
        except ValueError as err:
            raise ConfigError("FILES", raw, f"space-separated paths; quote a path with spaces ({err})") from None
    if not patterns:
        raise ConfigError.missing("FILES", "in pr mode, the paths or glob patterns to commit, e.g. 'model/*.joblib'")
    for pattern in patterns:
        if pattern.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", pattern):
            raise ConfigError("FILES", pattern, "paths are relative to the clone directory and stay inside it")
        if has_git_part(pattern):
            # .git/config holds the clone's token in its remote URL; pipe/pr/files.py also refuses any match in .git.
            raise ConfigError("FILES", pattern, "nothing under .git is ever committed (.git/config holds the token)")
    return tuple(patterns)


def load(env: Mapping[str, str]) -> PrSettings:
    def get(name: str) -> str:
        return (env.get(name) or "").strip()

    merge = get("MERGE")
    if merge and merge not in MERGE_STRATEGIES:
        raise ConfigError("MERGE", merge, f"use one of {', '.join(MERGE_STRATEGIES)}, or leave it unset")
    author = get("AUTHOR") or DEFAULT_AUTHOR
    if not _AUTHOR.match(author):
        raise ConfigError("AUTHOR", author, "use 'Name <email>', e.g. 'CML Runner <cml-runner@example.com>'")
    return PrSettings(
        files=parse_files(env),
        branch=check_branch_name("BRANCH", get("BRANCH")),
        target_branch=check_branch_name("TARGET_BRANCH", get("TARGET_BRANCH")),
        message=env.get("MESSAGE", "").strip(),
        skip_ci=parse_bool("SKIP_CI", get("SKIP_CI"), default=True),
        title=check_text("TITLE", get("TITLE"), max_length=255),
        description=env.get("DESCRIPTION", "").strip(),
        close_source_branch=parse_bool("CLOSE_SOURCE_BRANCH", get("CLOSE_SOURCE_BRANCH"), default=True),
        merge=next((s for s in MERGE_STRATEGIES if s == merge), None),
        author=author,
        report=replace(report_config.load(env), update=True) if get("REPORT_FILE") else None,
    )
