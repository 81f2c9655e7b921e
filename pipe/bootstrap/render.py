"""Render the VM's boot script: one template, one launch's values, the idle agent inside."""

from __future__ import annotations

import gzip
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipe.bootstrap.shipping import packed, shipped, without_comments

_HERE = Path(__file__).parent
TEMPLATE = _HERE / "startup.sh"
BAKE_ROLE = _HERE / "bake.sh"  # COMMAND: bake's part, inserted at @ROLE_PART@ only in a bake's script
# A runner's boot from a baked image (BootConfig.baked): the image holds Docker and the runner image (the recipe hash
# says so), so the docker step only makes sure the daemon runs and the pull step does nothing, not even the image
# check (`docker run` would pull a missing image anyway); the bake's one-line record (bake.sh BAKED) says what the
# installs and the pull took, i.e. what is saved. Replaces the two functions, so the steps' order stays the stock one.
FAST_PATH = (
    'ensure_docker() { systemctl is-active --quiet docker || systemctl start docker; }\n'
    "pull_runner() { :; }\n"
    'log "baked image: nothing to install or pull ($(cat "$R/etc/cml-runner-baked" || true))"'
)
AGENT = _HERE / "agent.py"  # the decision, in both programs
AGENT_VM = _HERE / "agent_vm.py"  # what the VM's agent watches and how it ends the VM
AGENT_POD = _HERE / "agent_pod.py"  # what the pod's agent watches (the pod ends when it returns)
# Spot recovery (SPOT_RECOVERY): shipped only then, after the VM's agent, whose main() the last one calls.
CHECKPOINT_PARTS = tuple(_HERE / f"{name}.py" for name in ("checkpoints", "store_s3", "relaunch", "agent_checkpoint"))
GPU_RUNTIME = _HERE / "gpu_runtime.py"

DEFAULT_RUNNER_IMAGE = "docker-public.packages.atlassian.com/sox/atlassian/bitbucket-pipelines-runner:1"
RUNNER_SERVICE = "cml-runner.service"
# Per-cloud user-data limits on the raw (not base64) bytes.
USER_DATA_LIMIT = {"aws": 16384, "azure": 49152, "gcp": 262144}
CLOUDS = ("aws", "gcp", "azure")
AZURE_SELF_DELETE = ("resource-group", "vm", "none")
# The boot script's backup power-off comes this long after MAX_LIFETIME, should the agent be dead: time for
# the agent's own ending (tell the step, stop the runner within docker stop's 30 s, self-delete within 30 s).
LIFETIME_BACKUP_GRACE_S = 120


@dataclass(frozen=True)
class BootConfig:
    cloud: str  # 'aws' | 'gcp' | 'azure'
    account_uuid: str  # workspace uuid '{...}' (the runner's ACCOUNT_UUID)
    repository_uuid: str  # '{...}' ('' for a workspace runner)
    runner_uuid: str  # '{...}'
    runner_name: str
    oauth_client_id: str
    oauth_client_secret: str  # the ONLY secret that may reach the VM
    idle_timeout_s: int | None  # None = never
    max_lifetime_s: int
    single: bool
    gpu: bool
    user_startup_script: str = ""  # CLOUD_STARTUP_SCRIPT, decoded; runs before anything is installed or pulled
    runner_image: str = DEFAULT_RUNNER_IMAGE
    runtime_prerequisites_enabled: bool = True
    # Azure: what the agent deletes through the VM's managed identity when it is done
    # ('resource-group' = the runner's own group, 'vm', or 'none' = power off, the sweep deletes).
    azure_self_delete: str = "resource-group"
    baked: bool = False  # booting a baked image of ours (COMMAND: bake): the boot says what it skips
    # Spot recovery's agent settings (pipe/checkpoint/launch.py): store, base key, path, interval; no secret.
    checkpoint: dict[str, object] | None = None

    @property
    def runner_container(self) -> str:
        return "runner-" + self.runner_uuid.strip("{}")


def _check(cfg: BootConfig) -> None:
    if cfg.cloud not in CLOUDS:
        raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, not {cfg.cloud!r}")
    if cfg.azure_self_delete not in AZURE_SELF_DELETE:
        raise ValueError(f"azure_self_delete must be one of {', '.join(AZURE_SELF_DELETE)}")
    for name in ("account_uuid", "repository_uuid", "runner_uuid"):
        value = getattr(cfg, name)
        if value and not re.fullmatch(r"\{?[0-9a-fA-F-]{32,36}\}?", value):
            raise ValueError(f"{name} is not a UUID: {value!r}")
    if not cfg.runner_uuid or not cfg.account_uuid:
        raise ValueError("account_uuid and runner_uuid are required")
    for name in ("oauth_client_id", "oauth_client_secret"):
        value = getattr(cfg, name)
        if not value or not re.fullmatch(r"[\x21-\x7e]+", value):
            raise ValueError(f"{name} must be non-empty printable ASCII without spaces")
    if not re.fullmatch(r"[\w./:@-]+", cfg.runner_image):
        raise ValueError(f"runner_image is not an image reference: {cfg.runner_image!r}")
    if cfg.max_lifetime_s <= 0 or (cfg.idle_timeout_s is not None and cfg.idle_timeout_s < 0):
        raise ValueError("max_lifetime_s must be > 0 and idle_timeout_s >= 0 or None")
    if cfg.checkpoint is not None and not re.fullmatch(r"[\w\s\"{}\[\]:,./=+@~-]*", json.dumps(cfg.checkpoint)):
        raise ValueError("checkpoint settings hold a character the boot script must not see")  # unquoted heredoc
    if re.search(r"^CML_USER_EOF$", cfg.user_startup_script, re.M):
        raise ValueError("CLOUD_STARTUP_SCRIPT must not contain a line 'CML_USER_EOF'")


def runner_env(cfg: BootConfig) -> dict[str, str]:
    """The runner container's environment, as Atlassian's Linux Docker runner documents it."""
    env = {"ACCOUNT_UUID": cfg.account_uuid}
    if cfg.repository_uuid:
        env["REPOSITORY_UUID"] = cfg.repository_uuid
    env.update(
        RUNNER_UUID=cfg.runner_uuid,
        OAUTH_CLIENT_ID=cfg.oauth_client_id,
        OAUTH_CLIENT_SECRET=cfg.oauth_client_secret,
        WORKING_DIRECTORY="/tmp",
        RUNTIME_PREREQUISITES_ENABLED="true" if cfg.runtime_prerequisites_enabled else "false",
    )
    return env


def agent_config(cfg: BootConfig) -> dict[str, object]:
    """The agent's settings (no secret); paths are filled in on the VM (they honour CML_ROOT)."""
    return {
        "cloud": cfg.cloud,
        "runner_uuid": cfg.runner_uuid,
        "runner_container": cfg.runner_container,
        "runner_service": RUNNER_SERVICE,
        "idle_timeout_s": cfg.idle_timeout_s,
        "max_lifetime_s": cfg.max_lifetime_s,
        "single": cfg.single,
        "azure_self_delete": cfg.azure_self_delete,
        "root": "@ROOT@",
        "started_at_file": "@LIB@/started_at",
        "baseline_file": "@LIB@/baseline",
        **({"checkpoint": cfg.checkpoint} if cfg.checkpoint else {}),
    }


def shipped_agent(recovery: bool = False) -> str:
    """The VM's idle agent program (the startup script installs it as a systemd service); with spot recovery's
    checkpoint copies when recovery is on."""
    return shipped(AGENT, AGENT_VM, *(CHECKPOINT_PARTS if recovery else ()))


def shipped_pod_agent() -> str:
    """The pod's idle agent program (its one regular container runs it with ``python3 -c``)."""
    return shipped(AGENT, AGENT_POD)


# How the boot script carries its programs (the agent, the GPU shim): "packed" (gzip + base64, the smallest
# plain-text script) or "plain" (the code itself in a quoted heredoc): when the whole user-data is gzipped,
# gzip finds the code's redundancy, where base64 of gzip is incompressible (a GPU spot-recovery VM's
# user-data was 18 KB gzipped packed, 14 KB gzipped plain).
UNPACK = {"packed": "unpack_packed", "plain": "cat"}


def render_startup_script(cfg: BootConfig, *, programs: Literal["packed", "plain"] = "packed") -> str:
    """The boot script text for user-data / startup-script / custom data."""
    _check(cfg)
    ship = packed if programs == "packed" else _as_heredoc_body
    agent_json = json.dumps(agent_config(cfg), indent=1).replace("@ROOT@", "$R").replace("@LIB@", "$LIB")
    values = {
        "@ROLE_PART@": FAST_PATH if cfg.baked else "",
        "@CLOUD@": cfg.cloud,
        "@GPU@": "true" if cfg.gpu else "false",
        "@RUNNER_IMAGE@": shlex.quote(cfg.runner_image),
        "@RUNNER_CONTAINER@": shlex.quote(cfg.runner_container),
        "@MAX_LIFETIME_S@": str(int(cfg.max_lifetime_s)),
        "@LIFETIME_BACKUP_GRACE_S@": str(LIFETIME_BACKUP_GRACE_S),
        "@UNPACK@": UNPACK[programs],
        "@AGENT_B64@": ship(shipped_agent(cfg.checkpoint is not None)),
        # Only GPU machines run it (ensure_gpu); CPU scripts stay small.
        "@GPU_RUNTIME_B64@": ship(shipped(GPU_RUNTIME)) if cfg.gpu else "",
        "@AGENT_JSON@": agent_json,
        "@RUNNER_ENV@": "\n".join(f"{k}={v}" for k, v in runner_env(cfg).items()),
        "@USER_SCRIPT@": cfg.user_startup_script.rstrip("\n"),
    }
    return _filled(values)


def render_bake_script(
    cloud: str, *, gpu: bool, recipe: str, deadline_s: int, runner_image: str = DEFAULT_RUNNER_IMAGE
) -> str:
    """The same script in its bake role (COMMAND: bake): install what is missing (Docker; for GPU the driver, the
    NVIDIA container toolkit and the default runtime), pull the runner image, clear what must not be baked, power
    off. No runner, no secret, no agent: nothing in it is private. deadline_s: the backup power-off."""
    if cloud not in CLOUDS or not re.fullmatch(r"[0-9a-f]{6,64}", recipe) or deadline_s <= 0:
        raise ValueError(f"bad bake script values: {cloud!r}, {recipe!r}, {deadline_s!r}")
    if not re.fullmatch(r"[\w./:@-]+", runner_image):
        raise ValueError(f"runner_image is not an image reference: {runner_image!r}")
    values = {
        "@ROLE_PART@": without_comments(BAKE_ROLE.read_text()).replace("@RECIPE@", recipe),
        "@CLOUD@": cloud,
        "@GPU@": "true" if gpu else "false",
        "@RUNNER_IMAGE@": shlex.quote(runner_image),
        "@RUNNER_CONTAINER@": "none",
        "@MAX_LIFETIME_S@": str(int(deadline_s)),
        "@LIFETIME_BACKUP_GRACE_S@": "0",
        "@UNPACK@": UNPACK["packed"],
        "@AGENT_B64@": "",
        "@GPU_RUNTIME_B64@": packed(shipped(GPU_RUNTIME)) if gpu else "",
        "@AGENT_JSON@": "{}",
        "@RUNNER_ENV@": "",
        "@USER_SCRIPT@": "",
    }
    return _filled(values)


def _as_heredoc_body(program: str) -> str:
    """A shipped program as the body of a quoted heredoc: copied byte for byte, so no line may end it."""
    if any(line.startswith("CML_") and line.endswith("_EOF") for line in program.splitlines()):
        raise ValueError("a shipped program has a line that would end its heredoc")
    return program.rstrip("\n")


def _filled(values: dict[str, str]) -> str:
    text = without_comments(TEMPLATE.read_text())
    # One pass, so a value can never be re-substituted (e.g. a user script containing '@GPU@').
    return re.sub("|".join(re.escape(k) for k in values), lambda m: values[m.group(0)], text)


def render_user_data(cfg: BootConfig) -> str | bytes:
    """What to hand the cloud: the script as text, or gzip bytes on AWS/Azure when it is over
    the cloud's limit (cloud-init decompresses gzip user-data). Raises ValueError if too big."""
    script = render_startup_script(cfg)
    limit = USER_DATA_LIMIT[cfg.cloud]
    raw = script.encode()
    if len(raw) <= limit:
        return script
    if cfg.cloud != "gcp":
        zipped = gzip.compress(render_startup_script(cfg, programs="plain").encode(), 9, mtime=0)
        if len(zipped) <= limit:
            return zipped
    raise ValueError(
        f"the startup script is {len(raw)} bytes, over the {cfg.cloud} user-data limit of {limit} bytes "
        "even compressed; shorten CLOUD_STARTUP_SCRIPT"
    )


def _env_block(script: str) -> dict[str, str]:
    m = re.search(r"<<'CML_ENV_EOF'\n(.*?)\nCML_ENV_EOF\n", script, re.S)
    if not m:
        return {}
    return dict(line.split("=", 1) for line in m.group(1).splitlines() if "=" in line)


def runner_env_from_script(script: str | bytes) -> dict[str, str]:
    """The environment a rendered script gives the runner container (for tests and the demo)."""
    if isinstance(script, bytes):
        script = gzip.decompress(script).decode() if script[:2] == b"\x1f\x8b" else script.decode()
    return _env_block(script)


def masked(script: str) -> str:
    """The script with the OAuth client secret and client id replaced by '***' (for DRY_RUN)."""
    env = _env_block(script)
    for key in ("OAUTH_CLIENT_SECRET", "OAUTH_CLIENT_ID"):
        value = env.get(key, "")
        if value:
            script = script.replace(value, "***")
    return script
