"""reflex-action-handler against a real OpenSSH server on 127.0.0.1: signed actions run over SSH and their effects
land on disk; everything the handler must refuse or cut off is refused or cut off, with the reason recorded and
the command not run.

The helpers here (handler start-up, signing, action bodies) are shared by the other test_action_handler_* files."""
import hashlib
import hmac
import itertools
import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from harness import Service, audit_records, wait_for
from sshd import SilentServer, Sshd

KEY = b"reflex-test-hmac-key-0123456789abcdef"
API_TOKEN = "api-token-for-tests"
ADMIN_TOKEN = "admin-token-for-tests"
_ids = itertools.count(1)


def sign(body, key=KEY):
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def new_id(prefix="A"):
    return f"{prefix}{os.getpid()}T{time.monotonic_ns()}N{next(_ids)}"


def action(targets, command, **fields):
    """An action body as the classifier sends it; fields override the defaults."""
    body = {
        "action_id": new_id(),
        "event_id": new_id("E"),
        "source": "alertmanager",
        "source_id": new_id("fp"),
        "entity": "web-01",
        "event_type": "ServiceDown",
        "title": "nginx is down",
        "rule": "test-rule",
        "rule_version": "3f2a9c1b",
        "type": "ssh",
        "targets": list(targets),
        "command": command,
        "verify": None,
        "user": None,
        "timeout": 10,
        "mode": "enforce",
        "limits": {},
        "on_success": None,
        "on_failure": None,
        "created_at": "2026-11-22T01:21:04.264Z",
    }
    body.update(fields)
    return body


class Handler(Service):
    """A real reflex-action-handler with its own HMAC key, tokens, spool and audit file under workdir."""

    def __init__(self, workdir, srv=None, **config):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "hmac.key").write_bytes(KEY + b"\n")
        (workdir / "api-tokens").write_text(API_TOKEN + "\n")
        (workdir / "admin-tokens").write_text(ADMIN_TOKEN + "\n")
        cfg = {
            "hmac_key_file": str(workdir / "hmac.key"),
            "api_tokens_file": str(workdir / "api-tokens"),
            "admin_tokens_file": str(workdir / "admin-tokens"),
            "spool_dir": str(workdir / "spool"),
            "audit_file": str(workdir / "audit.jsonl"),
            "targets_allowed": ["127.0.0.1"],
            "workers": 4,
            "ssh_connect_timeout": "3s",
            "shutdown_grace": "1s",
        }
        if srv is not None:
            cfg.update(ssh_key_file=str(srv.client_key), ssh_known_hosts_file=str(srv.known_hosts_file),
                       ssh_user=srv.user)
        cfg.update(config)
        super().__init__("reflex-action-handler", workdir, cfg, token=API_TOKEN)
        self.audit_path = workdir / "audit.jsonl"

    def post(self, body, key=KEY, signature=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"}
        sig = signature if signature is not None else sign(data, key)
        if sig:
            hdrs["X-Reflex-Signature"] = sig
        return self.request("POST", "/v1/actions", data, hdrs)

    def get(self, action_id):
        r = self.request("GET", f"/v1/actions/{action_id}")
        return r.json() if r.status == 200 else None

    def wait_final(self, action_id, timeout=15.0):
        def final():
            a = self.get(action_id)
            return a if a and a["state"] not in ("queued", "running") else None
        return wait_for(final, timeout, what=f"action {action_id} to finish")

    def wait_state(self, action_id, state, timeout=15.0):
        return wait_for(lambda: (self.get(action_id) or {}).get("state") == state and self.get(action_id), timeout,
                        what=f"action {action_id} in state {state}")

    def pause(self, token=ADMIN_TOKEN):
        return self.request("POST", "/v1/pause", token=token)

    def resume(self, token=ADMIN_TOKEN):
        return self.request("POST", "/v1/resume", token=token)

    def audit(self):
        return audit_records(self.audit_path)

    def metric(self, name, labels=""):
        text = self.request("GET", "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + ("{" + labels + "}" if labels else " ")):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture
def sshd(tmp_path):
    srv = Sshd(tmp_path / "sshd", ports=3).start()
    yield srv
    srv.stop()


@pytest.fixture
def handler(services, tmp_path, sshd):
    return services.add(Handler(tmp_path / "ah", sshd)).start()


def start_handler(services, tmp_path, srv, name="ah", **config):
    return services.add(Handler(tmp_path / name, srv, **config)).start()


# ---- running ----

def test_runs_on_every_target_and_records_the_result(handler, sshd):
    out = sshd.scratch
    body = action([sshd.target(0), sshd.target(1)], f"echo hello; echo warning >&2; mktemp {out}/ran.XXXXXX",
                  verify=f"ls {out} | grep -q ran", timeout=20)
    r = handler.post(body)
    assert r.status == 202, r
    assert r.json() == {"action_id": body["action_id"], "state": "queued"}
    a = handler.wait_final(body["action_id"])
    assert a["state"] == "succeeded", a
    assert len(list(out.glob("ran.*"))) == 2, "the command ran once on each target"
    assert [x["target"] for x in a["results"]] == body["targets"]
    for res in a["results"]:
        assert res["state"] == "succeeded" and res["exit_status"] == 0 and res["verify_exit_status"] == 0
        assert res["stdout"].startswith("hello\n") and res["stderr"] == "warning\n"
        assert res["started_at"] and res["finished_at"] and res["duration_ms"] >= 0
    assert a["user"] == sshd.user and a["received_at"] and a["finished_at"]
    # logfmt lines and audit records for queued, started, finished.
    handler.wait_log(msg="action finished", action_id=body["action_id"], state="succeeded")
    assert handler.wait_log(msg="action queued", action_id=body["action_id"])["rule"] == "test-rule"
    started = [l for l in handler.log_records() if l.get("msg") == "action started"
               and l.get("action_id") == body["action_id"]]
    assert sorted(l["target"] for l in started) == sorted(body["targets"])
    # action.finished is emitted once the final state is on disk, which may be just after the log line.
    wait_for(lambda: any(x["type"] == "action.finished" and x.get("action_id") == body["action_id"]
                         for x in handler.audit()), what="action.finished audit record")
    types = [x["type"] for x in handler.audit() if x.get("action_id") == body["action_id"]]
    assert types.count("action.queued") == 1 and types.count("action.started") == 2
    assert types.count("action.finished") == 1
    assert handler.metric("reflex_actions_total", 'state="succeeded"') >= 1


def test_queued_runs_on_one_target_run_one_at_a_time_in_order(handler, sshd):
    """Runs waiting for the same target start one after another, in the order they were accepted, never two at
    once; each gets its own result and its own action.finished record."""
    log = sshd.scratch / "order"
    bodies = [action([sshd.target(0)], f"echo start {i} >> {log}; sleep 0.05; echo end {i} >> {log}")
              for i in range(5)]
    for b in bodies:
        assert handler.post(b).status == 202
    for b in bodies:
        assert handler.wait_final(b["action_id"])["state"] == "succeeded"
    expected = "".join(f"start {i}\nend {i}\n" for i in range(5))
    assert log.read_text() == expected, "one run at a time on a target, in order"
    ids = {b["action_id"] for b in bodies}
    wait_for(lambda: len({x["action_id"] for x in handler.audit()
                          if x["type"] == "action.finished" and x.get("action_id") in ids}) == 5,
             what="action.finished for every run")
    finished = [x for x in handler.audit() if x["type"] == "action.finished" and x.get("action_id") in ids]
    assert len(finished) == 5 and all(x["state"] == "succeeded" for x in finished)


def sshd_connection_pids(srv):
    """The processes the sshd listener forked for its connections (by parent pid)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rpartition(")")[2].split()[1]) == srv.proc.pid:
                    pids.append(int(d.name))
            except (OSError, ValueError):
                pass
    return pids


def test_a_pooled_connection_that_died_is_replaced_without_failing_the_action(handler, sshd):
    """A warm connection that the target dropped while idle (sshd restarted, a reboot, a firewall) costs a new
    connection, not a failed action, and the command still runs exactly once."""
    log = sshd.scratch / "runs"
    first = action([sshd.target(0)], f"echo one >> {log}")
    assert handler.post(first).status == 202
    assert handler.wait_final(first["action_id"])["state"] == "succeeded"
    pids = wait_for(lambda: sshd_connection_pids(sshd), what="the pooled connection's sshd process")
    for pid in pids:  # the server side of the idle pooled connection goes away
        os.kill(pid, 15)
    wait_for(lambda: not sshd_connection_pids(sshd), what="the connection's sshd process to exit")
    second = action([sshd.target(0)], f"echo two >> {log}")
    assert handler.post(second).status == 202
    a = handler.wait_final(second["action_id"])
    assert a["state"] == "succeeded", a
    assert log.read_text() == "one\ntwo\n"
    assert sshd_connection_pids(sshd), "a new connection replaced the dead one"


def test_failed_command_records_exit_status(handler, sshd):
    body = action([sshd.target(0)], "echo partial; exit 3")
    assert handler.post(body).status == 202
    a = handler.wait_final(body["action_id"])
    assert a["state"] == "failed" and a["reason"] == "exit_status"
    assert a["results"][0]["exit_status"] == 3 and a["results"][0]["stdout"] == "partial\n"


def test_dry_run_is_recorded_and_never_executed(handler, sshd):
    marker = sshd.scratch / "dry"
    body = action([sshd.target(0)], f"touch {marker}", mode="dry-run")
    r = handler.post(body)
    assert r.status == 202 and r.json()["state"] == "dry-run"
    a = handler.get(body["action_id"])
    assert a["state"] == "dry-run" and a["results"][0]["state"] == "dry-run"
    time.sleep(0.3)  # nothing is scheduled for a dry run; give a wrongly scheduled run a chance to show
    assert not marker.exists()


def test_repeated_action_id_returns_the_existing_action(handler, sshd):
    log = sshd.scratch / "count"
    body = action([sshd.target(0)], f"echo x >> {log}")
    assert handler.post(body).status == 202
    handler.wait_final(body["action_id"])
    again = handler.post(body)
    assert again.status == 200 and again.json()["action_id"] == body["action_id"]
    assert again.json()["state"] == "succeeded"
    time.sleep(0.3)
    assert log.read_text() == "x\n", "ran exactly once"


def test_list_and_filters(handler, sshd):
    a1 = action([sshd.target(0)], "true", rule="rule-one")
    a2 = action([sshd.target(1)], "false", rule="rule-two")
    for b in (a1, a2):
        assert handler.post(b).status == 202
    handler.wait_final(a1["action_id"])
    handler.wait_final(a2["action_id"])
    ids = lambda r: [x["action_id"] for x in r.json()["actions"]]
    assert ids(handler.request("GET", "/v1/actions?rule=rule-one")) == [a1["action_id"]]
    assert ids(handler.request("GET", "/v1/actions?state=failed")) == [a2["action_id"]]
    assert ids(handler.request("GET", f"/v1/actions?target={sshd.target(1)}")) == [a2["action_id"]]
    assert ids(handler.request("GET", "/v1/actions?limit=1")) == [a2["action_id"]], "newest first"
    listed = handler.request("GET", "/v1/actions").json()["actions"][0]
    assert "stdout" not in listed["results"][0], "lists leave captured output out"
    assert handler.request("GET", "/v1/actions?state=bogus").status == 400
    assert handler.request("GET", "/v1/actions?limit=0").status == 400
    assert handler.request("GET", "/v1/actions", token="wrong").status == 401
    assert handler.request("GET", "/v1/actions/nope").status == 404


# ---- refusals ----

def assert_refused(handler, body, status, reason, marker):
    r = handler.post(body)
    assert r.status == status, r
    j = r.json()
    assert j["error"]["code"] == reason and j["reason"] == reason and j["state"] == "refused"
    a = handler.get(body["action_id"])
    assert a and a["state"] == "refused" and a["reason"] == reason, a
    time.sleep(0.2)
    assert not marker.exists(), "a refused action must not run"
    handler.wait_log(msg="action refused", action_id=body["action_id"], reason=reason)
    return a


@pytest.mark.parametrize("case", ["missing", "wrong-key", "tampered", "garbage"])
def test_bad_or_missing_signature_is_401_and_nothing_is_stored(handler, sshd, case):
    marker = sshd.scratch / f"sig-{case}"
    body = action([sshd.target(0)], f"touch {marker}")
    data = json.dumps(body).encode()
    if case == "missing":
        r = handler.post(body, signature="")
    elif case == "wrong-key":
        r = handler.post(body, key=b"some-other-key-0123456789")
    elif case == "tampered":
        r = handler.post(None, raw=data.replace(b"touch", b"rm -f"), signature=sign(data))
    else:
        r = handler.post(body, signature="sha256=zz" + "0" * 62)
    assert r.status == 401 and r.json()["error"]["code"] == "bad_signature"
    assert handler.request("GET", f"/v1/actions/{body['action_id']}").status == 404
    assert handler.request("GET", "/v1/actions").json()["actions"] == []
    time.sleep(0.2)
    assert not marker.exists()
    assert KEY.decode() not in handler.stdout() + handler.stderr()


def test_target_outside_the_allow_list_is_403(handler, sshd):
    marker = sshd.scratch / "not-allowed"
    # localhost reaches the same server, but only 127.0.0.1 is allowed.
    body = action([sshd.target(0), f"localhost:{sshd.port}"], f"touch {marker}")
    a = assert_refused(handler, body, 403, "target_not_allowed", marker)
    assert "localhost" in a["error"]


def test_cooldown_per_rule_and_target(handler, sshd):
    m1, m2, m3 = (sshd.scratch / n for n in ("cd1", "cd2", "cd3"))
    lim = {"cooldown": 600}
    first = action([sshd.target(0)], f"touch {m1}", limits=lim)
    assert handler.post(first).status == 202
    assert handler.wait_final(first["action_id"])["state"] == "succeeded"
    assert_refused(handler, action([sshd.target(0)], f"touch {m2}", limits=lim), 409, "cooldown", m2)
    # Another target, or another rule on the same target, is not in this cooldown.
    other = action([sshd.target(1)], f"touch {m3}", limits=lim)
    assert handler.post(other).status == 202
    assert handler.wait_final(other["action_id"])["state"] == "succeeded" and m3.exists()


def test_max_attempts_per_problem(handler, sshd):
    lim = {"max_attempts": 2}
    for i in range(2):
        b = action([sshd.target(i)], "true", limits=lim, source_id="fp-same-problem")
        assert handler.post(b).status == 202
    marker = sshd.scratch / "third-attempt"
    assert_refused(handler, action([sshd.target(2)], f"touch {marker}", limits=lim, source_id="fp-same-problem"),
                   409, "max_attempts", marker)


def test_max_per_hour_per_rule(handler, sshd):
    lim = {"max_per_hour": 3}
    assert handler.post(action([sshd.target(0), sshd.target(1)], "true", limits=lim)).status == 202
    assert handler.post(action([sshd.target(2)], "true", limits=lim)).status == 202
    marker = sshd.scratch / "over-hourly"
    assert_refused(handler, action([sshd.target(0)], f"touch {marker}", limits=lim), 409, "max_per_hour", marker)
    assert handler.metric("reflex_actions_refused_total", 'reason="max_per_hour"') == 1


def test_max_targets_per_event(handler, sshd):
    marker = sshd.scratch / "blast"
    body = action([sshd.target(0), sshd.target(1), sshd.target(2)], f"touch {marker}", limits={"max_targets": 2})
    assert_refused(handler, body, 409, "max_targets", marker)


def test_pause_refuses_new_actions_and_holds_the_queue(handler, sshd):
    assert handler.pause(token=API_TOKEN).status in (401, 403), "pause needs an admin token"
    # One long action occupies the target; the next waits in the queue behind it.
    long_ = action([sshd.target(0)], "sleep 1")
    queued_marker = sshd.scratch / "held"
    held = action([sshd.target(0)], f"touch {queued_marker}")
    assert handler.post(long_).status == 202
    handler.wait_state(long_["action_id"], "running")
    assert handler.post(held).status == 202
    r = handler.pause()
    assert r.status == 200 and r.json() == {"paused": True}
    assert handler.request("GET", "/v1/status").json()["paused"] is True
    paused_marker = sshd.scratch / "paused"
    assert_refused(handler, action([sshd.target(1)], f"touch {paused_marker}"), 409, "paused", paused_marker)
    handler.wait_final(long_["action_id"])  # a running action finishes
    time.sleep(0.5)
    assert handler.get(held["action_id"])["state"] == "queued" and not queued_marker.exists()
    assert handler.resume().json() == {"paused": False}
    assert handler.wait_final(held["action_id"])["state"] == "succeeded" and queued_marker.exists()


def test_malformed_requests_are_400_and_not_stored(handler, sshd):
    cases = [
        (b"{not json", None),
        (json.dumps(action([], "true")).encode(), "targets"),
        (json.dumps(action(["-oProxyCommand=x"], "true")).encode(), "targets[0]"),
        (json.dumps(action(["web-01;rm"], "true")).encode(), "targets[0]"),
        (json.dumps(action([sshd.target(0)], "true", limits={"cooldwn": 5})).encode(), "limits"),
        (json.dumps(action([sshd.target(0)], "true", mode="yolo")).encode(), "mode"),
        (json.dumps(action([sshd.target(0)], "true", type="telnet")).encode(), "type"),
        (json.dumps(action([sshd.target(0)], "true", timeout="60")).encode(), "timeout"),
        (json.dumps(action([sshd.target(0)], "true", user="root; id")).encode(), "user"),
        (json.dumps(action([sshd.target(0), sshd.target(0)], "true")).encode(), "targets[1]"),
        (json.dumps({k: v for k, v in action([sshd.target(0)], "true").items() if k != "command"}).encode(),
         "command"),
    ]
    for raw, field in cases:
        r = handler.post(None, raw=raw)
        assert r.status == 400, (raw, r)
        if field:
            assert r.json()["error"]["field"] == field, (raw, r.json())
    assert handler.request("GET", "/v1/actions").json()["actions"] == []


# ---- faults on the target ----

def test_host_key_mismatch_fails_without_running(services, tmp_path, sshd):
    other = Sshd(tmp_path / "other-sshd")  # only for its host key
    other._make_dirs()
    from sshd import keygen
    keygen(other.host_key, "someone-else")
    kind, blob = other.host_public_key()
    kh = tmp_path / "known_hosts_wrong"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n")
    h = start_handler(services, tmp_path, sshd, ssh_known_hosts_file=str(kh))
    marker = sshd.scratch / "mitm"
    body = action([sshd.target(0)], f"touch {marker}")
    assert h.post(body).status == 202
    a = h.wait_final(body["action_id"])
    assert a["state"] == "failed" and a["reason"] == "host_key_changed", a
    assert not marker.exists()
    # A port with no entry at all is unknown, and never learnt.
    body2 = action([sshd.target(1)], f"touch {marker}")
    assert h.post(body2).status == 202
    assert h.wait_final(body2["action_id"])["reason"] == "host_key_unknown"
    assert not marker.exists()
    assert kh.read_text().count("\n") == 1, "known_hosts is never written"


def test_unreachable_host_times_out_on_connect(services, tmp_path, sshd):
    silent = SilentServer()
    try:
        h = start_handler(services, tmp_path, sshd, ssh_connect_timeout="1s")
        body = action([f"127.0.0.1:{silent.port}"], "true")
        assert h.post(body).status == 202
        t0 = time.monotonic()
        a = h.wait_final(body["action_id"])
        assert a["state"] == "failed" and a["reason"] == "connect_timeout", a
        assert time.monotonic() - t0 < 5
    finally:
        silent.close()


def test_refused_connection_fails(handler, sshd):
    s = SilentServer()
    port = s.port
    s.close()  # nothing listens there now
    body = action([f"127.0.0.1:{port}"], "true")
    assert handler.post(body).status == 202
    a = handler.wait_final(body["action_id"])
    assert a["state"] == "failed" and a["reason"] == "connect_failed", a


def test_hanging_command_is_stopped_at_the_timeout(handler, sshd):
    marker = sshd.scratch / "late"
    body = action([sshd.target(0)], f"echo started; sleep 2; touch {marker}", timeout=0.5)
    t0 = time.monotonic()
    assert handler.post(body).status == 202
    a = handler.wait_final(body["action_id"])
    assert a["state"] == "timeout" and a["reason"] == "timeout", a
    assert a["results"][0]["stdout"] == "started\n"
    assert time.monotonic() - t0 < 2, "the run ends at the timeout, not when the command would"
    # The command was stopped on the target: its last step never happens.
    time.sleep(max(0, 2.6 - (time.monotonic() - t0)))
    assert not marker.exists()
    # The target is free again right away.
    nxt = action([sshd.target(0)], "true")
    assert handler.post(nxt).status == 202
    assert handler.wait_final(nxt["action_id"])["state"] == "succeeded"


def test_failing_verify_fails_the_action(handler, sshd):
    marker = sshd.scratch / "restarted"
    body = action([sshd.target(0)], f"touch {marker}", verify="echo not active; exit 3")
    assert handler.post(body).status == 202
    a = handler.wait_final(body["action_id"])
    assert a["state"] == "failed" and a["reason"] == "verify_failed", a
    res = a["results"][0]
    assert res["exit_status"] == 0 and res["verify_exit_status"] == 3
    assert res["verify_output"] == "not active\n"
    assert marker.exists(), "the command itself ran"


def test_output_beyond_the_cap_is_truncated(services, tmp_path, sshd):
    h = start_handler(services, tmp_path, sshd, output_max_bytes="1KiB")
    body = action([sshd.target(0)], "head -c 300000 /dev/zero | tr '\\0' a; echo done >&2")
    assert h.post(body).status == 202
    a = h.wait_final(body["action_id"])
    res = a["results"][0]
    assert a["state"] == "succeeded", a
    assert res["stdout"] == "a" * 1024 and res["stdout_truncated"] is True
    assert res["stderr"] == "done\n" and res["stderr_truncated"] is False


# ---- template injection ----

INJECTIONS = ["$(touch {d}/pwned1)", "'; touch {d}/pwned2 #", "`touch {d}/pwned3`", "\"; touch {d}/pwned4; \"",
              "a\nb; touch {d}/pwned5", "$((1+1)) ${{HOME}} * ?"]


def test_quoted_values_reach_the_command_as_inert_text(handler, sshd):
    d = sshd.scratch
    out = d / "values"
    values = [v.format(d=d) for v in INJECTIONS]
    # What the classifier renders for `printf '%s\n' {{tags.x}} >> out`: every value single-quoted.
    cmd = "; ".join(f"printf '%s\\n' {shlex.quote(v)} >> {out}" for v in values)
    body = action([sshd.target(0)], cmd)
    assert handler.post(body).status == 202
    assert handler.wait_final(body["action_id"])["state"] == "succeeded"
    assert out.read_text() == "".join(v + "\n" for v in values)
    assert not list(d.glob("pwned*"))


# ---- the CLI ----

def reflex(*args, env=None):
    from harness import BIN
    return subprocess.run([str(BIN / "reflex"), *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def test_reflex_actions_list_and_show(handler, sshd, tmp_path):
    ok = action([sshd.target(0)], "echo fine", rule="cli-rule")
    bad = action([sshd.target(1)], "echo broken >&2; exit 4", rule="cli-rule")
    for b in (ok, bad):
        assert handler.post(b).status == 202
    handler.wait_final(ok["action_id"])
    handler.wait_final(bad["action_id"])
    tok = tmp_path / "cli-token"
    tok.write_text(API_TOKEN + "\n")
    common = ["--url", handler.url, "--token-file", str(tok)]
    r = reflex("actions", "list", "--state", "failed", *common)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ACTION", "STATE", "RULE"]
    assert len(lines) == 2 and lines[1].split()[:3] == [bad["action_id"], "failed", "cli-rule"]
    r = reflex("actions", "list", "--json", "--rule", "cli-rule", "--limit", "5",
               env={"REFLEX_ACTIONS_URL": handler.url, "REFLEX_TOKEN_FILE": str(tok)})
    assert r.returncode == 0 and [a["action_id"] for a in json.loads(r.stdout)["actions"]] == [
        bad["action_id"], ok["action_id"]]
    r = reflex("actions", "show", bad["action_id"], *common)
    assert r.returncode == 0, r.stderr
    assert f"action    {bad['action_id']}" in r.stdout and "state     failed (exit_status)" in r.stdout
    assert f"target {sshd.target(1)}: failed (exit_status), exit 4" in r.stdout and "    broken" in r.stdout
    r = reflex("actions", "show", "no-such-action", *common)
    assert r.returncode == 1 and "404" in r.stderr
    r = reflex("actions", "list", "--url", handler.url)  # no token
    assert r.returncode == 1 and "401" in r.stderr
    assert reflex("actions", "frobnicate").returncode == 2
