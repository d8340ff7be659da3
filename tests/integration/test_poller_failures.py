"""reflex-poller when feeds misbehave: 429 with Retry-After, 500, malformed JSON, a server that never answers, a wrong
token; one broken feed never silences the others, and each recovers by itself."""
import time

from fake_feeds import (FakeDynatrace, FakeOpsGenie, dynatrace_problem, metric, opsgenie_alert, received, secret_file,
                        start_poller, wait_polls)
from harness import start_classifier, wait_for

FAST = {"interval": "250ms", "timeout": "1s", "backoff_min": "200ms", "backoff_max": "800ms"}


def errors(p, feed):
    return metric(p, "reflex_poller_poll_errors_total", feed=feed)


def test_failing_feed_does_not_silence_the_others(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    dt = FakeDynatrace(token="dt").start()
    og = FakeOpsGenie(key="og").start()
    try:
        dt.add(dynatrace_problem("P-1", entity="web-01"))
        og.add(opsgenie_alert("first", details={"host": "db-01"}))
        feeds = [{"name": "dt", "type": "dynatrace", "url": dt.url, "token_file": secret_file(tmp_path, "t1", "dt"),
                  **FAST},
                 {"name": "og", "type": "opsgenie", "url": og.url, "token_file": secret_file(tmp_path, "t2", "og"),
                  **FAST}]
        p = start_poller(services, tmp_path / "p", c.url, feeds)
        wait_for(lambda: len(received(c)) == 2, 15, what="both feeds forwarding")

        # Dynatrace never answers: its polls time out, OpsGenie carries on meanwhile.
        dt.fail("hang")
        wait_for(lambda: errors(p, "dt") >= 2, 15, what="dynatrace timing out")
        log = p.wait_log(msg="poll failed", feed="dt", status="timed out")
        assert "127.0.0.1" in log["error"] and int(log["retry_in_ms"]) >= 250
        second = opsgenie_alert("second", details={"host": "db-02"})
        og.add(second)
        wait_for(lambda: (second["id"], "open") in received(c, "opsgenie"), 10, what="opsgenie during the outage")
        assert errors(p, "og") == 0

        # Malformed JSON, then 500s: errors, backoff, and recovery without losing or repeating anything.
        dt.fail("malformed")
        wait_for(lambda: p.wait_log(msg="poll failed", feed="dt", status="parse error"), 10)
        log = p.wait_log(msg="poll failed", feed="dt", status="parse error")
        assert "malformed JSON" in log["error"]
        dt.fail("500", count=2)
        dt.add(dynatrace_problem("P-2", entity="web-02"))
        wait_for(lambda: len(received(c, "dynatrace")) == 2, 15, what="dynatrace back")
        assert p.wait_log(msg="poll failed", feed="dt", status="unavailable")["error"].endswith("HTTP 500")
        wait_polls(p, "dt", 2)
        got = received(c)
        assert len(got) == len(set(got)) == 4, got
        assert metric(p, "reflex_poller_last_success_timestamp_seconds", feed="dt") > time.time() - 10
    finally:
        dt.stop()
        og.stop()


def test_429_retry_after_is_honoured(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    dt = FakeDynatrace(token="dt").start()
    try:
        dt.add(dynatrace_problem("P-1"))
        feed = {"name": "dt", "type": "dynatrace", "url": dt.url, "token_file": secret_file(tmp_path, "t", "dt"),
                **FAST}
        p = start_poller(services, tmp_path / "p", c.url, [feed])
        wait_for(lambda: len(received(c)) == 1, 10, what="first poll")
        dt.fail("429", count=1, retry_after=2)
        wait_for(lambda: errors(p, "dt") == 1, 10, what="the 429")
        limited = dt.requests[-1].at
        log = p.wait_log(msg="poll failed", feed="dt", status="limit exceeded")
        assert log["error"].endswith("HTTP 429") and int(log["retry_in_ms"]) >= 2000
        wait_polls(p, "dt", 1)
        after = [r.at for r in dt.requests if r.at > limited]
        assert after and after[0] - limited >= 1.9, after[0] - limited
        assert errors(p, "dt") == 1
    finally:
        dt.stop()


def test_wrong_token_then_rotated(services, tmp_path):
    c = start_classifier(services, tmp_path / "c")
    og = FakeOpsGenie(key="right-key").start()
    try:
        og.add(opsgenie_alert("disk full", details={"host": "db-01"}))
        tok = secret_file(tmp_path, "og-key", "wrong-key")
        p = start_poller(services, tmp_path / "p", c.url,
                         [{"name": "og", "type": "opsgenie", "url": og.url, "token_file": tok, **FAST}])
        log = p.wait_log(msg="poll failed", feed="og", status="authentication failed", timeout=10)
        assert log["error"].endswith("HTTP 401")
        assert "wrong-key" not in p.stdout() and "wrong-key" not in p.stderr()
        assert received(c) == []
        # The token file is read on every poll: rotating it needs no restart.
        secret_file(tmp_path, "og-key", "right-key")
        wait_for(lambda: len(received(c)) == 1, 10, what="poll with the rotated key")
    finally:
        og.stop()
