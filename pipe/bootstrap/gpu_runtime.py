"""cml-runner GPU runtime shim: Docker's default runtime on GPU runners, so every step container sees the GPU.

Shipped inside the startup script (GPU machines only); stdlib only, Python >= 3.8.

Why: Bitbucket's runner starts each step's container itself, through the Docker socket, with no way to pass
`--gpus`. With the NVIDIA runtime as Docker's default a container still gets a GPU only when its environment
sets NVIDIA_VISIBLE_DEVICES: "`void` or *empty* or *unset*: `nvidia-container-runtime` will have the same
behavior as `runc`" (NVIDIA/nvidia-container-toolkit, cmd/nvidia-container-runtime/README.md). CUDA images set
it; python:3.11 does not, and no config.toml option of the toolkit supplies a default (its options only rename
the variable, e.g. swarm-resource, or decide whether unprivileged containers may use it). So this shim sits in
front of the NVIDIA runtime, the way the NVIDIA runtime sits in front of runc: on `create` it adds
NVIDIA_VISIBLE_DEVICES=all and NVIDIA_DRIVER_CAPABILITIES=compute,utility (the toolkit's own default
capabilities) to the container's OCI spec (<bundle>/config.json, process.env) when the container does not set
them, then hands every command, unchanged, to nvidia-container-runtime. A container that chose (e.g.
NVIDIA_VISIBLE_DEVICES=void or 0) keeps its choice.

In a Kubernetes pod (Docker-in-Docker, privileged) the shim is the pod's dockerd's default runtime too, and
`all` must not mean the node's GPUs. A privileged container sees every /dev/nvidia<N> of the node, while
/proc/driver/nvidia/gpus holds only the GPUs the device plugin gave the pod (libnvidia-container mounts just
those), so `all` either fails ("stat failed: /proc/driver/nvidia/gpus/...", NVIDIA/nvidia-docker#1686) or takes
other pods' GPUs. When there are fewer GPUs in /proc/driver/nvidia/gpus than device nodes, the shim makes
`all`, an unset value and plain indices (0 = the pod's first GPU) name the pod's own GPUs by UUID (the "GPU
UUID" line of each GPU's `information` file); on a VM the two counts agree and nothing changes.

Usage:  gpu-runtime --configure-docker /etc/docker/daemon.json   (prints "changed" when it wrote the file)
        gpu-runtime [runtime arguments...]                         (as Docker's runtime)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

RUNTIME_NAME = "cml-nvidia"  # our entry in daemon.json "runtimes"
NEXT_RUNTIME = "nvidia-container-runtime"
# Docker's daemon.json keys for runtimes (docs.docker.com/reference/cli/dockerd/#configure-container-runtimes),
# as the NVIDIA toolkit's README writes them: "default-runtime", "runtimes": {name: {"path": ...}}.
DEFAULTS = (("NVIDIA_VISIBLE_DEVICES", "all"), ("NVIDIA_DRIVER_CAPABILITIES", "compute,utility"))
_SEARCH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _is_bundle_flag(arg: str) -> bool:
    return arg.startswith("-") and arg.lstrip("-") in ("b", "bundle")


def bundle_dir(args: list[str]) -> str:
    """The --bundle/-b/--bundle=DIR value as runc accepts it, else the working directory (runc's default)."""
    found = ""
    i = 0
    while i < len(args):
        flag, sep, value = args[i].partition("=")
        if _is_bundle_flag(flag):
            if sep:
                found = value
            elif i + 1 < len(args):
                found = args[i + 1]
                i += 1
        i += 1
    return found or os.getcwd()


def is_create(args: list[str]) -> bool:
    """A `create` subcommand, not a bundle directory named 'create' (as nvidia-container-runtime checks it)."""
    after_bundle = False
    for arg in args:
        if not after_bundle and _is_bundle_flag(arg):
            after_bundle = True
            continue
        if not after_bundle and arg == "create":
            return True
        after_bundle = False
    return False


def own_gpus(root: str = "/") -> list[str] | None:
    """The UUIDs of the GPUs this container was given, when it sees more GPU device nodes than that (a
    privileged container in a pod); None when they agree (a VM, or a pod given the whole node)."""
    gpus_dir = os.path.join(root, "proc/driver/nvidia/gpus")
    try:
        buses = sorted(os.listdir(gpus_dir))
        nodes = [n for n in os.listdir(os.path.join(root, "dev")) if n.startswith("nvidia") and n[6:].isdigit()]
    except OSError:
        return None
    if not buses or len(buses) >= len(nodes):
        return None
    uuids = []
    for bus in buses:
        try:
            with open(os.path.join(gpus_dir, bus, "information")) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        found = [line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == "GPU UUID"]
        if not found or not found[0]:
            return None
        uuids.append(found[0])
    return uuids


def _pod_devices(value: str | None, own: list[str]) -> str | None:
    """What NVIDIA_VISIBLE_DEVICES becomes in a pod; None: keep the container's value."""
    if value is None or value.strip() in ("", "all"):
        return ",".join(own)
    picked = [p.strip() for p in value.split(",")]
    if all(p.isdigit() for p in picked):
        return ",".join(own[int(p)] for p in picked if int(p) < len(own)) or "void"
    return None  # void, none or UUIDs: the container's own choice


def add_gpu_defaults(spec: dict[str, Any], own: list[str] | None = None) -> bool:
    """Add our defaults to process.env where the container set nothing, and in a pod (own: its GPUs) make the
    container's GPUs the pod's; True when the spec changed."""
    process = spec.setdefault("process", {})
    env: list[str] = process.setdefault("env", []) or []
    process["env"] = env
    values = {item.split("=", 1)[0]: item.split("=", 1)[1] if "=" in item else "" for item in env}
    changed = False
    if own:
        devices = _pod_devices(values.get("NVIDIA_VISIBLE_DEVICES"), own)
        if devices is not None and devices != values.get("NVIDIA_VISIBLE_DEVICES"):
            env[:] = [item for item in env if item.split("=", 1)[0] != "NVIDIA_VISIBLE_DEVICES"]
            env.append(f"NVIDIA_VISIBLE_DEVICES={devices}")
            values["NVIDIA_VISIBLE_DEVICES"] = devices
            changed = True
    if "NVIDIA_VISIBLE_DEVICES" in values and not changed:
        return False  # the container chose (a CUDA image sets all; void or an index is a choice too)
    env.extend(f"{name}={value}" for name, value in DEFAULTS if name not in values)
    return True


def patch_bundle(args: list[str]) -> None:
    path = os.path.join(bundle_dir(args), "config.json")
    with open(path) as f:
        spec = json.load(f)
    if add_gpu_defaults(spec, own_gpus()):
        temporary = path + ".cml-tmp"
        with open(temporary, "w") as f:
            json.dump(spec, f)
        os.replace(temporary, path)


def configure_docker(daemon_json: str, runtime_path: str) -> bool:
    """Register this shim in daemon.json and make it the default, keeping everything else; True if written."""
    try:
        with open(daemon_json) as f:
            config: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        config = {}
    wanted = {"path": runtime_path}
    runtimes: dict[str, Any] = config.setdefault("runtimes", {})
    if config.get("default-runtime") == RUNTIME_NAME and runtimes.get(RUNTIME_NAME) == wanted:
        return False
    runtimes[RUNTIME_NAME] = wanted
    config["default-runtime"] = RUNTIME_NAME
    with open(daemon_json + ".cml-tmp", "w") as f:
        json.dump(config, f, indent=2)
    os.replace(daemon_json + ".cml-tmp", daemon_json)
    return True


def next_runtime() -> str | None:
    return shutil.which(NEXT_RUNTIME, path=os.environ.get("PATH", "") + ":" + _SEARCH)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--configure-docker":
        print("changed" if configure_docker(argv[2], os.path.abspath(argv[0])) else "unchanged")
        return 0
    args = argv[1:]
    if is_create(args):
        try:
            patch_bundle(args)
        except (OSError, ValueError) as e:  # never block a container over the defaults: it runs as it would
            sys.stderr.write(f"cml-nvidia: could not add GPU defaults: {e}\n")
    runtime = next_runtime()
    if runtime is None:
        sys.stderr.write(f"cml-nvidia: {NEXT_RUNTIME} not found\n")
        return 127
    os.execv(runtime, [runtime, *args])  # noqa: S606 - becomes the NVIDIA runtime, as Docker called us
    return 127  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv))
