#!/bin/sh
# `make bench`: runs every benchmark under bench/ (each directory's run.sh) and records their results.
set -eu
cd "$(dirname "$0")"
for b in */run.sh; do
	echo "== bench/$b"
	sh "$b"
done
