#!/bin/sh
# bench/deflate.sh - permessage-deflate against cleartext: wsrelayd's echo
# on routes with and without compression, driven by "wsrelay bench -z"
# (wsload has no permessage-deflate) at 100 connections x 16 in flight x
# 1 KiB of text (a compressible pattern, a..z repeated, with a sequence
# number), and the daemon's memory per connection with 1000 connections
# echoing 1 KiB messages.  The server is pinned to core SRV_CPU (default
# 1), the generator to GEN_CPU (default 0); the routes are run in turn,
# REPS times (default 5), DUR seconds each (default 5); medians printed.
# The generator compresses and inflates too, so the daemon's CPU time per
# message (from /proc/PID/stat over each run) is printed beside msgs/s.
# Usage: bench/deflate.sh [WSRELAYD]   (default: build/wsrelayd)
# env: PORT (default 18290), SIZE (1024), CONNS (100), DEPTH (16)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
d=${1:-$top/build/wsrelayd}
client=$(dirname "$d")/wsrelay
REPS=${REPS:-5} DUR=${DUR:-5} SRV_CPU=${SRV_CPU:-1} GEN_CPU=${GEN_CPU:-0}
PORT=${PORT:-18290} SIZE=${SIZE:-1024} CONNS=${CONNS:-100} DEPTH=${DEPTH:-16}
tmp=$(mktemp -d /tmp/wsrelayd-deflatebench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cat >"$tmp/bench.conf" <<EOF
log = { level = "warn"; target = "stderr"; };
listen = ( { address = "127.0.0.1"; port = $PORT; backlog = 4096; } );
limits = { max_connections = 20000; idle_timeout = 0; ping_interval = 0; };
routes = (
  { path = "/plain"; handler = "echo"; },
  { path = "/z6"; handler = "echo"; compression = true; },
  { path = "/z1"; handler = "echo"; compression = true; deflate_level = 1; },
  { path = "/zsmall"; handler = "echo"; compression = true;
    deflate_level = 1; deflate_window_bits = 10;
    deflate_client_window_bits = 10; deflate_mem_level = 2; },
  { path = "/znct"; handler = "echo"; compression = true; deflate_level = 1;
    deflate_no_context_takeover = true;
    deflate_client_no_context_takeover = true; }
);
EOF
routes="plain z6 z1 zsmall znct"

start() {
	taskset -c "$SRV_CPU" "$d" -f -c "$tmp/bench.conf" >"$tmp/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		ss -Hltn "sport = :$PORT" | grep -q . && return 0
		sleep 0.1
	done
	echo "deflate.sh: the daemon did not start" >&2
	cat "$tmp/server.log" >&2
	exit 1
}

cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$pid/stat"
}

median() {
	sort -n | awk '{v[NR] = $1} END {print NR ? v[int((NR + 1) / 2)] : 0}'
}

start
hz=$(getconf CLK_TCK)
i=0
while [ "$i" -lt "$REPS" ]; do
	for r in $routes; do
		t0=$(cpu_ticks)
		taskset -c "$GEN_CPU" "$client" bench -q -z -c "$CONNS" \
		    -k "$DEPTH" -s "$SIZE" -d "$DUR" -w 1 \
		    "ws://127.0.0.1:$PORT/$r" >"$tmp/out" || true
		t1=$(cpu_ticks)
		m=$(sed -n 's/.* msgs=\([0-9]*\) .*/\1/p' "$tmp/out")
		sed -n 's/.*msgs_per_s=\([0-9]*\).*/\1/p' "$tmp/out" >>"$tmp/$r.rate"
		sed -n 's/.* deflate=\([0-9]*\).*/\1/p' "$tmp/out" >"$tmp/$r.deflate"
		# server CPU per message, whole run (warm-up included)
		awk -v t="$((t1 - t0))" -v hz="$hz" -v m="${m:-0}" -v dur="$DUR" \
		    'BEGIN { if (m > 0) printf "%.2f\n", t / hz * 1e6 / (m * (dur + 1) / dur) }' \
		    >>"$tmp/$r.cpu"
	done
	i=$((i + 1))
done
base=$(median <"$tmp/plain.rate")
printf "%-8s %12s %8s %14s %12s\n" route msgs_per_s ratio srv_us_per_msg deflate_conns
for r in $routes; do
	rate=$(median <"$tmp/$r.rate")
	printf "%-8s %12s %8.3f %14s %12s\n" "$r" "$rate" \
	    "$(echo "$rate $base" | awk '{print $2 ? $1 / $2 : 0}')" \
	    "$(median <"$tmp/$r.cpu")" "$(cat "$tmp/$r.deflate")"
done

echo "== memory: 1000 connections echoing $SIZE bytes (1 in flight each)"
printf "%-8s %14s\n" route rss_kb_per_conn
for r in $routes; do
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	start
	sleep 0.3
	r0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	taskset -c "$GEN_CPU" "$client" bench -q -z -c 1000 -k 1 -s "$SIZE" \
	    -d 3 -w 2 "ws://127.0.0.1:$PORT/$r" >"$tmp/out" &
	g=$!
	sleep 4
	r1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	wait "$g" || true
	printf "%-8s %14s\n" "$r" "$(( (r1 - r0) / 1000 ))"
done
