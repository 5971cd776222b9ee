#!/bin/sh
# bench/client.sh - is "wsrelay bench" a fast enough load generator?
# Runs it and the yardstick (../shared/tools/wsload) in turn, REPS times each,
# on the same points against one wsrelayd pinned to core SRV_CPU (the
# generators on GEN_CPU), and prints both medians of msgs_per_s per point.
# Usage: bench/client.sh [WSRELAYD [WSRELAY]]   env: REPS=5 DUR=3
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
d=${1:-$top/build/wsrelayd}
c=${2:-$top/build/wsrelay}
wl=${WSLOAD_DIR:-$top/../shared/tools/wsload}
[ -x "$wl/wsload" ] || make -C "$wl" >/dev/null
REPS=${REPS:-5} DUR=${DUR:-3} GEN_CPU=${GEN_CPU:-0} SRV_CPU=${SRV_CPU:-1}
url=ws://127.0.0.1:8090
ulimit -n "$(ulimit -Hn)"
taskset -c "$SRV_CPU" "$d" -f -c "$top/bench/bench.conf" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	ss -Hltn 'sport = :8090' | grep -q . && break
	sleep 0.1
done
med() { sort -n | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "NA"}'; }
point() {	# KEY ARGS...: alternate the two generators
	key=$1
	shift
	a=$(mktemp) b=$(mktemp)
	i=0
	while [ "$i" -lt "$REPS" ]; do
		taskset -c "$GEN_CPU" "$c" bench -q -d "$DUR" "$@" |
		    grep -o " $key=[0-9.]*" | cut -d= -f2 >>"$a" || true
		taskset -c "$GEN_CPU" "$wl/wsload" -q -d "$DUR" "$@" |
		    grep -o " $key=[0-9.]*" | cut -d= -f2 >>"$b" || true
		i=$((i + 1))
	done
	echo "$* $key: wsrelay-bench=$(med <"$a") wsload=$(med <"$b")"
	rm -f "$a" "$b"
}
point msgs_per_s -c 100 -k 1 -s 32 "$url/echo"
point msgs_per_s -c 100 -k 16 -s 32 "$url/echo"
point msgs_per_s -c 10 -k 4 -s 65536 "$url/echo"
point msgs_per_s -m broadcast -c 100 -k 64 -s 32 "$url/bcast"
point hs_per_s -m connect -c 5000 -a 4 "$url/echo"
