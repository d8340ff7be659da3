#!/bin/sh
# Prints the Kafka image the stack runs, making sure the local engine has it.
#   scripts/docker-kafka-image.sh
# $REFLEX_KAFKA_IMAGE when set; else the official apache/kafka:<version> when present or pullable; else reflex-kafka:<version>,
# built here from Debian's Java and the broker jars that scripts/kafka-fetch.sh fetches from Maven Central.
set -eu
DOCKER=${DOCKER:-docker}
root=$(cd "$(dirname "$0")/.." && pwd)
PULL_TIMEOUT=${REFLEX_PULL_TIMEOUT:-60}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$root/tests/kafka/pom.xml")
official=apache/kafka:$version
local_image=reflex-kafka:$version

say() { echo "docker-kafka-image: $*" >&2; }
have() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
pull() { timeout "$PULL_TIMEOUT" "$DOCKER" pull -q "$1" >/dev/null 2>&1; }

build_local() {
	"$root/scripts/docker-base-image.sh" >&2
	cache=$("$root/scripts/kafka-fetch.sh")
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/reflex-kafka-image.XXXXXX")
	trap 'rm -rf "$ctx"' EXIT
	cp -al "$cache/libs" "$ctx/libs" 2>/dev/null || cp -a "$cache/libs" "$ctx/libs"
	cp "$root/deploy/docker/kafka.Dockerfile" "$root/deploy/docker/kafka-run.sh" "$ctx/"
	say "building $local_image from Debian's openjdk-17-jre-headless and the Kafka $version jars"
	"$DOCKER" build -q --force-rm --build-arg KAFKA_VERSION="$version" -t "$local_image" -f "$ctx/kafka.Dockerfile" "$ctx" >/dev/null
}

image=${REFLEX_KAFKA_IMAGE:-}
if [ -n "$image" ] && [ "$image" != "$local_image" ]; then
	have "$image" || pull "$image" || {
		say "REFLEX_KAFKA_IMAGE=$image is neither present nor pullable"
		exit 1
	}
elif [ -z "$image" ] && { have "$official" || pull "$official"; }; then
	image=$official
else
	image=$local_image
	build_local # cached by the engine: quick when nothing changed
fi
echo "$image"
