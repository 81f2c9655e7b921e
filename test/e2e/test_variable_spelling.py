"""Variables that look like the pipe's but are not (issue 30, item 3): a misspelling or CML's flag name is one
warning line naming the variable meant; STRICT_VARIABLES: 'true' makes it the error; Bitbucket's own variables
and the user's unrelated ones stay silent. Through the real entry point, in runner mode's DRY_RUN."""

from __future__ import annotations

import pytest
from fixtures_pipe import output_lines, run_pipe, strip_ansi

from pipe.config.spelling import distance

DRY = {"CLOUD": "aws", "DRY_RUN": "true"}


def warnings_of(env: dict[str, str]) -> tuple[int, list[str], str]:
    proc = run_pipe({**DRY, **env})
    lines = output_lines(proc)
    return proc.returncode, [line for line in lines if "is not a variable of this pipe" in line], "\n".join(lines)


@pytest.mark.parametrize(
    ("variable", "value", "meant"),
    [
        ("IDLE_TIMOUT", "30min", "did you mean IDLE_TIMEOUT?"),
        ("CLOUD_SPTO", "true", "did you mean CLOUD_SPOT?"),  # two letters swapped: one edit
        ("idle_timeout", "30min", "did you mean IDLE_TIMEOUT?"),  # case
        ("BITBUCKET_ACESS_TOKEN", "token-Hq7Wz2Kd", "did you mean BITBUCKET_ACCESS_TOKEN?"),
        ("SPOT", "true", "CML's --cloud-spot is CLOUD_SPOT here"),
        ("CLOUD_HDD", "50", "CML's --cloud-hdd-size is CLOUD_HDD_SIZE here"),
        ("IDLE", "300", "CML's --idle-timeout is IDLE_TIMEOUT here"),
        ("NO_RETRY", "true", "CML's --no-retry (the pipe never re-runs a pipeline) has no counterpart here"),
    ],
)
def test_a_near_miss_is_one_warning_naming_the_variable_meant(variable: str, value: str, meant: str) -> None:
    code, found, out = warnings_of({variable: value})
    assert code == 0, out
    assert found == [
        f"WARNING: {variable} is not a variable of this pipe and is ignored: {meant} "
        "(STRICT_VARIABLES: 'true' makes this an error)"
    ]
    assert "token-Hq7Wz2Kd" not in out  # a value is never shown: a misspelt token is still a secret


def test_strict_variables_makes_it_the_one_error_line_and_exit_1() -> None:
    proc = run_pipe({**DRY, "IDLE_TIMOUT": "30min", "SPOT": "true", "STRICT_VARIABLES": "true"})
    assert proc.returncode == 1
    last = strip_ansi(proc.stdout).strip().splitlines()[-1]
    assert last == (
        "✖ IDLE_TIMOUT is not a variable of this pipe: did you mean IDLE_TIMEOUT? (and 1 more such variable(s)) "
        "(STRICT_VARIABLES: 'true')"
    )
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bitbucket_s_own_variables_and_unrelated_ones_stay_silent() -> None:
    # Bitbucket's default variables (support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/), a
    # container's own, and a user's: none is near one of ours. NAMES and HOME are two edits or less from NAME,
    # which is why short names must match all but exactly.
    theirs = {
        "CI": "true", "BITBUCKET_TAG": "v1", "BITBUCKET_REPO_FULL_NAME": "w/r", "BITBUCKET_PARALLEL_STEP": "0",
        "BITBUCKET_PROJECT_KEY": "PRJ", "BITBUCKET_DEPLOYMENT_ENVIRONMENT": "prod", "BITBUCKET_EXIT_CODE": "0",
        "PIPELINES_JWT_TOKEN": "jwt", "HOSTNAME": "a1b2", "PYTHON_VERSION": "3.12", "NAMES": "a,b",
        "MY_DATASET": "s3://bucket", "TRAINING_EPOCHS": "10", "MODEL": "resnet", "DOCKER_HOST": "tcp://x",
    }  # fmt: skip
    code, found, out = warnings_of({**theirs, "STRICT_VARIABLES": "true"})
    assert (code, found) == (0, []), out


def test_the_distance_counts_a_swap_as_one_edit() -> None:
    assert distance("IDLE_TIMOUT", "IDLE_TIMEOUT") == 1
    assert distance("CLOUD_SPTO", "CLOUD_SPOT") == 1
    assert distance("HOME", "NAME") == 2
    assert distance("", "ABC") == 3
