#!/bin/sh
# Builds the service images (deploy/docker/<service>.Dockerfile) on the local engine and prints their sizes.
#   scripts/docker-images.sh [SERVICE...]      default: classifier action-handler poller agent
# Tags: reflex-<service>:$REFLEX_TAG (latest) and :$REFLEX_VERSION when set (make passes the Makefile's VERSION).
# Starts the engine and provides the base image first (scripts/docker-engine.sh, scripts/docker-base-image.sh).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DOCKER=${DOCKER:-docker}
TAG=${REFLEX_TAG:-latest}
VERSION=${REFLEX_VERSION:-}
SERVICES=${*:-classifier action-handler poller agent}
logdir=${TMPDIR:-/tmp}

say() { echo "docker-images: $*" >&2; }

# The build and runtime-base stages: everything before the service's own `FROM runtime`.
common_stages() { sed '/^FROM runtime$/q' "$1" | grep -v '^#'; }

check_common_stages() {
	ref=deploy/docker/classifier.Dockerfile
	a=$logdir/reflex-stages.$$.a
	b=$logdir/reflex-stages.$$.b
	common_stages "$ref" >"$a"
	for f in deploy/docker/action-handler.Dockerfile deploy/docker/poller.Dockerfile deploy/docker/agent.Dockerfile; do
		common_stages "$f" >"$b"
		if ! cmp -s "$a" "$b"; then
			rm -f "$a" "$b"
			say "$f: its build and runtime stages differ from $ref; keep them the same text so they are built once"
			exit 1
		fi
	done
	rm -f "$a" "$b"
}

build() {
	svc=$1
	src=$(echo "$svc" | tr - _)
	if [ ! -f "$src/main.c" ]; then
		say "skipping reflex-$svc: $src/main.c does not exist yet"
		return 0
	fi
	log=$logdir/reflex-image-$svc.log
	set -- -t "reflex-$svc:$TAG"
	[ -n "$VERSION" ] && [ "$VERSION" != "$TAG" ] && set -- "$@" -t "reflex-$svc:$VERSION"
	start=$(date +%s)
	if ! "$DOCKER" build --force-rm -f "deploy/docker/$svc.Dockerfile" "$@" . >"$log" 2>&1; then
		say "building reflex-$svc failed; the end of $log:"
		tail -n 40 "$log" >&2
		exit 1
	fi
	say "built reflex-$svc:$TAG in $(($(date +%s) - start))s"
}

scripts/docker-engine.sh
scripts/docker-base-image.sh
check_common_stages
# The /map page's npm dependency is fetched on the host, where `make` fetches it, and enters the build context.
if [ -f web/package-lock.json ]; then
	make -s web/node_modules/.package-lock.json >&2
fi
# The shared build stage, tagged: it stays the cache of the next build, while the stages of earlier builds (untagged,
# labelled reflex.stage) are removed below instead of piling up.
if [ -f classifier/main.c ]; then
	if ! "$DOCKER" build --force-rm --target build -t reflex-build:latest -f deploy/docker/classifier.Dockerfile . \
		>"$logdir/reflex-image-build.log" 2>&1; then
		say "the build stage failed; the end of $logdir/reflex-image-build.log:"
		tail -n 40 "$logdir/reflex-image-build.log" >&2
		exit 1
	fi
fi
for svc in $SERVICES; do
	build "$svc"
done
"$DOCKER" image prune -f --filter label=reflex.stage >/dev/null
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep "^reflex-.*:$TAG	" | grep -v '^reflex-build:' | sort >&2 || true
