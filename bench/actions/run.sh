#!/bin/sh
# Action handler benchmark (bench/actions/README.md): 100 concurrent actions over 20 SSH targets on loopback,
# 202-to-start latency, actions/s and resident memory. Needs openssh-server (make deps).
set -eu
cd "$(dirname "$0")/../.."
make -s build/bin/reflex-action-handler
exec python3 bench/actions/bench_actions.py
