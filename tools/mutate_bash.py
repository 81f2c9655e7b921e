"""Hand-written mutants of the VM's boot script (pipe/bootstrap/startup.sh), for tools/mutate.py.

cosmic-ray mutates Python only; the boot script is bash, and its likely slips are not operators but
quoting, `set -e`, the order of the steps and how the user's CLOUD_STARTUP_SCRIPT is embedded. Each mutant
below is one such slip, applied to a scratch copy and judged by the sandbox tests (test/vm_sandbox.py runs
the real script with stubs for what touches the machine). Mutants with `vm` set are also judged by the
real-boot tests named there, on their own, when tools/mutate.py runs with --vm (a QEMU boot each: CPU-heavy,
so opt-in): the output says, per such mutant, whether a real guest catches it too.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BashMutant:
    name: str
    find: str  # exact text in startup.sh (must occur exactly once)
    replace: str
    vm: tuple[str, ...] = ()  # real-boot tests that would also catch it (run with --vm)


USER_STEP = "step user-startup-script user_script\n"
DOCKER_STEP = "step docker ensure_docker\n"
AGENT_STEP = "step agent install_agent\n"
START_STEP = "step start-runner start_runner\n"
# A failing CLOUD_STARTUP_SCRIPT on a real boot: the FAILED line, and nothing after the user's step.
VM_STARTUP = ("test/e2e/test_vm_startup_script.py",)
VM_IDLE = ("test/e2e/test_vm_idle.py",)  # the agent on a real VM ends it when idle

MUTANTS = (
    # --- the user's script: embedded verbatim, run by its own bash, its failure fatal
    BashMutant("user script heredoc unquoted (expanded when written)", "<<'CML_USER_EOF'", "<<CML_USER_EOF"),
    BashMutant("user script sourced into the boot shell", 'bash "$OPT/user-startup.sh"', '. "$OPT/user-startup.sh"'),
    BashMutant(
        "user script failure ignored", 'bash "$OPT/user-startup.sh"', 'bash "$OPT/user-startup.sh" || true', VM_STARTUP
    ),
    BashMutant(
        "user script skipped when it has no blank-free line", "grep -q '[^[:space:]]' \"$OPT/user-startup.sh\"", "false"
    ),
    # --- quoting of what the pipe renders in
    BashMutant("runner env heredoc unquoted ($ in the OAuth secret expanded)", "<<'CML_ENV_EOF'", "<<CML_ENV_EOF"),
    # --- set -e and the traps
    BashMutant("set -e dropped", "set -euo pipefail", "set -uo pipefail", VM_STARTUP),
    BashMutant("pipefail dropped", "set -euo pipefail", "set -eu"),
    BashMutant("failure trap dropped", "trap on_exit EXIT", ":", VM_STARTUP),
    BashMutant("umask opened", "umask 077", "umask 022"),
    BashMutant("runner env readable by all", 'chmod 600 "$ETC/runner.env"', 'chmod 644 "$ETC/runner.env"'),
    # --- the order of the steps
    BashMutant("user script after docker", USER_STEP + DOCKER_STEP, DOCKER_STEP + USER_STEP, VM_STARTUP),
    BashMutant("idle agent not installed", AGENT_STEP, "", VM_IDLE),
    BashMutant(
        "runner started before the image is pulled",
        "step pull-runner-image pull_runner\n" + START_STEP,
        START_STEP + "step pull-runner-image pull_runner\n",
    ),
    # --- what the steps decide
    BashMutant(
        "no baseline of containers running before the runner",
        'docker ps -q --no-trunc >"$LIB/baseline"',
        ': >"$LIB/baseline"',
    ),
    BashMutant(
        "started_at rewritten at every boot (MAX_LIFETIME restarts)", '[ -s "$LIB/started_at" ] || date +%s', "date +%s"
    ),
    BashMutant("a reboot within the hour past MAX_LIFETIME still boots", '[ "$left" -le 0 ]', '[ "$left" -le -3600 ]'),
    BashMutant(
        "runner started twice when already running",
        "if systemctl is-active --quiet cml-runner.service; then",
        "if false; then",
    ),
    BashMutant("docker not installed when absent", "if ! command -v docker >/dev/null 2>&1; then", "if false; then"),
    BashMutant("no per-boot copy on AWS/Azure", '[ "$CLOUD" != gcp ]', "false"),
)


# One real-boot test: a boot under QEMU's emulation plus the test's own waits (an idle timeout, a step).
VM_TIMEOUT_S = 1200


def _fails(tests: list[str], repo: Path, timeout: float) -> bool:
    """The tests fail (or hang past the timeout: a boot that hangs is caught, as cosmic-ray counts it)."""
    try:
        return subprocess.run(tests, cwd=repo, capture_output=True, timeout=timeout, check=False).returncode != 0
    except subprocess.TimeoutExpired:
        return True


def run_bash_mutants(
    repo: Path, module: str, command: list[str], timeout: float, with_vm: bool
) -> tuple[int, list[str], int]:
    """(killed, survivor descriptions, total) for the mutants above, each applied alone to repo/module.
    A run over the timeout counts as killed (a boot that hangs is caught), as cosmic-ray counts it."""
    path = repo / module
    original = path.read_text()
    killed, survivors = 0, []
    try:
        for mutant in MUTANTS:
            if original.count(mutant.find) != 1:
                raise SystemExit(f"{module}: mutant {mutant.name!r} no longer applies (its text is not found once)")
            path.write_text(original.replace(mutant.find, mutant.replace))
            failed = _fails(command, repo, timeout)
            if with_vm and mutant.vm:  # judged by the real boots on their own too: does a real guest catch it?
                on_vm = _fails([*command[: command.index("-q") + 1], *mutant.vm], repo, VM_TIMEOUT_S)
                print(f"  {'killed  ' if on_vm else 'SURVIVED'} {mutant.name} (real boot alone)", flush=True)
                failed = failed or on_vm
            if failed:
                killed += 1
                print(f"  killed   {mutant.name}", flush=True)
            else:
                flag = f" (real-boot tests that may catch it: {', '.join(mutant.vm)})" if mutant.vm else ""
                survivors.append(f"{module}: {mutant.name}{flag}\n-{mutant.find!r}\n+{mutant.replace!r}")
                print(f"  SURVIVED {mutant.name}", flush=True)
    finally:
        path.write_text(original)
    return killed, survivors, len(MUTANTS)
