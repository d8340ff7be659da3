"""Rules directory: one broken file among good ones, last good version kept, hot reload without a restart."""
import os
import time

from harness import start_classifier, wait_for

GOOD_A = """
name: rule-a
match: {event_type: TypeA}
action: {type: ssh, command: "echo a"}
"""
GOOD_B = """
name: rule-b
match: {event_type: TypeB}
action: {type: ssh, command: "echo b"}
"""
BROKEN_SYNTAX = """
name: rule-c
match: {event_type: TypeC
action: {type: ssh, command: "echo c"}
"""
BROKEN_VALUE = """
name: rule-a
match:
  event_type: TypeA
  severity: {glob: "x", regex: "y"}
action: {type: ssh, command: "echo a2"}
"""


def rules_of(c):
    j = c.request("GET", "/v1/rules").json()
    return sorted(r["name"] for r in j["rules"]), j["errors"]


def fired(c, event_type, sid):
    r = c.request("POST", "/v1/events", {"source_id": sid, "title": "t", "entity": "h1", "event_type": event_type})
    assert r.status == 202, r
    return [d["rule"] for d in r.json()["events"][0]["decisions"]]


def test_broken_file_among_good_ones(services, tmp_path):
    c = start_classifier(services, tmp_path, {"a.yaml": GOOD_A, "b.yml": GOOD_B, "c.yaml": BROKEN_SYNTAX})
    names, errors = rules_of(c)
    assert names == ["rule-a", "rule-b"]
    assert len(errors) == 1
    e = errors[0]
    assert e["file"].endswith("c.yaml") and e["line"] >= 3 and e["column"] >= 1 and e["message"]
    rec = c.wait_log(msg="rule file rejected")
    assert rec["file"].endswith("c.yaml") and rec["level"] == "error" and rec["line"] == str(e["line"])
    assert fired(c, "TypeA", "1") == ["rule-a"]
    assert fired(c, "TypeB", "2") == ["rule-b"]


def test_last_good_version_stays_active_and_hot_reload(services, tmp_path):
    c = start_classifier(services, tmp_path, {"a.yaml": GOOD_A})
    rules_dir = tmp_path / "rules"
    assert fired(c, "TypeA", "1") == ["rule-a"]

    # Break the file: the error is reported, the last good rule-a keeps working.
    (rules_dir / "a.yaml").write_text(BROKEN_VALUE)
    def broken_reported():
        names, errors = rules_of(c)
        return names == ["rule-a"] and len(errors) == 1 and errors[0]["file"].endswith("a.yaml") and errors
    errors = wait_for(broken_reported, 10, what="the broken a.yaml reported")
    assert "match.severity" in errors[0]["message"] and errors[0]["line"] == 5
    assert fired(c, "TypeA", "2") == ["rule-a"]

    # A new file is picked up without a restart.
    (rules_dir / "b.yaml").write_text(GOOD_B)
    wait_for(lambda: "rule-b" in rules_of(c)[0], 10, what="rule-b loaded")
    assert fired(c, "TypeB", "3") == ["rule-b"]

    # Fixing the broken file clears the error; removing a file removes its rules.
    (rules_dir / "a.yaml").write_text(GOOD_A.replace("echo a", "echo fixed"))
    wait_for(lambda: rules_of(c)[1] == [], 10, what="error cleared")
    os.unlink(rules_dir / "b.yaml")
    wait_for(lambda: rules_of(c)[0] == ["rule-a"], 10, what="rule-b dropped")
    assert fired(c, "TypeB", "4") == [None]


def test_reload_endpoint(services, tmp_path):
    # A long periodic interval and a directory that inotify watches: the endpoint forces the reload.
    c = start_classifier(services, tmp_path, {"a.yaml": GOOD_A}, rules_check_interval="1h")
    (tmp_path / "rules" / "b.yaml").write_text(GOOD_B)
    r = c.request("POST", "/v1/rules/reload")
    assert r.status == 200, r
    j = r.json()
    assert j["rules"] == 2 and j["errors"] == 0 and j["trigger"] == "api"
    assert rules_of(c)[0] == ["rule-a", "rule-b"]
    c.wait_log(msg="rules reloaded", trigger="api")


def test_periodic_check_without_inotify_events(services, tmp_path):
    c = start_classifier(services, tmp_path, {"a.yaml": GOOD_A}, rules_check_interval="1s")
    # Replace the file's content while keeping size: the periodic check compares content, not only size.
    p = tmp_path / "rules" / "a.yaml"
    st = p.stat()
    p.write_text(GOOD_A.replace("TypeA", "TypeZ"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    wait_for(lambda: fired(c, "TypeZ", str(time.monotonic())) == ["rule-a"], 10, what="TypeZ rule active")
