#!/bin/sh
# Installs the Debian packages Reflex needs to build, test and run, when they are missing. Idempotent.
set -eu
PKGS="build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libssh-dev
librdkafka-dev libssl-dev libjemalloc-dev openssl libcmocka-dev clang clang-format libclang-rt-14-dev prometheus-alertmanager
openssh-server openssh-client wrk valgrind curl jq iproute2 python3 openjdk-17-jre-headless maven chromium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
# npm installs the /map page's graph library at build time; any Node.js with npm will do.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages:$missing" >&2
		echo "deps: run 'sudo make deps' (or install them with apt-get) and try again" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
if ! python3 -c 'import pytest' 2>/dev/null; then
	echo "deps: installing pytest for the integration suite"
	python3 -m pip install -q pytest || { echo "deps: cannot install pytest (python3 -m pip install pytest)" >&2; exit 1; }
fi
# The Apache Kafka broker jars for the integration tests, cached outside git (tests/integration/kafka.py).
"$(dirname "$0")/kafka-fetch.sh" >/dev/null || { echo "deps: cannot fetch the Kafka broker jars (scripts/kafka-fetch.sh)" >&2; exit 1; }
