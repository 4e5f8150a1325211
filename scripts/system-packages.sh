#!/usr/bin/env bash
# Debian packages the tests use; installed only when missing (needs root, as in CI).
set -euo pipefail
need=()
# command -> package
declare -A packages=(
  [ip]=iproute2
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [redis-server]=redis-server
  [promtool]=prometheus  # `promtool check config` of deploy/prometheus/prometheus.yml
)
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("${packages[$cmd]}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root or: sudo apt-get install ${need[*]})" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
