"""The boot script's rendering (pipe/bootstrap/render.py) held at its edges (issue #20): each cloud's user-data
limit to the byte, the refusals of values that must never reach a VM, and the runner's environment read back
verbatim. Each test's docstring names the mutants it kills (`make mutate MODULE=render.py`)."""

from __future__ import annotations

import base64
import gzip
import random

import pytest

from pipe.bootstrap import BootConfig, masked, render_startup_script, render_user_data, runner_env_from_script
from pipe.bootstrap.render import render_bake_script

RECIPE = "0123456789ab"
# The vendors' limits on the raw user data, written here rather than read from render.py, so a limit moved
# there is caught: AWS 16 KB "in raw form, before it is base64-encoded"
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html); a GCP metadata value
# "less than or equal to 262144 bytes (256 KiB)" (Compute Engine API, Metadata.items[].value); Azure's custom
# data, 64 KB once base64-encoded, 49152 bytes raw.
LIMIT = {"aws": 16384, "azure": 49152, "gcp": 262144}


def make_cfg(cloud: str = "aws", **kw: object) -> BootConfig:
    base: dict[str, object] = dict(
        cloud=cloud,
        account_uuid="{11111111-2222-3333-4444-555555555555}",
        repository_uuid="{21111111-2222-3333-4444-555555555555}",
        runner_uuid="{0a1b2c3d-1111-2222-3333-444455556666}",
        runner_name="cml-abcdefghij",
        oauth_client_id="Zk2CLIENTidX",
        oauth_client_secret="s3cr3t-OAuth_Value.9",
        idle_timeout_s=300,
        max_lifetime_s=3 * 3600,
        single=False,
        gpu=False,
    )
    base.update(kw)
    return BootConfig(**base)  # type: ignore[arg-type]


def with_user_script(cloud: str, size: int, filler: str = "a") -> BootConfig:
    """A config whose rendered script is exactly `size` bytes, the user's script padded with `filler`."""
    empty = len(render_startup_script(make_cfg(cloud, user_startup_script="echo ")).encode())
    cfg = make_cfg(cloud, user_startup_script="echo " + filler[: size - empty])
    assert len(render_startup_script(cfg).encode()) == size
    return cfg


# --- each cloud's user-data limit, to the byte


@pytest.mark.parametrize("cloud", ["aws", "azure", "gcp"])
def test_a_script_exactly_at_the_clouds_limit_goes_as_text_and_one_byte_more_does_not(cloud: str) -> None:
    """The limits are the vendors' on the raw bytes (LIMIT). At the limit the script goes as plain text; one
    byte over, AWS and Azure get it gzipped (cloud-init decompresses it) and GCP, which has no gzip, refuses it
    in one line. Kills the limits moved by one (16384/49152/262144 to ±1) and `len(raw) <= limit` to `<`."""
    limit = LIMIT[cloud]
    filler = "a" * limit  # compresses to almost nothing: the gzip fits any cloud
    at_limit = with_user_script(cloud, limit, filler)
    assert render_user_data(at_limit) == render_startup_script(at_limit)
    over = with_user_script(cloud, limit + 1, filler)
    if cloud == "gcp":
        with pytest.raises(ValueError, match=rf"is {limit + 1} bytes, over the gcp user-data limit of {limit} bytes"):
            render_user_data(over)
    else:
        data = render_user_data(over)
        plain = render_startup_script(over, programs="plain")
        assert isinstance(data, bytes) and gzip.decompress(data).decode() == plain


# --- what render refuses: a bad value stops the launch before anything is rendered


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_lifetime_s": 0}, "max_lifetime_s must be > 0"),
        ({"max_lifetime_s": -1}, "max_lifetime_s must be > 0"),
        ({"idle_timeout_s": -1}, "idle_timeout_s >= 0"),
        ({"runner_uuid": ""}, "account_uuid and runner_uuid are required"),
        ({"account_uuid": ""}, "account_uuid and runner_uuid are required"),
        ({"oauth_client_id": ""}, "oauth_client_id must be non-empty"),
        ({"oauth_client_id": "id with space"}, "oauth_client_id must be non-empty printable ASCII"),
    ],
)
def test_a_lifetime_that_ends_at_once_or_a_missing_identity_is_refused(change: dict[str, object], message: str) -> None:
    """A MAX_LIFETIME of 0 would power the VM off as it boots; a negative idle timeout or a boot without the
    account or runner uuid or client id would start a runner that can never connect. Kills `max_lifetime_s <= 0`
    moved to `<= -1` or `< 0`, `or` to `and` between the lifetime checks, `is not None` to `is` on the idle
    timeout and its `< 0` moved to `< -1`, the uuid check's `or` to `and` (only one of them empty), and the
    client-id/secret loop run zero times."""
    with pytest.raises(ValueError, match=message):
        render_startup_script(make_cfg(**change))


@pytest.mark.parametrize(
    "change",
    [
        {"max_lifetime_s": 1},
        {"idle_timeout_s": 0},
        {"idle_timeout_s": None},
        {"repository_uuid": ""},
        {"oauth_client_secret": "~!x"},
    ],
)
def test_the_smallest_allowed_values_render(change: dict[str, object]) -> None:
    """The edges of what render accepts (its message says it: `max_lifetime_s must be > 0 and idle_timeout_s
    >= 0 or None`): one second of lifetime, an idle timeout of 0 or never, a workspace runner (no repository),
    a three-character secret. Kills `max_lifetime_s <= 0` moved to `<= 1` and `idle_timeout_s < 0` moved to
    `<= 0` or `< 1`."""
    cfg = make_cfg(**change)
    env = runner_env_from_script(render_startup_script(cfg))
    assert env["RUNNER_UUID"] == cfg.runner_uuid and env["OAUTH_CLIENT_SECRET"] == cfg.oauth_client_secret


def test_the_backup_power_off_comes_two_minutes_after_max_lifetime() -> None:
    """README (MAX_LIFETIME): the instance enforces it twice, the agent and a systemd timer two minutes later.
    The sandbox's boot tests measure the timer against the clock, within a minute, so they cannot tell 119 s
    from 120 s; the script the VM gets says it. Kills LIFETIME_BACKUP_GRACE_S = 120 moved by one."""
    script = render_startup_script(make_cfg(max_lifetime_s=3600))
    assert "\nMAX_LIFETIME_S=3600\n" in script and "\nLIFETIME_BACKUP_GRACE_S=120\n" in script


def test_a_secret_with_equals_signs_reaches_the_runner_verbatim_and_is_masked_whole() -> None:
    """Client secrets may hold `=` (base64 padding). The runner's env file line is split at the first `=` only,
    and DRY_RUN's masked script hides the whole secret. Kills `line.split("=", 1)` to `split("=", 2)`."""
    secret = "c2VjcmV0=x=="
    script = render_startup_script(make_cfg(oauth_client_secret=secret))
    assert runner_env_from_script(script)["OAUTH_CLIENT_SECRET"] == secret
    shown = masked(script)
    assert secret not in shown and "OAUTH_CLIENT_SECRET=***\n" in shown and "x==" not in shown


def test_a_plain_text_user_data_given_as_bytes_is_read_as_text() -> None:
    """runner_env_from_script takes what a cloud hands back: text, gzip bytes, or plain bytes (user data read
    back undecoded). Kills the gzip magic compared on 3 bytes or negated."""
    script = render_startup_script(make_cfg())
    assert runner_env_from_script(script.encode()) == runner_env_from_script(script)
    assert runner_env_from_script(gzip.compress(script.encode()))["RUNNER_UUID"] == make_cfg().runner_uuid


# --- the bake role's refusals


@pytest.mark.parametrize(
    ("cloud", "recipe", "deadline_s", "image"),
    [
        ("oci", RECIPE, 2400, None),
        ("aws", "01234", 2400, None),  # 5 hex digits: too short
        ("aws", "0" * 65, 2400, None),
        ("aws", "0123456789AB", 2400, None),  # the recipe hash is lower-case hex
        ("aws", RECIPE, 0, None),
        ("aws", RECIPE, -1, None),
        ("aws", RECIPE, 2400, "img; rm -rf /"),
    ],
)
def test_a_bake_script_with_a_bad_value_is_refused(cloud: str, recipe: str, deadline_s: int, image: str | None) -> None:
    """The bake's values go into a root shell script: an unknown cloud, a recipe that is not a hash, a deadline
    that powers off at once or an image reference with shell in it are refused. Kills the bake check's `or`s
    to `and`, `deadline_s <= 0` moved to `< 0` or `<= -1`, and the negations dropped."""
    extra = {} if image is None else {"runner_image": image}
    with pytest.raises(ValueError, match=r"bad bake script values|runner_image is not an image reference"):
        render_bake_script(cloud, gpu=False, recipe=recipe, deadline_s=deadline_s, **extra)


@pytest.mark.parametrize(("recipe", "deadline_s"), [("012345", 1), ("f" * 64, 2400)])
def test_the_bake_scripts_edges_render(recipe: str, deadline_s: int) -> None:
    """6 and 64 hex digits and a 1-second deadline are allowed. Kills `deadline_s <= 0` moved to `<= 1`."""
    script = render_bake_script("gcp", gpu=False, recipe=recipe, deadline_s=deadline_s)
    assert f"\nMAX_LIFETIME_S={deadline_s}\n" in script and recipe in script


# --- the gzip's own limit (last: its search takes longest)


def test_a_gzipped_script_exactly_at_the_aws_limit_is_accepted_and_one_byte_more_is_refused() -> None:
    """The gzip must fit the same 16 KB: a script whose gzip is exactly 16384 bytes is handed over, one whose
    gzip is 16385 bytes is refused with the sizes. Hard-to-compress noise grows the gzip about a byte per
    1.3 characters, so a padding that lands on each size exists; it is searched for. Kills
    `len(packed) <= limit` to `<` (and `>`). (The compression level 9 to 8 is not a bug: mutation/equivalents.md.)"""
    limit = LIMIT["aws"]
    noise = base64.b64encode(random.Random(7).randbytes(18_000)).decode()  # noqa: S311 - reproducible noise

    # The user's script goes in verbatim (test_bootstrap_script.py pins that): render once around a marker and
    # put each padding in its place, then check the chosen paddings through render_user_data itself.
    around = render_startup_script(make_cfg(user_startup_script="echo CML-NOISE"), programs="plain").encode()

    def gzipped_size(chars: int) -> int:
        return len(gzip.compress(around.replace(b"CML-NOISE", noise[:chars].encode()), 9, mtime=0))

    found: dict[int, int] = {}
    low, high = 0, len(noise)
    while low < high:  # the fewest characters whose gzip reaches the limit
        middle = (low + high) // 2
        if gzipped_size(middle) < limit:
            low = middle + 1
        else:
            high = middle
    for chars in range(low, low + 40):
        found.setdefault(gzipped_size(chars), chars)
    assert limit in found and limit + 1 in found, sorted(found)

    fits = make_cfg(user_startup_script="echo " + noise[: found[limit]])
    data = render_user_data(fits)
    assert isinstance(data, bytes) and len(data) == limit
    assert gzip.decompress(data).decode() == render_startup_script(fits, programs="plain")
    with pytest.raises(ValueError, match=r"over the aws user-data limit of 16384 bytes even compressed"):
        render_user_data(make_cfg(user_startup_script="echo " + noise[: found[limit + 1]]))
