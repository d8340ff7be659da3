"""End to end: an Alertmanager webhook posted to a real reflex-classifier ends, through a real reflex-action-handler,
in a command run over SSH on a real OpenSSH server (its effect checked on disk), the action succeeded, and the
outcome written back to a fake OpsGenie built from its published API."""
import time

import pytest

from fake_writeback import FakeWriteback
from harness import start_classifier, wait_for
from sshd import Sshd
from test_action_handler import KEY, Handler

OG_KEY = "og-e2e-key"


def alertmanager_payload(labels, fingerprint, summary):
    return {
        "version": "4",
        "groupKey": '{}:{alertname="%s"}' % labels["alertname"],
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "reflex",
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": {"summary": summary},
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
            "fingerprint": fingerprint,
        }],
    }


@pytest.fixture
def stack(services, tmp_path):
    srv = Sshd(tmp_path / "sshd").start()
    fake = FakeWriteback(opsgenie_key=OG_KEY).start()
    (tmp_path / "og.key").write_text(OG_KEY + "\n")
    # Targets are the event's entity (Alertmanager's instance without its port): 127.0.0.1 on the sshd's port.
    h = services.add(Handler(tmp_path / "ah", srv, ssh_port=srv.port, opsgenie_url=fake.url,
                             opsgenie_api_key_file=str(tmp_path / "og.key"),
                             opsgenie_sources=["opsgenie", "alertmanager"])).start()
    rules = {"remediate.yaml": f"""
name: nginx-down-restart
match:
  source: alertmanager
  event_type: ServiceDown
  tags: {{service: nginx}}
action:
  type: ssh
  command: "echo restarted {{{{tags.service}}}} >> {srv.scratch}/restarts"
  verify: "grep -q 'restarted nginx' {srv.scratch}/restarts"
  timeout: 10s
  on_success: {{note: "Restarted {{{{tags.service}}}} on {{{{entity}}}}", close: true, team: ops-unix}}
  on_failure: {{note: "Restart failed", team: ops-oncall}}
limits: {{cooldown: 10m, max_attempts: 3, max_per_hour: 20, max_targets: 5}}
---
name: echo-payload
match: {{event_type: PayloadTest}}
action:
  type: ssh
  command: "printf '%s\\\\n' {{{{tags.payload}}}} >> {srv.scratch}/payloads"
limits: {{cooldown: 0s}}
"""}
    (tmp_path / "cl").mkdir()
    (tmp_path / "cl" / "hmac-key").write_bytes(KEY + b"\n")
    c = start_classifier(services, tmp_path / "cl", rules, action_handler_url=h.url,
                         hmac_key_file=str(tmp_path / "cl" / "hmac-key"))
    yield c, h, srv, fake
    fake.stop()
    srv.stop()


def post_alert(c, labels, fingerprint, summary="alert"):
    r = c.request("POST", "/v1/events/alertmanager", alertmanager_payload(labels, fingerprint, summary))
    assert r.status == 202, r
    return r.json()["events"][0]


def test_alertmanager_alert_ends_in_a_remediation_and_a_note(stack):
    c, h, srv, fake = stack
    labels = {"alertname": "ServiceDown", "instance": "127.0.0.1:9100", "service": "nginx", "severity": "critical"}
    ev = post_alert(c, labels, "95c7516b6ade3654", "nginx is down on 127.0.0.1")
    d = ev["decisions"][0]
    assert d["rule"] == "nginx-down-restart" and d["action_id"], ev
    a = h.wait_final(d["action_id"], 20)
    assert a["state"] == "succeeded", a
    assert a["event_id"] == ev["id"] and a["source"] == "alertmanager" and a["source_id"] == "95c7516b6ade3654"
    assert a["targets"] == ["127.0.0.1"] and a["results"][0]["verify_exit_status"] == 0
    assert (srv.scratch / "restarts").read_text() == "restarted nginx\n"
    # The classifier's record of the event names the action.
    got = c.request("GET", f"/v1/events/{ev['id']}").json()
    assert got["decisions"][0]["action_id"] == d["action_id"]
    # Written back to the OpsGenie alert created from this Alertmanager alert (addressed by alias).
    calls = fake.wait(lambda r: r.op == "close")
    ops = [(r.op, r.identifier, r.query["identifierType"][0]) for r in fake.of("opsgenie")]
    assert ops == [("notes", "95c7516b6ade3654", "alias"), ("teams", "95c7516b6ade3654", "alias"),
                   ("close", "95c7516b6ade3654", "alias")]
    assert fake.of("opsgenie", "notes")[0].body["note"].startswith("Restarted nginx on 127.0.0.1")
    assert calls[0].headers["Authorization"] == f"GenieKey {OG_KEY}"
    # Another problem on the same host within the rule's cooldown: the handler refuses, the classifier records
    # the refusal with its reason, and nothing runs.
    ev2 = post_alert(c, dict(labels, job="nginx-exporter"), "0a1b2c3d4e5f6789", "nginx is down again")
    d2 = ev2["decisions"][0]
    assert d2["status"] == "refused" and "cooldown" in d2["reason"], ev2
    assert h.get(d2["action_id"])["reason"] == "cooldown"
    time.sleep(0.3)
    assert (srv.scratch / "restarts").read_text() == "restarted nginx\n"


def test_tag_values_reach_the_target_as_inert_text(stack):
    c, h, srv, fake = stack
    d = srv.scratch
    payloads = [f"$(touch {d}/pwned1)", f"'; touch {d}/pwned2 #", f"`touch {d}/pwned3`"]
    ids = []
    for i, p in enumerate(payloads):
        ev = post_alert(c, {"alertname": "PayloadTest", "instance": "127.0.0.1:9100", "payload": p}, f"fp{i:014d}")
        ids.append(ev["decisions"][0]["action_id"])
    for i in ids:
        assert h.wait_final(i, 20)["state"] == "succeeded"
    assert sorted((d / "payloads").read_text().splitlines()) == sorted(payloads)
    assert not list(d.glob("pwned*"))
