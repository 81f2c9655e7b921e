# cml-runner boot script, bake role (COMMAND: bake): inserted into startup.sh at @ROLE_PART@ by
# pipe/bootstrap/render.py render_bake_script, so a runner's script stays small. It uses startup.sh's functions.
RECIPE=@RECIPE@
BAKED="$R/etc/cml-runner-baked" # FAST_PATH in render.py reads it on the runner's boot from the image
# The image's installs once, then clear what must not be baked, power off.

bake_install() {
  local t0
  t0=$(now_us)
  step docker ensure_docker
  if [ "$GPU" = true ]; then step gpu ensure_gpu; fi
  step pull-runner-image pull_runner
  INSTALL_MS=$((($(now_us) - t0) / 1000))
}

bake_clean() {
  # What every instance must make its own: cloud-init's per-instance state (so the runner's user-data runs on
  # the next boot), logs, the machine id, SSH host keys, login keys and registry credentials of the bake's VM.
  mkdir -p "${BAKED%/*}"
  # One line, logged as is by a runner's boot from the image: saved_ms is what the installs and pull took here.
  echo "recipe=$RECIPE gpu=$GPU saved_ms=$INSTALL_MS" >"$BAKED"
  chmod 644 "$BAKED"
  rm -f "$R/var/lib/cloud/scripts/per-boot/cml-runner.sh"
  rm -rf "$LIB" "$ETC" "$R/root/.docker" # $OPT stays: Docker's default GPU runtime is $OPT/gpu-runtime
  rm -f "$R"/etc/ssh/ssh_host_*key "$R"/etc/ssh/ssh_host_*key.pub
  find "$R/root" "$R/home" -name authorized_keys -type f -delete 2>/dev/null || true
  apt_get clean || true
  # Azure's Linux agent keeps its own provisioning state (its copy of the custom data, the admin user it made):
  # deprovision it as Azure's capture steps and Packer's azure-arm builds do before an image is made.
  if [ "$CLOUD" = azure ] && command -v waagent >/dev/null 2>&1; then waagent -force -deprovision+user || true; fi
  # cloud-init's clean (its CLI reference): --machine-id writes "uninitialized" to /etc/machine-id, so systemd makes
  # a new id at the first boot; a cloud-init too old for it, or none: an empty file does the same (machine-id(5)).
  if command -v cloud-init >/dev/null 2>&1; then
    cloud-init clean --logs --machine-id || { cloud-init clean --logs && : >"$R/etc/machine-id"; }
  else
    rm -rf "$R/var/lib/cloud/instances" "$R/var/lib/cloud/instance" "$R/var/lib/cloud/data"
    : >"$R/etc/machine-id"
  fi
  rm -f "$R/var/lib/dbus/machine-id"
  journalctl --rotate >/dev/null 2>&1 && journalctl --vacuum-time=1s >/dev/null 2>&1 || true
  find "$R/var/log" -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete 2>/dev/null || true
  find "$R/var/log" -type f -exec truncate -s 0 {} + 2>/dev/null || true
  rm -rf "${R:-}/var/tmp/"* 2>/dev/null || true
}

# Only a bake runs this: the runner part below is never reached.
if [ -n "$RECIPE" ]; then
  log "bake script on $CLOUD (gpu: $GPU, recipe $RECIPE): installing, then powering off for the image"
  step prepare prepare # the per-boot copy: a GPU driver install reboots once, and the bake goes on at the next boot
  step bake-deadline lifetime_fallback
  bake_install
  step clean bake_clean
  log "bake done in $((($(now_us) - BOOT_T0) / 1000)) ms (install and pull: ${INSTALL_MS} ms); powering off for the image"
  # The pipe makes an image only after it reads this line on the instance's serial console (pipe/bake/flow.py
  # BAKE_SUCCEEDED): a power-off without it (the backup timer after a failed step, say) bakes nothing.
  log "bake succeeded for recipe $RECIPE"
  systemctl poweroff || shutdown -h now
  exit 0
fi
