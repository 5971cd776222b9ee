#!/bin/sh
# bench/run.sh - the standard benchmark points, wsrelayd beside raw TCP.
# Uses the yardstick load generator in ../shared/tools/wsload (built here
# if needed), pins the server to core SRV_CPU and the generator to GEN_CPU.
# Prints the medians that wsload's bench.sh prints, for:
#   raw TCP echo (tcpecho), the ceiling;
#   wsrelayd echo at 1/1/32 (same core), 100/1/32, 100/16/32, 10/4/64KiB;
#   wsrelayd with 10,000 idle connections (RSS per connection, handshakes/s);
#   wsrelayd broadcast, 1 sender -> 100 receivers.
# Usage: bench/run.sh [WSRELAYD]   (default: build/wsrelayd)
# env: REPS DUR (passed to bench.sh), SKIP_IDLE=1, SKIP_BCAST=1
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
d=${1:-$top/build/wsrelayd}
wl=${WSLOAD_DIR:-$top/../shared/tools/wsload}
[ -x "$wl/wsload" ] || make -C "$wl" >/dev/null
export REPS=${REPS:-3} DUR=${DUR:-5}
out=${OUT:-/tmp/wsrelayd-bench}
mkdir -p "$out"
conf=$top/bench/bench.conf

echo "== same core (1/1/32)"
GEN_CPU=0 SRV_CPU=0 IDLE_N=0 POINTS="1:1:32" OUT=$out \
    "$wl/bench.sh" raw tcp://127.0.0.1:9100 -- "$wl/tcpecho" 9100
GEN_CPU=0 SRV_CPU=0 IDLE_N=0 POINTS="1:1:32" OUT=$out \
    "$wl/bench.sh" wsrelayd ws://127.0.0.1:8090/echo -- "$d" -f -c "$conf"
echo "== separate cores"
IDLE_N=0 POINTS="100:1:32 100:16:32 10:4:65536" OUT=$out \
    "$wl/bench.sh" raw tcp://127.0.0.1:9100 -- "$wl/tcpecho" 9100
IDLE_N=0 POINTS="100:1:32 100:16:32 10:4:65536" OUT=$out \
    "$wl/bench.sh" wsrelayd ws://127.0.0.1:8090/echo -- "$d" -f -c "$conf"
if [ "${SKIP_IDLE:-0}" != 1 ]; then
	echo "== idle connections"
	POINTS= IDLE_N=10000 OUT=$out \
	    "$wl/bench.sh" wsrelayd ws://127.0.0.1:8090/echo -- "$d" -f -c "$conf"
fi
if [ "${SKIP_BCAST:-0}" != 1 ]; then
	echo "== broadcast 1 -> 100"
	taskset -c 1 "$d" -f -c "$conf" >"$out/bcast.server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		ss -Hltn 'sport = :8090' | grep -q . && break
		sleep 0.1
	done
	i=0
	while [ "$i" -lt "$REPS" ]; do
		taskset -c 0 "$wl/wsload" -q -m broadcast -c 100 -k 64 -s 32 \
		    -d "$DUR" -X "$pid" ws://127.0.0.1:8090/bcast || true
		i=$((i + 1))
	done
	kill "$pid"
	wait "$pid" 2>/dev/null || true
fi
