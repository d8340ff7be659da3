#!/bin/sh
# Starts one Kafka broker (KRaft) from the environment, with the official apache/kafka image's conventions:
# KAFKA_<NAME>=value becomes a server property, '_' -> '.', '__' -> '_', '___' -> '-' (KAFKA_LOG_DIRS -> log.dirs);
# CLUSTER_ID formats the storage on first start. Without any property, a single-node broker on localhost:9092.
set -eu
conf=${TMPDIR:-/tmp}/server.properties # /tmp: the root filesystem may be read-only
cluster_id=${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}

# Variables for the launcher, not server properties.
is_launcher_var() {
	case $1 in
	KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_GC_LOG_OPTS | KAFKA_JMX_OPTS | KAFKA_LOG4J_OPTS | \
		KAFKA_LOG4J_ROOT_LOGLEVEL | KAFKA_LOG4J_LOGGERS | KAFKA_TOOLS_LOG4J_LOGLEVEL | KAFKA_VERSION | KAFKA_HOME | \
		KAFKA_JMX_PORT | KAFKA_JMX_HOSTNAME | KAFKA_DEBUG) return 0 ;;
	esac
	return 1
}

props() {
	env | grep '^KAFKA_[A-Z0-9_]*=' | while IFS='=' read -r name value; do
		is_launcher_var "$name" && continue
		key=$(printf '%s' "${name#KAFKA_}" | sed 's/___/-/g; s/__/@/g; s/_/./g; s/@/_/g' | tr '[:upper:]' '[:lower:]')
		printf '%s=%s\n' "$key" "$value"
	done
}

defaults() {
	cat <<'DEF'
node.id=1
process.roles=broker,controller
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.voters=1@localhost:9093
log.dirs=/var/lib/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
DEF
}

# Given properties override the defaults of the same name.
given=$(props)
{
	defaults | while IFS='=' read -r key value; do
		printf '%s\n' "$given" | grep -q "^$key=" || printf '%s=%s\n' "$key" "$value"
	done
	printf '%s\n' "$given"
} | grep -v '^$' >"$conf"

cp=/opt/kafka/libs/*
log4j="-Dlog4j.configuration=file:/opt/kafka/config/log4j.properties"
# shellcheck disable=SC2086
java $log4j -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" --ignore-formatted >/dev/null
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} \
	${KAFKA_OPTS:-} $log4j -cp "$cp" kafka.Kafka "$conf"
