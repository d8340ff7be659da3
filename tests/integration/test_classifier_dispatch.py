"""The classifier sends each action, signed with HMAC-SHA256, to the action handler; what it cannot deliver waits
in its durable outbox and arrives once, in order, when the handler is back (also across a classifier restart).
The handler here is a recording peer that checks signatures the way reflex-action-handler does."""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port, start_classifier, wait_for

KEY = b"k3y-with-trailing-space-removed"
RULES = {"r.yaml": """
name: restart-service
match: {event_type: ServiceDown}
action:
  type: ssh
  command: "sudo systemctl restart {{tags.service}}"
  verify: "systemctl is-active {{tags.service}}"
  on_success: {note: "restarted {{tags.service}}", close: true}
limits: {cooldown: 5m, max_attempts: 2, max_per_hour: 7, max_targets: 3}
"""}


class Recorder:
    """A minimal action-handler peer: 401 on a bad signature, else the configured answer."""

    def __init__(self, port=None, status=202):
        self.port = port or free_port()
        self.status = status
        self.received = []
        self.bad_signatures = 0
        rec = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sig = self.headers.get("X-Reflex-Signature", "")
                want = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(sig, want):
                    rec.bad_signatures += 1
                    self._answer(401, {"error": {"code": "bad_signature", "message": "signature mismatch"}})
                    return
                j = json.loads(body)
                rec.received.append((self.headers.get("Authorization"), j))
                if rec.status == 409:
                    self._answer(409, {"error": {"code": "cooldown", "message": "rule in cooldown for target"}})
                else:
                    self._answer(rec.status, {"action_id": j["action_id"], "state": "queued"})

            def _answer(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def classifier_with_handler(services, tmp_path, port, **cfg):
    (tmp_path / "hmac-key").write_bytes(KEY + b" \n")
    (tmp_path / "handler-token").write_text("handler-secret\n")
    return start_classifier(services, tmp_path, RULES, action_handler_url=f"http://127.0.0.1:{port}",
                            hmac_key_file=str(tmp_path / "hmac-key"),
                            action_handler_token_file=str(tmp_path / "handler-token"), **cfg)


def event(sid, service="nginx"):
    return {"source": "opsgenie", "source_id": sid, "title": "down", "entity": "web-01", "event_type": "ServiceDown",
            "tags": {"service": service}}


def test_signed_action_body(services, tmp_path):
    rec = Recorder()
    try:
        c = classifier_with_handler(services, tmp_path, rec.port)
        r = c.request("POST", "/v1/events", event("og-1", "nginx; reboot"))
        d = r.json()["events"][0]["decisions"][0]
        assert d["status"] == "dispatched", d
        assert rec.bad_signatures == 0 and len(rec.received) == 1
        auth, body = rec.received[0]
        assert auth == "Bearer handler-secret"
        assert body["action_id"] == d["action_id"] and body["event_id"] == r.json()["events"][0]["id"]
        assert body["source"] == "opsgenie" and body["source_id"] == "og-1" and body["rule"] == "restart-service"
        assert body["targets"] == ["web-01"] and body["type"] == "ssh" and body["mode"] == "enforce"
        assert body["command"] == "sudo systemctl restart 'nginx; reboot'"
        assert body["verify"] == "systemctl is-active 'nginx; reboot'"
        assert body["limits"] == {"cooldown": 300, "max_attempts": 2, "max_per_hour": 7, "max_targets": 3}
        assert body["on_success"]["close"] is True and body["on_success"]["note"] == "restarted nginx; reboot"
        assert len(body["rule_version"]) >= 8
        # The classifier never logs the HMAC key or the handler token.
        out = c.stdout() + c.stderr()
        assert KEY.decode() not in out and "handler-secret" not in out
    finally:
        rec.close()


def test_refusal_is_reported_with_reason(services, tmp_path):
    rec = Recorder(status=409)
    try:
        c = classifier_with_handler(services, tmp_path, rec.port)
        d = c.request("POST", "/v1/events", event("og-2")).json()["events"][0]["decisions"][0]
        assert d["status"] == "refused" and "cooldown" in d["reason"]
    finally:
        rec.close()


def test_outbox_keeps_actions_until_the_handler_returns(services, tmp_path):
    port = free_port()
    c = classifier_with_handler(services, tmp_path, port, dispatch_timeout="1s")
    ids = []
    for i in range(5):
        e = c.request("POST", "/v1/events", event(f"og-out-{i}")).json()["events"][0]
        assert e["decisions"][0]["status"] == "pending", e
        ids.append((e["id"], e["decisions"][0]["action_id"]))
    # Restart the classifier while the actions wait: the outbox is on disk.
    c.stop()
    c.start()
    rec = Recorder(port=port)
    try:
        wait_for(lambda: len(rec.received) >= 5, 30, what="the queued actions delivered")
        got = [b["action_id"] for _, b in rec.received]
        assert got == [a for _, a in ids], "delivered once each, in order"

        def settled():
            return all(c.request("GET", f"/v1/events/{eid}").status == 404 or
                       c.request("GET", f"/v1/events/{eid}").json()["decisions"][0]["status"] == "dispatched"
                       for eid, _ in ids)
        wait_for(settled, 10, what="decisions updated")
        # Nothing left, nothing delivered twice.
        assert not list((tmp_path / "state" / "outbox").glob("*.json"))
        assert len(rec.received) == 5
    finally:
        rec.close()
