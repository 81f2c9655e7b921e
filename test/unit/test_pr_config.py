"""PR mode's variables -> PrSettings: defaults, both FILES forms, and one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipe.config.pr import DEFAULT_AUTHOR, VARIABLES, PrSettings, load
from pipe.config.variables import ConfigError


def test_defaults_with_only_files() -> None:
    assert load({"FILES": "model/rf.joblib"}) == PrSettings(files=("model/rf.joblib",))
    s = load({"FILES": "model/rf.joblib"})
    assert s.author == DEFAULT_AUTHOR
    assert s.close_source_branch is True
    assert s.merge is None
    assert s.skip_ci is True  # PR mode's push starts no pipeline unless SKIP_CI says so
    assert load({"FILES": "model/rf.joblib", "SKIP_CI": "false"}).skip_ci is False


def test_files_as_space_separated_string_with_quotes() -> None:
    assert load({"FILES": " model/*.joblib  'report dir/a.md' **/*.csv"}).files == (
        "model/*.joblib",
        "report dir/a.md",
        "**/*.csv",
    )


def test_files_as_bitbucket_array_wins_over_string() -> None:
    env = {"FILES_COUNT": "2", "FILES_0": "model/a.bin", "FILES_1": "metrics/**/*.json", "FILES": "ignored"}
    assert load(env).files == ("model/a.bin", "metrics/**/*.json")


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({}, "FILES", "FILES is required: in pr mode"),
        ({"FILES": "   "}, "FILES", "FILES is required: in pr mode"),
        ({"FILES_COUNT": "two"}, "FILES_COUNT", "'two'"),
        ({"FILES_COUNT": "2", "FILES_0": "a"}, "FILES_1", "FILES_COUNT is 2"),
        ({"FILES": "'unclosed"}, "FILES", "quote"),
        ({"FILES": "/etc/passwd"}, "FILES", "relative to the clone directory"),
        ({"FILES": "model/../../secret"}, "FILES", "relative to the clone directory"),
        ({"FILES": "a", "MERGE": "rebase"}, "MERGE", "merge_commit, squash, fast_forward"),
        ({"FILES": "a", "SKIP_CI": "maybe"}, "SKIP_CI", "true or false"),
        ({"FILES": "a", "CLOSE_SOURCE_BRANCH": "yes please"}, "CLOSE_SOURCE_BRANCH", "true or false"),
        ({"FILES": "a", "BRANCH": "has space"}, "BRANCH", "git branch name"),
        ({"FILES": "a", "BRANCH": "a..b"}, "BRANCH", "git branch name"),
        ({"FILES": "a", "TARGET_BRANCH": "-main"}, "TARGET_BRANCH", "git branch name"),
        ({"FILES": "a", "AUTHOR": "just a name"}, "AUTHOR", "Name <email>"),
        ({"FILES": "a", "TITLE": "x" * 256}, "TITLE", "at most 255 characters"),
    ],
)
def test_bad_values_name_variable_value_and_what_is_allowed(env: dict[str, str], variable: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(env)
    assert err.value.variable == variable
    message = str(err.value)
    assert message.startswith(variable)
    assert fragment in message
    assert "\n" not in message


def test_all_values_parsed(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("# Report\n")
    s = load(
        {
            "BITBUCKET_CLONE_DIR": str(tmp_path),
            "FILES": "m.bin",
            "BRANCH": "feature/model",
            "TARGET_BRANCH": "develop",
            "MESSAGE": "New model",
            "SKIP_CI": "True",
            "TITLE": "Model",
            "DESCRIPTION": "Trained",
            "CLOSE_SOURCE_BRANCH": "false",
            "MERGE": "squash",
            "AUTHOR": "Bot <bot@example.com>",
            "REPORT_FILE": "report.md",
        }
    )
    assert s.report is not None and s.report.report_file == tmp_path.resolve() / "report.md" and s.report.update
    assert s == PrSettings(
        files=("m.bin",),
        branch="feature/model",
        target_branch="develop",
        message="New model",
        skip_ci=True,
        title="Model",
        description="Trained",
        close_source_branch=False,
        merge="squash",
        author="Bot <bot@example.com>",
        report=s.report,
    )


def test_declared_for_pr_mode_only_and_report_file_not_redeclared() -> None:
    names = [v.name for v in VARIABLES]
    assert names == [
        "FILES",
        "BRANCH",
        "TARGET_BRANCH",
        "MESSAGE",
        "SKIP_CI",
        "TITLE",
        "DESCRIPTION",
        "CLOSE_SOURCE_BRANCH",
        "MERGE",
        "AUTHOR",
    ]
    assert all(v.modes == ("pr",) for v in VARIABLES)
    assert [v.name for v in VARIABLES if v.required] == ["FILES"]
