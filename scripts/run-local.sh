#!/bin/sh
# `make run`: starts Reflex on this machine with the example configuration (deploy/local/) and the example rules,
# bound to 127.0.0.1, with a local sshd as the demo remediation target, and shows how to send an event.
# Ctrl-C stops everything it started.
#
# Environment: REFLEX_RUN_DIR (./run), REFLEX_RUN_CLASSIFIER_PORT (8080), REFLEX_RUN_HANDLER_PORT (8081),
# DEMO_SSH_PORT (2222), REFLEX_BUILD (build).
set -eu
cd "$(dirname "$0")/.."
BIN=${REFLEX_BUILD:-build}/bin
RUN=${REFLEX_RUN_DIR:-./run}
CPORT=${REFLEX_RUN_CLASSIFIER_PORT:-8080}
APORT=${REFLEX_RUN_HANDLER_PORT:-8081}
export DEMO_DIR="$RUN/demo" DEMO_SSH_PORT="${DEMO_SSH_PORT:-2222}"
mkdir -p "$RUN/state"
umask 077
[ -s "$RUN/api-token" ] || od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$RUN/api-token"
[ -s "$RUN/hmac-key" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/hmac-key"
umask 022

pids=""
cleanup() { # exit status: the script's own on a failure, 0 when stopped by Ctrl-C or SIGTERM
	rc=$1
	trap - EXIT INT TERM
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	scripts/demo-sshd.sh stop >/dev/null 2>&1 || true
	exit "$rc"
}
trap 'cleanup $?' EXIT
trap 'cleanup 0' INT TERM

wait_ready() { # port name
	i=0
	until curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 150 ]; then
			echo "run: $2 did not become ready; its log is in $RUN/$2.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# Paths and ports for both services, so that the run directory and ports can be moved.
common="REFLEX_API_TOKENS_FILE=$RUN/api-token REFLEX_AUDIT_FILE=$RUN/audit.jsonl"
handler=""
if [ -x "$BIN/reflex-action-handler" ]; then
	scripts/demo-sshd.sh start >/dev/null
	# shellcheck disable=SC2046,SC2086
	env $common $(scripts/demo-sshd.sh env) REFLEX_PORT="$APORT" REFLEX_HMAC_KEY_FILE="$RUN/hmac-key" \
		REFLEX_SPOOL_DIR="$RUN/state/action-handler" \
		"$BIN/reflex-action-handler" --config deploy/local/action-handler.yaml >"$RUN/action-handler.log" 2>&1 &
	pids="$pids $!"
	wait_ready "$APORT" action-handler
	handler="REFLEX_ACTION_HANDLER_URL=http://127.0.0.1:$APORT REFLEX_HMAC_KEY_FILE=$RUN/hmac-key"
	handler="$handler REFLEX_ACTION_HANDLER_TOKEN_FILE=$RUN/api-token"
fi
# shellcheck disable=SC2086
env $common $handler REFLEX_PORT="$CPORT" REFLEX_STATE_DIR="$RUN/state/classifier" \
	"$BIN/reflex-classifier" --config deploy/local/classifier.yaml >"$RUN/classifier.log" 2>&1 &
pids="$pids $!"
wait_ready "$CPORT" classifier

cat <<TXT

Reflex is running on 127.0.0.1 (logs in $RUN/*.log, audit records in $RUN/audit.jsonl).

  classifier      http://127.0.0.1:$CPORT   (API token in $RUN/api-token)
  rules           ./rules (edit or drop a file there: it is reloaded on save)
TXT
if [ -n "$handler" ]; then
	cat <<TXT
  action handler  http://127.0.0.1:$APORT   (runs actions over SSH on the demo sshd, 127.0.0.1:$DEMO_SSH_PORT)

The sample Alertmanager event below fires the demo rule (rules/demo-local.yaml): the action handler runs it over
SSH on this machine, which appends a line to /tmp/reflex-demo.log. See the actions with:

  REFLEX_TOKEN_FILE=$RUN/api-token REFLEX_ACTIONS_URL=http://127.0.0.1:$APORT $BIN/reflex actions list
TXT
fi
cat <<TXT

Send an Alertmanager-shaped event and see the decisions:

  REFLEX_URL=http://127.0.0.1:$CPORT REFLEX_TOKEN_FILE=$RUN/api-token \\
    $BIN/reflex send --source alertmanager examples/events/alertmanager-nginx-down.json

or with curl:

  curl -s -H "Authorization: Bearer \$(cat $RUN/api-token)" -H 'Content-Type: application/json' \\
       --data @examples/events/generic-disk-full.json http://127.0.0.1:$CPORT/v1/events

Point Alertmanager at it with a webhook receiver:
  receivers: [{name: reflex, webhook_configs: [{url: http://127.0.0.1:$CPORT/v1/events/alertmanager,
               http_config: {authorization: {credentials_file: $(cd "$RUN" && pwd)/api-token}}}]}]

Press Ctrl-C to stop.
TXT
tail -n 0 -f "$RUN/classifier.log" &
pids="$pids $!"
wait
