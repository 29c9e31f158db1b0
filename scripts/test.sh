#!/usr/bin/env bash
# Runs BuildNet's whole test suite: vet, the Go tests under the race
# detector, and a short run of every fuzz target over its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

echo "== C API: tests under ASan/LSan/UBSan and cgocheck2, C example"
./scripts/ffi.sh test-c

echo "== Node binding: addon, Client against buildnetd, stress, memory"
(cd node-binding && npm test)

# Count-based budgets: a duration-based -fuzztime races Go 1.26's fuzz
# coordinator at the deadline and can report a bare "context deadline
# exceeded" with no failing input (golang/go#75804, fixed in Go 1.27).
echo "== fuzz targets (${FUZZ_EXECS:=100000} executions each)"
for target in \
  "./buildnet FuzzParseWorkspace" \
  "./cache FuzzDecodeManifest" \
  "./graph FuzzNew" \
  "./buildnet FuzzParseFilter" \
  "./alert FuzzParseConfig" \
  "./cmd/buildnetd/internal/files FuzzClean" \
  "./cmd/buildnetd/internal/auth FuzzIsKey" \
  "./state FuzzResultJSON" \
  "./cmd/buildnetd/internal/server FuzzEventJSON" \
  "./internal/jsonscan FuzzAgreesWithEncodingJSON" \
  "./cmd/buildnetd/internal/cli FuzzDecodeEvent"; do
  set -- $target
  go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZ_EXECS}x" "$1"
done
echo "== all tests passed"
