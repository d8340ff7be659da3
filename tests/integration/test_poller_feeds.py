"""reflex-poller against local fakes of Dynatrace, OpsGenie and Icinga 2 (their published API shapes), forwarding to a
real reflex-classifier: paging, details, TLS, handled problems, and resolutions of problems that disappear."""
import time

from fake_feeds import (FakeDynatrace, FakeIcinga, FakeOpsGenie, classifier_events, dynatrace_problem, icinga_host,
                        icinga_service, make_tls, metric, opsgenie_alert, received, secret_file, start_poller,
                        wait_delivered, wait_polls)
from harness import start_classifier, wait_for

FAST = {"interval": "300ms", "timeout": "2s", "backoff_min": "200ms", "backoff_max": "1s"}


def test_dynatrace_pages_and_resolutions(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    dt = FakeDynatrace(token="dt-secret").start()
    try:
        probs = [dynatrace_problem(f"P-{i}", title=f"CPU saturation {i}", entity=f"web-{i:02d}",
                                   tags={"env": "prod", "team": "web"}) for i in range(7)]
        dt.add(*probs)
        feed = {"name": "dt-prod", "type": "dynatrace", "url": dt.url + "/",
                "token_file": secret_file(tmp_path, "dt-token", "dt-secret"), "page_size": 3, **FAST}
        p = start_poller(services, tmp_path / "p", c.url, [feed])
        ids = [x["problemId"] for x in probs]
        wait_for(lambda: sorted(s for s, _ in received(c, "dynatrace")) == sorted(ids), 20, what="7 problems")

        e = classifier_events(c, source_id=ids[3])[0]
        assert e["entity"] == "web-03" and e["title"] == "CPU saturation 3" and e["event_type"] == "CPU_SATURATED"
        assert e["tags"]["env"] == "prod" and e["raw"]["displayId"] == "P-3"

        # Three pages: the first with the selector, the next two with nextPageKey (and fields) only.
        first = [r for r in dt.requests_to("/api/v2/problems") if "nextPageKey" not in r.query]
        follow = [r for r in dt.requests_to("/api/v2/problems") if "nextPageKey" in r.query]
        assert first[0].q("problemSelector") == 'status("open")' and first[0].q("pageSize") == "3"
        assert first[0].q("fields") == "evidenceDetails" and first[0].q("from")
        assert follow and all(set(r.query) == {"nextPageKey", "fields"} for r in follow)
        assert all(r.headers["authorization"] == "Api-Token dt-secret" for r in dt.requests)
        assert len(follow) >= 2 * len(first) - 2

        # Closed in Dynatrace: gone from status("open"), so forwarded as resolved, once; the rest untouched.
        dt.close(ids[1])
        dt.remove(ids[5])
        wait_for(lambda: sorted(s for s, st in received(c, "dynatrace") if st == "resolved") ==
                 sorted([ids[1], ids[5]]), 20, what="two resolutions")
        wait_polls(p, "dt-prod", 3)
        got = received(c, "dynatrace")
        assert len(got) == 9 and len(set(got)) == 9, got
        assert metric(p, "reflex_poller_problems", feed="dt-prod") == 5
        assert metric(p, "reflex_poller_last_success_timestamp_seconds", feed="dt-prod") > time.time() - 30
        assert metric(p, "reflex_poller_poll_errors_total", feed="dt-prod") == 0
    finally:
        dt.stop()


def test_opsgenie_details_fetched_once_per_change(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    og = FakeOpsGenie(key="genie-key").start()
    try:
        alerts = [opsgenie_alert(f"Disk full on db-0{i}", entity="", priority="P3", tags=["env:prod", "disk"],
                                 details={"host": f"db-0{i}", "event_type": "DiskFull"},
                                 created_ms=int(time.time() * 1000) - 60000 + i) for i in range(5)]
        og.add(*alerts)
        feed = {"name": "og", "type": "opsgenie", "url": og.url,
                "token_file": secret_file(tmp_path, "og-key", "genie-key"), "page_size": 2, **FAST}
        p = start_poller(services, tmp_path / "p", c.url, [feed])
        wait_for(lambda: len(received(c, "opsgenie")) == 5, 20, what="5 alerts")
        e = classifier_events(c, source_id=alerts[2]["id"])[0]
        # entity and event_type come from the details, which the list form does not carry
        assert e["entity"] == "db-02" and e["event_type"] == "DiskFull" and e["severity"] == "P3"
        assert e["tags"] == {"env": "prod", "disk": ""}

        lists = og.requests_to("/v2/alerts")
        lists = [r for r in lists if r.path == "/v2/alerts"]
        assert lists[0].q("query") == "status:open" and lists[0].q("limit") == "2" and lists[0].q("offset") == "0"
        assert {r.q("offset") for r in lists} >= {"0", "2", "4"}
        assert all(r.headers["authorization"] == "GenieKey genie-key" for r in og.requests)

        # Details once per alert, however many polls
        wait_polls(p, "og", 3)
        assert all(len(og.detail_requests(a["id"])) == 1 for a in alerts)

        # An update (new updatedAt) is fetched again, only that one; a close resolves it
        og.update(alerts[0]["id"], priority="P1", details={"host": "db-00", "event_type": "DiskFull"})
        p.wait_log(msg="problem queued", source_id=alerts[0]["id"], change="changed", timeout=15)
        assert len(og.detail_requests(alerts[0]["id"])) == 2
        assert all(len(og.detail_requests(a["id"])) == 1 for a in alerts[1:])
        og.close(alerts[4]["id"])
        wait_for(lambda: (alerts[4]["id"], "resolved") in received(c, "opsgenie"), 15, what="resolution")
        assert len(og.detail_requests(alerts[4]["id"])) == 1  # gone from status:open, no need to ask
        # A deleted alert (404 on details) between list and details does not fail the poll.
        late = opsgenie_alert("Late alert", details={"host": "db-09"})
        og.add(late)
        wait_for(lambda: (late["id"], "open") in received(c, "opsgenie"), 15, what="late alert")
        assert metric(p, "reflex_poller_poll_errors_total", feed="og") == 0
    finally:
        og.stop()


def test_icinga_tls_and_handled_problems(services, tmp_path):
    ca, cert, key = make_tls(tmp_path / "tls")
    c = start_classifier(services, tmp_path / "c")
    ic = FakeIcinga(user="reflex", password="s3cret", tls=(cert, key)).start()
    try:
        ic.add(icinga_service("web-01", "http", state=2, vars={"team": "web"}),
               icinga_service("web-01", "load", state=0),
               icinga_service("db-01", "disk", state=1, handled=True),
               icinga_host("db-02", state=1))
        base = {"type": "icinga", "url": ic.url, "username": "reflex",
                "token_file": secret_file(tmp_path, "ic-pass", "s3cret"), **FAST}
        good = {"name": "icinga", "ca_file": ca, **base}
        untrusted = {"name": "icinga-untrusted", **base}  # the system store does not know the test CA
        p = start_poller(services, tmp_path / "p", c.url, [good, untrusted])
        wait_for(lambda: sorted(received(c, "icinga")) == [("db-02", "open"), ("web-01!http", "open")], 20,
                 what="two unhandled problems")
        e = classifier_events(c, source_id="web-01!http")[0]
        assert e["entity"] == "web-01" and e["event_type"] == "http" and e["severity"] == "critical"
        assert e["tags"]["team"] == "web"
        svc_req = [r for r in ic.requests_to("/v1/objects/services")]
        assert svc_req[0].q("filter") == "service.state != 0"
        assert "last_check_result" in svc_req[0].query["attrs"]
        assert ic.requests_to("/v1/objects/hosts")[0].q("filter") == "host.state != 0"

        wait_for(lambda: metric(p, "reflex_poller_poll_errors_total", feed="icinga-untrusted") >= 1, 10,
                 what="the untrusted feed failing")
        failed = p.wait_log(msg="poll failed", feed="icinga-untrusted")
        assert "s3cret" not in p.stdout()

        # Acknowledged while open: not a recovery. Recovered: resolved. Unacknowledged again: nothing new.
        ic.set_state("web-01!http", 2, handled=True)
        wait_polls(p, "icinga", 2)
        ic.set_state("db-02", 0)
        wait_for(lambda: ("db-02", "resolved") in received(c, "icinga"), 15, what="host recovery")
        ic.set_state("web-01!http", 2, handled=False)
        wait_polls(p, "icinga", 2)
        assert sorted(received(c, "icinga")) == [("db-02", "open"), ("db-02", "resolved"), ("web-01!http", "open")]
        assert metric(p, "reflex_poller_poll_errors_total", feed="icinga") == 0
        assert failed["type"] == "icinga"
    finally:
        ic.stop()
