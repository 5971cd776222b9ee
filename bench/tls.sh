#!/bin/sh
# bench/tls.sh - TLS against cleartext: wsrelayd's echo through both
# listeners of one daemon, driven by the same client (bench/tlsecho.c,
# built here; wsload has no TLS), and TLS handshakes per second with
# "openssl s_time".  The server is pinned to core SRV_CPU (default 1),
# the clients to GEN_CPU (default 0); runs alternate cleartext and TLS,
# REPS times (default 5), DUR seconds each (default 5), and the medians
# and their ratio are printed.  One client core cannot load the server's
# core with TLS as it can without (the client does the same ciphering),
# so the server's CPU time per message is printed too (from
# /proc/PID/stat over each whole run, handshakes included): its ratio is
# the server's own cost of TLS.  The certificate is a throwaway P-256 one
# made with the openssl command in a temporary folder.
# Usage: bench/tls.sh [WSRELAYD]   (default: build/wsrelayd)
# env: POINTS (default "100:16:32 10:4:65536", conns:inflight:size),
# PORT (default 18190: cleartext; PORT+1: TLS)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
d=${1:-$top/build/wsrelayd}
REPS=${REPS:-5} DUR=${DUR:-5} SRV_CPU=${SRV_CPU:-1} GEN_CPU=${GEN_CPU:-0}
POINTS=${POINTS:-"100:16:32 10:4:65536"}
PORT=${PORT:-18190}
tport=$((PORT + 1))
tmp=$(mktemp -d /tmp/wsrelayd-tlsbench.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/tlsecho" "$top/bench/tlsecho.c" -lssl -lcrypto
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
sed -e "s|^listen = .*|listen = ( { address = \"127.0.0.1\"; port = $PORT; \
backlog = 4096; }, { address = \"127.0.0.1\"; port = $tport; backlog = 4096; \
tls = { certificate = \"$tmp/cert.pem\"; key = \"$tmp/key.pem\"; }; } );|" \
    "$top/bench/bench.conf" >"$tmp/bench.conf"
taskset -c "$SRV_CPU" "$d" -f -c "$tmp/bench.conf" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
	ss -Hltn "sport = :$tport" | grep -q . && break
	sleep 0.1
done
kill -0 "$pid" || { cat "$tmp/server.log"; exit 1; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
tck=$(getconf CLK_TCK)
# run FILE ARGS...: one client run; appends "msgs/s us-per-msg" to FILE
run() {
	f=$1
	shift
	c0=$(cpu)
	out=$(taskset -c "$GEN_CPU" "$tmp/tlsecho" "$@")
	c1=$(cpu)
	echo "$out" | awk -v c="$((c1 - c0))" -v t="$tck" '{
	    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	    printf "%d %.2f\n", v["msgs_per_s"], c / t * 1e6 / v["total"] }' \
	    >>"$f"
}
for p in $POINTS; do
	c=${p%%:*} rest=${p#*:}
	k=${rest%%:*} s=${rest#*:}
	: >"$tmp/plain" ; : >"$tmp/tls"
	i=0
	while [ "$i" -lt "$REPS" ]; do
		run "$tmp/plain" -c "$c" -k "$k" -s "$s" -d "$DUR" "$PORT"
		run "$tmp/tls" -T -c "$c" -k "$k" -s "$s" -d "$DUR" "$tport"
		i=$((i + 1))
	done
	pm=$(cut -d' ' -f1 "$tmp/plain" | median)
	tm=$(cut -d' ' -f1 "$tmp/tls" | median)
	pc=$(cut -d' ' -f2 "$tmp/plain" | median)
	tc=$(cut -d' ' -f2 "$tmp/tls" | median)
	echo "echo $c/$k/$s: msgs/s cleartext $(cut -d' ' -f1 "$tmp/plain" |
	    tr '\n' ' ')-> $pm, TLS $(cut -d' ' -f1 "$tmp/tls" | tr '\n' ' ')->" \
	    "$tm: TLS/cleartext $(awk "BEGIN { printf \"%.2f\", $tm / $pm }")"
	echo "echo $c/$k/$s: server CPU us/msg cleartext $pc, TLS $tc:" \
	    "cleartext/TLS $(awk "BEGIN { printf \"%.2f\", $pc / $tc }")"
done
: >"$tmp/hs"
i=0
while [ "$i" -lt "$REPS" ]; do
	c0=$(cpu)
	out=$(taskset -c "$GEN_CPU" openssl s_time -connect "127.0.0.1:$tport" \
	    -new -time "$DUR" 2>/dev/null)
	c1=$(cpu)
	echo "$out" | awk -v c="$((c1 - c0))" -v t="$tck" \
	    '/connections in [0-9]+ real/ {
	    printf "%.0f %.0f\n", $1 / $4, c / t * 1e6 / $1 }' >>"$tmp/hs"
	i=$((i + 1))
done
echo "TLS handshakes (openssl s_time -new: full handshakes, one at a time):" \
    "$(cut -d' ' -f1 "$tmp/hs" | tr '\n' ' ')-> median" \
    "$(cut -d' ' -f1 "$tmp/hs" | median)/s; server CPU us/handshake" \
    "$(cut -d' ' -f2 "$tmp/hs" | median)"
