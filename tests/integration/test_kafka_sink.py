"""The Kafka audit sink against a real Apache Kafka broker: keyed and ordered delivery, a broker outage while records
flow (nothing lost, nothing twice), and the on-disk spool carried across a restart of the producing process.

Records are written by tests/tools/audit_load (the sink as the services use it) and read back with librdkafka by
tests/tools/kafka_consume."""
import json
import subprocess
import time
import uuid
from collections import defaultdict

import pytest

from harness import wait_for
from kafka import KafkaBroker, consume, require_kafka, tool


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    require_kafka()
    b = KafkaBroker(tmp_path_factory.mktemp("kafka-sink")).start()
    yield b
    b.stop()


def audit_load(bootstrap, topic, spool, count, *, rate=0, keys=10, flush_ms=30000, run="run", timeout=120):
    """Runs the load tool to the end and returns its counters."""
    r = subprocess.run([tool("audit_load"), "--brokers", bootstrap, "--topic", topic, "--spool", str(spool),
                        "--count", str(count), "--rate", str(rate), "--keys", str(keys), "--flush-ms",
                        str(flush_ms), "--run", run], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"audit_load failed ({r.returncode}): {r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def check_exactly_once_in_order(records, run, count, keys):
    """Every seq of the run exactly once; per key, one partition and increasing seq in offset order."""
    mine = [r for r in records if r["value"].get("run") == run]
    seqs = sorted(r["value"]["seq"] for r in mine)
    missing = sorted(set(range(count)) - set(seqs))
    dups = len(seqs) - len(set(seqs))
    assert not missing and dups == 0, f"{len(missing)} missing (first {missing[:10]}), {dups} duplicated"
    by_key = defaultdict(list)
    for r in sorted(mine, key=lambda r: (r["partition"], r["offset"])):
        assert r["key"] == r["value"]["source_id"], r
        assert r["key"] == f"k{r['value']['seq'] % keys}", r
        by_key[r["key"]].append((r["partition"], r["value"]["seq"]))
    for key, items in by_key.items():
        assert len({p for p, _ in items}) == 1, f"key {key} spread over partitions"
        seq = [s for _, s in items]
        assert seq == sorted(seq), f"key {key} out of order: {seq[:20]}..."
    return mine


def test_keyed_records_arrive_once_in_order(broker, tmp_path):
    topic, run = "audit-keyed", uuid.uuid4().hex
    stats, _ = audit_load(broker.bootstrap, topic, tmp_path / "spool", 3000, keys=7, run=run)
    assert stats["written"] == 3000
    assert stats["delivered"] == 3000
    assert stats["dropped"] == 0 and stats["spool_records"] == 0 and stats["queued"] == 0
    check_exactly_once_in_order(consume(broker.bootstrap, topic), run, 3000, 7)


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_broker_outage_loses_nothing_and_duplicates_nothing(broker, tmp_path, how):
    topic, run, count = f"audit-outage-{how}", uuid.uuid4().hex, 4000
    # Warm the topic up so the outage hits a producer that is already connected.
    audit_load(broker.bootstrap, topic, tmp_path / "warm", 10, run="warm")
    stderr_path = tmp_path / "load.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([tool("audit_load"), "--brokers", broker.bootstrap, "--topic", topic, "--spool",
                                 str(tmp_path / "spool"), "--count", str(count), "--rate", "800", "--keys", "10",
                                 "--flush-ms", "60000", "--run", run], stdout=subprocess.PIPE, stderr=err)
        try:
            time.sleep(1.0)  # records are flowing (800/s)
            broker.stop(kill=how == "sigkill")
            # The sink notices and spools; the producer keeps writing for a while with no broker at all.
            wait_for(lambda: "audit records spooled" in stderr_path.read_text(), 15, what="the sink to spool")
            time.sleep(1.5)
            broker.start()
            out, _ = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, stderr_path.read_text()[-3000:]
    stats = json.loads(out.decode().strip().splitlines()[-1])
    log = stderr_path.read_text()
    assert stats["written"] == count
    assert stats["spooled"] > 0, f"the outage never reached the spool: {stats}"
    assert stats["dropped"] == 0, stats
    assert stats["spool_records"] == 0 and stats["queued"] == 0, stats
    assert stats["delivered"] == count, stats
    assert "audit spool drained" in log
    check_exactly_once_in_order(consume(broker.bootstrap, topic), run, count, 10)


def test_spool_survives_a_restart_of_the_producer(broker, tmp_path):
    topic, run, count = "audit-restart", uuid.uuid4().hex, 500
    spool = tmp_path / "spool"
    broker.stop()
    try:
        stats, log = audit_load(broker.bootstrap, topic, spool, count, flush_ms=300, run=run)
    finally:
        broker.start()
    assert stats["delivered"] == 0
    assert stats["dropped"] == 0
    # Kept on disk: what the sink spooled and what the producer still held at close.
    assert "audit spool kept for the next start" in log and f"records={count}" in log, log[-2000:]
    # A new process with the same spool produces it first, then its own records.
    stats, log = audit_load(broker.bootstrap, topic, spool, 0, run=run)
    assert "audit spool has records from an earlier run" in log
    assert stats["delivered"] == count and stats["spool_records"] == 0, stats
    check_exactly_once_in_order(consume(broker.bootstrap, topic), run, count, 10)
