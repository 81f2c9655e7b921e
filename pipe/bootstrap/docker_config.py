"""cml-runner pod network: the Docker-in-Docker daemon's configuration, written by the pod's first (plain)
init container before dockerd starts; stdlib only, Python >= 3.8.

MTU. dockerd's bridges default to MTU 1500 whatever the network below them, while pod networks are often
smaller: 1460 on GKE's VPC, 1450 with VXLAN CNIs (Flannel, Calico VXLAN), less with WireGuard or IPsec. Packets
that no longer fit are dropped where path-MTU discovery does not get through, and downloads inside steps stall
(actions-runner-controller#385: "Docker MTU inside the runner pod"). Every container of a pod shares its network
namespace, so this program reads the MTU of the pod's own interface (the default route's, from /proc/net/route;
else eth0) and gives it to dockerd: `mtu` for the default bridge, and `default-network-opts` for the networks a
step creates, which `mtu` does not reach (moby/moby#34981); dockerd's reference, "Default network options",
docs.docker.com/reference/cli/dockerd, with the driver's key com.docker.network.driver.mtu (docker/docs#19491).

GPU pods. With `--gpu` the NVIDIA runtime shim (gpu_runtime.py, passed in the environment as CML_GPU_RUNTIME)
is written beside the configuration and made dockerd's default runtime, as on the VM clouds.

Usage:  docker-config OUT_DIR [--gpu] [--root DIR]   (--root: where /proc and /sys are; tests)
"""

from __future__ import annotations

import json
import os
import sys

CONFIG_NAME = "daemon.json"
SHIM_NAME = "cml-nvidia"
SHIM_RUNTIME = "cml-nvidia"  # gpu_runtime.RUNTIME_NAME, the shim's name in daemon.json "runtimes"
DEFAULT_MTU = 1500
_MTU_RANGE = (576, 9216)


def default_interface(root: str) -> str:
    """The interface of the default route (destination 00000000 in /proc/net/route), else eth0."""
    try:
        with open(os.path.join(root, "proc/net/route")) as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 1 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return "eth0"


def pod_mtu(root: str) -> int:
    """The MTU of the pod's interface; 1500 (dockerd's own default) when it cannot be read or is implausible."""
    try:
        with open(os.path.join(root, "sys/class/net", default_interface(root), "mtu")) as f:
            mtu = int(f.read().strip())
    except (OSError, ValueError):
        return DEFAULT_MTU
    return mtu if _MTU_RANGE[0] <= mtu <= _MTU_RANGE[1] else DEFAULT_MTU


def daemon_config(mtu: int, shim_path: str = "") -> dict:
    config: dict = {"mtu": mtu, "default-network-opts": {"bridge": {"com.docker.network.driver.mtu": str(mtu)}}}
    if shim_path:
        config["runtimes"] = {SHIM_RUNTIME: {"path": shim_path}}
        config["default-runtime"] = SHIM_RUNTIME
    return config


def write(out_dir: str, gpu: bool, root: str, environ: dict) -> dict:
    shim_path = ""
    if gpu:
        shim_path = os.path.join(out_dir, SHIM_NAME)
        with open(shim_path, "w") as f:
            f.write(environ["CML_GPU_RUNTIME"])
        os.chmod(shim_path, 0o755)  # noqa: S103 - dockerd runs it; nothing secret in it
    config = daemon_config(pod_mtu(root), shim_path)
    with open(os.path.join(out_dir, CONFIG_NAME), "w") as f:
        json.dump(config, f, indent=2)
    return config


def main(argv: list) -> int:
    args = list(argv[1:])
    root = "/"
    if "--root" in args:
        at = args.index("--root")
        root = args[at + 1]
        del args[at : at + 2]
    gpu = "--gpu" in args
    args = [a for a in args if a != "--gpu"]
    if len(args) != 1:
        sys.stderr.write("usage: docker-config OUT_DIR [--gpu] [--root DIR]\n")
        return 2
    config = write(args[0], gpu, root, dict(os.environ))
    print(f"cml-docker-config: mtu {config['mtu']}" + (", GPU runtime cml-nvidia" if gpu else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
