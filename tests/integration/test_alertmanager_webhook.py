"""A real Prometheus Alertmanager sends its webhook to the classifier, which classifies what it sends: firing and
resolved, with the bearer token from Alertmanager's credentials_file, and a rule dropped in while running."""
import pytest

from alertmanager import BINARY, Alertmanager
from harness import start_classifier, wait_for
import os

RULE = """
name: nginx-down-restart
match:
  event_type: ServiceDown
  tags: {service: nginx}
action:
  type: ssh
  command: "sudo systemctl restart {{tags.service}}"
"""
DISK_RULE = """
name: disk-full-clean
match: {event_type: DiskFull}
action: {type: ssh, command: "sudo rm -rf /var/cache/app/tmp", mode: dry-run}
"""

pytestmark = pytest.mark.skipif(not os.path.exists(BINARY), reason="prometheus-alertmanager is not installed (make deps)")


def events_of(c, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return c.request("GET", "/v1/events?" + qs).json()["events"]


def test_alertmanager_webhook_is_classified(services, tmp_path):
    c = start_classifier(services, tmp_path, {"nginx.yaml": RULE})
    am = Alertmanager(tmp_path, webhook_url=c.url + "/v1/events/alertmanager", token_file=tmp_path / "api-token")
    am.start()
    try:
        labels = {"alertname": "ServiceDown", "instance": "web-01:9100", "service": "nginx", "severity": "critical"}
        am.post_alert(labels, {"summary": "nginx is down on web-01"})
        evs = wait_for(lambda: [e for e in events_of(c) if e["event_type"] == "ServiceDown"], 30,
                       what="the alert classified")
        e = evs[0]
        assert e["source"] == "alertmanager" and e["entity"] == "web-01" and e["state"] == "open"
        assert e["title"] == "nginx is down on web-01" and e["severity"] == "critical"
        assert e["tags"]["service"] == "nginx"
        assert e["decisions"][0]["rule"] == "nginx-down-restart" and e["decisions"][0]["targets"] == ["web-01"]
        fp = e["source_id"]
        assert fp == am.alerts()[0]["fingerprint"]

        # A rule file dropped into the directory classifies the next alert, without a restart.
        (tmp_path / "rules" / "disk.yaml").write_text(DISK_RULE)
        wait_for(lambda: any(r["name"] == "disk-full-clean" for r in c.request("GET", "/v1/rules").json()["rules"]),
                 10, what="disk rule loaded")
        am.post_alert({"alertname": "DiskFull", "instance": "db-01:9100", "severity": "warning"},
                      {"summary": "disk full"})
        disk = wait_for(lambda: [e for e in events_of(c) if e["event_type"] == "DiskFull"], 30, what="disk alert")
        assert disk[0]["decisions"][0]["rule"] == "disk-full-clean" and disk[0]["decisions"][0]["mode"] == "dry-run"

        # Resolved in Alertmanager: the classifier sees the same problem resolved.
        am.resolve(labels, {"summary": "nginx is down on web-01"})
        res = wait_for(lambda: [e for e in events_of(c, source_id=fp) if e["state"] == "resolved"], 30,
                       what="the resolution")
        assert res[0]["source_id"] == fp
        # Alertmanager's repeats of an unchanged group are duplicates, not new actions.
        acted = [e for e in events_of(c, source_id=fp) if e["state"] == "open"]
        assert len(acted) == 1
    finally:
        am.stop()
