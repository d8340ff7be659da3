#!/bin/sh
# Poller benchmark: a Dynatrace-shaped feed of 10,000 open problems in pages of 500 polled by the real reflex-poller
# and forwarded to the real reflex-classifier; CPU and resident memory per poll. Results go to stdout and
# bench/poller/results.txt (see bench/poller/README.md).
set -eu
cd "$(dirname "$0")/../.."
exec python3 bench/poller/bench_poller.py --problems "${BENCH_PROBLEMS:-10000}" --page-size "${BENCH_PAGE_SIZE:-500}" \
	--out bench/poller/results.txt
