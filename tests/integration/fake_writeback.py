"""A local fake of the write-back APIs the action handler calls, built from their published shapes, recording what
it receives:

- OpsGenie Alert API v2 (`Authorization: GenieKey <key>`), answering 202
  {"result": "Request will be processed", "took": 0.01, "requestId": "<uuid>"} as the real API does:
    POST /v2/alerts/{identifier}/notes?identifierType=id|alias|tiny   body {"note", "user"?, "source"?}
    POST /v2/alerts/{identifier}/teams?identifierType=...             body {"team": {"id"|"name"}, "user"?, ...}
    POST /v2/alerts/{identifier}/close?identifierType=...             body {"user"?, "source"?, "note"?}
- Dynatrace Problems API v2 (`Authorization: Api-Token <token>`), answering 201:
    POST /api/v2/problems/{problemId}/comments                        body {"message", "context"?}
- A generic webhook: POST /hook (any JSON), answering 200.

    fake = FakeWriteback(opsgenie_key="og-key", dynatrace_token="dt-token").start()
    fake.fail(500, count=2)            # the next two requests get 500 (429 adds Retry-After)
    fake.wait(lambda r: r.kind == "opsgenie" and r.op == "close")
    fake.stop()

Run as a script (`python3 fake_writeback.py --port 8090`) it serves until interrupted, for local demos.
"""
import argparse
import json
import re
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from harness import free_port
except ImportError:  # run as a script from elsewhere
    import socket

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

OPSGENIE_RE = re.compile(r"^/v2/alerts/([^/]+)/(notes|teams|close)$")
DYNATRACE_RE = re.compile(r"^/api/v2/problems/([^/]+)/comments$")


class Received:
    def __init__(self, kind, op, identifier, method, path, query, headers, body):
        self.kind = kind  # opsgenie | dynatrace | webhook
        self.op = op  # notes | teams | close | comment | post
        self.identifier = identifier  # alert identifier / problemId (URL-decoded)
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.at = time.monotonic()

    def __repr__(self):
        return f"<{self.kind} {self.op} {self.identifier} {self.body}>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeWriteback:
    def __init__(self, opsgenie_key="og-key", dynatrace_token="dt-token", webhook_token=None, port=None):
        self.port = port or free_port()
        self.opsgenie_key = opsgenie_key
        self.dynatrace_token = dynatrace_token
        self.webhook_token = webhook_token
        self.received = []  # accepted requests only
        self.rejected = []  # (status, path) of requests answered with an error
        self.lock = threading.Lock()
        self._fail = None  # [status, remaining]
        self.httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def fail(self, status, count=1, echo_credentials=False):
        """The next count requests get status; echo_credentials puts the request's Authorization header in the
        error message, as a careless server might."""
        with self.lock:
            self._fail = [status, count, echo_credentials]

    def _take_failure(self):
        with self.lock:
            if not self._fail or self._fail[1] <= 0:
                return None, False
            self._fail[1] -= 1
            return self._fail[0], self._fail[2]

    def of(self, kind=None, op=None):
        with self.lock:
            return [r for r in self.received if (kind is None or r.kind == kind) and (op is None or r.op == op)]

    def wait(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                hits = [r for r in self.received if pred(r)]
            if hits:
                return hits
            time.sleep(0.05)
        raise AssertionError(f"write-back not received within {timeout}s; got {self.received}, "
                             f"rejected {self.rejected}")

    # ---- request handling ----

    def _opsgenie(self, h, ident, op, query, body):
        if h.headers.get("Authorization") != f"GenieKey {self.opsgenie_key}":
            return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())}
        id_type = query.get("identifierType", ["id"])[0]
        if id_type not in ("id", "alias", "tiny"):
            return 422, {"message": "Invalid identifierType", "took": 0.0, "requestId": str(uuid.uuid4())}
        if not isinstance(body, dict):
            return 400, {"message": "Request body is not valid JSON", "took": 0.0, "requestId": str(uuid.uuid4())}
        if op == "notes" and not body.get("note"):
            return 422, {"message": "Request body is not valid", "errors": {"note": "Note can not be empty"},
                         "took": 0.0, "requestId": str(uuid.uuid4())}
        if op == "teams":
            team = body.get("team")
            if not isinstance(team, dict) or not (team.get("id") or team.get("name")):
                return 422, {"message": "Request body is not valid", "errors": {"team": "Team can not be empty"},
                             "took": 0.0, "requestId": str(uuid.uuid4())}
        return 202, {"result": "Request will be processed", "took": 0.011, "requestId": str(uuid.uuid4())}

    def _dynatrace(self, h, body):
        if h.headers.get("Authorization") != f"Api-Token {self.dynatrace_token}":
            return 401, {"error": {"code": 401, "message": "Missing authorization parameter."}}
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"]:
            return 400, {"error": {"code": 400, "message": "Constraints violated.",
                                   "constraintViolations": [{"path": "message", "message": "must not be null"}]}}
        return 201, None

    def _webhook(self, h, body):
        if self.webhook_token and h.headers.get("Authorization") != f"Bearer {self.webhook_token}":
            return 401, {"error": "unauthorized"}
        if not isinstance(body, dict):
            return 400, {"error": "not JSON"}
        return 200, {"ok": True}

    def _handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(u.query)
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        forced, echo = self._take_failure()
        if forced:
            extra = {"Retry-After": "1"} if forced == 429 else {}
            msg = "injected failure" + (f" for {h.headers.get('Authorization')}" if echo else "")
            return forced, {"message": msg, "took": 0.0, "requestId": str(uuid.uuid4())}, extra, u.path
        m = OPSGENIE_RE.match(u.path)
        d = DYNATRACE_RE.match(u.path)
        if m:
            kind, op, ident = "opsgenie", m.group(2), urllib.parse.unquote(m.group(1))
            status, answer = self._opsgenie(h, ident, op, query, body)
        elif d:
            kind, op, ident = "dynatrace", "comment", urllib.parse.unquote(d.group(1))
            status, answer = self._dynatrace(h, body)
        elif u.path == "/hook":
            kind, op, ident = "webhook", "post", None
            status, answer = self._webhook(h, body)
        else:
            return 404, {"message": "Not found"}, {}, u.path
        if status < 300:
            rec = Received(kind, op, ident, h.command, u.path, query, dict(h.headers), body)
            with self.lock:
                self.received.append(rec)
        return status, answer, {}, u.path

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                status, answer, extra, path = fake._handle(self)
                if status >= 300:
                    with fake.lock:
                        fake.rejected.append((status, path))
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--opsgenie-key", default="og-key")
    ap.add_argument("--dynatrace-token", default="dt-token")
    args = ap.parse_args()
    fake = FakeWriteback(args.opsgenie_key, args.dynatrace_token, port=args.port).start()
    print(f"fake write-back APIs on {fake.url} (OpsGenie /v2/alerts/..., Dynatrace /api/v2/problems/..., /hook)")
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for r in fake.received[seen:]:
                print(r, flush=True)
            seen = len(fake.received)
    except KeyboardInterrupt:
        fake.stop()
