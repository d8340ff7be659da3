"""Integration harness: starts the real Reflex binaries on free loopback ports and talks to them over HTTP.

    svc = Service("reflex-classifier", tmp_path, {"rules_dir": str(rules)}).start()
    r = svc.request("POST", "/v1/events", {"title": "x"})
    assert r.status == 202
    svc.stop()          # fails the test if the process wrote a sanitizer report or crashed

Logs: Service.log_records() parses the logfmt stdout into dicts.
"""
import http.client as httpclient
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("REFLEX_BUILD", "build")
BIN = BUILD / "bin"

SANITIZER_RE = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer)")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def http(method, url, body=None, headers=None, timeout=10.0):
    """One HTTP request. body: bytes, str, or anything JSON-serialisable (sent as application/json)."""
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        try:
            conn.request(method, path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered early (e.g. 413 for a body over the limit) and closed: read that answer.
            pass
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def wait_for(cond, timeout=10.0, interval=0.05, what="condition"):
    """Polls cond() until it returns a truthy value; returns it, or raises AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
            if last:
                return last
        except (OSError, httpclient.HTTPException) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def parse_logfmt(line):
    """Decodes one logfmt line into a dict (quoted values with \\ escapes)."""
    out = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        j = i
        while j < n and line[j] not in "= ":
            j += 1
        key = line[i:j]
        if not key:
            break
        if j < n and line[j] == "=":
            j += 1
            if j < n and line[j] == '"':
                j += 1
                val = []
                while j < n and line[j] != '"':
                    if line[j] == "\\" and j + 1 < n:
                        j += 1
                        c = line[j]
                        if c == "x" and j + 2 < n:
                            val.append(chr(int(line[j + 1 : j + 3], 16)))
                            j += 2
                        else:
                            val.append({"n": "\n", "r": "\r", "t": "\t"}.get(c, c))
                    else:
                        val.append(line[j])
                    j += 1
                j += 1
                out[key] = "".join(val)
            else:
                k = j
                while k < n and line[k] != " ":
                    k += 1
                out[key] = line[j:k]
                j = k
        else:
            out[key] = ""
        i = j
    return out


def write_yaml(path, data):
    """Writes a (flat or nested) dict as YAML (JSON is valid YAML 1.2 flow style, and libyaml reads it)."""
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    return path


class Service:
    """A real Reflex binary started with its own config file on a free port."""

    def __init__(self, binary, workdir, config=None, env=None, args=(), token=None, name=None):
        self.binary = str(BIN / binary)
        self.name = name or binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = dict(config or {})
        self.config.setdefault("bind", "127.0.0.1")
        if "port" not in self.config:
            self.config["port"] = free_port()
        self.port = int(self.config["port"])
        self.env = dict(env or {})
        self.args = list(args)
        self.token = token
        self.proc = None
        self.stdout_path = self.workdir / f"{self.name}.stdout"
        self.stderr_path = self.workdir / f"{self.name}.stderr"
        self.config_path = self.workdir / f"{self.name}.yaml"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready=True, timeout=15.0):
        write_yaml(self.config_path, self.config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REFLEX_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        env.update(self.env)
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--config", str(self.config_path), *self.args],
            stdout=self._out, stderr=self._err, env=env, cwd=self.workdir)
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=15.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}: {self.stderr()[-2000:]}{self.stdout()[-2000:]}")
            return http("GET", self.url + "/readyz", timeout=2).status == 200
        wait_for(ready, timeout, what=f"{self.name} /readyz")

    def request(self, method, path, body=None, headers=None, token=None, timeout=10.0):
        hdrs = dict(headers or {})
        tok = token if token is not None else self.token
        if tok:
            hdrs.setdefault("Authorization", f"Bearer {tok}")
        return http(method, self.url + path, body, hdrs, timeout)

    def stdout(self):
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def log_records(self):
        return [parse_logfmt(l) for l in self.stdout().splitlines() if l.startswith("ts=")]

    def wait_log(self, timeout=10.0, **fields):
        """Waits for a log record whose fields include all of the given key=value pairs."""
        def found():
            for r in self.log_records():
                if all(r.get(k) == str(v) for k, v in fields.items()):
                    return r
            return None
        return wait_for(found, timeout, what=f"log line {fields} from {self.name}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close()

    def stop(self, check=True, timeout=15.0):
        """Stops with SIGTERM; with check, asserts a clean exit and no sanitizer report."""
        if self.proc is None:
            return
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"{self.name} did not stop on SIGTERM within {timeout}s")
        self._close()
        self.proc = None
        if check:
            err = self.stderr()
            m = SANITIZER_RE.search(err)
            assert not m, f"{self.name} sanitizer report:\n{err[-6000:]}"
            assert rc == 0, f"{self.name} exited with {rc}:\n{err[-3000:]}"

    def _close(self):
        for f in ("_out", "_err"):
            fh = getattr(self, f, None)
            if fh:
                fh.close()
                setattr(self, f, None)


def start_classifier(services, workdir, rules=None, token="test-token", env=None, **config):
    """Starts a real reflex-classifier with its own rules directory (rules: {file name: YAML text}), API token,
    state directory and audit file under workdir. Extra keyword arguments are config keys."""
    workdir = Path(workdir)
    rules_dir = workdir / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (rules or {}).items():
        (rules_dir / name).write_text(text)
    tok = workdir / "api-token"
    tok.write_text(token + "\n")
    cfg = {
        "rules_dir": str(rules_dir),
        "api_tokens_file": str(tok),
        "state_dir": str(workdir / "state"),
        "audit_file": str(workdir / "audit.jsonl"),
        "rules_check_interval": "1s",
    }
    cfg.update(config)
    svc = Service("reflex-classifier", workdir, cfg, token=token, env=env)
    services.add(svc)
    return svc.start()


def audit_records(path):
    """The JSON-lines audit file as a list of dicts (empty when it does not exist yet)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
