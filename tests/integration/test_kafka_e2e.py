"""The audit stream end to end on a real Apache Kafka broker: remediations through a real reflex-classifier, a real
reflex-action-handler and a real OpenSSH server produce the expected audit records, keyed and in order per service
for their source_id; the classifier keeps auditing through a broker outage (nothing lost, nothing twice, counted in
/metrics); and `reflex report` gives the same numbers from the services' logs and from the topic, the numbers the
test made happen."""
import json
import re
import subprocess
import time
from collections import Counter, defaultdict

import pytest

from harness import BIN, start_classifier, wait_for
from kafka import KafkaBroker, consume, require_kafka
from sshd import Sshd
from test_action_handler import KEY, Handler
from test_action_handler_e2e import post_alert


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    require_kafka()
    b = KafkaBroker(tmp_path_factory.mktemp("kafka-e2e")).start()
    yield b
    b.stop()


def kafka_cfg(broker, topic, spool):
    return {"kafka_brokers": broker.bootstrap, "kafka_audit_topic": topic, "audit_spool_dir": str(spool)}


def metric(svc, name):
    text = svc.request("GET", "/metrics").text
    m = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def report(*args, stdin=None):
    r = subprocess.run([str(BIN / "reflex"), "report", "--json", *args], input=stdin, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def comparable(rep):
    """The report's numbers without the input bookkeeping (the logs hold other lines than the topic)."""
    return {k: rep[k] for k in ("events", "total", "rules", "refusals")}


RULES = """
name: nginx-down-restart
match: {{source: alertmanager, event_type: ServiceDown}}
action:
  type: ssh
  command: "echo restarted >> {scratch}/restarts"
  timeout: 10s
limits: {{cooldown: 10m, max_attempts: 3, max_per_hour: 20, max_targets: 5}}
---
name: disk-clean
match: {{event_type: DiskFull}}
action:
  type: ssh
  command: "exit 3"
  timeout: 10s
limits: {{cooldown: 0s}}
"""


@pytest.fixture
def stack(services, broker, tmp_path):
    topic = "reflex.audit.e2e"
    srv = Sshd(tmp_path / "sshd").start()
    h = services.add(Handler(tmp_path / "ah", srv, ssh_port=srv.port,
                             **kafka_cfg(broker, topic, tmp_path / "ah-spool"))).start()
    (tmp_path / "cl").mkdir()
    (tmp_path / "cl" / "hmac-key").write_bytes(KEY + b"\n")
    c = start_classifier(services, tmp_path / "cl", {"rules.yaml": RULES.format(scratch=srv.scratch)},
                         action_handler_url=h.url, hmac_key_file=str(tmp_path / "cl" / "hmac-key"),
                         **kafka_cfg(broker, topic, tmp_path / "cl-spool"))
    yield c, h, srv, topic
    srv.stop()


def records_for(records, source_id):
    return [r for r in records if r["value"].get("source_id") == source_id]


def test_remediations_on_the_audit_topic_and_in_reports(stack, broker):
    c, h, srv, topic = stack
    host = {"instance": "127.0.0.1:9100"}
    ok = post_alert(c, dict(host, alertname="ServiceDown", service="nginx"), "fp-ok-000000001")
    refused = post_alert(c, dict(host, alertname="ServiceDown", service="nginx", job="x"), "fp-refused-00002")
    failed = post_alert(c, dict(host, alertname="DiskFull"), "fp-failed-000003")
    nothing = post_alert(c, dict(host, alertname="Unmatched"), "fp-nothing-00004")
    ids = {name: ev["decisions"][0]["action_id"] for name, ev in
           (("ok", ok), ("refused", refused), ("failed", failed))}
    states = {name: h.wait_final(i, 30)["state"] for name, i in ids.items()}
    assert states == {"ok": "succeeded", "refused": "refused", "failed": "failed"}
    assert nothing["decisions"][0]["status"] == "investigate"

    # Every service flushes its audit records within a moment. The classifier: rules.reloaded at start, then
    # received+classified per event; the handler: queued+started+finished for two actions, finished for the
    # refused one.
    expected = 1 + 8 + 3 + 3 + 1

    def all_there():
        recs = consume(broker.bootstrap, topic)
        return recs if len(recs) >= expected else None
    recs = wait_for(all_there, 30, interval=0.5, what="the audit records on the topic")
    assert len(recs) == expected, Counter((r["value"]["svc"], r["value"]["type"]) for r in recs)
    assert not [k for k, n in Counter((r["value"]["type"], r["value"].get("event_id"), r["value"].get("action_id"))
                                      for r in recs).items() if n > 1], "a record arrived twice"

    # The remediation that ran: its records, keyed by source_id on one partition, each service's in order.
    mine = records_for(recs, "fp-ok-000000001")
    assert all(r["key"] == "fp-ok-000000001" for r in mine)
    assert len({r["partition"] for r in mine}) == 1
    mine.sort(key=lambda r: r["offset"])
    by_svc = defaultdict(list)
    for r in mine:
        by_svc[r["value"]["svc"]].append(r["value"]["type"])
    assert by_svc["classifier"] == ["event.received", "event.classified"], by_svc
    assert sorted(by_svc["action-handler"]) == ["action.finished", "action.queued", "action.started"], by_svc
    v = {r["value"]["type"]: r["value"] for r in mine}
    assert v["event.classified"]["event_id"] == ok["id"]
    assert v["event.classified"]["decisions"][0]["action_id"] == ids["ok"]
    assert v["action.finished"]["action_id"] == ids["ok"] and v["action.finished"]["state"] == "succeeded"
    assert v["action.finished"]["rule"] == "nginx-down-restart"
    assert v["action.started"]["target"] == "127.0.0.1"
    fin = [r["value"] for r in records_for(recs, "fp-refused-00002") if r["value"]["type"] == "action.finished"]
    assert fin and fin[0]["state"] == "refused" and fin[0]["reason"] == "cooldown"

    # Delivery is counted: every record either service wrote was acknowledged by the broker.
    for svc, n in ((c, 9), (h, 7)):
        wait_for(lambda: metric(svc, "reflex_audit_kafka_delivered_total") == n, 10, what=f"{svc.name} delivered")
        assert metric(svc, "reflex_audit_kafka_dropped_total") == 0

    # reflex report: the same numbers from the logs (files, and stdin as `docker service logs` gives them) and
    # from the topic, and they are what happened above.
    logs = [str(c.stdout_path), str(h.stdout_path)]
    from_files = report(*logs)
    from_stdin = report("-", stdin="".join(f"reflex_x.1.abc@node | {l}\n" for p in logs
                                           for l in open(p).read().splitlines()))
    from_topic = report("--kafka", broker.bootstrap, "--topic", topic)
    assert comparable(from_files) == comparable(from_topic) == comparable(from_stdin)
    assert from_topic["events"] == {"classified": 4, "acted": 3, "investigate": 1}
    rules = {r["rule"]: r for r in from_topic["rules"]}
    assert rules["nginx-down-restart"]["actions"] == 2 and rules["nginx-down-restart"]["succeeded"] == 1
    assert rules["nginx-down-restart"]["refused"] == 1 and rules["nginx-down-restart"]["success_rate"] == 1
    assert rules["disk-clean"]["failed"] == 1 and rules["disk-clean"]["success_rate"] == 0
    assert from_topic["total"]["ran"] == 2 and from_topic["total"]["duration_ms"]["p50"] is not None
    assert from_topic["refusals"] == [{"reason": "cooldown", "count": 1}]
    # How many times the rule acted on the host: once (the refusal did not act).
    for args in (logs, ["--kafka", broker.bootstrap, "--topic", topic]):
        one = report("--rule", "nginx-down-restart", "--entity", "127.0.0.1", "--since", "1h", *args)
        assert one["total"]["ran"] == 1 and one["total"]["refused"] == 1
        assert report("--rule", "nginx-down-restart", "--entity", "10.9.9.9", *args)["total"]["actions"] == 0
        assert report("--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00Z",
                      *args)["total"]["actions"] == 0

    # The handler's own records for the action, in the order things happened (checked last, after the report).
    assert by_svc["action-handler"] == ["action.queued", "action.started", "action.finished"], \
        f"action handler audit records out of order: {by_svc['action-handler']}"


def generic_event(i, run):
    return {"source": "generic", "source_id": f"{run}-{i:05d}", "title": f"outage test {i}", "entity": "h",
            "event_type": "NoRuleForThis", "state": "open"}


def test_classifier_audit_survives_a_broker_outage(services, broker, tmp_path):
    topic, run, n = "reflex.audit.outage", f"r{int(time.time())}", 300
    (tmp_path / "cl").mkdir()
    rules = {"r.yaml": "name: unrelated\nmatch: {event_type: SomethingElse}\naction: {type: none}\n"}
    c = start_classifier(services, tmp_path / "cl", rules, **kafka_cfg(broker, topic, tmp_path / "spool"))
    for i in range(n):
        if i == 100:
            broker.stop(kill=True)
        if i == 200:
            broker.start()
        assert c.request("POST", "/v1/events", generic_event(i, run)).status == 202
    assert metric(c, "reflex_audit_kafka_spooled_total") > 0, "the outage never reached the spool"
    # rules.reloaded at start, then received + classified per event: every one acknowledged by the broker.
    wait_for(lambda: metric(c, "reflex_audit_kafka_delivered_total") == 2 * n + 1, 60, interval=0.2,
             what="every audit record acknowledged")
    assert metric(c, "reflex_audit_kafka_written_total") == 2 * n + 1
    assert metric(c, "reflex_audit_kafka_dropped_total") == 0
    recs = [r for r in consume(broker.bootstrap, topic) if r["value"].get("source_id", "").startswith(run)]
    seen = Counter((r["value"]["type"], r["value"]["source_id"]) for r in recs)
    want = {(t, f"{run}-{i:05d}") for t in ("event.received", "event.classified") for i in range(n)}
    assert set(seen) == want and max(seen.values()) == 1, f"{len(want - set(seen))} missing, {sum(seen.values()) - len(seen)} twice"
    # Per source_id, received before classified.
    order = {}
    for r in sorted(recs, key=lambda r: (r["partition"], r["offset"])):
        order.setdefault(r["value"]["source_id"], []).append(r["value"]["type"])
    assert all(v == ["event.received", "event.classified"] for v in order.values())
    rep = report("--kafka", broker.bootstrap, "--topic", topic)
    assert rep["events"] == {"classified": n, "acted": 0, "investigate": n}
