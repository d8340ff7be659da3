"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) on free 127.0.0.1 ports for the tests.

    broker = KafkaBroker(tmp_path).start()      # formats storage in tmp_path, waits until it serves requests
    broker.bootstrap                            # "127.0.0.1:PORT"
    broker.stop(); broker.start()               # an outage: same ports, same data
    broker.stop()

The broker jars come from Maven Central once (scripts/kafka-fetch.sh, tests/kafka/pom.xml) into a cache outside git:
$REFLEX_KAFKA_CACHE, else ~/.cache/reflex/kafka-<version>. The machine's Java runs it. kafka_skip_reason() says plainly
what is missing (java, mvn or the jars) so tests can skip with that message, or fail when REFLEX_REQUIRE_KAFKA=1.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness import BUILD, ROOT, free_port, wait_for

FETCH = ROOT / "scripts" / "kafka-fetch.sh"
TOOLS = BUILD / "tools"
_cache_dir = None
_fetch_error = None


def kafka_cache():
    """Returns the cache directory holding libs/*.jar, fetching the jars the first time; raises RuntimeError."""
    global _cache_dir, _fetch_error
    if _cache_dir:
        return _cache_dir
    if _fetch_error:
        raise RuntimeError(_fetch_error)
    if not shutil.which("java"):
        _fetch_error = "java is missing: install openjdk-17-jre-headless ('make deps')"
        raise RuntimeError(_fetch_error)
    r = subprocess.run([str(FETCH)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        _fetch_error = "Kafka broker jars are missing and could not be fetched: " + r.stderr.strip()
        raise RuntimeError(_fetch_error)
    _cache_dir = Path(r.stdout.strip().splitlines()[-1])
    return _cache_dir


def kafka_skip_reason():
    """None when a broker can be started, else the reason in plain words."""
    try:
        kafka_cache()
        return None
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return str(e)


def require_kafka():
    """Skips the calling test with the plain reason when no broker can be started; fails instead under CI or with
    REFLEX_REQUIRE_KAFKA=1, where a missing broker is a broken setup, not an optional extra."""
    reason = kafka_skip_reason()
    if reason is None:
        return
    if os.environ.get("CI") or os.environ.get("REFLEX_REQUIRE_KAFKA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def tool(name):
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make tools'")
    return str(path)


def consume(bootstrap, topic, timeout_ms=30000):
    """Every record of topic (read back with librdkafka by tests/tools/kafka_consume) as dicts with partition,
    offset, key and value (the value parsed as JSON)."""
    r = subprocess.run([tool("kafka_consume"), bootstrap, topic, str(timeout_ms)], capture_output=True, text=True,
                       timeout=timeout_ms / 1000 + 30)
    if r.returncode == 3:
        return []
    assert r.returncode == 0, f"kafka_consume failed: {r.stderr}"
    out = []
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        rec["value"] = json.loads(rec["value"])
        out.append(rec)
    return out


def _kafka_uuid():
    # A Kafka cluster id: 16 random bytes, URL-safe base64 without padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _api_versions_ok(port, timeout=2.0):
    """Sends ApiVersions v0 and returns True when the broker answers with error_code 0 (it serves requests)."""
    client = b"reflex-test"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        hdr = _recv_exact(s, 4)
        size = struct.unpack(">i", hdr)[0]
        resp = _recv_exact(s, size)
    corr, err = struct.unpack(">ih", resp[:6])
    return corr == 7 and err == 0


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        out += chunk
    return out


class KafkaBroker:
    """One KRaft broker+controller process, its storage and logs under workdir."""

    # The tests start many short-lived brokers: C1 only and the serial collector start fastest. Benchmarks pass
    # PRODUCTION_JVM, the options of Kafka's own kafka-run-class.sh and kafka-server-start.sh.
    TEST_JVM = ("-Xmx512m", "-Xms128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
    PRODUCTION_JVM = ("-Xmx1G", "-Xms1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                      "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                      "-XX:MaxInlineLevel=15")

    def __init__(self, workdir, partitions=3, jvm=TEST_JVM):
        self.workdir = Path(workdir) / "kafka"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.partitions = partitions
        self.jvm = list(jvm)
        self.cluster_id = _kafka_uuid()
        self.proc = None
        self.formatted = False
        self.props_path = self.workdir / "server.properties"
        self.log4j_path = self.workdir / "log4j.properties"
        self.server_log = self.workdir / "server.log"
        self.stdout_path = self.workdir / "stdout.log"

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def _classpath(self):
        return str(kafka_cache() / "libs" / "*")

    def _write_config(self):
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "log.flush.interval.messages": "1000000",
        }
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.log4j_path.write_text(
            "log4j.rootLogger=INFO, F\n"
            "log4j.appender.F=org.apache.log4j.FileAppender\n"
            f"log4j.appender.F.File={self.server_log}\n"
            "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.F.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.server.KafkaConfig=WARN\n"
            "log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN\n")

    def _java(self, main, *args, **kw):
        cmd = ["java", *self.jvm, "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{self.log4j_path}",
               "-cp", self._classpath(), main, *args]
        return cmd

    def _format(self):
        # --cluster-id=ID: a random id may start with "-", which the tool would take for an option.
        cmd = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={self.cluster_id}", "-c", str(self.props_path))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"kafka storage format failed ({r.returncode}): {r.stderr[-2000:]}{r.stdout[-2000:]}")
        self.formatted = True

    def start(self, timeout=90.0):
        """Starts the broker (formatting storage the first time) and waits until it answers ApiVersions."""
        kafka_cache()
        if not self.formatted:
            self._write_config()
            self._format()
        self._out = open(self.stdout_path, "ab")
        self.proc = subprocess.Popen(self._java("kafka.Kafka", str(self.props_path)), stdout=self._out,
                                     stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=90.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"kafka exited with {self.proc.returncode}: {self.log_tail()}")
            return self._started_logged() and _api_versions_ok(self.port)
        wait_for(ready, timeout, interval=0.1, what="the Kafka broker to serve requests")

    def _started_logged(self):
        try:
            return "Kafka Server started" in self.server_log.read_text(errors="replace")[-200000:]
        except FileNotFoundError:
            return False

    def log_tail(self, n=3000):
        out = []
        for p in (self.stdout_path, self.server_log):
            if p.exists():
                out.append(p.read_text(errors="replace")[-n:])
        return "\n".join(out)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill=False, timeout=30.0):
        """Stops the broker by pid: SIGTERM (a clean shutdown) or SIGKILL with kill=True."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if getattr(self, "_out", None):
            self._out.close()
            self._out = None
        # The next start must not see this run's "started" line.
        if self.server_log.exists():
            self.server_log.rename(self.server_log.with_suffix(f".{int(time.time() * 1000)}.log"))
