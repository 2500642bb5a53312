#!/usr/bin/env bash
# The demo: what the project can show today, end to end, on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent demo
