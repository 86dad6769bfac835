#!/usr/bin/env bash
# Installs what the project and its tests need on a fresh machine (Node 20+ and npm present):
# the system readers the interop tests run, pnpm, Node 24 (the second Node the tests run on),
# and the workspace's packages.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
# zstd CLI + Python cbor2/zstandard + Go with fxamacker/cbor and klauspost/compress:
# independent readers of export files (packages/codec/test); wrk loads the server in the
# ingest benchmark (pnpm bench); chromium runs the dashboard's browser tests (playwright-core).
APT_PACKAGES=(zstd python3-cbor2 python3-zstandard golang-go wrk chromium
  golang-github-fxamacker-cbor-dev golang-github-klauspost-compress-dev)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: not installed (the interop tests will skip without them): ${missing[*]}" >&2
    echo "setup: install with: sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

if [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi

# Node 24 from npm (the node-linux-<arch> package ships the binary) into .node24/, for
# `pnpm test:node24` and the bench's node24 run (scripts/with-node24.sh finds it there).
# Installs only when missing.
if ! bash scripts/with-node24.sh node --version >/dev/null 2>&1; then
  case "$(uname -m)" in
    aarch64 | arm64) arch=arm64 ;;
    *) arch=x64 ;;
  esac
  echo "setup: installing Node 24 into .node24/"
  npm install --prefix .node24 --no-audit --no-fund --loglevel=error "node-linux-$arch@24" >/dev/null
fi

pnpm install --frozen-lockfile
