#!/bin/sh
# Makes sure a Docker engine answers: installs Debian's docker.io where dockerd is missing, starts dockerd where none runs.
#   scripts/docker-engine.sh          start (if needed); exit 0 once `docker info` answers, 1 with the reason otherwise
#   scripts/docker-engine.sh stop     stop the dockerd that this script started (by its pid), nothing else
#   scripts/docker-engine.sh started  exit 0 when a dockerd started by this script is running
# A dockerd started here runs in the background, detached, logging to $REFLEX_DOCKERD_LOG (/var/log/reflex-dockerd.log).
set -eu
PATH=$PATH:/usr/sbin:/sbin
DOCKER=${DOCKER:-docker}
LOG=${REFLEX_DOCKERD_LOG:-/var/log/reflex-dockerd.log}
MARK=/run/reflex-dockerd.pid # the pid of the dockerd this script started
WAIT=${REFLEX_DOCKERD_WAIT:-60}

say() { echo "docker-engine: $*" >&2; }

engine_up() { "$DOCKER" info >/dev/null 2>&1; }

our_pid() {
	[ -f "$MARK" ] || return 1
	pid=$(cat "$MARK")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
	echo "$pid"
}

install_engine() {
	if [ "$(id -u)" -ne 0 ]; then
		say "dockerd is not installed and installing it needs root: run 'sudo apt-get install docker.io'"
		return 1
	fi
	say "installing Debian's docker.io"
	export DEBIAN_FRONTEND=noninteractive
	apt-cache show docker.io >/dev/null 2>&1 || apt-get update -qq
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker.io >/dev/null
}

# Compose v1 from Debian, used by the stack test to check that docker-compose.yaml is also a valid Compose file.
install_compose() {
	command -v docker-compose >/dev/null 2>&1 && return 0
	[ "$(id -u)" -eq 0 ] || return 0
	say "installing Debian's docker-compose (to validate the compose file)"
	export DEBIAN_FRONTEND=noninteractive
	apt-cache show docker-compose >/dev/null 2>&1 || apt-get update -qq
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends docker-compose >/dev/null ||
		say "docker-compose could not be installed; the Compose check of the stack test is skipped"
}

start_engine() {
	if [ "$(id -u)" -ne 0 ]; then
		say "no Docker engine answers and starting dockerd needs root: run 'sudo dockerd &' or start the docker service"
		return 1
	fi
	# A packaged service manager, when there is one, owns the engine.
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl start docker && return 0
	fi
	say "starting dockerd (log: $LOG)"
	mkdir -p "$(dirname "$LOG")"
	log_from=$(($(cat "$LOG" 2>/dev/null | wc -l) + 1)) # this start's lines, for the report if it fails
	setsid dockerd </dev/null >>"$LOG" 2>&1 &
	echo $! >"$MARK"
}

wait_engine() {
	deadline=$(($(date +%s) + WAIT))
	while ! engine_up; do
		if [ -f "$MARK" ] && ! our_pid >/dev/null; then
			say "dockerd exited; the end of its log:"
			tail -n "+${log_from:-1}" "$LOG" | tail -n 15 >&2
			rm -f "$MARK"
			return 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			say "no answer from the Docker engine after ${WAIT}s (log: $LOG)"
			return 1
		fi
		sleep 0.5
	done
}

stop_engine() {
	pid=$(our_pid) || {
		rm -f "$MARK"
		return 0
	}
	say "stopping dockerd (pid $pid)"
	kill "$pid"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	rm -f "$MARK"
}

case ${1:-start} in
start)
	install_compose
	engine_up && exit 0
	if ! command -v "$DOCKER" >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
		install_engine
	fi
	# Another dockerd may still be coming up; give it the chance before starting a second one.
	if pgrep -x dockerd >/dev/null 2>&1; then
		wait_engine
		exit $?
	fi
	start_engine
	wait_engine
	;;
stop) stop_engine ;;
started) our_pid >/dev/null ;;
*)
	echo "usage: $0 [start|stop|started]" >&2
	exit 2
	;;
esac
