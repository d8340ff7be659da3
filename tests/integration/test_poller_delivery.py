"""reflex-poller's delivery to the classifier: nothing forwarded twice across restarts (clean or killed), everything
seen while the classifier is down arrives once and in order, and a 4xx drops the problem with a counter."""
from fake_feeds import (FakeDynatrace, RecordingClassifier, dynatrace_problem, metric, received, secret_file,
                        start_poller, wait_delivered, wait_polls)
from harness import free_port, start_classifier, wait_for

FAST = {"interval": "250ms", "timeout": "2s", "backoff_min": "200ms", "backoff_max": "1s"}


def dt_feed(tmp_path, dt):
    return {"name": "dt", "type": "dynatrace", "url": dt.url, "token_file": secret_file(tmp_path, "dt-token", "dt"),
            "page_size": 2, **FAST}


def test_restart_forwards_nothing_twice(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    dt = FakeDynatrace(token="dt").start()
    try:
        probs = [dynatrace_problem(f"P-{i}", entity=f"web-{i}") for i in range(5)]
        ids = [p["problemId"] for p in probs]
        dt.add(*probs)
        p = start_poller(services, tmp_path / "p", c.url, [dt_feed(tmp_path, dt)])
        wait_for(lambda: len(received(c)) == 5, 15, what="five problems")
        wait_delivered(p)

        # Clean restart, with one problem closed and one opened while the poller was down.
        p.stop()
        dt.remove(ids[0])
        new = dynatrace_problem("P-9", entity="web-9")
        dt.add(new)
        p.start()
        wait_polls(p, "dt", 3)
        wait_delivered(p)
        want = sorted([(i, "open") for i in ids] + [(ids[0], "resolved"), (new["problemId"], "open")])
        assert sorted(received(c)) == want

        # Killed (SIGKILL) right after a poll found something: the next start neither loses nor repeats it.
        dt.remove(ids[1])
        wait_for(lambda: (ids[1], "resolved") in received(c), 10, what="resolution before the kill")
        wait_delivered(p)
        p.kill9()
        p.start()
        wait_polls(p, "dt", 3)
        wait_delivered(p)
        got = received(c)
        assert sorted(got) == sorted(want + [(ids[1], "resolved")]), got
    finally:
        dt.stop()


def test_classifier_down_then_back(services, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dt = FakeDynatrace(token="dt").start()
    try:
        a, b = dynatrace_problem("P-A", entity="a"), dynatrace_problem("P-B", entity="b")
        dt.add(a, b)
        p = start_poller(services, tmp_path / "p", url, [dt_feed(tmp_path, dt)])
        wait_for(lambda: metric(p, "reflex_poller_outbox_pending") == 2, 10, what="two waiting")
        # Meanwhile A is closed and C opens: four records, in the order the polls saw them.
        dt.remove(a["problemId"])
        cc = dynatrace_problem("P-C", entity="c")
        dt.add(cc)
        wait_for(lambda: metric(p, "reflex_poller_outbox_pending") == 4, 10, what="four waiting")
        assert metric(p, "reflex_poller_forward_errors_total") >= 1
        p.wait_log(msg="classifier did not take the problem, will retry")

        c = start_classifier(services, tmp_path / "c", port=port)
        wait_delivered(p, 15)
        assert received(c) == [(a["problemId"], "open"), (b["problemId"], "open"), (cc["problemId"], "open"),
                               (a["problemId"], "resolved")]
        assert metric(p, "reflex_poller_forwarded_total") == 4
        p.wait_log(msg="classifier takes problems again")
        wait_polls(p, "dt", 2)
        assert len(received(c)) == 4
    finally:
        dt.stop()


def test_classifier_4xx_drops_and_5xx_retries(services, tmp_path):
    rc = RecordingClassifier(token="test-token").start()
    dt = FakeDynatrace(token="dt").start()
    try:
        bad, good = dynatrace_problem("P-BAD", entity="x"), dynatrace_problem("P-GOOD", entity="y")
        rc.status_for = lambda ev: 422 if ev["source_id"] == bad["problemId"] else 202
        rc.fail("503", count=3)
        dt.add(bad, good)
        p = start_poller(services, tmp_path / "p", rc.url, [dt_feed(tmp_path, dt)])
        wait_for(lambda: rc.events and metric(p, "reflex_poller_forward_dropped_total") == 1, 15,
                 what="one delivered, one dropped")
        wait_delivered(p)
        assert [e["source_id"] for e in rc.events] == [good["problemId"]]
        assert metric(p, "reflex_poller_forward_dropped_total") == 1
        assert metric(p, "reflex_poller_forward_errors_total") == 3
        log = p.wait_log(msg="problem refused by the classifier, dropped", source_id=bad["problemId"])
        assert log["status"] == "422" and log["feed"] == "dt" and log["state"] == "open"
        # The bearer token from classifier_token_file, and an already normalized event with its raw payload
        posts = [r for r in rc.requests if r.method == "POST"]
        assert posts and all(r.path == "/v1/events" and r.headers["authorization"] == "Bearer test-token"
                             for r in posts)
        ev = rc.events[0]
        assert ev["source"] == "dynatrace" and ev["state"] == "open" and len(ev["id"]) == 26
        assert ev["raw"]["problemId"] == good["problemId"]
        wait_polls(p, "dt", 2)
        assert len(rc.events) == 1 and metric(p, "reflex_poller_forward_dropped_total") == 1
    finally:
        dt.stop()
        rc.stop()
