#!/usr/bin/env bash
# Builds BuildNet's foreign-function artefacts, offline, from a clean
# checkout: the C library, the C example and tests, and the Node addon.
#
#   scripts/ffi.sh            build everything (same as `all`)
#   scripts/ffi.sh lib        capi/out/lib/libbuildnet.so, capi/out/include/buildnet.h,
#                             capi/out/lib/pkgconfig/buildnet.pc
#   scripts/ffi.sh example    examples/c/build-workspace
#   scripts/ffi.sh ctest      capi/out/bin/test_capi and test_capi_asan
#   scripts/ffi.sh addon      node-binding/build/buildnet.node (+ a copy of libbuildnet.so)
#   scripts/ffi.sh node       lib + addon, and what the Node tests run: the Go embedding
#                             example and buildnetd, in node-binding/build/ (npm's pretest)
#   scripts/ffi.sh test-c     build, then run the C tests under AddressSanitizer
#                             (+LeakSanitizer, UBSan), and against a cgocheck2 build
#                             of the library; then run the C example on a copy of
#                             examples/monorepo
#   scripts/ffi.sh valgrind   run the C tests under valgrind (memcheck errors only)
#   scripts/ffi.sh clean      remove every output
#
# Needs Go (cgo) and gcc; the addon also needs Node's C headers (node_api.h), taken from
# $NODE_API_HEADERS, then the running node's include/node, then /usr/include/node, then
# node-binding/node_modules/node-api-headers. Nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/capi/out
CC=${CC:-gcc}
CWARN="-Wall -Wextra -Werror"
GOFLAGS_LIB=(-buildmode=c-shared -ldflags "-extldflags=-Wl,-soname,libbuildnet.so")

log() { printf '== %s\n' "$*" >&2; }

build_lib() {
  log "libbuildnet.so"
  mkdir -p "$OUT/lib/pkgconfig" "$OUT/include" "$OUT/bin"
  go build "${GOFLAGS_LIB[@]}" -o "$OUT/lib/libbuildnet.so" ./capi
  # cgo's generated header includes buildnet.h through the preamble, so a
  # mismatch between the two already failed the build above; compile a
  # consumer of both anyway, with warnings as errors.
  printf '#include "buildnet.h"\n#include "libbuildnet.h"\nint main(void) { return bn_version() == 0; }\n' >"$OUT/header_check.c"
  $CC $CWARN -I"$ROOT/capi" -I"$OUT/lib" -c "$OUT/header_check.c" -o /dev/null
  rm -f "$OUT/header_check.c" "$OUT/lib/libbuildnet.h"
  cp capi/buildnet.h "$OUT/include/buildnet.h"
  cp capi/buildnet.pc "$OUT/lib/pkgconfig/buildnet.pc"
}

need_lib() { [[ -f $OUT/lib/libbuildnet.so ]] || build_lib; }

build_ctest() {
  need_lib
  log "C tests"
  local common=(-g -O1 -I"$OUT/include" capi/ctest/test_capi.c -L"$OUT/lib" -lbuildnet -Wl,-rpath,'$ORIGIN/../lib' -pthread)
  $CC $CWARN "${common[@]}" -o "$OUT/bin/test_capi"
  $CC $CWARN -fsanitize=address,undefined -fno-omit-frame-pointer "${common[@]}" -o "$OUT/bin/test_capi_asan"
}

build_example() {
  need_lib
  log "C example"
  make -s -C examples/c BN_OUT="$OUT"
}

# node_headers prints the directory holding node_api.h.
node_headers() {
  local d
  for d in "${NODE_API_HEADERS:-}" \
    "$(node -p 'require("path").resolve(process.execPath, "../../include/node")' 2>/dev/null || true)" \
    /usr/include/node "$ROOT/node-binding/node_modules/node-api-headers/include"; do
    if [[ -n $d && -f $d/node_api.h ]]; then
      echo "$d"
      return
    fi
  done
  echo "ffi.sh: node_api.h not found: install Node's headers (Debian: the nodejs package ships /usr/include/node)," >&2
  echo "        or run 'npm install node-api-headers' in node-binding/, or set NODE_API_HEADERS" >&2
  return 1
}

build_addon() {
  need_lib
  log "Node addon"
  local inc dir=node-binding/build
  inc=$(node_headers)
  mkdir -p "$dir"
  # libbuildnet.so goes beside the addon, which finds it through
  # RUNPATH=$ORIGIN: no LD_LIBRARY_PATH needed. -z nodelete keeps the addon
  # mapped when a worker that loaded it ends while the library may still call
  # back into it. No -z defs: the napi_ symbols come from the node binary.
  cp "$OUT/lib/libbuildnet.so" "$dir/libbuildnet.so.tmp" && mv "$dir/libbuildnet.so.tmp" "$dir/libbuildnet.so"
  $CC -shared -fPIC -O2 -g $CWARN -Wno-unused-parameter -fvisibility=hidden \
    -I"$inc" -I"$OUT/include" node-binding/src/addon.c \
    -L"$dir" -lbuildnet -pthread -Wl,-rpath,'$ORIGIN' -Wl,-z,nodelete \
    -o "$dir/buildnet.node.tmp"
  mv "$dir/buildnet.node.tmp" "$dir/buildnet.node"
}

# run_example builds a fresh copy of the example monorepo twice from C.
run_example() {
  local ws
  ws=$(mktemp -d)
  cp -r examples/monorepo/. "$ws/"
  rm -rf "$ws/.buildnet/cache" "$ws"/.buildnet/state.db*
  find "$ws" -name dist -type d -prune -exec rm -rf {} +
  log "C example: first build"
  examples/c/build-workspace "$ws" | tee "$ws.log1"
  grep -q 'full_build' "$ws.log1"
  log "C example: second build"
  examples/c/build-workspace "$ws" | tee "$ws.log2"
  if grep -q 'full_build' "$ws.log2"; then
    echo "ffi.sh: the second build of the example rebuilt a package" >&2
    return 1
  fi
  rm -rf "$ws" "$ws.log1" "$ws.log2"
}

test_c() {
  build_lib
  build_ctest
  build_example
  log "C tests under ASan/LSan/UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$OUT/bin/test_capi_asan"
  log "C tests against a cgocheck2 build of the library"
  mkdir -p "$OUT/cgocheck2"
  GOEXPERIMENT=cgocheck2 go build "${GOFLAGS_LIB[@]}" -o "$OUT/cgocheck2/libbuildnet.so" ./capi
  rm -f "$OUT/cgocheck2/libbuildnet.h"
  LD_LIBRARY_PATH="$OUT/cgocheck2" "$OUT/bin/test_capi"
  run_example
}

test_valgrind() {
  build_ctest
  log "C tests under valgrind"
  mkdir -p "$OUT/valgrind"
  # valgrind 3.19 cannot run Go 1.26 as is (RDTSCP, async preemption):
  # build with -tags valgrind and switch both off. Its leak checker trips on
  # the Go runtime: leaks are LeakSanitizer's job (test-c). go.supp silences
  # false positives of Go's vectorised string code (see there).
  go build -tags valgrind "${GOFLAGS_LIB[@]}" -o "$OUT/valgrind/libbuildnet.so" ./capi
  rm -f "$OUT/valgrind/libbuildnet.h"
  GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1 LD_LIBRARY_PATH="$OUT/valgrind" \
    valgrind --quiet --leak-check=no --error-exitcode=9 --suppressions=capi/ctest/go.supp "$OUT/bin/test_capi"
}

build_node_test_deps() {
  build_lib
  build_addon
  log "Go helpers of the Node tests"
  go build -o node-binding/build/embed ./examples/embed
  go build -o node-binding/build/buildnetd ./cmd/buildnetd
}

case "${1:-all}" in
all)
  build_lib
  build_ctest
  build_example
  build_addon
  ;;
lib) build_lib ;;
ctest) build_ctest ;;
example) build_example ;;
addon) build_addon ;;
node) build_node_test_deps ;;
test-c) test_c ;;
valgrind) test_valgrind ;;
clean)
  rm -rf "$OUT" node-binding/build
  make -s -C examples/c clean
  ;;
*)
  sed -n '2,20p' "$0" >&2
  exit 2
  ;;
esac
