#!/bin/sh
# Runs Reflex as a Docker swarm stack on the local engine (docker-compose.yaml).
#   scripts/docker-stack.sh up        engine, images, Kafka image, swarm, secrets, deploy, wait until every service is healthy
#   scripts/docker-stack.sh down      docker stack rm, and wait until its containers and networks are gone
#   scripts/docker-stack.sh wait      wait until every service of the stack is healthy
#   scripts/docker-stack.sh secrets   write the missing secret files from deploy/secrets/*.example
# Environment: REFLEX_STACK (reflex), REFLEX_SECRETS_DIR (run/stack/secrets), REFLEX_STACK_FILES (more compose files,
# space-separated, merged after docker-compose.yaml), REFLEX_STACK_WAIT (seconds, 300), REFLEX_SWARM_ADDR (the address
# a new swarm advertises, 127.0.0.1: a single node), REFLEX_STACK_RM_VOLUMES=1 (down also removes the stack's volumes),
# and the variables docker-compose.yaml reads (REFLEX_PORT, REFLEX_TAG, REFLEX_KAFKA_IMAGE, ...).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
DOCKER=${DOCKER:-docker}
STACK=${REFLEX_STACK:-reflex}
SECRETS=${REFLEX_SECRETS_DIR:-run/stack/secrets}
WAIT=${REFLEX_STACK_WAIT:-300}
export REFLEX_SECRETS_DIR="$SECRETS"

say() { echo "docker-stack: $*" >&2; }

random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# Writes NAME from the example unless it exists; the generated kinds get fresh random values.
make_secret() {
	local name=$1 f=$SECRETS/$1 # local: api_tokens makes service_token first
	[ -s "$f" ] && return 0
	case $name in
	service_token | admin_tokens | hmac_key) random_hex >"$f" && echo >>"$f" ;;
	api_tokens)
		make_secret service_token
		{
			echo "# Tokens accepted by the classifier and the action handler: the service token, then a caller's."
			cat "$SECRETS/service_token"
			random_hex && echo
		} >"$f"
		;;
	ssh_key)
		command -v ssh-keygen >/dev/null 2>&1 || {
			say "ssh-keygen is missing (openssh-client): cannot make $f"
			return 1
		}
		rm -f "$f.pub"
		ssh-keygen -q -t ed25519 -N '' -C reflex-remediation -f "$f"
		say "made $f; install $f.pub on the remediation targets"
		;;
	*) cp "deploy/secrets/$name.example" "$f" ;;
	esac
	chmod 0600 "$f"
}

secrets() {
	mkdir -p "$SECRETS"
	chmod 0700 "$SECRETS"
	for ex in deploy/secrets/*.example; do
		make_secret "$(basename "$ex" .example)"
		# The services' user owns them: `docker compose` bind-mounts secret files as they are on the host (a swarm
		# copies them and applies the uid and mode of docker-compose.yaml).
		[ "$(id -u)" -ne 0 ] || chown 10001:10001 "$SECRETS/$(basename "$ex" .example)"
	done
}

swarm() {
	state=$("$DOCKER" info -f '{{.Swarm.LocalNodeState}}')
	[ "$state" = active ] && return 0
	addr=${REFLEX_SWARM_ADDR:-127.0.0.1}
	say "initialising a single-node swarm (advertising $addr)"
	if [ "$addr" = 127.0.0.1 ]; then
		"$DOCKER" swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null
	else
		"$DOCKER" swarm init --advertise-addr "$addr" >/dev/null
	fi
}

# One line per service that is not ready yet: "name replicas" with fewer running than wanted, or a container of the
# stack whose health check has not passed.
not_ready() {
	"$DOCKER" stack services "$STACK" --format '{{.Name}} {{.Replicas}}' | while read -r name replicas; do
		running=${replicas%%/*}
		wanted=${replicas#*/}
		wanted=${wanted%% *}
		if [ "$running" != "$wanted" ] || [ "$wanted" = 0 ]; then echo "$name $replicas"; fi
	done
	"$DOCKER" ps --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Names}} {{.Status}}' |
		grep -v '(healthy)' || true
}

wait_ready() {
	deadline=$(($(date +%s) + WAIT))
	while :; do
		pending=$(not_ready)
		if [ -z "$pending" ] && [ -n "$("$DOCKER" stack services -q "$STACK")" ]; then
			say "stack $STACK: every service is healthy"
			return 0
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			say "stack $STACK not healthy after ${WAIT}s; waiting for:"
			echo "$pending" >&2
			"$DOCKER" stack ps "$STACK" --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' | head -n 30 >&2
			for svc in $(echo "$pending" | awk '{print $1}' | sed 's/\.[0-9a-z.]*$//' | sort -u); do
				say "the last lines of $svc:"
				"$DOCKER" service logs --tail 15 "$svc" >&2 2>&1 || true
			done
			return 1
		fi
		sleep 2
	done
}

up() {
	scripts/docker-engine.sh
	scripts/docker-images.sh
	REFLEX_KAFKA_IMAGE=$(scripts/docker-kafka-image.sh)
	export REFLEX_KAFKA_IMAGE
	swarm
	secrets
	set -- -c docker-compose.yaml
	for f in ${REFLEX_STACK_FILES:-}; do set -- "$@" -c "$f"; done
	# Images built here are on this node only: no registry is asked for their digests.
	resolve=always
	[ -z "${REFLEX_REGISTRY:-}" ] && resolve=never
	say "deploying stack $STACK (Kafka image $REFLEX_KAFKA_IMAGE)"
	"$DOCKER" stack deploy --resolve-image "$resolve" "$@" "$STACK" >&2
	wait_ready
}

down() {
	"$DOCKER" info >/dev/null 2>&1 || {
		say "no Docker engine answers: nothing to remove"
		return 0
	}
	if [ -n "$("$DOCKER" stack ls --format '{{.Name}}' 2>/dev/null | grep -x "$STACK")" ]; then
		"$DOCKER" stack rm "$STACK" >&2
	fi
	deadline=$(($(date +%s) + 120))
	label=label=com.docker.stack.namespace=$STACK
	while [ -n "$("$DOCKER" ps -aq --filter "$label")$("$DOCKER" network ls -q --filter "$label")" ]; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			say "stack $STACK: containers or networks still there after 120s"
			return 1
		fi
		sleep 1
	done
	if [ "${REFLEX_STACK_RM_VOLUMES:-0}" = 1 ]; then
		vols=$("$DOCKER" volume ls -q --filter "$label")
		# shellcheck disable=SC2086
		[ -z "$vols" ] || "$DOCKER" volume rm $vols >/dev/null
	fi
	say "stack $STACK removed"
}

case ${1:-} in
up) up ;;
down) down ;;
wait) wait_ready ;;
secrets) secrets ;;
*)
	echo "usage: $0 up|down|wait|secrets" >&2
	exit 2
	;;
esac
