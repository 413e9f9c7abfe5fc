#!/usr/bin/env bash
# Starts the Docker engine in the background when it is not running (machines without systemd, CI
# containers). Idempotent: returns at once when `docker info` already answers. Needs root (or sudo).
# The engine's log goes to ${DISTLAB_DOCKERD_LOG:-/var/log/distlab-dockerd.log}.
set -euo pipefail
if ! command -v dockerd >/dev/null; then
  echo "error: dockerd is not installed (apt-get install -y docker.io docker-compose)" >&2
  exit 1
fi
if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "error: need root (or sudo) to start dockerd" >&2
  exit 1
fi
log="${DISTLAB_DOCKERD_LOG:-/var/log/distlab-dockerd.log}"
# Another start may be under way (two test files at once): wait for it rather than racing it.
if ! pgrep -x dockerd >/dev/null; then
  echo "starting dockerd (log: $log)" >&2
  $SUDO bash -c "nohup setsid dockerd >>'$log' 2>&1 </dev/null &"
fi
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 0.5
done
echo "error: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
