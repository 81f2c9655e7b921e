"""What a container of the local Kubernetes sees of its node: GPU device nodes, the NVIDIA driver's per-GPU
/proc entries, and the pod's network interface. A test writes it under a directory (ContainerView.write) and
runs the pod's own programs against it (their --root option), as they would run in the container.

GPUs, as the NVIDIA device plugin and libnvidia-container hand them out: the kubelet gives a container that
asks for nvidia.com/gpu N of its node's free GPUs; the container gets NVIDIA_VISIBLE_DEVICES=<their UUIDs>
(the plugin's default envvar strategy) and /proc/driver/nvidia/gpus holds only those GPUs (libnvidia-container
mounts the selected GPUs' entries; NVIDIA/nvidia-docker#1686 shows a privileged container tripping over it),
while a privileged container sees every /dev/nvidia<N> of the node (privileged mode gives all host devices,
kubernetes.io/docs/concepts/security/pod-security-standards). An `information` file reads as the driver
writes it ("Model:", "GPU UUID:", "Bus Location:", "Device Minor:").

Network: every container of a pod shares the pod's network namespace; eth0 carries the default route and has
the CNI's MTU (`Kubelet.pod_mtu`; 1460 by default, GKE's VPC MTU).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

DEFAULT_POD_MTU = 1460


def gpu_uuid(node: str, index: int) -> str:
    return "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node}.gpu{index}"))


def bus_id(index: int) -> str:
    return f"0000:{index + 0x1b:02x}:00.0"


@dataclass
class ContainerView:
    dev_nodes: list[int]  # N of each /dev/nvidia<N> the container sees
    gpus: list[tuple[str, str, int]]  # (bus id, UUID, minor) of the GPUs in /proc/driver/nvidia/gpus
    env: dict[str, str] = field(default_factory=dict)  # what the device plugin adds to the container's env
    mtu: int = DEFAULT_POD_MTU

    def write(self, root: str) -> None:
        os.makedirs(os.path.join(root, "dev"), exist_ok=True)
        for minor in self.dev_nodes:
            open(os.path.join(root, "dev", f"nvidia{minor}"), "w").close()
        if self.dev_nodes:
            open(os.path.join(root, "dev", "nvidiactl"), "w").close()
        for bus, gpu, minor in self.gpus:
            where = os.path.join(root, "proc/driver/nvidia/gpus", bus)
            os.makedirs(where, exist_ok=True)
            with open(os.path.join(where, "information"), "w") as f:
                f.write(f"Model: \t\t Tesla T4\nIRQ:   \t\t 40\nGPU UUID: \t {gpu}\nVideo BIOS: \t 90.04.96.00.02\n"
                        f"Bus Type: \t PCIe\nDMA Size: \t 47 bits\nBus Location: \t {bus}\n"
                        f"Device Minor: \t {minor}\nGPU Excluded:\t No\n")  # fmt: skip
        os.makedirs(os.path.join(root, "proc/net"), exist_ok=True)
        with open(os.path.join(root, "proc/net/route"), "w") as f:
            f.write("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                    "eth0\t00000000\t0100F40A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                    "eth0\t0000F40A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")  # fmt: skip
        os.makedirs(os.path.join(root, "sys/class/net/eth0"), exist_ok=True)
        with open(os.path.join(root, "sys/class/net/eth0/mtu"), "w") as f:
            f.write(f"{self.mtu}\n")


def gpus_wanted(container: dict[str, Any]) -> int:
    resources = container.get("resources") or {}
    raw = (resources.get("limits") or {}).get("nvidia.com/gpu") or (resources.get("requests") or {}).get(
        "nvidia.com/gpu"
    )
    return int(Decimal(str(raw))) if raw else 0


def allocate(node_gpus: int, taken: set[int], pod: dict[str, Any]) -> dict[str, list[int]]:
    """Free GPU indices of the node for each container of the pod that asks for some (as the device plugin's
    Allocate does); the caller has checked that enough are free."""
    out: dict[str, list[int]] = {}
    free = [i for i in range(node_gpus) if i not in taken]
    for container in [*(pod["spec"].get("initContainers") or []), *(pod["spec"].get("containers") or [])]:
        wanted = gpus_wanted(container)
        if wanted:
            out[container["name"]], free = free[:wanted], free[wanted:]
    return out


def view(node: str, node_gpus: int, given: list[int], container: dict[str, Any], mtu: int) -> ContainerView:
    privileged = bool((container.get("securityContext") or {}).get("privileged"))
    gpus = [(bus_id(i), gpu_uuid(node, i), i) for i in given]
    env = {"NVIDIA_VISIBLE_DEVICES": ",".join(g for _, g, _ in gpus)} if given else {}
    return ContainerView(list(range(node_gpus)) if privileged else list(given), gpus, env, mtu)
