"""Bad input through the real entry point: exit 1, one line naming the variable and value, no traceback, no secret."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fixtures_pipe import BASE_ACCESS_TOKEN, BASE_ENV, output_lines, run_pipe, run_pipe_config_only

from pipe.config import COMMAND_CONFIG, all_variables, optional_module
from pipe.config.common import load as load_common
from pipe.errors import PipeError
from pipe.pipe import CmlRunnerPipe

AWS_SECRET = "aws-secret-Kx7Qm2Lp9Vb"
AZURE_SECRET = "azure-secret-Hd4Wn8Rt"
GCP_KEY = "gcp-key-Pz5Jc1Yf"
APP_PASSWORD = "app-password-Ur6Ee0Aa"
API_TOKEN = "atlassian-token-Qb3Nn7Ss"
OIDC_TOKEN = "oidc-token-Tt2Gg5Mm"

# Set in every case, so every error path is also checked for leaking them.
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "AZURE_CLIENT_SECRET": AZURE_SECRET,
    "GCP_CREDENTIALS": GCP_KEY,
    "BITBUCKET_STEP_OIDC_TOKEN": OIDC_TOKEN,
}
ALL_SECRET_VALUES = (BASE_ACCESS_TOKEN, AWS_SECRET, AZURE_SECRET, GCP_KEY, APP_PASSWORD, API_TOKEN, OIDC_TOKEN)
YAML_TRAPS = ("%x", "key: [unclosed")
RUNNER = {"CLOUD": "aws"}

# (case id, env on top of the base env, variable the line must name, value it must show or None)
CASES: list[tuple[str, dict[str, str | None], str, str | None]] = [
    ("command-enum", {"COMMAND": "deploy"}, "COMMAND", "deploy"),
    ("command-yaml", {"COMMAND": "%x"}, "COMMAND", "%x"),
    ("debug-bool", {"DEBUG": "maybe"}, "DEBUG", "maybe"),
    ("dry-run-bool", {"DRY_RUN": "key: [unclosed"}, "DRY_RUN", "key: [unclosed"),
    ("api-url", {"BITBUCKET_API_URL": "ftp://example"}, "BITBUCKET_API_URL", "ftp://example"),
    ("credentials-missing", {"BITBUCKET_ACCESS_TOKEN": None}, "BITBUCKET_ACCESS_TOKEN", None),
    (
        "app-password",
        {"BITBUCKET_ACCESS_TOKEN": None, "BITBUCKET_APP_PASSWORD": APP_PASSWORD},
        "BITBUCKET_APP_PASSWORD",
        None,
    ),
    (
        "email-without-token",
        {"BITBUCKET_ACCESS_TOKEN": None, "ATLASSIAN_ACCOUNT_EMAIL": "me@example.com"},
        "ATLASSIAN_API_TOKEN",
        None,
    ),
    (
        "token-without-email",
        {"BITBUCKET_ACCESS_TOKEN": None, "ATLASSIAN_API_TOKEN": API_TOKEN},
        "ATLASSIAN_ACCOUNT_EMAIL",
        None,
    ),
    (
        "email-malformed",
        {"ATLASSIAN_ACCOUNT_EMAIL": "not-an-email", "ATLASSIAN_API_TOKEN": API_TOKEN},
        "ATLASSIAN_ACCOUNT_EMAIL",
        "not-an-email",
    ),
    ("workspace-missing", {"BITBUCKET_WORKSPACE": None}, "BITBUCKET_WORKSPACE", None),
    ("repo-slug", {"BITBUCKET_REPO_SLUG": "my repo"}, "BITBUCKET_REPO_SLUG", "my repo"),
    ("commit", {"BITBUCKET_COMMIT": "not-a-sha"}, "BITBUCKET_COMMIT", "not-a-sha"),
    ("pr-id", {"BITBUCKET_PR_ID": "12a"}, "BITBUCKET_PR_ID", "12a"),
    ("build-number", {"BITBUCKET_BUILD_NUMBER": "1.5"}, "BITBUCKET_BUILD_NUMBER", "1.5"),
    # It names the repository on every instance: a value that is not a UUID could name another one.
    ("repo-uuid", {"BITBUCKET_REPO_UUID": "acme_ml_seeds"}, "BITBUCKET_REPO_UUID", "acme_ml_seeds"),
    ("cloud-missing", {}, "CLOUD", None),
    ("cloud-enum", {"CLOUD": "digitalocean"}, "CLOUD", "digitalocean"),
    ("cloud-yaml", {"CLOUD": "key: [unclosed"}, "CLOUD", "key: [unclosed"),
    ("region", {**RUNNER, "CLOUD_REGION": "us west"}, "CLOUD_REGION", "us west"),
    ("region-yaml", {**RUNNER, "CLOUD_REGION": "%x"}, "CLOUD_REGION", "%x"),
    ("type", {**RUNNER, "CLOUD_TYPE": "m; reboot"}, "CLOUD_TYPE", "m; reboot"),
    ("gpu", {**RUNNER, "CLOUD_GPU": "t4!"}, "CLOUD_GPU", "t4!"),
    ("spot-bool", {**RUNNER, "CLOUD_SPOT": "sometimes"}, "CLOUD_SPOT", "sometimes"),
    ("spot-price-negative", {**RUNNER, "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "-5"}, "CLOUD_SPOT_PRICE", "-5"),
    ("spot-price-text", {**RUNNER, "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "cheap"}, "CLOUD_SPOT_PRICE", "cheap"),
    ("spot-price-zero", {**RUNNER, "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "0"}, "CLOUD_SPOT_PRICE", "0"),
    ("spot-price-without-spot", {**RUNNER, "CLOUD_SPOT_PRICE": "0.5"}, "CLOUD_SPOT_PRICE", "0.5"),
    (
        "spot-price-gcp",
        {"CLOUD": "gcp", "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "0.5"},
        "CLOUD_SPOT_PRICE",
        "0.5",
    ),
    (  # it would be sent to Azure as 0 (5 decimals), which Azure refuses after the network is made
        "spot-price-azure-rounds-to-0",
        {"CLOUD": "azure", "CLOUD_SPOT": "true", "CLOUD_SPOT_PRICE": "0.000004"},
        "CLOUD_SPOT_PRICE",
        "0.000004",
    ),
    ("hdd-negative", {**RUNNER, "CLOUD_HDD_SIZE": "-10"}, "CLOUD_HDD_SIZE", "-10"),
    ("hdd-zero", {**RUNNER, "CLOUD_HDD_SIZE": "0"}, "CLOUD_HDD_SIZE", "0"),
    ("hdd-float", {**RUNNER, "CLOUD_HDD_SIZE": "1e3"}, "CLOUD_HDD_SIZE", "1e3"),
    ("hdd-huge", {**RUNNER, "CLOUD_HDD_SIZE": "99999"}, "CLOUD_HDD_SIZE", "99999"),
    ("image-azure", {"CLOUD": "azure", "CLOUD_IMAGE": "ubuntu"}, "CLOUD_IMAGE", "ubuntu"),
    ("image-gcp", {"CLOUD": "gcp", "CLOUD_IMAGE": "ubuntu"}, "CLOUD_IMAGE", "ubuntu"),
    ("startup-too-big", {**RUNNER, "CLOUD_STARTUP_SCRIPT": "echo hi\n" * 2000}, "CLOUD_STARTUP_SCRIPT", "echo hi"),
    ("permission-aws", {**RUNNER, "CLOUD_PERMISSION_SET": "not a profile!"}, "CLOUD_PERMISSION_SET", "not a profile!"),
    ("permission-gcp", {"CLOUD": "gcp", "CLOUD_PERMISSION_SET": "nobody"}, "CLOUD_PERMISSION_SET", "nobody"),
    ("aws-subnet", {**RUNNER, "CLOUD_AWS_SUBNET": "net-12"}, "CLOUD_AWS_SUBNET", "net-12"),
    (
        "aws-subnet-on-gcp",
        {"CLOUD": "gcp", "CLOUD_AWS_SUBNET": "subnet-0abc1234"},
        "CLOUD_AWS_SUBNET",
        "subnet-0abc1234",
    ),
    ("aws-group", {**RUNNER, "CLOUD_AWS_SECURITY_GROUP": "bad\tgroup"}, "CLOUD_AWS_SECURITY_GROUP", None),
    ("metadata-no-value", {**RUNNER, "CLOUD_METADATA": "team"}, "CLOUD_METADATA", "team"),
    ("metadata-reserved", {**RUNNER, "CLOUD_METADATA": "cml-runner-uuid=x"}, "CLOUD_METADATA", "cml-runner-uuid=x"),
    ("metadata-yaml", {**RUNNER, "CLOUD_METADATA": "key: [unclosed"}, "CLOUD_METADATA", "key: [unclosed"),
    ("idle-unit", {**RUNNER, "IDLE_TIMEOUT": "5 parsecs"}, "IDLE_TIMEOUT", "5 parsecs"),
    ("idle-negative", {**RUNNER, "IDLE_TIMEOUT": "-5m"}, "IDLE_TIMEOUT", "-5m"),
    ("idle-yaml", {**RUNNER, "IDLE_TIMEOUT": "%x"}, "IDLE_TIMEOUT", "%x"),
    ("lifetime-never", {**RUNNER, "MAX_LIFETIME": "never"}, "MAX_LIFETIME", "never"),
    ("lifetime-shorter-than-idle", {**RUNNER, "MAX_LIFETIME": "1m"}, "MAX_LIFETIME", "1m"),
    ("lifetime-too-long", {**RUNNER, "MAX_LIFETIME": "100d"}, "MAX_LIFETIME", "100d"),
    ("wait-malformed", {**RUNNER, "WAIT_TIMEOUT": "forever"}, "WAIT_TIMEOUT", "forever"),
    ("wait-zero", {**RUNNER, "WAIT_TIMEOUT": "0"}, "WAIT_TIMEOUT", "0"),
    ("reuse-bool", {**RUNNER, "REUSE": "perhaps"}, "REUSE", "perhaps"),
    ("reuse-idle-bool", {**RUNNER, "REUSE_IDLE": "2"}, "REUSE_IDLE", "2"),
    ("single-bool", {**RUNNER, "SINGLE": "once"}, "SINGLE", "once"),
    ("reuse-and-single", {**RUNNER, "REUSE": "true", "SINGLE": "true"}, "SINGLE", None),
    ("reuse-and-reuse-idle", {**RUNNER, "REUSE": "true", "REUSE_IDLE": "true"}, "REUSE_IDLE", None),
    ("reuse-idle-and-single", {**RUNNER, "REUSE_IDLE": "true", "SINGLE": "true"}, "SINGLE", None),
    ("labels-upper", {**RUNNER, "LABELS": "GPU"}, "LABELS", "GPU"),
    ("labels-space", {**RUNNER, "LABELS": "cml runner"}, "LABELS", "cml runner"),
    ("labels-braces", {**RUNNER, "LABELS": "{gpu}"}, "LABELS", "{gpu}"),
    ("labels-quotes", {**RUNNER, "LABELS": "'gpu'"}, "LABELS", "'gpu'"),
    ("labels-too-long", {**RUNNER, "LABELS": "a" * 51}, "LABELS", "aaaa"),
    ("labels-empty", {**RUNNER, "LABELS": " , "}, "LABELS", " , "),
    ("labels-windows", {**RUNNER, "LABELS": "windows"}, "LABELS", "windows"),
    ("labels-dash", {**RUNNER, "LABELS": "cml-gpu"}, "LABELS", "cml-gpu"),
    ("labels-reserved-prefix", {**RUNNER, "LABELS": "atlassian.gpu"}, "LABELS", "atlassian.gpu"),
    ("labels-eleven", {**RUNNER, "LABELS": ",".join(f"l{i}" for i in range(10))}, "LABELS", "l0,l1"),
    ("labels-marker", {**RUNNER, "LABELS": "cml.runner.pipe"}, "LABELS", None),
    ("aws-v100-default-image", {**RUNNER, "CLOUD_GPU": "v100"}, "CLOUD_GPU", "v100"),
    ("aws-p3-default-image", {**RUNNER, "CLOUD_TYPE": "p3.2xlarge"}, "CLOUD_TYPE", "p3.2xlarge"),
    ("labels-yaml", {**RUNNER, "LABELS": "key: [unclosed"}, "LABELS", "key: [unclosed"),
    ("name-upper", {**RUNNER, "NAME": "My-Runner"}, "NAME", "My-Runner"),
    ("name-dash", {**RUNNER, "NAME": "-runner"}, "NAME", "-runner"),
    ("name-long", {**RUNNER, "NAME": "r" * 51}, "NAME", "rrrr"),
    ("gcp-external-ip", {"CLOUD": "gcp", "GCP_EXTERNAL_IP": "public"}, "GCP_EXTERNAL_IP", "public"),
    ("azure-public-ip", {"CLOUD": "azure", "AZURE_PUBLIC_IP": "nah"}, "AZURE_PUBLIC_IP", "nah"),
    ("runner-scope", {**RUNNER, "RUNNER_SCOPE": "project"}, "RUNNER_SCOPE", "project"),
    ("oidc-role", {**RUNNER, "AWS_OIDC_ROLE_ARN": "cml-role"}, "AWS_OIDC_ROLE_ARN", "cml-role"),
    ("gcp-project", {"CLOUD": "gcp", "GCP_PROJECT": "My Project"}, "GCP_PROJECT", "My Project"),
    ("aws-endpoint", {**RUNNER, "AWS_ENDPOINT_URL": "localhost:5000"}, "AWS_ENDPOINT_URL", "localhost:5000"),
    ("gcp-endpoint", {"CLOUD": "gcp", "GCP_COMPUTE_ENDPOINT": "nope"}, "GCP_COMPUTE_ENDPOINT", "nope"),
    (
        "azure-endpoint",
        {"CLOUD": "azure", "AZURE_RESOURCE_MANAGER_ENDPOINT": "nope"},
        "AZURE_RESOURCE_MANAGER_ENDPOINT",
        "nope",
    ),
]


def assert_one_line_error(proc_env: dict[str, str | None], variable: str, value: str | None) -> str:
    proc = run_pipe({**SECRETS, **proc_env})
    lines = output_lines(proc)
    everything = proc.stdout + proc.stderr
    assert proc.returncode == 1, everything
    assert "Traceback" not in everything
    assert len(lines) == 1, lines
    line = lines[0]
    assert variable in line
    if value is not None:
        assert repr(value)[:20] in line or value[:20] in line, line
    for secret in ALL_SECRET_VALUES:
        assert secret not in everything
    return line


@pytest.mark.parametrize(("env", "variable", "value"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_is_one_line_naming_variable(env: dict[str, str | None], variable: str, value: str | None) -> None:
    assert_one_line_error(env, variable, value)


def test_app_password_message_says_what_to_use() -> None:
    line = assert_one_line_error(
        {"BITBUCKET_ACCESS_TOKEN": None, "BITBUCKET_APP_PASSWORD": APP_PASSWORD}, "BITBUCKET_APP_PASSWORD", None
    )
    assert "2026-07-28" in line
    assert "BITBUCKET_ACCESS_TOKEN" in line and "ATLASSIAN_API_TOKEN" in line


def test_missing_credentials_names_both_options() -> None:
    line = assert_one_line_error({"BITBUCKET_ACCESS_TOKEN": None}, "BITBUCKET_ACCESS_TOKEN", None)
    assert "ATLASSIAN_ACCOUNT_EMAIL" in line and "ATLASSIAN_API_TOKEN" in line


def test_conflict_names_both_variables() -> None:
    line = assert_one_line_error({**RUNNER, "REUSE": "true", "SINGLE": "true"}, "REUSE", None)
    assert "SINGLE" in line


def test_secret_base64_and_urlencoded_forms_are_masked_too() -> None:
    token = "tok/en+with=chars-123"
    proc = run_pipe({"BITBUCKET_ACCESS_TOKEN": token, "COMMAND": token})
    everything = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert token not in everything
    assert "COMMAND" in everything


def test_secret_used_as_a_plain_value_is_masked() -> None:
    # A secret pasted into the wrong variable is still a secret.
    line = assert_one_line_error({**RUNNER, "LABELS": AWS_SECRET}, "LABELS", None)
    assert "********" in line


def test_schema_declares_every_variable_as_string() -> None:
    """The toolkit YAML-parses any non-string variable, and a YAML error there is an uncaught traceback."""
    schema = CmlRunnerPipe(dict(BASE_ENV)).schema
    assert {v.name for v in all_variables()} == set(schema)
    assert {rule["type"] for rule in schema.values()} == {"string"}


@pytest.mark.parametrize("variable", sorted(v.name for v in all_variables() if not v.context))
def test_yaml_trap_in_any_variable_is_handled(variable: str) -> None:
    """Every declared variable, of every mode, given text YAML cannot parse: accepted or one user-facing line.

    In-process over the same code path the entry point runs (toolkit validation, common settings, the
    command's settings); the subprocess cases above cover the process boundary.
    """
    declared = {v.name: v for v in all_variables()}[variable]
    command = next((m for m in declared.modes if m != "all"), "runner")
    env = {**BASE_ENV, **SECRETS, **RUNNER, "COMMAND": command, variable: " ".join(YAML_TRAPS)}
    try:
        CmlRunnerPipe(env)
        common = load_common(env)
        config = optional_module(COMMAND_CONFIG[common.command])
        if config is not None:
            config.load(env)
    except Exception as err:  # noqa: BLE001  # the assertion is about which exceptions
        assert isinstance(err, PipeError), repr(err)
        assert "\n" not in str(err)
        for secret in ALL_SECRET_VALUES:
            assert secret not in str(err)


def test_internal_error_is_one_line_and_traceback_only_with_debug() -> None:
    script = (
        "import pipe.config.common as c\n"
        "def boom(env):\n"
        f"    raise RuntimeError('exploded near {AWS_SECRET}')\n"
        "c.load = boom\n"
        "import pipe.pipe as p\n"
        "p.load_common = boom\n"
        "raise SystemExit(p.main())\n"
    )
    quiet = run_pipe({**SECRETS, **RUNNER}, args=("-c", script))
    assert quiet.returncode == 1
    assert output_lines(quiet) == [
        "✖ internal error: RuntimeError: exploded near ********. This is a bug in the pipe: please report it at "
        "https://bitbucket.org/cml-runner/cml-runner/issues (run again with DEBUG: 'true' for a traceback to add)"
    ]

    loud = run_pipe({**SECRETS, **RUNNER, "DEBUG": "true"}, args=("-c", script))
    everything = loud.stdout + loud.stderr
    assert loud.returncode == 1
    assert "Traceback" in everything
    assert AWS_SECRET not in everything
    assert base64.b64encode(AWS_SECRET.encode()).decode()[:16] not in everything


def test_a_pipe_error_is_the_users_line_wherever_its_class_is_defined() -> None:
    """The entry point decides by the error root (pipe/errors.py), not by the module a class lives in."""
    script = (
        "from pipe.errors import PipeError\n"
        "class OutsideError(PipeError):\n"
        "    pass\n"
        "def refuse(env):\n"
        "    raise OutsideError('CLOUD_TYPE: fix me')\n"
        "import pipe.pipe as p\n"
        "p.load_common = refuse\n"
        "raise SystemExit(p.main())\n"
    )
    proc = run_pipe({**SECRETS, **RUNNER}, args=("-c", script))
    assert proc.returncode == 1
    assert output_lines(proc) == ["✖ CLOUD_TYPE: fix me"]


def test_an_exception_of_a_pipe_module_outside_the_root_is_a_bug_to_report() -> None:
    """A class defined in pipe/ that is not a PipeError (the Bitbucket parser's ShapeError, a ValueError) is a
    bug when it escapes: 'internal error' and please report, not a line dressed as the user's mistake."""
    script = (
        "from pipe.bitbucket.parse import ShapeError\n"
        "def boom(env):\n"
        "    raise ShapeError('a runner with no uuid')\n"
        "import pipe.pipe as p\n"
        "p.load_common = boom\n"
        "raise SystemExit(p.main())\n"
    )
    proc = run_pipe({**SECRETS, **RUNNER}, args=("-c", script))
    assert proc.returncode == 1
    (line,) = output_lines(proc)
    assert line.startswith("✖ internal error: ShapeError: a runner with no uuid. This is a bug in the pipe: please")


def test_command_not_built_yet_is_one_clear_line() -> None:
    script = "import pipe.pipe as p\np.optional_module = lambda name: None\nraise SystemExit(p.main())\n"
    proc = run_pipe({**SECRETS, **RUNNER, "COMMAND": "sweep"}, args=("-c", script))
    assert proc.returncode == 1
    assert output_lines(proc) == [
        "✖ COMMAND: 'sweep' is not available in this version of the pipe yet; available: none"
    ]


def test_valid_variables_pass_validation() -> None:
    proc = run_pipe_config_only(
        {
            **SECRETS,
            "CLOUD": "gcp",
            "CLOUD_REGION": "europe-west4-a",
            "CLOUD_TYPE": "n1-standard-8",
            "CLOUD_GPU": "nvidia-tesla-t4",
            "CLOUD_SPOT": "true",
            "CLOUD_HDD_SIZE": "100",
            "CLOUD_IMAGE": "ubuntu-os-cloud/ubuntu-2204-lts",
            "CLOUD_METADATA": "team=ml,cost-center=42",
            "IDLE_TIMEOUT": "never",
            "MAX_LIFETIME": "1d",
            "REUSE": "true",
            "LABELS": "cml.runner, gpu",
            "NAME": "cml-train-1",
            "WAIT_TIMEOUT": "15min",
            "DRY_RUN": "true",
        }
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✔ configuration is valid" in output_lines(proc)


def test_a_key_file_path_is_not_a_secret_but_an_unknown_credential_value_is(tmp_path: Path) -> None:
    """Variables are masked by name when undeclared, except values that name a file: the key is in the file."""
    key_file = tmp_path / "key.json"
    key_file.write_text("{}")
    guessed = "value-of-an-sdk-credential-9d8f"
    line = assert_one_line_error(
        {
            **RUNNER,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
            "SOME_SDK_CREDENTIALS": guessed,
            "LABELS": f"{key_file} {guessed}",
        },
        "LABELS",
        None,
    )
    assert str(key_file) in line
    assert guessed not in line
