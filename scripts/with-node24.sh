#!/usr/bin/env bash
# Runs a command with Node 24 first on PATH, so that the processes it starts (vitest's workers,
# the CLI and server processes the tests spawn, `node` by name) run on Node 24 too:
#   bash scripts/with-node24.sh vitest run
# Node 24 comes from npm into .node24/ (scripts/setup.sh installs it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node24="$(echo "$root"/.node24/node_modules/node-linux-*/bin/node)"
if [ ! -x "$node24" ] || [[ "$("$node24" --version)" != v24.* ]]; then
  echo "with-node24: no Node 24 in $root/.node24; install it with: bash scripts/setup.sh" >&2
  exit 1
fi
PATH="$(dirname "$node24"):$PATH" exec "$@"
