#!/usr/bin/env bash
# The whole test suite: setup, lint, typecheck, then every test (including 200 Raft simulation seeds).
# The namespace-host tests (test/net, test/chaos) run last and one file at a time: each runs a whole cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent lint
npm run --silent typecheck
npm test
