"""What the VM sandbox (vm_sandbox.py) puts on a script's PATH: the stubs of the commands that would touch the
machine, each recording its argv, and the short list of host tools harmless to run for real. Nothing else is on
PATH: a command that is neither is caught by bash's command_not_found_handle (set through BASH_ENV), recorded as
unexpected, and fails the run (VmSandbox.run), so no host binary (a developer's `cloud-init`, `waagent`, ...)
is ever reached from a product script."""

from __future__ import annotations

SEP = "\x1f"
UNEXPECTED = "!"  # the record of a command that is neither a stub nor an allowed tool starts with this

# Commands that would change the machine (or reach the network): always stubs, never the host's.
STUBBED = (
    "docker", "dockerd", "systemctl", "systemd-run", "shutdown", "poweroff", "reboot", "apt-get", "apt-cache", "apt",
    "curl", "wget", "logger", "nvidia-smi", "nvidia-ctk", "ubuntu-drivers", "modprobe", "gpg", "useradd",
    "cloud-init", "waagent", "journalctl", "dpkg-query",
)  # fmt: skip

# Host tools a script may run for real: they only read, or write under the paths the script is given (CML_ROOT).
ALLOWED_HOST_TOOLS = (
    "bash", "sh", "cat", "cp", "mv", "rm", "ln", "mkdir", "rmdir", "chmod", "touch", "install", "truncate", "find",
    "ls", "stat", "readlink", "realpath", "dirname", "basename", "mktemp", "date", "sleep", "seq", "sort", "uniq",
    "head", "tail", "wc", "tr", "cut", "grep", "sed", "awk", "tee", "xargs", "env", "printf", "echo", "true",
    "false", "test", "[", "base64", "gzip", "python3", "id", "timeout", "cmp", "diff", "od",
)  # fmt: skip

RECORD = f"""#!/bin/bash
{{ printf '%s' "${{0##*/}}"; printf '{SEP}%s' "$@"; printf '\\n'; }} >>"$SANDBOX_LOG"
"""

# Read by every bash the script starts (BASH_ENV): anything not found is recorded and refused, never looked up
# elsewhere. `command -v` does not call it, so a script's own "is X installed?" checks see X as absent.
BASH_ENV = f"""command_not_found_handle() {{
  {{ printf '{UNEXPECTED}%s' "$1"; [ $# -lt 2 ] || printf '{SEP}%s' "${{@:2}}"; printf '\\n'; }} >>"$SANDBOX_LOG"
  echo "sandbox: $1: not a stub of the sandbox nor an allowed host tool (test/support/vm_sandbox_stubs.py)" >&2
  return 127
}}
"""

# The dpkg frontend lock held after boot (unattended-upgrades on a first boot of Ubuntu's cloud images, for minutes:
# mvo5/unattended-upgrades#90). apt-get without DPkg::Lock::Timeout fails at once with exit 100; with it, apt waits
# up to that many seconds, printing "Waiting for cache lock" (apt >= 1.9.11; GoogleCloudPlatform/cluster-toolkit#4136,
# DataDog/agent-linux-install-script#455). `update` takes the lists lock, not dpkg's, and is not held here.
_APT_LOCK = r"""
timeout=0 args=()
for a in "$@"; do
  case "${a,,}" in
    -o) ;;
    dpkg::lock::timeout=*) timeout="${a#*=}" ;;
    *::*=*) ;;
    *) args+=("$a") ;;
  esac
done
if [ "${args[0]}" != update ] && [ -s "$SANDBOX/state/apt-lock-until" ]; then
  until_ns=$(cat "$SANDBOX/state/apt-lock-until")
  waited=0
  while [ "$(date +%s%N)" -lt "$until_ns" ]; do
    if [ "$waited" -ge $((timeout * 10)) ]; then
      echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1783 (unattended-upgr)"
      echo "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?"
      exit 100
    fi
    [ "$waited" -eq 0 ] && echo "Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend." \
      "It is held by process 1783 (unattended-upgr)..."
    sleep 0.1
    waited=$((waited + 1))
  done
fi
"""

BODIES: dict[str, str] = {
    "docker": r"""
case "$1" in
  image) [ -e "$SANDBOX/state/image-present" ]; exit ;;
  pull) touch "$SANDBOX/state/image-present" ;;
  ps) cat "$SANDBOX/state/containers" 2>/dev/null || true ;;
  run)
    n=$(($(wc -l <"$SANDBOX_LOG") - 1))
    while [ $# -gt 0 ]; do
      if [ "$1" = --env-file ]; then cp "$2" "$SANDBOX/runs/$n.env"; fi
      shift
    done ;;
esac
exit 0
""",
    "systemctl": r"""
unit="${*: -1}"
case "$1" in
  is-active) [ -e "$SANDBOX/state/active-${unit%.service}" ]; exit ;;
  stop) rm -f "$SANDBOX/state/active-${unit%.service}" ;;
  start|restart)
    touch "$SANDBOX/state/active-${unit%.service}"
    if [ "$unit" = cml-runner.service ]; then
      grep -E '^ExecStart(Pre)?=' "$CML_ROOT/etc/systemd/system/$unit" | cut -d= -f2- | sed 's/^-//' |
        while read -r line; do bash -c "$line"; done
    fi ;;
esac
""",
    "apt-get": _APT_LOCK
    + r"""
if [ "${args[0]}" = install ]; then
  for p in "${args[@]:1}"; do
    if grep -qxF -- "$p" "$SANDBOX/state/apt-missing" 2>/dev/null; then
      echo "E: Unable to locate package $p"
      exit 100
    fi
  done
  for p in "${args[@]}"; do
    case "$p" in
      docker.io|docker-ce) cp "$SANDBOX/available/docker" "$SANDBOX/bin/docker"
        touch "$SANDBOX/state/active-docker" ;;
      nvidia-container-toolkit) cp "$SANDBOX/available/nvidia-ctk" "$SANDBOX/bin/nvidia-ctk" ;;
      ubuntu-drivers-common) cp "$SANDBOX/available/ubuntu-drivers" "$SANDBOX/bin/ubuntu-drivers" ;;
      nvidia-utils-*) cp "$SANDBOX/available/nvidia-smi" "$SANDBOX/bin/nvidia-smi" ;;
    esac
    case "$p" in -*) ;; *) touch "$SANDBOX/state/dpkg/$p" ;; esac
  done
fi
exit 0
""",
    "apt-cache": r"""[ -e "$SANDBOX/state/apt-has-toolkit" ]""",
    # `ubuntu-drivers install --gpgpu` installs the headless server driver (nvidia-headless-no-dkms-N-server and
    # its kernel modules), not nvidia-utils-N-server, the only package with nvidia-smi (Ubuntu Server docs, "NVIDIA
    # drivers installation"; packages.ubuntu.com, virtual package nvidia-smi: provided by nvidia-utils-* only).
    "ubuntu-drivers": r"""
if [ "$1" = install ]; then
  touch "$SANDBOX/state/dpkg/nvidia-headless-no-dkms-580-server"
  touch "$SANDBOX/state/dpkg/linux-modules-nvidia-580-server-generic"
fi
exit 0
""",
    # dpkg-query -W [-f FORMAT] PATTERN...: the installed packages matching, one a line as "${Status} ${Package}"
    # (the only format the boot script asks for); exit 1 when none matches, as dpkg-query does.
    "dpkg-query": r"""
shown=1 skip=
for a in "$@"; do
  if [ -n "$skip" ]; then skip=; continue; fi
  case "$a" in
    -f|-Wf|--showformat) skip=1 ;;
    -*) ;;
    *) for f in "$SANDBOX"/state/dpkg/$a; do
         [ -e "$f" ] || continue
         shown=0
         printf 'install ok installed %s\n' "${f##*/}"
       done ;;
  esac
done
[ "$shown" = 0 ] || echo "dpkg-query: no packages found matching $*" >&2
exit $shown
""",
    # As `nvidia-ctk runtime configure --runtime=docker` does: keep the file, add runtimes.nvidia, and make it
    # the default only with --set-as-default (NVIDIA container toolkit install guide, "Configuring Docker").
    "nvidia-ctk": r"""
config=/etc/docker/daemon.json default=
for a in "$@"; do
  case "$a" in
    --config=*) config="${a#--config=}" ;;
    --set-as-default) default=1 ;;
  esac
done
python3 - "$config" "$default" <<'CTK'
import json, os, sys
path, default = sys.argv[1], sys.argv[2]
config = json.load(open(path)) if os.path.exists(path) else {}
config.setdefault("runtimes", {})["nvidia"] = {"args": [], "path": "nvidia-container-runtime"}
if default:
    config["default-runtime"] = "nvidia"
json.dump(config, open(path, "w"), indent=4)
CTK
""",
    # `cloud-init clean [--logs] [--seed] [--machine-id]` as cloud-init does it, inside CML_ROOT
    # (canonical/cloud-init cloudinit/cmd/clean.py, the `clean` subcommand of the CLI reference): every entry of
    # /var/lib/cloud but seed/ (unless --seed) goes; --logs deletes the logs it writes (/var/log/cloud-init.log,
    # /var/log/cloud-init-output.log); --machine-id writes "uninitialized\n" (mode 0444) to /etc/machine-id so
    # systemd makes a new id at the next boot. Other subcommands: recorded only.
    "cloud-init": r"""
[ "$1" = clean ] || exit 0
shift
logs= seed= machine_id=
for a in "$@"; do
  case "$a" in
    -l|--logs) logs=1 ;;
    -s|--seed) seed=1 ;;
    --machine-id) machine_id=1 ;;
    -r|--reboot) echo "sandbox: cloud-init clean --reboot is not modelled" >&2; exit 2 ;;
    -c|--configs|all|network|ssh_config) ;;
    *) echo "usage: cloud-init clean [-h] [-l] [--machine-id] [-r] [-s] [-c ...]" >&2; exit 2 ;;
  esac
done
if [ -n "$logs" ]; then rm -f "$CML_ROOT/var/log/cloud-init.log" "$CML_ROOT/var/log/cloud-init-output.log"; fi
if [ -d "$CML_ROOT/var/lib/cloud" ]; then
  for p in "$CML_ROOT"/var/lib/cloud/* "$CML_ROOT"/var/lib/cloud/.[!.]*; do
    [ -e "$p" ] || [ -L "$p" ] || continue
    [ "${p##*/}" = seed ] && [ -z "$seed" ] && continue
    rm -rf "$p"
  done
fi
if [ -n "$machine_id" ]; then
  mkdir -p "$CML_ROOT/etc"
  printf 'uninitialized\n' >"$CML_ROOT/etc/machine-id"
  chmod 444 "$CML_ROOT/etc/machine-id"
fi
exit 0
""",
}
