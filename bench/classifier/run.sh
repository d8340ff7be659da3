#!/bin/sh
# Classifier benchmark: wrk posting Alertmanager-shaped events with keep-alive against reflex-classifier with
# 100 / 1,000 / 10,000 rules, and against a bare libmicrohttpd handler in the same run; resident memory; and the
# rules engine alone (indexed against linear matching). Results go to stdout and bench/classifier/results.txt.
# BENCH_LOG_LEVEL (default warn) sets the classifier's log_level; info is what users run (one line per event,
# here written to a file), warn leaves only the classification work.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${REFLEX_BUILD:-build}
DUR=${BENCH_DURATION:-10}
CONN=${BENCH_CONNECTIONS:-32}
LEVEL=${BENCH_LOG_LEVEL:-warn}
WORK=$(mktemp -d)
OUT=bench/classifier/results.txt
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { i=0; until curl -fsS "http://127.0.0.1:$1/$2" >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 200 ] || { echo "bench: server on $1 did not start" >&2; exit 1; }; sleep 0.05; done; }
rss() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
hwm() { awk '/VmHWM/ {print $2}' /proc/$1/status; }
wrk_run() { # port -> "reqs/s p99"
	wrk -t2 -c"$CONN" -d"${DUR}s" --latency -s bench/classifier/post.lua "http://127.0.0.1:$1" >"$WORK/wrk.txt"
	rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
	p99=$(awk '$1=="99%" {print $2}' "$WORK/wrk.txt")
	non2xx=$(awk '/Non-2xx/ {print $4}' "$WORK/wrk.txt")
	echo "$rps $p99 ${non2xx:-0}"
}

{
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, $(uname -r), wrk -t2 -c$CONN -d${DUR}s, keep-alive, log_level $LEVEL"
port=$(free_port)
"$BUILD/bench/bare_mhd" "$port" 4 &
pid=$!
sleep 0.3
set -- $(wrk_run "$port")
echo "bare-mhd            events/s=$1 p99=$2 non2xx=$3"
bare=$1
kill $pid; wait $pid 2>/dev/null || true; pid=""

echo bench-token >"$WORK/token"
for n in 100 1000 10000; do
	python3 bench/classifier/gen_rules.py "$n" "$WORK/rules-$n"
	port=$(free_port)
	cat >"$WORK/c.yaml" <<YAML
bind: 127.0.0.1
port: $port
rules_dir: $WORK/rules-$n
api_tokens_file: $WORK/token
state_dir: $WORK/state
log_level: $LEVEL
YAML
	"$BUILD/bin/reflex-classifier" --config "$WORK/c.yaml" >"$WORK/classifier-$n.log" 2>&1 &
	pid=$!
	wait_up "$port" readyz
	idle=$(rss $pid)
	set -- $(wrk_run "$port")
	pct=$(awk -v a="$1" -v b="$bare" 'BEGIN {printf "%.0f", 100*a/b}')
	echo "classifier rules=$n events/s=$1 p99=$2 non2xx=$3 of_bare=${pct}% rss_idle_kib=$idle rss_peak_kib=$(hwm $pid)"
	kill $pid; wait $pid 2>/dev/null || true; pid=""
	"$BUILD/bench/match_bench" "$WORK/rules-$n" | sed 's/^/match-engine /'
done
} | tee "$OUT"
