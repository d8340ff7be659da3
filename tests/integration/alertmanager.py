"""A real Prometheus Alertmanager (the Debian package) for tests: started on a free loopback port with its own
configuration and storage, clustering off, stopped by pid.

    am = Alertmanager(tmp_path).start()          # or Alertmanager(tmp_path, config=YAML_TEXT)
    am = Alertmanager(tmp_path, webhook_url=classifier.url + "/v1/events/alertmanager", token_file=path).start()
    am.post_alert({"alertname": "ServiceDown", "instance": "web-01:9100"}, {"summary": "nginx is down"})
    am.resolve({"alertname": "ServiceDown", "instance": "web-01:9100"})
    sid = am.silence({"alertname": "DiskFull"}, minutes=30)
    am.expire_silence(sid)
    am.stop()
"""
import datetime
import os
import shutil
import signal
import subprocess
from pathlib import Path

from harness import free_port, http, wait_for

BINARY = os.environ.get("REFLEX_ALERTMANAGER", shutil.which("prometheus-alertmanager") or
                        "/usr/bin/prometheus-alertmanager")

DEFAULT_CONFIG = """
route:
  receiver: "null"
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
"""


WEBHOOK_CONFIG = """
route:
  receiver: webhook
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: "{url}"
        send_resolved: true
{auth}"""


def webhook_config(url, token_file=None):
    """A configuration sending every alert (and its resolution) to url, with a bearer token from token_file."""
    auth = ""
    if token_file:
        auth = f"""        http_config:
          authorization:
            type: Bearer
            credentials_file: "{token_file}"
"""
    return WEBHOOK_CONFIG.format(url=url, auth=auth)


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


class Alertmanager:
    def __init__(self, workdir, config=None, port=None, name="alertmanager", webhook_url=None, token_file=None):
        self.workdir = Path(workdir) / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        if config is None:
            config = webhook_config(webhook_url, token_file) if webhook_url else DEFAULT_CONFIG
        self.config_text = config
        self.port = port or free_port()
        self.proc = None
        self.log_path = self.workdir / "alertmanager.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20.0):
        cfg = self.workdir / "alertmanager.yml"
        cfg.write_text(self.config_text)
        storage = self.workdir / "data"
        storage.mkdir(exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [BINARY, f"--config.file={cfg}", f"--storage.path={storage}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             f"--web.external-url=http://127.0.0.1:{self.port}/"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"alertmanager exited with {self.proc.returncode}: {self.log()[-2000:]}")
            return http("GET", self.url + "/-/ready", timeout=2).status == 200
        wait_for(ready, timeout, what="alertmanager /-/ready")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _post(self, path, body):
        r = http("POST", self.url + path, body)
        assert 200 <= r.status < 300, f"alertmanager {path}: {r}"
        return r

    def post_alert(self, labels, annotations=None, starts_at=None, ends_at=None, generator_url=None):
        """Posts one alert (POST /api/v2/alerts); returns the alert as sent."""
        alert = {"labels": dict(labels), "annotations": dict(annotations or {})}
        alert["startsAt"] = rfc3339(starts_at or now() - datetime.timedelta(seconds=5))
        if ends_at:
            alert["endsAt"] = rfc3339(ends_at)
        if generator_url:
            alert["generatorURL"] = generator_url
        self._post("/api/v2/alerts", [alert])
        return alert

    def resolve(self, labels, annotations=None):
        """Resolves an alert the way Prometheus does: the same labels with endsAt in the past."""
        return self.post_alert(labels, annotations, starts_at=now() - datetime.timedelta(minutes=5),
                               ends_at=now() - datetime.timedelta(seconds=1))

    def silence(self, matchers, minutes=30, comment="maintenance", created_by="reflex-tests"):
        """Silences alerts matching {label: value} (equality matchers); returns the silence id."""
        body = {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
                "startsAt": rfc3339(now() - datetime.timedelta(seconds=1)),
                "endsAt": rfc3339(now() + datetime.timedelta(minutes=minutes)),
                "createdBy": created_by, "comment": comment}
        return self._post("/api/v2/silences", body).json()["silenceID"]

    def expire_silence(self, silence_id):
        r = http("DELETE", f"{self.url}/api/v2/silence/{silence_id}")
        assert 200 <= r.status < 300, f"alertmanager expire silence: {r}"

    def alerts(self, **params):
        """GET /api/v2/alerts with query parameters (e.g. silenced="false")."""
        q = "&".join(f"{k}={v}" for k, v in params.items())
        r = http("GET", f"{self.url}/api/v2/alerts" + (f"?{q}" if q else ""))
        assert r.status == 200, r
        return r.json()

    def wait_alert_state(self, labels, state, timeout=10.0):
        """Waits until an alert with these labels has status.state `state` (active, suppressed, unprocessed)."""
        def match():
            for a in self.alerts():
                if all(a["labels"].get(k) == v for k, v in labels.items()) and a["status"]["state"] == state:
                    return a
            return None
        return wait_for(match, timeout, what=f"alert {labels} {state}")
