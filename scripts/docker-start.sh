#!/usr/bin/env bash
# Starts the Docker engine in the background when it is not running (machines without systemd, CI
# containers). Idempotent: returns at once when `docker info` already answers. Needs root (or sudo).
# The engine's log goes to ${DISTLAB_DOCKERD_LOG:-/var/log/distlab-dockerd.log}.
set -euo pipefail
if ! command -v dockerd >/dev/null; then
  echo "error: dockerd is not installed (apt-get install -y docker.io docker-compose)" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi

# Containers share one cgroup (cgroupfs driver, cgroup v1: /docker) whose default CPU weight equals
# that of a single host process: on a busy machine fifty containers together get one process's CPU
# and starve. Weigh the group like the 64 processes it may hold; an idle group costs nothing.
container_cpu_weight() {
  local f=/sys/fs/cgroup/cpu/docker/cpu.shares
  [ -d /sys/fs/cgroup/cpu ] || return 0
  [ "$SUDO" = none ] && return 0
  $SUDO mkdir -p /sys/fs/cgroup/cpu/docker 2>/dev/null || return 0
  echo 65536 | $SUDO tee "$f" >/dev/null 2>&1 || true
}

if docker info >/dev/null 2>&1; then
  container_cpu_weight
  exit 0
fi
if [ "$SUDO" = none ]; then
  echo "error: need root (or sudo) to start dockerd" >&2
  exit 1
fi
log="${DISTLAB_DOCKERD_LOG:-/var/log/distlab-dockerd.log}"
# Another start may be under way (two callers at once): wait for it rather than racing it.
if ! pgrep -x dockerd >/dev/null; then
  echo "starting dockerd (log: $log)" >&2
  $SUDO bash -c "nohup setsid dockerd >>'$log' 2>&1 </dev/null &"
fi
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    container_cpu_weight
    exit 0
  fi
  sleep 0.5
done
echo "error: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
