"""The reflex command line: rules check, rules test, send."""
import json
import subprocess

from harness import BIN, ROOT, start_classifier

GOOD = """
name: restart-nginx
match: {event_type: ServiceDown, tags: {service: nginx}}
action: {type: ssh, command: "sudo systemctl restart {{tags.service}}", verify: "systemctl is-active {{tags.service}}"}
"""
BROKEN = """name: broken-rule
match:
  event_type: X
action:
  type: teleport
"""


def reflex(*args, env=None, input=None):
    return subprocess.run([str(BIN / "reflex"), *args], capture_output=True, text=True, env=env, input=input,
                          timeout=30)


def test_help_and_version():
    r = reflex("--help")
    assert r.returncode == 0 and "rules" in r.stdout and "send" in r.stdout
    assert reflex("--version").stdout.startswith("reflex ")
    r = reflex("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr
    assert reflex("rules", "--help").returncode == 0


def test_rules_check(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    r = reflex("rules", "check", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rules OK in 1 files" in r.stdout
    (tmp_path / "broken.yaml").write_text(BROKEN)
    r = reflex("rules", "check", str(tmp_path))
    assert r.returncode == 1
    # file:line:column: key: reason, pointing at the bad value.
    assert f"{tmp_path}/broken.yaml:5:9: action.type:" in r.stdout, r.stdout
    # The classifier binary prints the same.
    r2 = subprocess.run([str(BIN / "reflex-classifier"), "--check-rules", str(tmp_path)], capture_output=True,
                        text=True)
    assert r2.returncode == 1 and r2.stdout == r.stdout


def test_example_rules_are_valid():
    r = reflex("rules", "check", str(ROOT / "rules"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_rules_test_prints_the_command(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    ev = tmp_path / "ev.json"
    ev.write_text(json.dumps({"source_id": "x", "title": "t", "entity": "web-01", "event_type": "ServiceDown",
                              "tags": {"service": "nginx"}}))
    r = reflex("rules", "test", "--rules", str(tmp_path), "--event", str(ev))
    assert r.returncode == 0, r.stderr
    assert "rule restart-nginx" in r.stdout and "command: sudo systemctl restart 'nginx'" in r.stdout
    r = reflex("rules", "test", "--rules", str(tmp_path), "--event", str(ev), "--json")
    out = json.loads(r.stdout)
    assert out[0]["rules"][0]["action"]["targets"] == ["web-01"]
    # An Alertmanager payload through its own normalizer.
    am = ROOT / "examples" / "events" / "alertmanager-nginx-down.json"
    r = reflex("rules", "test", "--rules", str(tmp_path), "--source", "alertmanager", "--event", str(am))
    assert r.returncode == 0 and "rule restart-nginx" in r.stdout and "on: 127.0.0.1" in r.stdout


def test_send(services, tmp_path):
    c = start_classifier(services, tmp_path, {"good.yaml": GOOD})
    env = {"REFLEX_URL": c.url, "REFLEX_TOKEN_FILE": str(tmp_path / "api-token"), "PATH": "/usr/bin:/bin"}
    am = ROOT / "examples" / "events" / "alertmanager-nginx-down.json"
    r = reflex("send", "--source", "alertmanager", str(am), env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["events"][0]["decisions"][0]["rule"] == "restart-nginx"
    # From stdin, generic JSON.
    r = reflex("send", "-", env=env, input=json.dumps({"title": "x", "event_type": "Other"}))
    assert r.returncode == 0 and json.loads(r.stdout)["events"][0]["decisions"][0]["status"] == "investigate"
    # A refused request: exit 1 and the server's message.
    r = reflex("send", "-", env=env, input="{oops")
    assert r.returncode == 1 and "invalid_json" in r.stderr
    bad = dict(env, REFLEX_TOKEN_FILE=str(tmp_path / "nope"))
    (tmp_path / "nope").write_text("wrong\n")
    r = reflex("send", str(am), env=bad)
    assert r.returncode == 1 and "401" in r.stderr
