"""`make run`'s script: starts the classifier, the action handler and the demo sshd on loopback, and the sample
event it prints ends in a real remediation over SSH on this machine. Ctrl-C (SIGINT) stops everything."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import BIN, ROOT, free_port, http, wait_for

DEMO_LOG = Path("/tmp/reflex-demo.log")


@pytest.mark.skipif(not (BIN / "reflex-action-handler").exists(), reason="reflex-action-handler not built")
def test_run_local_demo(tmp_path):
    cport, aport, sport = free_port(), free_port(), free_port()
    env = dict(os.environ, REFLEX_RUN_DIR=str(tmp_path / "run"), REFLEX_RUN_CLASSIFIER_PORT=str(cport),
               REFLEX_RUN_HANDLER_PORT=str(aport), DEMO_SSH_PORT=str(sport),
               REFLEX_BUILD=os.environ.get("REFLEX_BUILD", "build"))
    out = open(tmp_path / "run.out", "wb")
    p = subprocess.Popen([str(ROOT / "scripts" / "run-local.sh")], cwd=ROOT, env=env, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: b"Press Ctrl-C to stop." in (tmp_path / "run.out").read_bytes() or p.poll() is not None,
                 60, what="run-local.sh ready")
        text = (tmp_path / "run.out").read_text()
        assert p.poll() is None, text
        assert f"http://127.0.0.1:{cport}" in text and "reflex send --source alertmanager" in text
        before = DEMO_LOG.read_text() if DEMO_LOG.exists() else ""
        send_env = dict(os.environ, REFLEX_URL=f"http://127.0.0.1:{cport}",
                        REFLEX_TOKEN_FILE=str(tmp_path / "run" / "api-token"))
        r = subprocess.run([str(BIN / "reflex"), "send", "--source", "alertmanager",
                            str(ROOT / "examples" / "events" / "alertmanager-nginx-down.json")],
                           env=send_env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)["events"][0]["decisions"][0]
        assert d["rule"] == "demo-local-restart" and d["status"] == "dispatched", d
        tok = (tmp_path / "run" / "api-token").read_text().strip()

        def finished():
            a = http("GET", f"http://127.0.0.1:{aport}/v1/actions/{d['action_id']}",
                     headers={"Authorization": f"Bearer {tok}"}).json()
            return a if a.get("state") in ("succeeded", "failed", "timeout", "refused", "interrupted") else None
        a = wait_for(finished, 30, what="the demo action finished")
        assert a["state"] == "succeeded", a
        after = DEMO_LOG.read_text()
        assert len(after) > len(before) and "restarted nginx on 127.0.0.1" in after[len(before):]
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        p.wait(30)
        out.close()
    # Everything it started is gone: the ports are free again.
    time.sleep(0.2)
    for port in (cport, aport):
        with pytest.raises(OSError):
            http("GET", f"http://127.0.0.1:{port}/healthz", timeout=1)
    pidfile = tmp_path / "run" / "demo" / "sshd.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
