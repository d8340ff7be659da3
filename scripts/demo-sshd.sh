#!/bin/sh
# A local OpenSSH server on 127.0.0.1 as the demo remediation target for `make run`, with its own generated keys
# under ./run/demo/. Idempotent; stopped by its pid file.
#
#   scripts/demo-sshd.sh start    start (or find running) and print the known_hosts line
#   scripts/demo-sshd.sh stop     stop it
#   scripts/demo-sshd.sh status   exit 0 when running
#   scripts/demo-sshd.sh env      print the action handler settings that go with it (KEY=VALUE lines)
#
# Environment: DEMO_DIR (default ./run/demo), DEMO_SSH_PORT (default 2222).
# Logins are accepted for the user running this script only, with the generated key only. When that user is root,
# note that OpenSSH does not deliver signals to root sessions: a command that outlives its timeout gets its channel
# closed but keeps running. Production targets should use an unprivileged remediation user (see docs/operations.md).
set -eu

DIR=${DEMO_DIR:-./run/demo}
PORT=${DEMO_SSH_PORT:-2222}
SSHD=$(command -v sshd || echo /usr/sbin/sshd)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PID_FILE=$DIR/sshd.pid
USER_NAME=$(id -un)

running() {
	[ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

known_hosts_line() {
	printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$DIR/ssh_host_ed25519_key.pub")"
}

keys() {
	[ -f "$DIR/ssh_host_ed25519_key" ] ||
		ssh-keygen -q -t ed25519 -N '' -C reflex-demo-host -f "$DIR/ssh_host_ed25519_key"
	[ -f "$DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C reflex-demo -f "$DIR/id_ed25519"
	cp "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
	chmod 600 "$DIR/authorized_keys"
	known_hosts_line >"$DIR/known_hosts"
}

config() {
	cat >"$DIR/sshd_config" <<EOF
ListenAddress 127.0.0.1:$PORT
HostKey $DIR/ssh_host_ed25519_key
PidFile $PID_FILE
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers $USER_NAME
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
UseDNS no
EOF
}

# Until sshd answers with its host key, for up to 30 s: on a busy or cold machine the first connection's re-exec
# of sshd can take longer than a one-second keyscan timeout.
wait_listening() {
	deadline=$(($(date +%s) + 30))
	while [ "$(date +%s)" -le "$deadline" ]; do
		if running && ssh-keyscan -T 3 -t ed25519 -p "$PORT" 127.0.0.1 2>/dev/null | grep -q ssh-ed25519; then
			return 0
		fi
		running || return 1
		sleep 0.1
	done
	return 1
}

start() {
	if running; then
		known_hosts_line
		return 0
	fi
	rm -f "$PID_FILE"
	keys
	config
	if [ "$(id -u)" -eq 0 ]; then
		mkdir -p /run/sshd # sshd's privilege-separation directory
	fi
	# -D keeps it in the foreground for its own pid file handling; nohup and & detach it from this shell.
	nohup "$SSHD" -D -e -f "$DIR/sshd_config" >"$DIR/sshd.log" 2>&1 &
	echo $! >"$PID_FILE"
	if ! wait_listening; then
		echo "demo-sshd: sshd did not start on 127.0.0.1:$PORT; see $DIR/sshd.log" >&2
		tail -n 5 "$DIR/sshd.log" >&2 || true
		stop
		exit 1
	fi
	known_hosts_line
}

stop() {
	if [ -f "$PID_FILE" ]; then
		pid=$(cat "$PID_FILE")
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid"
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
				sleep 0.1
				i=$((i + 1))
			done
		fi
		rm -f "$PID_FILE"
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) running ;;
env)
	echo "REFLEX_SSH_KEY_FILE=$DIR/id_ed25519"
	echo "REFLEX_SSH_KNOWN_HOSTS_FILE=$DIR/known_hosts"
	echo "REFLEX_SSH_USER=$USER_NAME"
	echo "REFLEX_SSH_PORT=$PORT"
	echo "REFLEX_TARGETS_ALLOWED=127.0.0.1"
	;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
