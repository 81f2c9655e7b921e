"""Boot steps per (cloud, gpu) on the catalog's default images, with a time budget each.

For the benchmarks: the step names are the ones the boot script logs ("step NAME: done in N ms"),
plus the cloud's own boot before the script and the runner's own start-up after it.

Where a figure was measured, it is the script's own step on a real booted VM (test/support/fakes/vm, bench/run.py
--vm) under QEMU's TCG emulation on the shared 2-core machine (load average 1.4 to 5): an UPPER BOUND of the
same step on a cloud's hardware, not a cloud figure. The instance's own boot, the runner image pull and
the real runner's start-up (a JVM; the VM runs a stand-in) cannot be measured here: those stay estimates,
cited per cloud, for a warm region and a default disk.
"""

from __future__ import annotations

TCG = "measured under TCG emulation (upper bound), bench/run.py --vm 2026-11-29"
BootStep = tuple[str, float, str]

_BOOT = {
    "aws": (40.0, "EC2 launch to cloud-init's user scripts (Ubuntu LTS)"),
    "gcp": (30.0, "GCE insert to google-startup-scripts (Ubuntu LTS)"),
    "azure": (75.0, "ARM create + Azure provisioning agent to cloud-init's user scripts"),
}
_BOOT_GPU = {
    "aws": (60.0, "Deep Learning Base GPU AMI (Ubuntu): larger root volume, lazily loaded from its snapshot"),
    "gcp": (45.0, "deeplearning-platform common-cu image; GPU attach, onHostMaintenance TERMINATE"),
    "azure": (90.0, "NVIDIA-enabled image; GPU sizes provision slower"),
}
_COMMON_HEAD: list[BootStep] = [
    ("prepare", 0.6, f"directories, started_at, per-boot self-install (AWS/Azure); {TCG}"),
    ("lifetime-fallback", 0.9, f"systemd timer for the MAX_LIFETIME backup power-off; {TCG}"),
    ("agent", 7.4, f"unpack the agent, write its unit, start it (two daemon-reloads); {TCG}"),
    ("user-startup-script", 0.0, "CLOUD_STARTUP_SCRIPT: the user's own time, not counted"),
]
_DOCKER_INSTALL: BootStep = (
    "docker", 100.0, "no Docker in the image: apt-get update + install docker.io from the distribution's archive; "
    f"{TCG}, Debian's archive over QEMU's user networking (126 s less the 26 s runner image import, which "
    "stands in for the pull below)",
)  # fmt: skip
_DOCKER_PRESENT: BootStep = ("docker", 0.5, f"Docker already in the image: nothing installed; {TCG}")
_GPU_READY: BootStep = ("gpu", 6.0, "driver and toolkit in the image: nvidia-ctk default runtime, docker restart")
_TAIL: list[BootStep] = [
    ("pull-runner-image", 25.0, "Atlassian runner image, once per instance (skipped when already present)"),
    ("start-runner", 6.1, f"env file, systemd unit, systemctl start (docker run of the runner); {TCG}"),
    ("runner-online", 15.0, "runner JVM start and OAuth handshake until Bitbucket shows ONLINE"),
]


def _steps(cloud: str, gpu: bool) -> list[BootStep]:
    boot = _BOOT_GPU[cloud] if gpu else _BOOT[cloud]
    steps: list[BootStep] = [("instance-boot", boot[0], boot[1]), *_COMMON_HEAD]
    if gpu:
        steps.append(_DOCKER_PRESENT)
        if cloud == "gcp":
            steps.append(("gpu", 10.0, _GPU_READY[2] + "; if the image installs its driver at first boot, "
                          "the script waits for it (up to 180 s, not budgeted)"))  # fmt: skip
        else:
            steps.append(_GPU_READY)
    else:
        steps.append(_DOCKER_INSTALL)
    return steps + _TAIL


BOOT_STEPS: dict[tuple[str, bool], list[BootStep]] = {
    (cloud, gpu): _steps(cloud, gpu) for cloud in ("aws", "gcp", "azure") for gpu in (False, True)
}


def boot_budget_s(cloud: str, gpu: bool) -> float:
    """Seconds from the launch call to ONLINE the steps above add up to."""
    return sum(seconds for _, seconds, _ in BOOT_STEPS[(cloud, gpu)])
