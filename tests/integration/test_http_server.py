"""The HTTP layer of every service, against the real reflex-classifier: a port that is taken is refused
(the server's threads share their port through SO_REUSEPORT, which must not let a second copy join in), and
keep-alive connections opened at once are spread over the server's threads."""
import http.client
import os
import time

from harness import Service, start_classifier, wait_for


def thread_cpu(pid):
    """CPU ticks per thread name and id of a process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[(comm, tid)] = int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return out


def test_a_taken_port_is_refused(services, tmp_path):
    first = start_classifier(services, tmp_path / "first")
    second = Service("reflex-classifier", tmp_path / "second",
                     {"port": first.port, "rules_dir": str(tmp_path / "first" / "rules")})
    second.start(wait_ready=False)
    rc = second.proc.wait(15)
    assert rc != 0
    lines = [r for r in second.log_records() if r.get("msg") == "cannot listen"]
    assert lines and lines[0].get("port") == str(first.port)
    second.proc = None
    # the first one still answers everything
    r = first.request("GET", "/v1/rules")
    assert r.status == 200


def test_connections_opened_at_once_use_every_thread(services, tmp_path):
    c = start_classifier(services, tmp_path, http_threads=4)
    conns = [http.client.HTTPConnection("127.0.0.1", c.port, timeout=10) for _ in range(32)]
    for conn in conns:
        conn.connect()
    before = thread_cpu(c.proc.pid)
    deadline = time.time() + 3
    body = b'{"source_id":"x","title":"t","event_type":"Load"}'
    while time.time() < deadline:
        for conn in conns:
            conn.request("POST", "/v1/rules/test", body,
                         {"Authorization": "Bearer test-token", "Content-Type": "application/json"})
        for conn in conns:
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
    after = thread_cpu(c.proc.pid)
    for conn in conns:
        conn.close()
    busy = [k for k in after if k[0].startswith("MHD") and after[k] - before.get(k, 0) > 0]
    assert len(busy) >= 3, f"only {len(busy)} of 4 server threads did work: {after}"
