#!/bin/sh
# Runs every fuzzer in DIR for SECONDS each, seeded from tests/fuzz/corpus/<name>/ when present.
dir=$1
secs=${2:-20}
fail=0
for f in "$dir"/*; do
	[ -x "$f" ] || continue
	name=$(basename "$f")
	work=$(mktemp -d)
	seeds=tests/fuzz/corpus/$name
	[ -d "$seeds" ] || seeds=
	echo "fuzz: $name for ${secs}s"
	if ! "$f" -max_total_time="$secs" -max_len=65536 -artifact_prefix="$dir/$name-" "$work" $seeds >"$dir/$name.log" 2>&1; then
		echo "fuzz: $name FAILED, see $dir/$name.log" >&2
		tail -n 30 "$dir/$name.log" >&2
		fail=1
	fi
	rm -rf "$work"
done
exit $fail
