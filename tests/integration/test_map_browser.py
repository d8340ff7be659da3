"""The /map page in a real browser: headless Debian Chromium, driven over the DevTools protocol (stdlib only),
loads the page from a running classifier and must show the nodes, the problem and its blast radius, follow live
updates, and show a node's services and problems when the node is clicked on the canvas. A screenshot is saved
under the test's tmp dir."""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

from harness import ROOT, Service, wait_for

TOKEN = "map-test-token"
CHROMIUM = shutil.which("chromium")


class DevTools:
    """A minimal WebSocket client for one Chromium page target (RFC 6455 client frames are masked)."""

    def __init__(self, ws_url, timeout=20.0):
        assert ws_url.startswith("ws://")
        hostport, path = ws_url[5:].split("/", 1)
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            assert chunk, "DevTools closed the handshake"
            head += chunk
        assert head.split(b"\r\n", 1)[0].split()[1] == b"101", head[:200]
        self.buf = head.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "DevTools connection closed"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _send_frame(self, payload, opcode=0x1):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _recv_message(self):
        data = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self._send_frame(payload, 0xA)
                continue
            if opcode == 0x8:
                raise AssertionError("DevTools closed the connection")
            data += payload
            if b0 & 0x80:
                return json.loads(data)

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self._send_frame(json.dumps({"id": my_id, "method": method, "params": params}).encode())
        while True:
            msg = self._recv_message()
            if msg.get("id") == my_id:
                assert "error" not in msg, f"{method}: {msg['error']}"
                return msg.get("result", {})

    def eval(self, expr, quiet=False):
        """The value of a JavaScript expression; a thrown exception fails the test (or gives None when quiet)."""
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            assert quiet, f"{expr}: {r['exceptionDetails']}"
            return None
        return r["result"].get("value")

    def close(self):
        self.sock.close()


class Browser:
    """Headless Chromium with a fresh profile, stopped by pid."""

    def __init__(self, workdir):
        self.profile = workdir / "chromium-profile"
        self.profile.mkdir()
        self.log = open(workdir / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--mute-audio", f"--user-data-dir={self.profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1400,900",
             "about:blank"],
            stdout=self.log, stderr=self.log)
        port_file = self.profile / "DevToolsActivePort"
        wait_for(lambda: port_file.exists() and port_file.read_text().strip(), 30, what="DevToolsActivePort")
        port = int(port_file.read_text().split()[0])

        def page_target():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        self.page = DevTools(wait_for(page_target, 20, what="a page target"))

    def wait_js(self, expr, timeout=20.0, what=None):
        # quiet: until the navigation lands, the expression may run against about:blank
        return wait_for(lambda: self.page.eval(expr, quiet=True), timeout, interval=0.1, what=what or expr)

    def click(self, x, y):
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.page.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path):
        data = base64.b64decode(self.page.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return data

    def stop(self):
        self.page.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


def report(node, addr, services=(), connections=(), seq=1):
    return {"node": node, "boot_id": f"boot-{node}", "seq": seq, "full": True, "interval": 10,
            "addresses": [addr], "services": list(services), "connections": list(connections)}


def out(process, remote, port, count=1):
    return {"direction": "out", "process": process, "remote": remote, "remote_port": port, "count": count}


@pytest.fixture
def classifier(services, tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "tokens").write_text(TOKEN + "\n")
    c = services.add(Service("reflex-classifier", tmp_path / "classifier", {
        "rules_dir": str(tmp_path / "rules"), "api_tokens_file": str(tmp_path / "tokens"),
        "web_dir": str(ROOT / "web"), "state_dir": str(tmp_path / "state")}, token=TOKEN)).start()
    for body in (
            report("db-1", "10.20.0.9", [{"port": 5432, "proto": "tcp", "process": "postgres"}]),
            report("web-1", "10.20.0.5", [{"port": 443, "proto": "tcp", "process": "nginx"}],
                   [out("app", "10.20.0.9", 5432, 4)]),
            report("lb-1", "10.20.0.2", [], [out("haproxy", "10.20.0.5", 443, 9)])):
        r = c.request("POST", f"/v1/topology/{body['node']}", body)
        assert r.status == 200, r
    r = c.request("POST", "/v1/events", {"source_id": "pg-down-1", "title": "PostgreSQL is down",
                                         "severity": "critical", "entity": "db-1", "event_type": "PostgresDown",
                                         "tags": {"port": "5432"}})
    assert r.status == 202, r
    return c


def test_map_page_in_headless_chromium(classifier, tmp_path):
    assert CHROMIUM, "chromium is not installed: run `make deps` (scripts/deps.sh installs Debian's chromium)"
    assert (ROOT / "web/node_modules/cytoscape/dist/cytoscape.min.js").exists(), "run `make` (npm ci in web/)"
    b = Browser(tmp_path)
    try:
        b.page.call("Page.enable")
        b.page.call("Page.navigate", url=f"{classifier.url}/map?poll=500#token={TOKEN}")
        b.wait_js("document.querySelectorAll('#nodes li').length === 3", what="three nodes listed")
        state = b.page.eval("Object.fromEntries([...document.querySelectorAll('#nodes li')]"
                            ".map(li => [li.dataset.node, li.dataset.state]))")
        assert state == {"db-1": "problem", "web-1": "impacted", "lb-1": "impacted"}
        problem = b.page.eval("(() => { const li = document.querySelector('#problems li[data-node=\"db-1\"]');"
                              " return li && li.textContent; })()")
        assert problem and "PostgreSQL is down" in problem and "impacts web-1, lb-1" in problem
        # the token left the address bar; Cytoscape drew the graph on its canvas, the problem node in red
        assert b.page.eval("location.hash") == ""
        assert b.page.eval("document.querySelectorAll('#graph canvas').length") >= 1
        assert b.page.eval("reflexMap.cy.getElementById('db-1').hasClass('problem')")
        assert b.page.eval("reflexMap.cy.edges('.into-problem').map(e => e.id())") == ["web-1->db-1:5432"]

        # live update: a new node appears without reloading
        r = classifier.request("POST", "/v1/topology/cache-1",
                               report("cache-1", "10.20.0.7", [], [out("redis-cli", "10.20.0.9", 5432)]))
        assert r.status == 200
        b.wait_js("document.querySelector('#nodes li[data-node=\"cache-1\"]')?.dataset.state === 'impacted'",
                  what="cache-1 drawn as impacted")

        # a click on the database node on the canvas shows its services and open problem
        x, y = b.page.eval("(() => { const p = reflexMap.cy.getElementById('db-1').renderedPosition();"
                           " const r = document.getElementById('graph').getBoundingClientRect();"
                           " return [r.left + p.x, r.top + p.y]; })()")
        b.click(x, y)
        b.wait_js("!document.getElementById('details').hidden", what="the details panel")
        assert b.page.eval("document.getElementById('details-title').textContent") == "db-1"
        svc = b.page.eval("document.querySelector('#details-services tbody').textContent")
        assert "5432" in svc and "postgres" in svc and "problem" in svc
        assert "PostgreSQL is down" in b.page.eval("document.getElementById('details-problems').textContent")

        png = b.screenshot(tmp_path / "map.png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000

        # the problem resolves: the map follows
        r = classifier.request("POST", "/v1/events", {"source_id": "pg-down-1", "state": "resolved",
                                                      "title": "PostgreSQL is down", "entity": "db-1"})
        assert r.status == 202
        b.wait_js("document.querySelector('#nodes li[data-node=\"db-1\"]').dataset.state === 'ok'",
                  what="db-1 back to healthy")
        assert b.page.eval("document.querySelectorAll('#problems li').length") == 0
    finally:
        b.stop()


def test_map_page_asks_for_a_token(classifier, tmp_path):
    """Without a token the page says so and offers a form; with it the map appears."""
    assert CHROMIUM, "chromium is not installed: run `make deps`"
    b = Browser(tmp_path)
    try:
        b.page.call("Page.navigate", url=f"{classifier.url}/map?poll=500")
        b.wait_js("!document.getElementById('token-form').hidden", what="the token form")
        assert "token" in b.page.eval("document.getElementById('status').textContent")
        b.page.eval(f"document.getElementById('token-input').value = '{TOKEN}';"
                    "document.querySelector('#token-form button').click(); true")
        b.wait_js("document.querySelectorAll('#nodes li').length === 3", what="nodes after the token")
    finally:
        b.stop()
