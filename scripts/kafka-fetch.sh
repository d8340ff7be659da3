#!/bin/sh
# Fetches the Apache Kafka broker jars (tests/kafka/pom.xml) once into a cache outside git for the integration tests.
#   scripts/kafka-fetch.sh            prints the cache directory holding the jars (libs/*.jar)
# Cache: $REFLEX_KAFKA_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/reflex/kafka-<version>.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
pom=$root/tests/kafka/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
cache=${REFLEX_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reflex/kafka-$version}

if [ -f "$cache/.complete" ]; then
	echo "$cache"
	exit 0
fi
if ! command -v java >/dev/null 2>&1; then
	echo "kafka-fetch: java is missing: install openjdk-17-jre-headless (make deps)" >&2
	exit 1
fi
if ! command -v mvn >/dev/null 2>&1; then
	echo "kafka-fetch: mvn is missing: install maven (make deps)" >&2
	exit 1
fi
echo "kafka-fetch: fetching Apache Kafka $version broker jars into $cache" >&2
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
	echo "kafka-fetch: mvn could not fetch the Kafka jars:" >&2
	tail -n 20 "$tmp/mvn.log" >&2
	exit 1
fi
if ! ls "$tmp/libs"/kafka_2.13-"$version".jar >/dev/null 2>&1; then
	echo "kafka-fetch: kafka_2.13-$version.jar is missing after the fetch" >&2
	exit 1
fi
rm -rf "$cache/libs"
mv "$tmp/libs" "$cache/libs"
echo "$version" >"$cache/.complete"
echo "$cache"
