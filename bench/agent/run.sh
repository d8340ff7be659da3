#!/bin/sh
# bench/agent/run.sh -- the agent benchmark (see README.md); the output is also kept in bench/agent/results.txt.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/run.py" "$@" | tee "$here/results.txt"
