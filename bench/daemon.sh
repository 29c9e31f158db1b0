#!/usr/bin/env bash
# BuildNet daemon benchmarks.
#
#   bench/daemon.sh [10k|50k|all]
#
# On a generated, fully built workspace (10k: 100 packages × 100 files;
# 50k: 500 × 100), starts `buildnetd start` (which watches the workspace)
# and measures:
#   (a) the in-process Engine no-op build, watching (bench/engnoop);
#   (b) a cached `POST /build?wait=true`, one client (bench/loadgen);
#   (c) the whole-process CLI `buildnetd build --all` through the daemon;
#   (d) `GET /status` with 50 concurrent clients: requests/s and p99;
#   (e) event latency with 1 and with 200 SSE subscribers (bench/ssefan),
#       for whole-workspace builds and for one-package builds, next to the
#       machine's floor for the same bytes (bench/fanfloor: one write per
#       stream from a process that does nothing else), and the same over
#       the WebSocket;
#   (f) the daemon's RSS before and after 10,000 cached builds.
# It prints Markdown tables ready to paste into the docs.
#
# With PIN=1 the daemon runs on CPU 0 and every client (and the floor's
# reader) on CPU 1, under taskset: the closest a two-core machine comes to
# clients on other machines. The daemon then has one core.
set -euo pipefail

which_ws="${1:-10k}"
case "$which_ws" in
10k) sizes=(10k) ;;
50k) sizes=(50k) ;;
all) sizes=(10k 50k) ;;
*) echo "usage: $0 [10k|50k|all]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/buildnet-daemon-bench.XXXXXX")"
pid=""
cleanup() {
	[[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[[ "${KEEP:-}" == 1 ]] || rm -rf "$tmp"
}
trap cleanup EXIT
log() { printf '\033[2m[bench]\033[0m %s\n' "$*" >&2; }

bin="$tmp/bin"
mkdir -p "$bin"
cd "$repo"
log "building tools"
for t in genws timeit loadgen ssefan fanfloor engnoop; do go build -o "$bin/$t" "./bench/$t"; done
# The release build: static, without cgo (it starts faster).
CGO_ENABLED=0 go build -o "$bin/buildnetd" ./cmd/buildnetd

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
field() { sed -E -n "s/.*$2=([0-9.]+).*/\1/p" <<<"$1" | head -n 1; }
# latency NAME TEXT prints loadgen's NAME (p50, p99) in milliseconds, whether
# loadgen wrote it in ms or in µs.
latency() {
	awk -v k="$1" '$1 == k { v = $2; if (v ~ /µs$/) { sub(/µs$/, "", v); printf "%.3f\n", v / 1000 } else { sub(/ms$/, "", v); print v }; exit }' <<<"$2"
}

# on_daemon and on_client prefix the daemon's and the clients' commands.
on_daemon=()
on_client=()
writer_cpus=()
if [[ "${PIN:-}" == 1 ]]; then
	on_daemon=(taskset -c 0)
	on_client=(taskset -c 1)
	writer_cpus=(-writer-cpus 0)
fi

rows=()
fanrows=()
port=19876
for size in "${sizes[@]}"; do
	case "$size" in 10k) packages=100 ;; 50k) packages=500 ;; esac
	ws="$tmp/ws-$size"
	log "$size: generating and building $packages packages × 100 files"
	"$bin/genws" -out "$ws" -packages "$packages" -files 100 -seed 1 >/dev/null
	"$bin/buildnetd" build --all --root "$ws" --local >/dev/null

	log "$size (a) in-process engine, watching"
	inproc="$("$bin/engnoop" -root "$ws" -runs 50 -watch)"
	log "  $inproc"
	inproc_ms="$(sed -E -n 's/.*median ([0-9.]+) ms.*/\1/p' <<<"$inproc")"

	# A benchmark is no abuse: lift the rate and session limits.
	cat >"$ws/.buildnet/security.json" <<'JSON'
{"rate_limits": {"read": {"rate": 0}, "build": {"rate": 0}, "admin": {"rate": 0}, "anonymous": {"rate": 0}},
 "max_sessions_per_actor": 0}
JSON
	port=$((port + 1))
	addr="127.0.0.1:$port"
	"${on_daemon[@]}" "$bin/buildnetd" start --root "$ws" --port "$port" --log-level warn 2>"$tmp/daemon-$size.log" &
	pid=$!
	for _ in $(seq 600); do curl -fsS "http://$addr/health" >/dev/null 2>&1 && [[ -f "$ws/.buildnet/admin.key" ]] && break; sleep 0.1; done
	hdr=()
	if [[ -f "$ws/.buildnet/admin.key" ]]; then
		hdr=(-H "Authorization: Bearer $(cat "$ws/.buildnet/admin.key")")
	fi
	curl_auth=()
	[[ ${#hdr[@]} -gt 0 ]] && curl_auth=(-H "${hdr[1]}")
	for _ in 1 2 3; do curl -fsS "${curl_auth[@]}" -X POST "http://$addr/build?wait=true" >/dev/null; done

	log "$size (b) cached POST /build?wait=true, 1 client"
	b="$("${on_client[@]}" "$bin/loadgen" -url "http://$addr/build?wait=true" -method POST -c 1 -d 5s "${hdr[@]}")"
	log "  $(tr '\n' ' ' <<<"$b")"
	post_p50="$(latency p50 "$b")"

	log "$size (c) CLI build --all through the daemon, 20 runs"
	c="$(BUILDNET_ADDR="$addr" "${on_client[@]}" "$bin/timeit" -runs 20 -warmup 2 -json -- "$bin/buildnetd" build --all --root "$ws")"
	cli_ms="$(sed -E -n 's/.*"median_ms":([0-9.]+).*/\1/p' <<<"$c")"
	log "  median $cli_ms ms"

	log "$size (d) GET /status, 50 clients"
	d="$("${on_client[@]}" "$bin/loadgen" -url "http://$addr/status" -c 50 -d 5s "${hdr[@]}")"
	log "  $(tr '\n' ' ' <<<"$d")"
	rps="$(sed -E -n 's/.*requests\/s +([0-9.]+).*/\1/p' <<<"$d" | head -n 1)"
	p99="$(latency p99 "$d")"

	log "$size (e) event latency, 1 and 200 SSE subscribers"
	e1="$("${on_client[@]}" "$bin/ssefan" -url "http://$addr" -subscribers 1 -builds 10 "${hdr[@]}")"
	e200="$("${on_client[@]}" "$bin/ssefan" -url "http://$addr" -subscribers 200 -builds 10 "${hdr[@]}")"
	log "  $e1"
	log "  $e200"
	# One-package builds: the cost of fanning out one event, without a
	# burst of a whole workspace's events ahead of it.
	one="$(sed -E -n 's/.*"name": *"([^"]+)".*/\1/p' "$ws/.buildnet/config.json" | head -n 1)"
	o1="$("${on_client[@]}" "$bin/ssefan" -url "http://$addr" -subscribers 1 -builds 30 -package "$one" "${hdr[@]}")"
	o200="$("${on_client[@]}" "$bin/ssefan" -url "http://$addr" -subscribers 200 -builds 30 -package "$one" "${hdr[@]}")"
	log "  one-package builds: $o1"
	log "  one-package builds: $o200"
	# Settled: each build once every stream has the last one's end, so
	# that an event does not queue behind the previous build's.
	s1="$("${on_client[@]}" "$bin/ssefan" -url "http://$addr" -subscribers 1 -builds 30 -settle -package "$one" "${hdr[@]}")"
	s200="$("${on_client[@]}" "$bin/ssefan" -url "http://$addr" -subscribers 200 -builds 30 -settle -package "$one" "${hdr[@]}")"
	log "  one-package builds, settled: $s1"
	log "  one-package builds, settled: $s200"
	# The same over the WebSocket (the panel's way), settled: its readers
	# are slower than SSE's and would otherwise fall behind and be dropped.
	w1="$("${on_client[@]}" "$bin/ssefan" -ws -url "http://$addr" -subscribers 1 -builds 10 -settle "${hdr[@]}")"
	w200="$("${on_client[@]}" "$bin/ssefan" -ws -url "http://$addr" -subscribers 200 -builds 10 -settle "${hdr[@]}")"
	wo1="$("${on_client[@]}" "$bin/ssefan" -ws -url "http://$addr" -subscribers 1 -builds 30 -settle -package "$one" "${hdr[@]}")"
	wo200="$("${on_client[@]}" "$bin/ssefan" -ws -url "http://$addr" -subscribers 200 -builds 30 -settle -package "$one" "${hdr[@]}")"
	log "  WebSocket: $w1"
	log "  WebSocket: $w200"
	log "  WebSocket, one-package builds: $wo1"
	log "  WebSocket, one-package builds: $wo200"
	# The floor: the same bytes per stream, one write each, nothing else.
	fo1="$("${on_client[@]}" "$bin/fanfloor" "${writer_cpus[@]}" -subscribers 1 -size "$(field "$o200" stream_bytes_per_build)")"
	fo200="$("${on_client[@]}" "$bin/fanfloor" "${writer_cpus[@]}" -subscribers 200 -size "$(field "$o200" stream_bytes_per_build)")"
	fw1="$("${on_client[@]}" "$bin/fanfloor" "${writer_cpus[@]}" -subscribers 1 -rounds 50 -size "$(field "$e200" stream_bytes_per_build)")"
	fw200="$("${on_client[@]}" "$bin/fanfloor" "${writer_cpus[@]}" -subscribers 200 -rounds 50 -size "$(field "$e200" stream_bytes_per_build)")"
	log "  floor: $fo1"
	log "  floor: $fo200"
	log "  floor: $fw1"
	log "  floor: $fw200"
	fanrows+=("| $size | whole workspace, back to back | $(field "$e200" stream_bytes_per_build) B | $(field "$e1" p50) ms | $(field "$e200" p50) ms | $(field "$fw1" p50) ms | $(field "$fw200" p50) ms |")
	fanrows+=("| $size | one package, back to back | $(field "$o200" stream_bytes_per_build) B | $(field "$o1" p50) ms | $(field "$o200" p50) ms | $(field "$fo1" p50) ms | $(field "$fo200" p50) ms |")
	fanrows+=("| $size | one package, settled | $(field "$s200" stream_bytes_per_build) B | $(field "$s1" p50) ms | $(field "$s200" p50) ms | $(field "$fo1" p50) ms | $(field "$fo200" p50) ms |")
	fanrows+=("| $size | WebSocket: whole workspace, settled | $(field "$w200" stream_bytes_per_build) B | $(field "$w1" p50) ms | $(field "$w200" p50) ms | – | – |")
	fanrows+=("| $size | WebSocket: one package, settled | $(field "$wo200" stream_bytes_per_build) B | $(field "$wo1" p50) ms | $(field "$wo200" p50) ms | – | – |")

	log "$size (f) RSS over 10,000 cached builds"
	rss0="$(rss_kb "$pid")"
	"${on_client[@]}" "$bin/loadgen" -url "http://$addr/build?wait=true" -method POST -c 4 -n 1000 -d 10m "${hdr[@]}" >/dev/null
	rss1="$(rss_kb "$pid")"
	"${on_client[@]}" "$bin/loadgen" -url "http://$addr/build?wait=true" -method POST -c 4 -n 9000 -d 10m "${hdr[@]}" >/dev/null
	rss10="$(rss_kb "$pid")"
	log "  RSS ${rss0} kB → ${rss1} kB (1k builds) → ${rss10} kB (10k builds)"

	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
	rows+=("| $size | $inproc_ms ms | $post_p50 ms | $cli_ms ms | $rps req/s, p99 $p99 ms | $(field "$e1" p50) / $(field "$e200" p50) ms (p99 $(field "$e200" p99) ms) | $(field "$o1" p50) / $(field "$o200" p50) ms | $((rss0 / 1024)) → $((rss1 / 1024)) → $((rss10 / 1024)) MB |")
done

cpu="$(sed -n -E 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n 1)"
echo
pinned=""
[[ "${PIN:-}" == 1 ]] && pinned=" Pinned: the daemon on CPU 0, every client on CPU 1."
echo "Machine: $(nproc) CPUs (${cpu:-unknown}), $(awk '/^MemTotal:/ { printf "%.1f GB", $2/1024/1024 }' /proc/meminfo) RAM, load $(cut -d' ' -f1-3 /proc/loadavg).$pinned"
echo
echo "| workspace | in-process no-op (watching) | POST /build?wait=true p50 | CLI through daemon (median) | GET /status, 50 clients | event p50, 1 / 200 subscribers | one-package builds: event p50, 1 / 200 | daemon RSS start → 1k → 10k builds |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Event fan-out: p50 from an event's creation to its arrival, and the floor (bench/fanfloor) for the same bytes per stream."
echo
echo "| workspace | builds | bytes per stream and build | 1 subscriber | 200 subscribers | floor, 1 stream | floor, 200 streams |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${fanrows[@]}"
