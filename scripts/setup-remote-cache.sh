#!/usr/bin/env bash
# Installs the turborepo-remote-cache server (npm) that the remote cache
# tests run on the loopback interface. It goes into .tools/remote-cache
# (or $BUILDNET_REMOTE_CACHE_DIR), which holds only node_modules/ and is
# ignored by git. Idempotent: once the right version is installed the
# script exits without touching the network, so it is safe offline.
#
# Usage: scripts/setup-remote-cache.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.12.0 # keep in step with remotetest.NPMVersion
dir=${BUILDNET_REMOTE_CACHE_DIR:-.tools/remote-cache}
pkg=$dir/node_modules/turborepo-remote-cache

if [ -f "$pkg/dist/cli.js" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json" 2>/dev/null; then
  echo "turborepo-remote-cache $version already installed in $dir"
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "setup-remote-cache: $tool not found; install Node.js 20 or later (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
done

mkdir -p "$dir"
# --no-save and --no-package-lock keep package.json and package-lock.json
# out of $dir, so that git sees nothing there.
npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error --engine-strict=false "turborepo-remote-cache@$version"
test -f "$pkg/dist/cli.js"
echo "turborepo-remote-cache $version installed in $dir"
