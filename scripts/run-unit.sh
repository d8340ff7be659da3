#!/bin/sh
# Runs each cmocka unit-test binary given on the command line; fails if any fails.
fail=0
for t in "$@"; do
	if ! "$t"; then
		echo "FAILED: $t" >&2
		fail=1
	fi
done
exit $fail
