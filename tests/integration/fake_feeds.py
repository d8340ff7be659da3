"""Local fakes of the SaaS and REST APIs the poller reads, built from their published API shapes:

- Dynatrace Problems API v2: GET /api/v2/problems (problemSelector, from, pageSize, fields, nextPageKey paging,
  `Authorization: Api-Token ...`)
- OpsGenie Alert API: GET /v2/alerts (query, offset/limit, sort/order, paging links) and GET /v2/alerts/{id}
  (`Authorization: GenieKey ...`)
- Icinga 2 REST API: GET /v1/objects/services and /v1/objects/hosts (filter, attrs, basic auth, optional TLS)

Each fake listens on 127.0.0.1 on a free port and records every request. Switches make it misbehave:

    fake = FakeDynatrace(token="dt-token").start()
    fake.add(dynatrace_problem("P-1", title="CPU saturation", entity="web-01"))
    fake.fail("429", count=1, retry_after=2)      # then "500", "malformed", "hang" (never answers)
    fake.stop()
"""
import base64
import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness import free_port


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)


class Request:
    def __init__(self, method, path, query, headers):
        self.method = method
        self.path = path
        self.query = query  # name -> list of values
        self.headers = headers
        self.at = time.monotonic()

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def __repr__(self):
        return f"<{self.method} {self.path} {self.query}>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeAPI:
    """The common part: server thread, request log, failure switches, JSON answers."""

    def __init__(self, tls=None):
        self.port = free_port()
        self.tls = tls  # (certfile, keyfile) or None
        self.requests = []
        self.lock = threading.RLock()
        self._fail = None  # (mode, remaining or None, retry_after, path prefix)
        self._release = threading.Event()
        self.httpd = None

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._handle(self)

        self.httpd = _Server(("127.0.0.1", self.port), Handler)
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self._release.set()
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def fail(self, mode, count=None, retry_after=None, path=None):
        """mode: "429" (with Retry-After when given), "500", "malformed" (truncated JSON), "hang" (never answers)
        or None to behave again. count: that many requests, then normal again. path: only requests under it."""
        with self.lock:
            self._fail = (mode, count, retry_after, path) if mode else None
            if mode != "hang":
                self._release.set()
                self._release = threading.Event()

    def requests_to(self, path_prefix):
        with self.lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear_requests(self):
        with self.lock:
            self.requests.clear()

    # -- internals --

    def _take_failure(self, path):
        with self.lock:
            if not self._fail:
                return None
            mode, count, retry_after, prefix = self._fail
            if prefix and not path.startswith(prefix):
                return None
            if count is not None:
                count -= 1
                self._fail = (mode, count, retry_after, prefix) if count > 0 else None
            return mode, retry_after

    def _handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        req = Request("GET", u.path, urllib.parse.parse_qs(u.query, keep_blank_values=True),
                      {k.lower(): v for k, v in h.headers.items()})
        with self.lock:
            self.requests.append(req)
        failure = self._take_failure(u.path)
        if failure:
            mode, retry_after = failure
            if mode == "hang":
                self._release.wait(120)
                return
            if mode == "429":
                hdrs = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return self._send(h, 429, self.error_body(429, "Too many requests"), hdrs)
            if mode == "500":
                return self._send(h, 500, self.error_body(500, "Internal error"))
            if mode == "malformed":
                return self._send_raw(h, 200, b'{"problems": [{"problemId": "P-1", "title": ', "application/json")
        if not self.authorized(req):
            return self._send(h, 401, self.error_body(401, "Authentication failed"))
        try:
            status, body = self.route(req)
        except ValueError as e:
            status, body = 400, self.error_body(400, str(e))
        self._send(h, status, body)

    def _send(self, h, status, obj, headers=None):
        self._send_raw(h, status, json.dumps(obj).encode(), "application/json", headers)

    def _send_raw(self, h, status, data, ctype, headers=None):
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass

    def error_body(self, status, message):
        return {"error": {"code": status, "message": message}}

    def authorized(self, req):
        return True

    def route(self, req):
        return 404, self.error_body(404, "not found")


# ---------------------------------------------------------------- Dynatrace

def dynatrace_problem(pid, title="CPU saturation", entity="web-01", severity="RESOURCE_CONTENTION", status="OPEN",
                      event_type="CPU_SATURATED", tags=None, start_ms=None, impact="INFRASTRUCTURE"):
    """A problem object as GET /api/v2/problems returns it (fields=evidenceDetails adds evidenceDetails)."""
    start_ms = start_ms or int(time.time() * 1000) - 600000
    ent = {"entityId": {"id": "HOST-" + format(abs(hash(entity)) % (1 << 48), "016X"), "type": "HOST"}, "name": entity}
    entity_tags = []
    for k, v in (tags or {}).items():
        ctx, _, key = k.rpartition(":")
        entity_tags.append({"context": ctx or "CONTEXTLESS", "key": key, **({"value": v} if v else {}),
                            "stringRepresentation": f"{k}:{v}" if v else k})
    return {
        "problemId": pid if "_" in pid else f"{abs(hash(pid)) % 10**19}_{start_ms}V2",
        "displayId": pid,
        "title": title,
        "impactLevel": impact,
        "severityLevel": severity,
        "status": status,
        "affectedEntities": [ent],
        "impactedEntities": [ent],
        "rootCauseEntity": ent,
        "managementZones": [{"id": "4413", "name": "production"}],
        "entityTags": entity_tags,
        "problemFilters": [{"id": "c21f969b-5f03-333d-83e0-4f8f136e7682", "name": "Default"}],
        "startTime": start_ms,
        "endTime": -1 if status == "OPEN" else start_ms + 300000,
        "evidenceDetails": {"totalCount": 1, "details": [{
            "evidenceType": "EVENT", "displayName": title, "entity": ent, "groupingEntity": ent,
            "rootCauseRelevant": True, "startTime": start_ms, "eventType": event_type,
            "data": {"status": "OPEN" if status == "OPEN" else "CLOSED"}}]},
    }


class FakeDynatrace(FakeAPI):
    """GET /api/v2/problems. The list is snapshotted at the first page; nextPageKey walks the snapshot (as Dynatrace
    does), and with nextPageKey no other parameter than fields is accepted."""

    def __init__(self, token="dt-token", **kw):
        super().__init__(**kw)
        self.token = token
        self.problems = {}  # problemId -> problem
        self.cursors = {}

    def add(self, *problems):
        with self.lock:
            for p in problems:
                self.problems[p["problemId"]] = p
        return self

    def close(self, problem_id):
        with self.lock:
            p = self.problems[problem_id]
            p["status"] = "CLOSED"
            p["endTime"] = int(time.time() * 1000)

    def remove(self, problem_id):
        with self.lock:
            self.problems.pop(problem_id, None)

    def authorized(self, req):
        return req.headers.get("authorization") == f"Api-Token {self.token}"

    def error_body(self, status, message):
        return {"error": {"code": status, "message": message}}

    def route(self, req):
        if req.path != "/api/v2/problems":
            return 404, self.error_body(404, "not found")
        fields = req.q("fields", "")
        key = req.q("nextPageKey")
        if key:
            extra = set(req.query) - {"nextPageKey", "fields"}
            if extra:
                raise ValueError(f"nextPageKey cannot be combined with {sorted(extra)}")
            with self.lock:
                if key not in self.cursors:
                    raise ValueError("invalid nextPageKey")
                ids, offset, size = self.cursors.pop(key)
        else:
            size = int(req.q("pageSize", "50"))
            if not 1 <= size <= 500:
                raise ValueError("pageSize must be between 1 and 500")
            m = re.search(r'status\("(open|closed)"\)', req.q("problemSelector", ""), re.I)
            with self.lock:
                ids = [pid for pid, p in self.problems.items()
                       if not m or p["status"].lower() == m.group(1).lower()]
            offset = 0
        with self.lock:
            page = [dict(self.problems[i]) for i in ids[offset:offset + size] if i in self.problems]
            body = {"totalCount": len(ids), "pageSize": size, "problems": page}
            if offset + size < len(ids):
                nk = base64.b64encode(uuid.uuid4().bytes + os.urandom(24)).decode()
                self.cursors[nk] = (ids, offset + size, size)
                body["nextPageKey"] = nk
        if "evidenceDetails" not in fields:
            for p in page:
                p.pop("evidenceDetails", None)
        return 200, body


# ---------------------------------------------------------------- OpsGenie

def opsgenie_alert(message="Disk full on db-01", alias=None, entity="db-01", priority="P2", tags=None, details=None,
                   status="open", created_ms=None):
    """An alert as the Alert API knows it; FakeOpsGenie serves the list form and the details form of it."""
    created_ms = created_ms or int(time.time() * 1000) - 60000
    aid = str(uuid.uuid4())
    return {
        "id": aid,
        "tinyId": str(abs(hash(aid)) % 10000),
        "alias": alias or f"alias-{aid[:8]}",
        "message": message,
        "status": status,
        "acknowledged": False,
        "isSeen": False,
        "tags": list(tags or []),
        "snoozed": False,
        "count": 1,
        "lastOccurredAt": iso(created_ms),
        "createdAt": iso(created_ms),
        "updatedAt": iso(created_ms),
        "source": "monitoring",
        "owner": "",
        "priority": priority,
        "teams": [{"id": "8418d193-2dab-4490-b331-8c02cdd196b7"}],
        "responders": [{"type": "team", "id": "8418d193-2dab-4490-b331-8c02cdd196b7"}],
        "integration": {"id": "4513b7ea-3b91-438f-b7e4-e3e54af9147c", "name": "Nebula", "type": "API"},
        "report": {"ackTime": 0, "closeTime": 0, "acknowledgedBy": "", "closedBy": ""},
        # details-only members
        "actions": ["Restart", "Ping"],
        "entity": entity,
        "description": f"{message}\nSeen by the monitoring system.",
        "details": dict(details or {}),
    }


class FakeOpsGenie(FakeAPI):
    """GET /v2/alerts (list form, offset/limit paging, sorted) and GET /v2/alerts/{id} (details form)."""

    DETAIL_ONLY = ("actions", "entity", "description", "details")

    def __init__(self, key="og-key", **kw):
        super().__init__(**kw)
        self.key = key
        self.alerts = {}  # id -> alert

    def add(self, *alerts):
        with self.lock:
            for a in alerts:
                self.alerts[a["id"]] = a
        return self

    def update(self, alert_id, **changes):
        with self.lock:
            a = self.alerts[alert_id]
            a.update(changes)
            a["updatedAt"] = iso(int(time.time() * 1000))

    def close(self, alert_id):
        self.update(alert_id, status="closed")

    def remove(self, alert_id):
        with self.lock:
            self.alerts.pop(alert_id, None)

    def authorized(self, req):
        return req.headers.get("authorization") == f"GenieKey {self.key}"

    def error_body(self, status, message):
        return {"message": message, "took": 0.001, "requestId": str(uuid.uuid4())}

    def detail_requests(self, alert_id=None):
        return [r for r in self.requests_to("/v2/alerts/") if alert_id is None or r.path.endswith("/" + alert_id)]

    def route(self, req):
        if req.path == "/v2/alerts":
            return self._list(req)
        m = re.fullmatch(r"/v2/alerts/([^/]+)", req.path)
        if m:
            ident = urllib.parse.unquote(m.group(1))
            if req.q("identifierType", "id") != "id":
                raise ValueError("only identifierType=id is supported by this fake")
            with self.lock:
                a = self.alerts.get(ident)
                if not a:
                    return 404, self.error_body(404, "Alert does not exist")
                return 200, {"data": dict(a), "took": 0.002, "requestId": str(uuid.uuid4())}
        return 404, self.error_body(404, "not found")

    def _list(self, req):
        offset = int(req.q("offset", "0"))
        limit = int(req.q("limit", "20"))
        if not 1 <= limit <= 100 or offset < 0 or offset + limit > 20000:
            return 422, self.error_body(422, "limit must be 1-100 and offset+limit at most 20000")
        query = req.q("query", "")
        m = re.search(r"status\s*:\s*(open|closed)", query)
        with self.lock:
            items = [a for a in self.alerts.values() if not m or a["status"] == m.group(1)]
            items.sort(key=lambda a: a[req.q("sort", "createdAt")] if req.q("sort", "createdAt") in a else "",
                       reverse=req.q("order", "desc") == "desc")
            page = [{k: v for k, v in a.items() if k not in self.DETAIL_ONLY} for a in items[offset:offset + limit]]
        base = f"{self.url}/v2/alerts?query={urllib.parse.quote(query)}&limit={limit}&sort=createdAt&order=asc"
        paging = {"first": f"{base}&offset=0", "last": f"{base}&offset={max(0, len(items) - limit)}"}
        if offset + limit < len(items):
            paging["next"] = f"{base}&offset={offset + limit}"
        return 200, {"data": page, "paging": paging, "took": 0.012, "requestId": str(uuid.uuid4())}


# ---------------------------------------------------------------- Icinga 2

def icinga_service(host, service, state=2, output=None, handled=False, vars=None, state_type=1, since=None):
    since = since or time.time() - 300
    out = output or f"{service.upper()} {['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][state]} - check output"
    return {"type": "Service", "name": f"{host}!{service}", "joins": {}, "meta": {}, "attrs": {
        "__name": f"{host}!{service}", "name": service, "host_name": host, "display_name": service,
        "state": float(state), "state_type": float(state_type), "last_state_change": since,
        "acknowledgement": 1.0 if handled else 0.0, "downtime_depth": 0.0, "handled": handled,
        "problem": state != 0, "vars": dict(vars or {}), "check_command": service,
        "last_check_result": {"type": "CheckResult", "active": True, "check_source": "icinga-master",
                              "command": ["/usr/lib/nagios/plugins/check_" + service], "execution_start": since,
                              "execution_end": since + 0.1, "exit_status": float(state), "output": out,
                              "performance_data": [], "state": float(state), "vars_after": {}, "vars_before": {}},
    }}


def icinga_host(host, state=1, output=None, handled=False, vars=None, since=None):
    since = since or time.time() - 300
    out = output or f"PING CRITICAL - Packet loss = 100%"
    return {"type": "Host", "name": host, "joins": {}, "meta": {}, "attrs": {
        "__name": host, "name": host, "display_name": host, "state": float(state), "state_type": 1.0,
        "last_state_change": since, "acknowledgement": 1.0 if handled else 0.0, "downtime_depth": 0.0,
        "handled": handled, "problem": state != 0, "vars": dict(vars or {}), "address": "127.0.0.1",
        "last_check_result": {"type": "CheckResult", "active": True, "exit_status": float(state), "output": out,
                              "state": float(state), "performance_data": [], "vars_after": {}, "vars_before": {}},
    }}


class FakeIcinga(FakeAPI):
    """GET /v1/objects/services|hosts with basic auth. Understands the filter `<type>.state != 0` (with anything
    ANDed to it recorded but not evaluated) and returns only the requested attrs, as Icinga does."""

    def __init__(self, user="reflex", password="icinga-pass", **kw):
        super().__init__(**kw)
        self.user, self.password = user, password
        self.objects = {}  # name -> object

    def add(self, *objs):
        with self.lock:
            for o in objs:
                self.objects[o["name"]] = o
        return self

    def set_state(self, name, state, handled=None):
        with self.lock:
            a = self.objects[name]["attrs"]
            a["state"] = float(state)
            a["problem"] = state != 0
            a["last_check_result"]["state"] = float(state)
            if handled is not None:
                a["handled"] = handled
                a["acknowledgement"] = 1.0 if handled else 0.0

    def remove(self, name):
        with self.lock:
            self.objects.pop(name, None)

    def authorized(self, req):
        want = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return req.headers.get("authorization") == want

    def error_body(self, status, message):
        return {"error": status, "status": message}

    def route(self, req):
        m = re.fullmatch(r"/v1/objects/(services|hosts)", req.path)
        if not m:
            return 404, self.error_body(404, "no such endpoint")
        kind = "Service" if m.group(1) == "services" else "Host"
        flt = req.q("filter", "")
        problems_only = re.search(r"\b(service|host)\.state\s*!=\s*0", flt) is not None
        attrs = req.query.get("attrs")
        with self.lock:
            out = []
            for o in self.objects.values():
                if o["type"] != kind or (problems_only and o["attrs"]["state"] == 0):
                    continue
                r = json.loads(json.dumps(o))
                if attrs:
                    r["attrs"] = {k: v for k, v in r["attrs"].items() if k in attrs}
                out.append(r)
        return 200, {"results": out}


def make_tls(tmpdir):
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it: returns (ca, cert, key) paths."""
    d = Path(tmpdir)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert, ext = (d / n for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "ext"))

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=Reflex Test Icinga CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert),
        "-days", "2", "-extfile", str(ext))
    return str(ca), str(cert), str(key)


# ---------------------------------------------------------------- a recording classifier

class RecordingClassifier(FakeAPI):
    """A stand-in for POST /v1/events that records what it got (for tests that need to make the classifier answer
    4xx on purpose). status_for(event) -> HTTP status decides the answer (default 202)."""

    def __init__(self, token=None, **kw):
        super().__init__(**kw)
        self.token = token
        self.events = []
        self.status_for = lambda ev: 202

    def start(self):
        fake = self
        super().start()
        handler = self.httpd.RequestHandlerClass

        def do_POST(h):
            n = int(h.headers.get("Content-Length", "0"))
            body = h.rfile.read(n)
            req = Request("POST", h.path, {}, {k.lower(): v for k, v in h.headers.items()})
            with fake.lock:
                fake.requests.append(req)
            failure = fake._take_failure(h.path)
            if failure:
                mode, ra = failure
                if mode == "hang":
                    fake._release.wait(120)
                    return
                return fake._send(h, int(mode) if mode.isdigit() else 500, {"error": {"code": "x", "message": mode}},
                                  {"Retry-After": str(ra)} if ra is not None else None)
            if fake.token and h.headers.get("Authorization") != f"Bearer {fake.token}":
                return fake._send(h, 401, {"error": {"code": "unauthorized", "message": "bad token"}})
            ev = json.loads(body)
            status = fake.status_for(ev)
            if 200 <= status < 300:
                with fake.lock:
                    fake.events.append(ev)
            fake._send(h, status, {"events": [{"id": ev.get("id"), "source_id": ev.get("source_id")}]})

        handler.do_POST = do_POST
        return self


# ---------------------------------------------------------------- poller test helpers

def start_poller(services, workdir, classifier_url, feeds, token="test-token", start=True, name="reflex-poller",
                 **config):
    """A real reflex-poller forwarding to classifier_url with feeds (list of dicts), quick retries for tests."""
    from harness import Service
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tok = workdir / "classifier-token"
    tok.write_text(token + "\n")
    cfg = {"classifier_url": classifier_url, "classifier_token_file": str(tok),
           "state_dir": str(workdir / "poller-state"), "feeds": feeds, "forward_retry_min": "50ms",
           "forward_retry_max": "500ms", "forward_timeout": "2s"}
    cfg.update(config)
    svc = services.add(Service("reflex-poller", workdir, cfg, name=name))
    return svc.start() if start else svc


def secret_file(workdir, name, value):
    p = Path(workdir) / name
    p.write_text(value + "\n")
    return str(p)


_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def metrics(svc):
    """GET /metrics as {(name, frozenset of label pairs): value}."""
    out = {}
    for line in svc.request("GET", "/metrics").text.splitlines():
        m = _METRIC_RE.match(line.strip())
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(svc, name, **labels):
    """The value of one series (0 when absent)."""
    want = frozenset((k, str(v)) for k, v in labels.items())
    return metrics(svc).get((name, want), 0.0)


def wait_polls(svc, feed, n=1, timeout=15.0):
    """Waits until the feed has completed n more polls (successful or not) than now."""
    from harness import wait_for
    start = metric(svc, "reflex_poller_polls_total", feed=feed)
    wait_for(lambda: metric(svc, "reflex_poller_polls_total", feed=feed) >= start + n, timeout,
             what=f"{n} polls of {feed}")


def wait_delivered(svc, timeout=15.0):
    """Waits until the poller's outbox is empty (everything delivered or dropped)."""
    from harness import wait_for
    wait_for(lambda: metric(svc, "reflex_poller_outbox_pending") == 0, timeout, what="an empty outbox")


def classifier_events(c, source_id=None, limit=1000):
    q = f"limit={limit}" + (f"&source_id={urllib.parse.quote(source_id)}" if source_id else "")
    r = c.request("GET", "/v1/events?" + q)
    assert r.status == 200, r
    return r.json()["events"]


def received(c, source=None):
    """What the classifier received, oldest first, as (source_id, state) pairs; duplicates included."""
    out = []
    for e in reversed(classifier_events(c)):
        if source and e["source"] != source:
            continue
        out.extend([(e["source_id"], e["state"])] * (1 + int(e.get("duplicates", 0))))
    return out
