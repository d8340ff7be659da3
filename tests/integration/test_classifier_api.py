"""The classifier's API end to end: sources, decisions, de-duplication, history, rules/test, logs, audit, metrics."""
import json
from pathlib import Path

from harness import ROOT, audit_records, start_classifier, wait_for

FIXTURES = ROOT / "tests" / "fixtures"

RULES = {
    "services.yaml": """
name: nginx-down-restart
description: Restart nginx when it is down
priority: 100
match:
  event_type: ServiceDown
  tags: {service: nginx}
action:
  type: ssh
  command: "sudo systemctl restart {{tags.service}}"
  verify: "systemctl is-active {{tags.service}}"
limits: {cooldown: 10m, max_attempts: 3}
---
name: any-servicedown-page
priority: 10
match:
  event_type: ServiceDown
action: {type: none}
""",
    "disk.yaml": """
name: disk-full-clean
priority: 50
final: true
match:
  event_type: DiskFull
  severity: [warning, critical]
action:
  type: ssh
  command: "rm -rf -- {{tags.cache_dir}}/tmp"
  mode: dry-run
---
name: disk-full-never
priority: 1
match:
  event_type: DiskFull
action: {type: none}
""",
    "dynatrace.yaml": """
name: memory-saturation
match:
  source: dynatrace
  entity: {glob: "web-*"}
action:
  type: ssh
  command: "sudo systemctl restart app"
""",
}


def fixture(*parts):
    return json.loads((FIXTURES.joinpath(*parts)).read_text())


def post(c, path, body):
    r = c.request("POST", path, body)
    assert r.status == 202, r
    return r.json()["events"]


def test_generic_event_is_classified_and_kept_in_history(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    ev = {"source_id": "disk-1", "title": "Disk /var 97% full", "severity": "warning", "entity": "web-01",
          "event_type": "DiskFull", "tags": {"cache_dir": "/var/cache/app"}}
    [entry] = post(c, "/v1/events", ev)
    # disk-full-clean is final: the lower-priority disk-full-never must not fire.
    assert [d["rule"] for d in entry["decisions"]] == ["disk-full-clean"]
    d = entry["decisions"][0]
    assert d["mode"] == "dry-run" and d["status"] == "recorded" and len(d["action_id"]) == 26
    assert d["targets"] == ["web-01"]

    got = c.request("GET", f"/v1/events/{entry['id']}").json()
    assert got["entity"] == "web-01" and got["event_type"] == "DiskFull" and got["state"] == "open"
    assert got["decisions"][0]["action_id"] == d["action_id"]
    listed = c.request("GET", "/v1/events?source_id=disk-1&limit=5").json()["events"]
    assert [e["id"] for e in listed] == [entry["id"]]


def test_no_matching_rule_means_investigate(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    [entry] = post(c, "/v1/events", {"title": "something odd", "entity": "db-1", "event_type": "Weird"})
    assert entry["decisions"] == [{"rule": None, "action_id": None, "mode": None, "status": "investigate"}]


def test_alertmanager_payload_priority_order_and_dedup(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    payload = fixture("alertmanager", "webhook_firing.json")
    for a in payload["alerts"]:
        a["labels"].update({"alertname": "ServiceDown", "service": "nginx"})
    first = post(c, "/v1/events/alertmanager", payload)
    assert len(first) == len(payload["alerts"])
    rules = [d["rule"] for d in first[0]["decisions"]]
    assert rules == ["nginx-down-restart", "any-servicedown-page"]
    assert first[0]["decisions"][1]["status"] == "no-action"

    # The same notification again: a duplicate, same event id, nothing new decided.
    again = post(c, "/v1/events/alertmanager", payload)
    assert again[0]["duplicate"] is True and again[0]["id"] == first[0]["id"]
    assert again[0]["decisions"][0]["action_id"] == first[0]["decisions"][0]["action_id"]
    stored = c.request("GET", f"/v1/events/{first[0]['id']}").json()
    assert stored["duplicates"] == 1

    # Resolved is a new state of the same problem: a new event, not a duplicate.
    payload["status"] = "resolved"
    for a in payload["alerts"]:
        a["status"] = "resolved"
        a["endsAt"] = "2026-11-22T01:30:00Z"
    resolved = post(c, "/v1/events/alertmanager", payload)
    assert resolved[0]["id"] != first[0]["id"] and not resolved[0].get("duplicate")
    got = c.request("GET", f"/v1/events/{resolved[0]['id']}").json()
    assert got["state"] == "resolved"
    # Rules match open events unless they say otherwise.
    assert resolved[0]["decisions"][0]["status"] == "investigate"


def test_dynatrace_opsgenie_icinga_payloads(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    problem = fixture("dynatrace", "problem.json")
    [dt] = post(c, "/v1/events/dynatrace", problem)
    got = c.request("GET", f"/v1/events/{dt['id']}").json()
    assert got["source"] == "dynatrace" and got["entity"] == "web-01"
    assert got["source_id"] == problem["problemId"]
    assert got["tags"]["env"] == "prod"
    assert dt["decisions"][0]["rule"] == "memory-saturation"

    [og] = post(c, "/v1/events/opsgenie", fixture("opsgenie", "alert.json"))
    got = c.request("GET", f"/v1/events/{og['id']}").json()
    assert (got["source"], got["entity"], got["event_type"], got["severity"]) == \
        ("opsgenie", "web-01", "ServiceDown", "P1")
    assert got["tags"]["service"] == "nginx"
    assert og["decisions"][0]["rule"] == "nginx-down-restart"

    [ic] = post(c, "/v1/events/icinga", fixture("icinga", "statechange_service.json"))
    got = c.request("GET", f"/v1/events/{ic['id']}").json()
    assert got["source"] in ("icinga", "nagios") and "!" in got["source_id"]


def test_rules_test_endpoint_renders_without_acting(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    ev = {"source_id": "t-1", "title": "nginx down", "entity": "web-02", "event_type": "ServiceDown",
          "tags": {"service": "nginx"}}
    r = c.request("POST", "/v1/rules/test", ev)
    assert r.status == 200, r
    d = r.json()["events"][0]["decisions"][0]
    assert d["status"] == "would-act"
    assert d["action"]["command"] == "sudo systemctl restart 'nginx'"
    assert d["action"]["verify"] == "systemctl is-active 'nginx'"
    assert d["action"]["targets"] == ["web-02"]
    # Nothing stored, nothing de-duplicated.
    assert c.request("GET", "/v1/events?source_id=t-1").json()["events"] == []
    assert c.request("POST", "/v1/rules/test", ev).json()["events"][0].get("duplicate") is None


def test_logs_audit_and_metrics(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    [entry] = post(c, "/v1/events", {"source_id": "log-1", "title": "nginx down", "entity": "web-03",
                                     "event_type": "ServiceDown", "tags": {"service": "nginx"}})
    rec = c.wait_log(msg="event classified", event_id=entry["id"], rule="nginx-down-restart")
    assert rec["svc"] == "classifier" and rec["level"] == "info"
    assert rec["action_id"] == entry["decisions"][0]["action_id"]
    assert rec["source_id"] == "log-1" and float(rec["duration_ms"]) >= 0

    def audited():
        types = [(a["type"], a.get("event_id")) for a in audit_records(tmp_path / "audit.jsonl")]
        return ("event.received", entry["id"]) in types and ("event.classified", entry["id"]) in types
    wait_for(audited, 5, what="audit records")
    cls = [a for a in audit_records(tmp_path / "audit.jsonl") if a["type"] == "event.classified"][-1]
    assert cls["svc"] == "classifier" and cls["source_id"] == "log-1" and cls["ts"].endswith("Z")
    assert cls["decisions"][0]["rule"] == "nginx-down-restart"

    m = c.request("GET", "/metrics", token="")
    assert m.status == 200
    assert 'reflex_events_total{source="generic"} 1' in m.text
    assert "reflex_rules_loaded 5" in m.text
