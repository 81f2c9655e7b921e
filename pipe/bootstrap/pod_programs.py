"""The programs a Kubernetes runner pod runs besides the idle agent (render.shipped_pod_agent), as shipped: the
Docker-in-Docker daemon's configuration (docker_config.py, its first init container) and, on GPU pods, the NVIDIA
runtime shim that configuration installs (gpu_runtime.py)."""

from __future__ import annotations

from pathlib import Path

from pipe.bootstrap.shipping import shipped

_HERE = Path(__file__).parent


def shipped_docker_config() -> str:
    return shipped(_HERE / "docker_config.py")


def shipped_gpu_runtime() -> str:
    return shipped(_HERE / "gpu_runtime.py")
