#!/usr/bin/env bash
# Builds the project's image (distlab:latest, or $1) on a machine without a registry: imports a base
# image from this host's node binary and its shared libraries (cached as distlab-base:node-<version>),
# then builds deploy/Dockerfile FROM it with the compiled dist/ and the production node_modules.
# Starts dockerd first when it is not running. Needs `npm run build` done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/docker-start.sh
exec node bin/distlab.js deploy image --local-base --tag "${1:-distlab:latest}"
