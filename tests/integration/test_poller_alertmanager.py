"""reflex-poller against a real Prometheus Alertmanager (the Debian package): alerts posted to it, resolved and
silenced; the poller forwards exactly the right events to a real reflex-classifier."""
import os

import pytest

from alertmanager import BINARY, Alertmanager
from fake_feeds import classifier_events, metric, received, start_poller, wait_delivered, wait_polls
from harness import start_classifier, wait_for

pytestmark = pytest.mark.skipif(not os.path.exists(BINARY), reason="prometheus-alertmanager is not installed (make deps)")

FAST = {"interval": "250ms", "timeout": "2s", "backoff_min": "200ms", "backoff_max": "1s"}


def fingerprint(am, **labels):
    for a in am.alerts(silenced="true", inhibited="true"):
        if all(a["labels"].get(k) == v for k, v in labels.items()):
            return a["fingerprint"]
    raise AssertionError(f"no alert {labels}")


def test_alertmanager_alerts_resolved_and_silenced(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    am = Alertmanager(tmp_path).start()
    try:
        nginx = {"alertname": "ServiceDown", "instance": "web-01:9100", "service": "nginx", "severity": "critical",
                 "env": "prod"}
        disk = {"alertname": "DiskFull", "instance": "db-01:9100", "severity": "warning", "env": "prod"}
        staging = {"alertname": "ServiceDown", "instance": "stage-01:9100", "env": "staging"}
        am.post_alert(nginx, {"summary": "nginx is down on web-01"}, generator_url="http://prometheus:9090/graph")
        am.post_alert(disk, {"summary": "disk full on db-01"})
        am.post_alert(staging, {"summary": "staging is down"})
        feed = {"name": "am", "type": "alertmanager", "url": am.url, "query": '{env="prod", severity=~"critical|warning"}',
                **FAST}
        p = start_poller(services, tmp_path / "p", c.url, [feed])
        fp_nginx, fp_disk = fingerprint(am, **nginx), fingerprint(am, **disk)
        wait_for(lambda: sorted(received(c)) == sorted([(fp_nginx, "open"), (fp_disk, "open")]), 15,
                 what="the two prod alerts")
        e = classifier_events(c, source_id=fp_nginx)[0]
        assert e["source"] == "alertmanager" and e["entity"] == "web-01" and e["event_type"] == "ServiceDown"
        assert e["title"] == "nginx is down on web-01" and e["severity"] == "critical" and e["tags"]["service"] == "nginx"
        assert e["url"] == "http://prometheus:9090/graph"

        # Silenced: not resolved, nothing forwarded. Resolved in Alertmanager: forwarded as resolved, once.
        sid = am.silence({"alertname": "DiskFull"})
        am.wait_alert_state(disk, "suppressed")
        am.resolve(nginx, {"summary": "nginx is down on web-01"})
        wait_for(lambda: (fp_nginx, "resolved") in received(c), 15, what="the resolution")
        wait_polls(p, "am", 3)
        assert sorted(received(c)) == sorted([(fp_nginx, "open"), (fp_disk, "open"), (fp_nginx, "resolved")])

        # A new alert that is silenced from the start is never forwarded; one that fires again is new again.
        am.post_alert({"alertname": "DiskFull", "instance": "db-02:9100", "severity": "warning", "env": "prod"},
                      {"summary": "disk full on db-02"})
        am.post_alert(nginx, {"summary": "nginx is down on web-01"})
        wait_for(lambda: received(c).count((fp_nginx, "open")) == 2, 15, what="nginx firing again")
        wait_polls(p, "am", 3)
        got = received(c)
        assert [s for s, _ in got].count(fp_disk) == 1 and len(got) == 4, got

        # Silence expired: db-01's alert was forwarded before it was silenced, so nothing new; db-02's never was,
        # so it is new now. Resolved: once.
        am.expire_silence(sid)
        am.wait_alert_state(disk, "active")
        fp_db02 = fingerprint(am, instance="db-02:9100")
        wait_for(lambda: (fp_db02, "open") in received(c), 15, what="db-02 after the silence")
        wait_polls(p, "am", 3)
        assert len(received(c)) == 5
        am.resolve(disk, {"summary": "disk full on db-01"})
        wait_for(lambda: (fp_disk, "resolved") in received(c), 15, what="disk resolved")
        wait_delivered(p)
        assert metric(p, "reflex_poller_poll_errors_total", feed="am") == 0
    finally:
        am.stop()


def test_alertmanager_include_silenced(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    am = Alertmanager(tmp_path).start()
    try:
        labels = {"alertname": "DiskFull", "instance": "db-01:9100", "severity": "warning"}
        am.silence({"alertname": "DiskFull"})
        am.post_alert(labels, {"summary": "disk full"})
        am.wait_alert_state(labels, "suppressed")
        quiet = {"name": "quiet", "type": "alertmanager", "url": am.url, **FAST}
        loud = {"name": "loud", "type": "alertmanager", "url": am.url, "include_silenced": True, **FAST}
        p = start_poller(services, tmp_path / "p", c.url, [quiet], name="quiet")
        p2 = start_poller(services, tmp_path / "p2", c.url, [loud], name="loud")
        fp = fingerprint(am, **labels)
        wait_for(lambda: received(c) == [(fp, "open")], 15, what="the silenced alert through include_silenced")
        wait_polls(p, "quiet", 3)
        assert metric(p, "reflex_poller_problems_queued_total", feed="quiet", state="open") == 0
        assert metric(p2, "reflex_poller_problems_queued_total", feed="loud", state="open") == 1
    finally:
        am.stop()
