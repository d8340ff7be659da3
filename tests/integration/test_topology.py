"""Topology end to end on real hosts made on this machine: network namespaces joined by a veth pair, a "db" host
with a listener, a "web" host with a process connected to it, a reflex-agent inside each, and a real classifier.

The agents reach the classifier (on 127.0.0.1 of the test's own namespace) through a small forwarder whose
listening socket the test creates inside each namespace (setns on a helper thread), so every server still listens
on a loopback address only."""
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness import BIN, ROOT, Service, free_port, wait_for

TOKEN = "topology-test-token"
CLONE_NEWNET = 0x40000000
DB_ADDR, WEB_ADDR = "10.213.0.1", "10.213.0.2"

SERVER = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"rfx-pgsql", 0, 0, 0)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5432)); s.listen(8)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
"""

CLIENT = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, b"rfx-webapp", 0, 0, 0)
conns = [socket.create_connection((sys.argv[1], 5432)) for _ in range(int(sys.argv[2]))]
print("connected", flush=True)
sys.stdin.read()
"""


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Hosts:
    """Two namespaces, db and web, on one veth link; removed (with what runs in them) at teardown."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.db, self.web = f"rfx-db-{tag}", f"rfx-web-{tag}"
        ip("netns", "add", self.db)
        ip("netns", "add", self.web)
        ip("link", "add", f"rfxd{tag}", "type", "veth", "peer", "name", f"rfxw{tag}")
        for ns, dev, addr in ((self.db, f"rfxd{tag}", DB_ADDR), (self.web, f"rfxw{tag}", WEB_ADDR)):
            ip("link", "set", dev, "netns", ns)
            ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        self.procs = []

    def run(self, ns, code, *args):
        """A Python program inside ns; waits for its first line (it is ready then)."""
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", code, *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        assert line, f"helper in {ns} failed: {p.stderr.read()}"
        return p

    def stop(self, p):
        p.terminate()
        p.wait(10)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                self.stop(p)
        for ns in (self.db, self.web):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def listen_in_netns(ns):
    """A listening socket on 127.0.0.1 inside ns, created by a thread that entered ns (setns is per thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def enter():
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(16)
            out["sock"] = s
        except BaseException as e:  # handed to the caller
            out["err"] = e
        finally:
            os.close(fd)
    t = threading.Thread(target=enter)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["sock"]


class Forwarder:
    """Accepts inside a namespace and relays each connection to the classifier on this namespace's loopback."""

    def __init__(self, ns, target_port):
        self.sock = listen_in_netns(ns)
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                a, _ = self.sock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(self.target, timeout=5)
            except OSError:
                a.close()
                continue
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.closed = True
        self.sock.close()


def agent_in(ns, workdir, name, classifier_port, token_file, **extra):
    """A reflex-agent started with `ip netns exec` (it execs, so the pid is the agent's own)."""
    fwd = Forwarder(ns, classifier_port)
    wrapper = workdir / f"agent-{name}.sh"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {ns} {BIN / 'reflex-agent'} \"$@\"\n")
    wrapper.chmod(0o755)
    cfg = {"classifier_url": f"http://127.0.0.1:{fwd.port}", "classifier_token_file": str(token_file),
           "node_name": name, "interval": "200ms", "full_every": 5, "backoff_max": "1s", **extra}
    svc = Service("reflex-agent", workdir, cfg, name=f"agent-{name}")
    svc.binary = str(wrapper)
    svc.forwarder = fwd
    return svc


@pytest.fixture
def hosts():
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root (the CI machine runs as root)")
    h = Hosts()
    yield h
    h.close()


@pytest.fixture
def classifier(services, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "db.yaml").write_text(
        "name: db-with-dependents\n"
        "match:\n  topology: {listens: 5432, has_dependents: true, process: rfx-pgsql}\n"
        "when: 'topology.dependents >= 1 && topology.node == \"db\"'\n"
        "action: {type: none}\n")
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    return services.add(Service("reflex-classifier", tmp_path / "classifier", {
        "rules_dir": str(rules), "api_tokens_file": str(tmp_path / "tokens"), "web_dir": str(ROOT / "web"),
        "state_dir": str(tmp_path / "state")}, token=TOKEN)).start()


def graph(c):
    r = c.request("GET", "/v1/topology")
    assert r.status == 200, r
    return r.json()


def node(g, name):
    return next((n for n in g["nodes"] if n["id"] == name), None)


def edge(g, src, dst, port):
    return next((e for e in g["edges"] if e["from"] == src and e["to"] == dst and e["port"] == port), None)


def test_agents_in_namespaces_map_web_to_db(hosts, classifier, services, tmp_path):
    server = hosts.run(hosts.db, SERVER)
    client = hosts.run(hosts.web, CLIENT, DB_ADDR, "3")
    tokens = tmp_path / "tokens"
    # db reads sockets over netlink, web through the /proc/net fallback: both sources on real kernels' tables
    db = services.add(agent_in(hosts.db, tmp_path / "db", "db", classifier.port, tokens))
    web = services.add(agent_in(hosts.web, tmp_path / "web", "web", classifier.port, tokens, socket_source="proc"))
    db.start(wait_ready=False)
    web.start(wait_ready=False)

    def joined():
        g = graph(classifier)
        e = edge(g, "web", "db", 5432)
        return (g, e) if e and e["server_process"] == "rfx-pgsql" and "rfx-webapp" in e["client_processes"] else None
    g, e = wait_for(joined, 20, what="the edge web -> db:5432 with both processes")
    assert e["count"] == 3
    assert {"port": 5432, "proto": "tcp", "process": "rfx-pgsql"} in node(g, "db")["services"]
    assert DB_ADDR in node(g, "db")["addresses"] and WEB_ADDR in node(g, "web")["addresses"]
    # the forwarders' loopback listeners and the agents' own health ports are not services others can use
    assert [s["port"] for s in node(g, "web")["services"]] == []
    assert not [x for x in g["nodes"] if x["kind"] == "external"]

    # an open problem on db: web is among its dependents, in the map and in the decision's blast radius
    r = classifier.request("POST", "/v1/events", {"source_id": "pg-1", "title": "PostgreSQL is down",
                                                  "severity": "critical", "entity": "db", "tags": {"port": "5432"}})
    assert r.status == 202, r
    entry = r.json()["events"][0]
    assert entry["impact"]["node"] == "db" and entry["impact"]["dependents"] == ["web"]
    assert [d["rule"] for d in entry["decisions"]] == ["db-with-dependents"]  # topology hooks in match and when
    g = graph(classifier)
    assert node(g, "db")["dependents"] == ["web"]
    assert node(g, "db")["problems"][0]["source_id"] == "pg-1"
    assert node(g, "web")["impacted_by"] == ["db"]
    r = classifier.request("POST", "/v1/events", {"source_id": "pg-1", "state": "resolved", "title": "up again",
                                                  "entity": "db"})
    assert r.status == 202

    # the connection closes: the edge ages out (three intervals of 200 ms) while the service stays
    hosts.stop(client)
    g = wait_for(lambda: (lambda g: g if not edge(g, "web", "db", 5432) else None)(graph(classifier)), 15,
                 what="the edge to age out")
    assert node(g, "db")["services"][0]["process"] == "rfx-pgsql"
    assert not node(g, "db")["problems"]
    for a in (db, web):
        a.stop()
        a.forwarder.close()
    hosts.stop(server)


def test_agent_once_in_a_namespace(hosts):
    hosts.run(hosts.db, SERVER)
    hosts.run(hosts.web, CLIENT, DB_ADDR, "2")
    out = subprocess.run(["ip", "netns", "exec", hosts.web, str(BIN / "reflex-agent"), "--once"],
                         env={"REFLEX_NODE_NAME": "web", "PATH": os.environ.get("PATH", "")},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["node"] == "web" and rep["full"] is True and rep["seq"] == 1 and len(rep["boot_id"]) == 26
    assert rep["addresses"] == [WEB_ADDR]
    assert rep["connections"] == [{"direction": "out", "process": "rfx-webapp", "remote": DB_ADDR,
                                   "remote_port": 5432, "count": 2}]
    out = subprocess.run(["ip", "netns", "exec", hosts.db, str(BIN / "reflex-agent"), "--once"],
                         env={"REFLEX_NODE_NAME": "db", "REFLEX_SOCKET_SOURCE": "proc",
                              "PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=30)
    rep = json.loads(out.stdout)
    assert rep["services"] == [{"port": 5432, "proto": "tcp", "process": "rfx-pgsql"}]
    assert rep["connections"] == [{"direction": "in", "process": "rfx-pgsql", "local_port": 5432,
                                   "remote": WEB_ADDR, "count": 2}]
