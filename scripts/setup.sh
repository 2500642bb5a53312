#!/usr/bin/env bash
# Prepares a fresh Debian machine (as root) to build and run swarm. Idempotent: re-running
# installs nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# command:package — what the daemon and the tests run: OCI runtimes, busybox for test images,
# a local registry (and openssl for its test certificates), an init for containers, the network
# tools of the overlay (nsenter comes with util-linux), and iperf3 for `npm run bench:overlay`.
for pair in "node:nodejs" "npm:npm" "crun:crun" "runc:runc" "busybox:busybox-static" \
  "docker-registry:docker-registry" "tini-static:tini" "ip:iproute2" "nft:nftables" "iptables:iptables" "openssl:openssl" \
  "nsenter:util-linux" "bridge:iproute2" "iperf3:iperf3"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  # Try without a refresh first: on a machine with fresh lists it saves a minute.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required (found $(node --version))" >&2
  exit 1
fi

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.swarm-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

npm run --silent build
