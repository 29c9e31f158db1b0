#!/usr/bin/env bash
# Installs the turbo CLI (npm package turbo, whose Linux binary comes in
# the npm package @turbo/linux-64) that the tests of buildnetd's remote
# cache server run against it. It goes into .tools/turbo (or
# $BUILDNET_TURBO_DIR), which holds only node_modules/ and is ignored by
# git. Idempotent: once the right version is installed the script exits
# without touching the network, so it is safe offline. Tests never
# download anything: without this installation they skip (fail with
# CI=true).
#
# Usage: scripts/setup-turbo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version=2.11.11 # keep in step with TurboVersion in cmd/buildnetd/internal/server/artifacts_test.go
dir=${BUILDNET_TURBO_DIR:-.tools/turbo}
bin=$dir/node_modules/.bin/turbo

if [ -x "$bin" ] && grep -q "\"version\": \"$version\"" "$dir/node_modules/turbo/package.json" 2>/dev/null \
  && "$bin" --version >/dev/null 2>&1; then
  echo "turbo $version already installed in $dir"
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "setup-turbo: $tool not found; install Node.js 20 or later (e.g. apt-get install nodejs npm)" >&2
    exit 1
  fi
done

mkdir -p "$dir"
# --no-save and --no-package-lock keep package.json and package-lock.json
# out of $dir, so that git sees nothing there. The platform binary is an
# optional dependency of turbo: npm installs the one for this machine.
npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "turbo@$version"
"$bin" --version >/dev/null
echo "turbo $version installed in $dir"
