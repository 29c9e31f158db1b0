#!/usr/bin/env bash
# BuildNet performance harness.
#
#   bench/run.sh [10k|50k|all]
#
# Builds buildnetd, floor and timeit, generates synthetic workspaces
# (10k: 100 packages × 100 files; 50k: 500 packages × 100 files) and measures:
#   (a) a cold build: no state, no cache, no outputs;
#   (b) a no-op build with everything cached, next to the lstat floor
#       (bench/floor), and their ratio;
#   (c) restoring every output from the cache after deleting all dist/.
# It prints a Markdown table ready to paste into the docs.
#
# Environment:
#   BUILDNETD=path   use this buildnetd instead of building ./cmd/buildnetd
#   COLD_RUNS=3 NOOP_RUNS=10 RESTORE_RUNS=5   number of timed runs
#   SEED=1           genws seed
#   GENWS_CMD=node   build command kind of the generated packages (node|sh)
#   KEEP=1           keep the temporary directory
set -euo pipefail

usage() {
	echo "usage: $0 [10k|50k|all]" >&2
	exit 2
}

which_ws="${1:-all}"
case "$which_ws" in
10k) sizes=(10k) ;;
50k) sizes=(50k) ;;
all) sizes=(10k 50k) ;;
*) usage ;;
esac

cold_runs="${COLD_RUNS:-3}"
noop_runs="${NOOP_RUNS:-10}"
restore_runs="${RESTORE_RUNS:-5}"
seed="${SEED:-1}"
genws_cmd="${GENWS_CMD:-node}"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/buildnet-bench.XXXXXX")"
if [[ "${KEEP:-}" == 1 ]]; then
	echo "keeping $tmp" >&2
else
	trap 'rm -rf "$tmp"' EXIT
fi

log() { printf '\033[2m[bench]\033[0m %s\n' "$*" >&2; }

# json_field FILE KEY prints a number from timeit's one-line JSON output.
json_field() {
	sed -E -n "s/.*\"$2\":([0-9.eE+-]+).*/\1/p" "$1"
}

# fmt_ms MS prints a duration for humans.
fmt_ms() {
	awk -v ms="$1" 'BEGIN { if (ms >= 1000) printf "%.2f s", ms / 1000; else if (ms >= 100) printf "%.0f ms", ms; else printf "%.1f ms", ms }'
}

# fmt_mb KB prints a size in MB.
fmt_mb() {
	awk -v kb="$1" 'BEGIN { printf "%.0f MB", kb / 1024 }'
}

# tiers FILE summarises the tiers of a `build --json` result.
tiers() {
	{ grep -oE '"tier": *"[a-z_]+"' "$1" || true; } | sed -E 's/.*"([a-z_]+)"$/\1/' | sort | uniq -c |
		awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }'
}

# check_tiers WS WANT runs one more build and fails unless every package
# ended in tier WANT, so that each measurement measures what it claims.
check_tiers() {
	local ws="$1" want="$2" out="$tmp/check.json" got
	if ! "$bin/buildnetd" build --all --root "$ws" --json >"$out"; then
		echo "buildnetd build failed:" >&2
		cat "$out" >&2
		exit 1
	fi
	got="$(tiers "$out")"
	log "  check: $got"
	if [[ "$got" != "$want="* || "$got" == *" "* ]]; then
		echo "expected every package to be $want, got: ${got:-no tiers in the output}" >&2
		exit 1
	fi
}

bin="$tmp/bin"
mkdir -p "$bin"
cd "$repo"
if [[ -n "${BUILDNETD:-}" ]]; then
	cp "$BUILDNETD" "$bin/buildnetd"
else
	log "building buildnetd"
	# The release build: static, without cgo (it starts faster).
	CGO_ENABLED=0 go build -o "$bin/buildnetd" ./cmd/buildnetd
fi
log "building genws, floor, timeit"
go build -o "$bin/genws" ./bench/genws
go build -o "$bin/floor" ./bench/floor
go build -o "$bin/timeit" ./bench/timeit
go build -o "$bin/ideal" ./bench/ideal

cpu="$(sed -n -E 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
mem="$(awk '/^MemTotal:/ { printf "%.1f GB", $2 / 1024 / 1024 }' /proc/meminfo)"
machine="$(nproc) CPUs (${cpu:-unknown model}), $mem RAM, $(uname -sr), $(go version | awk '{ print $3 }'), node $(node --version 2>/dev/null || echo none)"
log "machine: $machine"

rows=()
for size in "${sizes[@]}"; do
	case "$size" in
	10k) packages=100 ;;
	50k) packages=500 ;;
	esac
	files=100
	ws="$tmp/ws-$size"
	log "generating $size: $packages packages × $files files"
	"$bin/genws" -out "$ws" -packages "$packages" -files "$files" -seed "$seed" -cmd "$genws_cmd" >/dev/null

	# Quoted once here, used in the -pre commands below (run by sh -c).
	qws="$(printf '%q' "$ws")"
	rm_dist="find $qws/pkgs -type d -name dist -prune -exec rm -rf {} +"
	rm_state="find $qws/.buildnet -mindepth 1 -maxdepth 1 ! -name config.json -exec rm -rf {} +"

	log "$size (a) cold build, $cold_runs runs"
	"$bin/timeit" -json -runs "$cold_runs" -warmup 0 -pre "$rm_state; $rm_dist" \
		-- "$bin/buildnetd" build --all --root "$ws" >"$tmp/cold-$size.json"
	log "  median $(fmt_ms "$(json_field "$tmp/cold-$size.json" median_ms)")"
	# The ideal: command times over the cores, or the critical path.
	sh -c "$rm_state; $rm_dist"
	"$bin/buildnetd" build --all --root "$ws" --json >"$tmp/cold-result-$size.json"
	ideal_ms="$("$bin/ideal" -root "$ws" -result "$tmp/cold-result-$size.json")"
	cold_ratio="$(awk -v a="$(json_field "$tmp/cold-$size.json" median_ms)" -v b="$ideal_ms" 'BEGIN { printf "%.2f×", a / b }')"
	log "  ideal $(fmt_ms "$ideal_ms"): cold ÷ ideal $cold_ratio"

	log "$size (b) no-op build and lstat floor, $noop_runs runs each"
	check_tiers "$ws" instant_skip
	"$bin/timeit" -json -runs "$noop_runs" -warmup 1 \
		-- "$bin/buildnetd" build --all --root "$ws" >"$tmp/noop-$size.json"
	"$bin/timeit" -json -runs "$noop_runs" -warmup 1 \
		-- "$bin/floor" -root "$ws" >"$tmp/floor-$size.json"
	nfiles="$("$bin/floor" -root "$ws" | awk '{ print $1 }')"
	noop_ms="$(json_field "$tmp/noop-$size.json" median_ms)"
	floor_ms="$(json_field "$tmp/floor-$size.json" median_ms)"
	ratio="$(awk -v a="$noop_ms" -v b="$floor_ms" 'BEGIN { printf "%.1f×", a / b }')"
	log "  no-op $(fmt_ms "$noop_ms"), floor $(fmt_ms "$floor_ms") ($nfiles files): ratio $ratio"

	log "$size (c) restore every output from the cache, $restore_runs runs"
	"$bin/timeit" -json -runs "$restore_runs" -warmup 0 -pre "$rm_dist" \
		-- "$bin/buildnetd" build --all --root "$ws" >"$tmp/restore-$size.json"
	log "  median $(fmt_ms "$(json_field "$tmp/restore-$size.json" median_ms)")"
	eval "$rm_dist"
	check_tiers "$ws" cache_restore

	rows+=("$(printf '| %s (%d × %d, %s files) | %s (ideal %s, %s) | %s | %s | %s | %s | %s / %s / %s |' \
		"$size" "$packages" "$files" "$nfiles" \
		"$(fmt_ms "$(json_field "$tmp/cold-$size.json" median_ms)")" "$(fmt_ms "$ideal_ms")" "$cold_ratio" \
		"$(fmt_ms "$noop_ms")" "$(fmt_ms "$floor_ms")" "$ratio" \
		"$(fmt_ms "$(json_field "$tmp/restore-$size.json" median_ms)")" \
		"$(fmt_mb "$(json_field "$tmp/cold-$size.json" max_rss_kb)")" \
		"$(fmt_mb "$(json_field "$tmp/noop-$size.json" max_rss_kb)")" \
		"$(fmt_mb "$(json_field "$tmp/restore-$size.json" max_rss_kb)")")")
done

echo
echo "Machine: $machine."
echo "Medians of $cold_runs cold, $noop_runs no-op and floor, and $restore_runs restore runs; \`buildnetd build --all\`, $genws_cmd build scripts, seed $seed."
echo
echo "| workspace | cold build (ideal, ratio) | no-op (all cached) | lstat floor | no-op ÷ floor | restore all outputs | peak RSS cold / no-op / restore |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
