#!/bin/sh
# bench/client.sh - is "wsrelay bench" a fast enough load generator?
# Runs it and the yardstick (../shared/tools/wsload) in turn, REPS times each,
# on the same points against one wsrelayd pinned to core SRV_CPU (the
# generators on GEN_CPU), and prints per point both medians of msgs_per_s
# (hs_per_s in connect mode), the median of the REPS ratios, and each
# generator's median CPU time per message (ns; from cpu_pct/gen_cpu_pct).
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
field() { grep -o " $1=[0-9.]*" | cut -d= -f2; }
point() {	# KEY ARGS...: alternate the two generators, REPS pairs
	key=$1
	shift
	t=$(mktemp)
	i=0
	while [ "$i" -lt "$REPS" ]; do
		a=$(taskset -c "$GEN_CPU" "$c" bench -q -d "$DUR" "$@" || true)
		b=$(taskset -c "$GEN_CPU" "$wl/wsload" -q -d "$DUR" "$@" || true)
		# key of each, their ratio, each one's CPU ns per message
		ka=$(echo "$a" | field "$key") kb=$(echo "$b" | field "$key")
		ca=$(echo "$a" | field cpu_pct) cb=$(echo "$b" | field gen_cpu_pct)
		awk -v ka="${ka:-0}" -v kb="${kb:-0}" -v ca="${ca:-0}" \
		    -v cb="${cb:-0}" 'BEGIN { if (ka > 0 && kb > 0)
			print ka, kb, ka / kb, ca * 1e7 / ka, cb * 1e7 / kb }' \
		    >>"$t"
		i=$((i + 1))
	done
	# The machine is shared: a pair runs close in time, so the median of
	# the pairs' ratios is steadier than the ratio of the medians.
	printf '%s %s: wsrelay-bench=%s wsload=%s ratio=%s' "$*" "$key" \
	    "$(cut -d' ' -f1 "$t" | med)" "$(cut -d' ' -f2 "$t" | med)" \
	    "$(cut -d' ' -f3 "$t" | med)"
	[ "$key" = hs_per_s ] || printf ' cpu_ns_per_msg=%s/%s' \
	    "$(cut -d' ' -f4 "$t" | med)" "$(cut -d' ' -f5 "$t" | med)"
	echo
	rm -f "$t"
}
point msgs_per_s -c 100 -k 1 -s 32 "$url/echo"
point msgs_per_s -c 100 -k 16 -s 32 "$url/echo"
point msgs_per_s -c 10 -k 4 -s 65536 "$url/echo"
point msgs_per_s -m broadcast -c 100 -k 64 -s 32 "$url/bcast"
point hs_per_s -m connect -c 5000 -a 4 "$url/echo"
