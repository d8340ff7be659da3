#!/bin/sh
# `make run`: starts Reflex on this machine with the example configuration (deploy/local/) and the example rules,
# bound to 127.0.0.1, and shows how to send an event. Ctrl-C stops everything it started.
set -eu
cd "$(dirname "$0")/.."
BIN=${REFLEX_BUILD:-build}/bin
RUN=./run
mkdir -p "$RUN/state"
umask 077
[ -s "$RUN/api-token" ] || od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$RUN/api-token"
[ -s "$RUN/hmac-key" ] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN/hmac-key"
umask 022

pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ -x scripts/demo-sshd.sh ] && scripts/demo-sshd.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

wait_ready() { # url name
	i=0
	until curl -fsS "$1/readyz" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "run: $2 did not become ready; its log is in $RUN/$2.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

EXTRA=""
if [ -x "$BIN/reflex-action-handler" ] && [ -x scripts/demo-sshd.sh ] && [ -f deploy/local/action-handler.yaml ]; then
	scripts/demo-sshd.sh start
	"$BIN/reflex-action-handler" --config deploy/local/action-handler.yaml >"$RUN/action-handler.log" 2>&1 &
	pids="$pids $!"
	wait_ready http://127.0.0.1:8081 action-handler
	EXTRA="REFLEX_ACTION_HANDLER_URL=http://127.0.0.1:8081 REFLEX_HMAC_KEY_FILE=$RUN/hmac-key REFLEX_ACTION_HANDLER_TOKEN_FILE=$RUN/api-token"
fi
# shellcheck disable=SC2086
env $EXTRA "$BIN/reflex-classifier" --config deploy/local/classifier.yaml >"$RUN/classifier.log" 2>&1 &
pids="$pids $!"
wait_ready http://127.0.0.1:8080 classifier

cat <<TXT

Reflex is running on 127.0.0.1 (logs in $RUN/*.log, audit records in $RUN/audit.jsonl).

  classifier      http://127.0.0.1:8080   (API token in $RUN/api-token)
  rules           ./rules (edit or drop a file there: it is reloaded on save)

Send an Alertmanager-shaped event and see the decisions:

  REFLEX_TOKEN_FILE=$RUN/api-token $BIN/reflex send --source alertmanager examples/events/alertmanager-nginx-down.json

or with curl:

  curl -s -H "Authorization: Bearer \$(cat $RUN/api-token)" -H 'Content-Type: application/json' \\
       --data @examples/events/generic-disk-full.json http://127.0.0.1:8080/v1/events

Point Alertmanager at it with a webhook receiver:
  receivers: [{name: reflex, webhook_configs: [{url: http://127.0.0.1:8080/v1/events/alertmanager,
               http_config: {authorization: {credentials_file: $PWD/run/api-token}}}]}]

Press Ctrl-C to stop.
TXT
tail -f "$RUN/classifier.log" &
pids="$pids $!"
wait
