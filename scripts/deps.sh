#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, skipping
# whatever is already there: Chromium for the panel's browser tests, git,
# a C toolchain for the C API, and valgrind.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v git >/dev/null 2>&1 || need+=(git)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v node >/dev/null 2>&1 || need+=(nodejs)
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Node's C headers for the addon: NodeSource's nodejs ships
# /usr/include/node; elsewhere the node-api-headers package has them.
[ -f /usr/include/node/node_api.h ] || (cd "$(dirname "$0")/../node-binding" && npm install --no-save --no-audit --no-fund node-api-headers@1.9.0)

# The npm Turborepo remote cache server, for the remote cache tests.
"$(dirname "$0")/setup-remote-cache.sh"

# The turbo CLI, to test buildnetd as a Turborepo remote cache.
"$(dirname "$0")/setup-turbo.sh"
