#!/bin/sh
# Kafka audit benchmark (bench/kafka/README.md): sink records/s to a local broker, and the classifier's events/s
# with Kafka auditing on against off in the same run. Needs wrk, Java and the broker jars (make deps).
set -eu
cd "$(dirname "$0")/../.."
make -s tools >/dev/null
exec python3 bench/kafka/bench_kafka.py
