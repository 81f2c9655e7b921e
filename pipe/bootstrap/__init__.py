"""What runs on the VM: the boot script (startup.sh) and the idle agent (agent.py with agent_vm.py) inside it;
the same agent with agent_pod.py is a Kubernetes pod's one regular container."""

from pipe.bootstrap.render import (
    DEFAULT_RUNNER_IMAGE,
    RUNNER_SERVICE,
    USER_DATA_LIMIT,
    BootConfig,
    masked,
    render_startup_script,
    render_user_data,
    runner_env,
    runner_env_from_script,
    shipped_agent,
    shipped_pod_agent,
)
from pipe.bootstrap.steps import BOOT_STEPS, BootStep, boot_budget_s

__all__ = [
    "BOOT_STEPS",
    "DEFAULT_RUNNER_IMAGE",
    "RUNNER_SERVICE",
    "USER_DATA_LIMIT",
    "BootConfig",
    "BootStep",
    "boot_budget_s",
    "masked",
    "render_startup_script",
    "render_user_data",
    "runner_env",
    "runner_env_from_script",
    "shipped_agent",
    "shipped_pod_agent",
]
