#!/bin/bash
# cml-runner boot script, rendered per launch by the pipe (pipe/bootstrap).
# Contains the runner's own OAuth client secret and nothing else secret: keep it private.
# Safe to run again: GCP reruns it on every boot; on AWS/Azure it installs itself as a
# cloud-init per-boot script so every cloud behaves the same.
# CML_ROOT (unset in production) prefixes every path so tests run it unprivileged.
set -euo pipefail
umask 077

R="${CML_ROOT:-}"
CLOUD=@CLOUD@
GPU=@GPU@
RUNNER_IMAGE=@RUNNER_IMAGE@
RUNNER_CONTAINER=@RUNNER_CONTAINER@
MAX_LIFETIME_S=@MAX_LIFETIME_S@
LIFETIME_BACKUP_GRACE_S=@LIFETIME_BACKUP_GRACE_S@
ETC="$R/etc/cml-runner"
LIB="$R/var/lib/cml-runner"
OPT="$R/opt/cml-runner"
export DEBIAN_FRONTEND=noninteractive

# A program shipped gzip + base64 (render.py, UNPACK).
unpack_packed() { base64 -d | gzip -dc; }
now_us() { local t="${EPOCHREALTIME:-$(date +%s).000000}"; echo "${t//[.,]/}"; }
log() {
  echo "cml-runner: $*"
  logger -t cml-runner -- "$*" 2>/dev/null || true
}
BOOT_T0=$(now_us)
CURRENT_STEP=start
STEP_T0=$BOOT_T0
on_exit() {
  local rc=$?
  [ "$rc" -eq 0 ] || log "step ${CURRENT_STEP}: FAILED (exit ${rc}) after $((($(now_us) - STEP_T0) / 1000)) ms"
}
trap on_exit EXIT
# step NAME FUNCTION: run one boot step under set -e, logging its duration (visible in the
# cloud's serial console and the journal, so a slow boot can be diagnosed from the console).
step() {
  CURRENT_STEP="$1"
  STEP_T0=$(now_us)
  log "step $1: start"
  "$2"
  log "step $1: done in $((($(now_us) - STEP_T0) / 1000)) ms"
}

# Every apt call: on a first boot of Ubuntu's cloud images unattended-upgrades holds dpkg's lock for minutes, and
# apt-get fails at once (exit 100) unless told to wait (DPkg::Lock::Timeout, apt >= 1.9.11: Ubuntu 20.04 and later).
apt_get() {
  log "apt-get $1 (waits for dpkg's lock up to 600 s)"
  apt-get -o DPkg::Lock::Timeout=600 "$@"
}
apt_install() {
  apt_get update -q || { sleep 5; apt_get update -q; }
  apt_get install -y -q --no-install-recommends "$@"
}

prepare() {
  mkdir -p "$ETC" "$LIB" "$OPT"
  chmod 700 "$ETC"
  [ -s "$LIB/started_at" ] || date +%s >"$LIB/started_at"
  local per_boot="$R/var/lib/cloud/scripts/per-boot/cml-runner.sh"
  # cloud-init runs user-data once per instance: re-run it every boot like GCP (then $0 is the copy)
  if [ "$CLOUD" != gcp ] && [ -d "$R/var/lib/cloud" ] && [ -f "$0" ] && ! [ "$0" -ef "$per_boot" ]; then
    mkdir -p "${per_boot%/*}"
    install -m 700 "$0" "$per_boot"
  fi
}

lifetime_fallback() {
  # Should the agent be dead: power off a grace after MAX_LIFETIME, counted from the first boot. A systemd
  # timer, not `shutdown +N`, which needs logind and D-Bus (root's systemctl uses systemd's own socket).
  local left=$(($(cat "$LIB/started_at") + MAX_LIFETIME_S - $(date +%s)))
  if [ "$left" -le 0 ]; then
    log "MAX_LIFETIME already reached: powering off"
    systemctl poweroff || shutdown -h now
    exit 0
  fi
  systemctl stop cml-lifetime.timer >/dev/null 2>&1 || true
  if systemd-run --quiet --unit=cml-lifetime --on-active="$((left + LIFETIME_BACKUP_GRACE_S))s" \
    --timer-property=AccuracySec=1s --description="cml-runner MAX_LIFETIME backup power-off" \
    "$(command -v systemctl)" poweroff; then
    log "MAX_LIFETIME backup power-off in $((left + LIFETIME_BACKUP_GRACE_S)) s"
  else
    log "WARNING: no MAX_LIFETIME backup power-off; the agent alone enforces it"
  fi
}

install_agent() {
  @UNPACK@ <<'CML_AGENT_EOF' >"$OPT/agent.py"
@AGENT_B64@
CML_AGENT_EOF
  cat >"$ETC/agent.json" <<CML_AGENT_JSON
@AGENT_JSON@
CML_AGENT_JSON
  cat >"$R/etc/systemd/system/cml-agent.service" <<CML_UNIT
[Unit]
Description=cml-runner idle agent (idle timeout, single step, MAX_LIFETIME, spot notices)
After=network-online.target

[Service]
ExecStart=$(command -v python3) -u $OPT/agent.py $ETC/agent.json
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
CML_UNIT
  chmod 644 "$R/etc/systemd/system/cml-agent.service"
  systemctl daemon-reload
  systemctl enable cml-agent.service
  systemctl restart cml-agent.service
}

user_script() {
  cat >"$OPT/user-startup.sh" <<'CML_USER_EOF'
@USER_SCRIPT@
CML_USER_EOF
  if grep -q '[^[:space:]]' "$OPT/user-startup.sh"; then
    bash "$OPT/user-startup.sh"
  else
    log "no CLOUD_STARTUP_SCRIPT"
  fi
}

ensure_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    log "docker not found: installing docker.io from the distribution"
    apt_install docker.io
  fi
  systemctl is-active --quiet docker || systemctl start docker
}

ensure_gpu() {
  local i
  for i in $(seq 36); do # a Deep Learning VM image may still be installing its own driver
    command -v nvidia-smi >/dev/null 2>&1 || [ ! -d "$R/opt/deeplearning" ] && break
    [ "$i" -eq 1 ] && log "waiting for the image's own NVIDIA driver install"
    sleep 5
  done
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    log "NVIDIA driver not found: installing the recommended server driver"
    command -v ubuntu-drivers >/dev/null 2>&1 || apt_install ubuntu-drivers-common
    ubuntu-drivers install --gpgpu
    # --gpgpu installs the headless server driver without nvidia-utils-<branch>-server, the package that holds
    # nvidia-smi (Ubuntu Server docs, "NVIDIA drivers installation"): add the one of the branch it installed.
    local b
    b=$(dpkg-query -Wf '${Status} ${Package}\n' 'nvidia-headless-no-dkms-*' | sed -n 's/.*ok installed nvidia-headless-no-dkms-//p' | tail -1) || :
    [ -z "$b" ] || apt_install "nvidia-utils-$b"
    modprobe nvidia 2>/dev/null || true
  fi
  if ! nvidia-smi -L >/dev/null 2>&1; then
    if [ ! -e "$LIB/gpu-rebooted" ]; then
      touch "$LIB/gpu-rebooted"
      log "NVIDIA driver not loaded: rebooting once (this script runs again at boot)"
      reboot
      exit 0
    fi
    log "WARNING: nvidia-smi still fails after a reboot; steps will not see a GPU"
  fi
  if ! command -v nvidia-ctk >/dev/null 2>&1; then
    log "NVIDIA container toolkit not found: installing it"
    if ! apt-cache show nvidia-container-toolkit >/dev/null 2>&1; then
      # Not in the distribution's archive: NVIDIA's own apt repository (their documented method).
      local key=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg
      curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | gpg --batch --yes --dearmor -o "$R$key"
      curl -fsSL https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list |
        sed "s#deb https://#deb [signed-by=$key] https://#g" >"$R/etc/apt/sources.list.d/nvidia-container-toolkit.list"
    fi
    apt_install nvidia-container-toolkit
  fi
  # Steps are containers the runner starts through the Docker socket, with no --gpus flag: register the
  # NVIDIA runtime, then make our shim (pipe/bootstrap/gpu_runtime.py) Docker's default runtime. It gives
  # every container that sets no NVIDIA_VISIBLE_DEVICES all GPUs (compute,utility), then runs the NVIDIA one.
  mkdir -p "$R/etc/docker"
  grep -q '"nvidia"' "$R/etc/docker/daemon.json" 2>/dev/null ||
    nvidia-ctk runtime configure --runtime=docker --config="$R/etc/docker/daemon.json"
  @UNPACK@ <<'CML_GPU_EOF' >"$OPT/gpu-runtime"
@GPU_RUNTIME_B64@
CML_GPU_EOF
  chmod 755 "$OPT/gpu-runtime"
  if [ "$(python3 "$OPT/gpu-runtime" --configure-docker "$R/etc/docker/daemon.json")" = changed ]; then
    systemctl restart docker
  fi
}

pull_runner() {
  docker image inspect "$RUNNER_IMAGE" >/dev/null 2>&1 && return 0
  local i
  for i in 1 2 3 4 5; do
    docker pull -q "$RUNNER_IMAGE" && return 0
    log "docker pull failed (attempt $i); retrying"
    sleep $((i * 3))
  done
  return 1
}

start_runner() {
  cat >"$ETC/runner.env" <<'CML_ENV_EOF'
@RUNNER_ENV@
CML_ENV_EOF
  chmod 600 "$ETC/runner.env"
  local docker_bin
  docker_bin=$(command -v docker)
  cat >"$R/etc/systemd/system/cml-runner.service" <<CML_UNIT
[Unit]
Description=Bitbucket Pipelines runner ($RUNNER_CONTAINER)
After=docker.service network-online.target
Requires=docker.service

[Service]
ExecStartPre=-$docker_bin rm -f $RUNNER_CONTAINER
ExecStart=$docker_bin run --rm --name $RUNNER_CONTAINER --env-file $ETC/runner.env -v /tmp:/tmp -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/docker/containers:/var/lib/docker/containers:ro $RUNNER_IMAGE
ExecStop=$docker_bin stop -t 30 $RUNNER_CONTAINER
Restart=always
RestartSec=5
CML_UNIT
  chmod 644 "$R/etc/systemd/system/cml-runner.service" # secrets: runner.env
  systemctl daemon-reload
  if systemctl is-active --quiet cml-runner.service; then
    log "runner already running"
    return 0
  fi
  # Containers running now (e.g. started by CLOUD_STARTUP_SCRIPT) are not steps.
  docker ps -q --no-trunc >"$LIB/baseline"
  systemctl start cml-runner.service
}

@ROLE_PART@
log "boot script for $RUNNER_CONTAINER on $CLOUD (gpu: $GPU)"
step prepare prepare
step lifetime-fallback lifetime_fallback
step agent install_agent
step user-startup-script user_script
step docker ensure_docker
if [ "$GPU" = true ]; then step gpu ensure_gpu; fi
step pull-runner-image pull_runner
step start-runner start_runner
log "boot done in $((($(now_us) - BOOT_T0) / 1000)) ms; the runner is starting"
