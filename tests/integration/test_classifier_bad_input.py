"""Bad input gets a clear JSON error, changes nothing else, and the classifier keeps classifying."""
import subprocess

from harness import http, start_classifier

RULES = {"r.yaml": """
name: restart-service
match:
  event_type: ServiceDown
action:
  type: ssh
  command: "sudo systemctl restart {{tags.service}}"
  targets: ["{{entity}}"]
"""}


def error_of(r, status, code):
    assert r.status == status, r
    assert r.headers["content-type"].startswith("application/json"), r.headers
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["message"], err
    return err


def still_classifies(c, sid="after"):
    r = c.request("POST", "/v1/events", {"source_id": sid, "title": "t", "entity": "web-09",
                                         "event_type": "ServiceDown", "tags": {"service": "nginx"}})
    assert r.status == 202, r
    assert r.json()["events"][0]["decisions"][0]["rule"] == "restart-service"


def test_http_level_errors(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    error_of(c.request("POST", "/v1/events", b"{not json", {"Content-Type": "application/json"}), 400, "invalid_json")
    error_of(c.request("POST", "/v1/events", b'{"title": "x"}', {"Content-Type": "text/plain"}), 415,
             "unsupported_media_type")
    big = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert c.request("POST", "/v1/events", big, {"Content-Type": "application/json"}).status == 413
    error_of(c.request("POST", "/v1/events", {"title": "x"}, token=""), 401, "unauthorized")
    error_of(c.request("POST", "/v1/events", {"title": "x"}, token="wrong-token"), 401, "unauthorized")
    error_of(c.request("GET", "/v1/nothing-here"), 404, "not_found")
    error_of(c.request("DELETE", "/v1/events"), 405, "method_not_allowed")
    error_of(c.request("POST", "/v1/events/zabbix", {"title": "x"}), 404, "unknown_source")
    error_of(c.request("GET", "/v1/events/01JNOSUCHEVENT0000000000000"), 404, "not_found")
    error_of(c.request("GET", "/v1/events?limit=0"), 400, "invalid_parameter")
    deep = b"[" * 100000 + b"]" * 100000
    error_of(c.request("POST", "/v1/events", deep, {"Content-Type": "application/json"}), 400, "invalid_json")
    still_classifies(c)


def test_event_level_errors_name_the_field(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    err = error_of(c.request("POST", "/v1/events", {"title": "x", "state": "exploded"}), 400, "invalid_event")
    assert err.get("field") == "state"
    error_of(c.request("POST", "/v1/events", {"nothing": "useful"}), 400, "invalid_event")
    error_of(c.request("POST", "/v1/events/alertmanager", {"alerts": "not-a-list"}), 400, "invalid_event")
    error_of(c.request("POST", "/v1/events", []), 400, "invalid_event")
    # Nothing of the refused requests is in the history.
    assert c.request("GET", "/v1/events").json()["events"] == []
    still_classifies(c)


def shell_roundtrip(quoted):
    """What a POSIX shell makes of the quoted argument."""
    return subprocess.run(["sh", "-c", "printf %s " + quoted], capture_output=True, check=True).stdout.decode()


def test_hostile_field_values_stay_inert(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    values = ["nginx'; touch /tmp/reflex-pwned #", "$(touch /tmp/reflex-pwned)", "`id`", 'a"b\\c',
              "two words\nnext line", "x && reboot", "it's"]
    for i, v in enumerate(values):
        r = c.request("POST", "/v1/rules/test", {"source_id": f"h{i}", "title": v, "entity": "web-01",
                                                 "event_type": "ServiceDown", "tags": {"service": v}})
        assert r.status == 200, r
        cmd = r.json()["events"][0]["decisions"][0]["action"]["command"]
        prefix = "sudo systemctl restart "
        assert cmd.startswith(prefix)
        assert shell_roundtrip(cmd[len(prefix):]) == v
    # Logged values stay on one line each.
    r = c.request("POST", "/v1/events", {"source_id": "nl", "title": "a\nb", "entity": "web-01\nlevel=error",
                                         "event_type": "Other"})
    assert r.status == 202
    rec = c.wait_log(msg="event classified", source_id="nl")
    assert rec["entity"] == "web-01\nlevel=error" and rec["level"] == "info"
    still_classifies(c)


def test_invalid_target_is_an_error_decision_not_a_command(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    r = c.request("POST", "/v1/events", {"source_id": "bad-target", "title": "t", "entity": "web-01; rm -rf /",
                                         "event_type": "ServiceDown", "tags": {"service": "nginx"}})
    assert r.status == 202
    d = r.json()["events"][0]["decisions"][0]
    assert d["status"] == "error" and "target" in d["reason"]


def test_non_utf8_bytes_are_replaced(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    body = b'{"source_id": "bin", "title": "bad \xff\xfe bytes", "entity": "web-01", "event_type": "X"}'
    r = c.request("POST", "/v1/events", body, {"Content-Type": "application/json"})
    assert r.status == 202, r
    got = c.request("GET", f"/v1/events/{r.json()['events'][0]['id']}").json()
    assert got["title"] == "bad \ufffd\ufffd bytes"
    still_classifies(c)


def test_health_and_readiness_are_open(services, tmp_path):
    c = start_classifier(services, tmp_path, RULES)
    assert http("GET", c.url + "/healthz").status == 200
    assert http("GET", c.url + "/readyz").status == 200
