"""The topology API and the agent's report protocol against real binaries on loopback: auth, validation errors,
the full-report handshake (409) after a classifier restart, backoff while the classifier is away, the /map static
files (no auth, nothing outside web_dir), the topology.updated audit record, and the agent's health and metrics."""
import json
import time

from harness import ROOT, Service, free_port, http, wait_for

TOKEN = "topology-api-token"


def classifier_cfg(tmp_path, port=None):
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    cfg = {"rules_dir": str(tmp_path / "rules"), "api_tokens_file": str(tmp_path / "tokens"),
           "web_dir": str(ROOT / "web"), "state_dir": str(tmp_path / "state"),
           "audit_file": str(tmp_path / "audit.jsonl")}
    if port:
        cfg["port"] = port
    return cfg


def rep(node="n1", seq=1, full=True, **kw):
    body = {"node": node, "boot_id": "boot-1", "seq": seq, "full": full, "interval": 1,
            "addresses": ["192.0.2.10"], "services": [{"port": 8080, "proto": "tcp", "process": "api"}],
            "connections": []}
    body.update(kw)
    return body


def error(r, status, code):
    assert r.status == status, r
    assert r.json()["error"]["code"] == code, r
    return r.json()["error"]


def test_reports_auth_and_errors(services, tmp_path):
    c = services.add(Service("reflex-classifier", tmp_path / "c", classifier_cfg(tmp_path), token=TOKEN)).start()
    assert c.request("POST", "/v1/topology/n1", rep(), token="wrong").status == 401
    assert c.request("GET", "/v1/topology", token="").status == 401
    r = c.request("POST", "/v1/topology/n1", rep())
    assert r.status == 200 and r.json() == {"applied": True, "seq": 1, "full": True}
    assert c.request("POST", "/v1/topology/n1", rep()).json()["applied"] is False  # a retry is harmless
    error(c.request("POST", "/v1/topology/n1", b"{oops", {"Content-Type": "application/json"}), 400, "invalid_json")
    err = error(c.request("POST", "/v1/topology/n2", rep()), 400, "invalid_report")
    assert err["field"] == "node"
    bad = rep(connections=[{"direction": "out", "remote": "not-an-ip", "remote_port": 1, "count": 1}], seq=2)
    assert error(c.request("POST", "/v1/topology/n1", bad), 400, "invalid_report")["field"] == "connections[0].remote"
    gap = rep(seq=7, full=False)
    assert error(c.request("POST", "/v1/topology/n1", gap), 409, "full_report_required")["field"] == "seq"
    error(c.request("POST", "/v1/topology/n1", "x", {"Content-Type": "text/plain"}), 415, "unsupported_media_type")
    many = rep(seq=3, addresses=[f"192.0.2.{i}" for i in range(100)])
    error(c.request("POST", "/v1/topology/n1", many), 413, "too_large")
    g = c.request("GET", "/v1/topology").json()
    assert [n["id"] for n in g["nodes"]] == ["n1"]
    assert g["nodes"][0]["services"] == [{"port": 8080, "proto": "tcp", "process": "api"}]

    def audited():
        lines = (tmp_path / "audit.jsonl").read_text().splitlines() if (tmp_path / "audit.jsonl").exists() else []
        return [json.loads(l) for l in lines if '"topology.updated"' in l]
    [rec] = wait_for(audited, 10, what="a topology.updated audit record")
    assert rec["node"] == "n1" and rec["seq"] == 1 and rec["full"] is True and rec["services"] == 1
    metrics = c.request("GET", "/metrics").text
    assert 'reflex_topology_reports_total{result="applied"} 1' in metrics
    assert 'reflex_topology_reports_total{result="full_required"} 1' in metrics


def test_map_static_files(services, tmp_path):
    c = services.add(Service("reflex-classifier", tmp_path / "c", classifier_cfg(tmp_path), token=TOKEN)).start()
    for path in ("/map", "/map/", "/map/index.html"):
        r = http("GET", c.url + path)
        assert r.status == 200 and r.headers["content-type"].startswith("text/html"), (path, r)
        assert b"/map/map.js" in r.body
    r = http("GET", c.url + "/map/node_modules/cytoscape/dist/cytoscape.min.js")
    assert r.status == 200 and r.headers["content-type"].startswith("text/javascript") and len(r.body) > 100000
    assert http("GET", c.url + "/map/map.css").headers["content-type"].startswith("text/css")
    for path in ("/map/../../etc/passwd", "/map/%2e%2e/%2e%2e/etc/passwd", "/map/.hidden", "/map/nope.js",
                 "/map/node_modules/../../../etc/passwd", "/map/a//b", "/map/index.html/"):
        assert http("GET", c.url + path).status == 404, path


def test_agent_backoff_and_full_report_after_classifier_restart(services, tmp_path):
    port = free_port()
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    agent = services.add(Service("reflex-agent", tmp_path / "agent", {
        "classifier_url": f"http://127.0.0.1:{port}", "classifier_token_file": str(tmp_path / "tokens"),
        "node_name": "probe-host", "interval": "200ms", "full_every": 1000, "backoff_max": "1s",
        "log_level": "debug"})).start()
    # no classifier yet: the agent is ready (it scans), reports fail and it backs off
    agent.wait_log(msg="report failed", node="probe-host")
    assert 'reflex_agent_reports_total{result="error"}' in agent.request("GET", "/metrics").text
    c = services.add(Service("reflex-classifier", tmp_path / "c", classifier_cfg(tmp_path, port), token=TOKEN))
    c.start()
    wait_for(lambda: [n for n in c.request("GET", "/v1/topology").json()["nodes"] if n["id"] == "probe-host"], 10,
             what="the node after the classifier came up")
    agent.wait_log(msg="classifier reachable again")
    # the classifier restarts and forgets; the agent's next delta is refused and it sends a full report at once
    c.stop()
    c.start()
    wait_for(lambda: [n for n in c.request("GET", "/v1/topology").json()["nodes"] if n["id"] == "probe-host"], 10,
             what="the node after a restart")
    agent.wait_log(msg="classifier asked for a full report")
    recs = [r for r in agent.log_records() if r.get("msg") == "report sent"]
    assert recs and all("seq" in r for r in recs)
    assert int(recs[-1]["seq"]) > int(recs[0]["seq"])


def test_agent_health_and_once_output(services, tmp_path):
    a = services.add(Service("reflex-agent", tmp_path / "agent", {
        "classifier_url": "http://127.0.0.1:9", "node_name": "h", "interval": "300ms"})).start()
    m = wait_for(lambda: (lambda t: t if "reflex_agent_scans_total" in t else None)(a.request("GET", "/metrics").text),
                 10, what="scan metrics")
    assert "reflex_agent_scan_seconds_bucket" in m and "reflex_agent_sockets" in m
    assert a.request("GET", "/healthz").status == 200
