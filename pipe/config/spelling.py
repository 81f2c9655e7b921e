"""Variables in the step's environment that look like ours but are not: a misspelling, or CML's flag name.

The toolkit drops every variable the schema does not declare (Cerberus `purge_unknown`), so `IDLE_TIMOUT: 30min`
would silently leave the 5-minute default, and `SPOT: 'true'` an on-demand instance. A name within a small edit
distance of one of ours (case and `-` for `_` ignored), or one of CML's `cml runner launch` flag names, is one
warning line naming the variable meant; STRICT_VARIABLES: 'true' makes it the error line. Bitbucket's own
variables, the container's and the user's unrelated ones stay silent.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

# CML's flags (bin/cml/runner/launch.js, /work/shared/CML-REFERENCE.md "Runner options") as a user would write
# them as variables, where our name differs: flag -> our variable, or "" when the pipe has no counterpart.
CML_FLAGS: dict[str, tuple[str, str]] = {
    "IDLE": ("IDLE_TIMEOUT", "--idle-timeout"),
    "CLOUD_HDD": ("CLOUD_HDD_SIZE", "--cloud-hdd-size"),
    "HDD_SIZE": ("CLOUD_HDD_SIZE", "--cloud-hdd-size"),
    "SPOT": ("CLOUD_SPOT", "--cloud-spot"),
    "SPOT_PRICE": ("CLOUD_SPOT_PRICE", "--cloud-spot-price"),
    "CLOUD_AWS_SUBNET_ID": ("CLOUD_AWS_SUBNET", "--cloud-aws-subnet-id"),
    "STARTUP_SCRIPT": ("CLOUD_STARTUP_SCRIPT", "--cloud-startup-script"),
    "PERMISSION_SET": ("CLOUD_PERMISSION_SET", "--cloud-permission-set"),
    "NODE_SELECTOR": ("CLOUD_KUBERNETES_NODE_SELECTOR", "--cloud-kubernetes-node-selector"),
    "CLOUD_SSH_PRIVATE": ("", "--cloud-ssh-private (the pipe never opens SSH to the instance)"),
    "NO_RETRY": ("", "--no-retry (the pipe never re-runs a pipeline)"),
    "DOCKER_VOLUMES": ("", "--docker-volumes (GitLab only in CML)"),
    "TPI_VERSION": ("", "--tpi-version (the pipe uses no Terraform)"),
}

# Bitbucket Pipelines' own variables (support.atlassian.com/bitbucket-cloud/docs/variables-and-secrets/,
# "Default variables": CI and BITBUCKET_*), and what a container's environment holds: never ours to judge.
_THEIRS = frozenset({"CI", "HOME", "PATH", "PWD", "OLDPWD", "USER", "LOGNAME", "SHELL", "SHLVL", "HOSTNAME", "TERM",
                     "LANG", "LANGUAGE", "TZ", "TMPDIR", "MAIL", "DISPLAY", "GPG_KEY", "_"})  # fmt: skip
_THEIR_PREFIXES = ("BITBUCKET_", "PIPELINES_", "LC_", "XDG_", "PYTHON", "PIP_")
# Bitbucket's own BITBUCKET_* names are checked only against the ones users set themselves (a misspelt
# BITBUCKET_ACCESS_TOKEN is the user's, a BITBUCKET_TAG is Bitbucket's).
_USER_SET_BITBUCKET = ("BITBUCKET_ACCESS_TOKEN", "BITBUCKET_APP_PASSWORD", "BITBUCKET_API_URL")


def normalized(name: str) -> str:
    return name.strip().upper().replace("-", "_")


def distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit (optimal string alignment)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _allowed_distance(ours: str) -> int:
    """How far a name may be from ours and still be taken for it: short names are too near ordinary words
    (NAME is two edits from HOME and PATH), so 0 up to 4 letters, 1 up to 7, else 2."""
    return 0 if len(ours) <= 4 else 1 if len(ours) <= 7 else 2


def _meant(name: str, ours: Collection[str]) -> str:
    """Our variable closest to `name` within its allowed distance, or ""."""
    key = normalized(name)
    if key.startswith("BITBUCKET_"):
        ours = [n for n in ours if n in _USER_SET_BITBUCKET]
    best, best_distance = "", 99
    for candidate in sorted(ours):
        d = distance(key, candidate)
        if d <= _allowed_distance(candidate) and d < best_distance:
            best, best_distance = candidate, d
    return best


def suspicious(env: Mapping[str, str], ours: Collection[str]) -> list[tuple[str, str]]:
    """(name, what we think was meant) per variable that is not ours but looks as if it was meant to be; no
    value is ever part of it."""
    found = []
    for name, value in sorted(env.items()):
        if name in ours or not value.strip():
            continue
        key = normalized(name)
        if key in CML_FLAGS:
            meant, flag = CML_FLAGS[key]
            found.append((name, f"CML's {flag} is {meant} here" if meant else f"CML's {flag} has no counterpart here"))
            continue
        if key in _THEIRS or (key.startswith(_THEIR_PREFIXES) and not key.startswith("BITBUCKET_")):
            continue
        meant = _meant(name, ours)
        if meant:
            found.append((name, f"did you mean {meant}?"))
    return found
