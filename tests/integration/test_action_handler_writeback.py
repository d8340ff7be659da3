"""Write-back of an action's outcome to OpsGenie, Dynatrace and a generic webhook, against local fakes of their
published APIs: what is sent, with which credentials, retried with backoff, and never at the cost of the result."""
import pytest

from harness import wait_for
from fake_writeback import FakeWriteback
from sshd import Sshd
from test_action_handler import Handler, action

OG_KEY = "og-integration-key-123"
DT_TOKEN = "dt0c01.sample.secret"
HOOK_TOKEN = "hook-token-456"


@pytest.fixture
def sshd(tmp_path):
    srv = Sshd(tmp_path / "sshd", ports=2).start()
    yield srv
    srv.stop()


@pytest.fixture
def fake():
    f = FakeWriteback(opsgenie_key=OG_KEY, dynatrace_token=DT_TOKEN, webhook_token=HOOK_TOKEN).start()
    yield f
    f.stop()


def start(services, tmp_path, sshd, fake, **config):
    (tmp_path / "og.key").write_text(OG_KEY + "\n")
    (tmp_path / "dt.token").write_text(DT_TOKEN + "\n")
    (tmp_path / "hook.token").write_text(HOOK_TOKEN + "\n")
    cfg = dict(opsgenie_url=fake.url + "/", opsgenie_api_key_file=str(tmp_path / "og.key"),
               dynatrace_url=fake.url, dynatrace_token_file=str(tmp_path / "dt.token"),
               writeback_backoff="50ms", writeback_retries=3)
    cfg.update(config)
    return services.add(Handler(tmp_path / "ah", sshd, **cfg)).start()


def wait_wb(h, action_id, n, timeout=15):
    def done():
        a = h.get(action_id)
        wb = a["writeback"]
        return a if len(wb) == n and all(s["state"] != "pending" for s in wb) else None
    return wait_for(done, timeout, what=f"write-back of {action_id}")


def test_opsgenie_success_adds_note_and_team_then_closes(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake)
    body = action([sshd.target(0)], "echo restarted", source="opsgenie", source_id="70413a06-38d6-4c85-86e0-1a4b2c",
                  on_success={"note": "Restarted nginx", "close": True, "team": "ops-unix"},
                  on_failure={"note": "Restart failed", "team": "ops-oncall"})
    assert h.post(body).status == 202
    a = wait_wb(h, body["action_id"], 3)
    assert a["state"] == "succeeded"
    assert [(s["sink"], s["op"], s["state"], s["status"]) for s in a["writeback"]] == [
        ("opsgenie", "note", "done", 202), ("opsgenie", "team", "done", 202), ("opsgenie", "close", "done", 202)]
    calls = fake.of("opsgenie")
    assert [c.op for c in calls] == ["notes", "teams", "close"], "note, then team, then close"
    for c in calls:
        assert c.identifier == body["source_id"] and c.query["identifierType"] == ["id"]
        assert c.headers["Authorization"] == f"GenieKey {OG_KEY}"
    note = calls[0].body["note"]
    assert note.startswith("Restarted nginx") and "succeeded" in note and body["action_id"] in note
    assert calls[1].body["team"] == {"name": "ops-unix"}
    assert not fake.of("dynatrace"), "an OpsGenie alert is not commented on in Dynatrace"
    assert OG_KEY not in h.stdout() + h.stderr()
    types = [r for r in h.audit() if r["type"] == "writeback.done" and r["action_id"] == body["action_id"]]
    assert len(types) == 3 and {r["result"] for r in types} == {"done"}


def test_opsgenie_failure_notes_and_escalates_without_closing(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake)
    body = action([sshd.target(0)], "exit 1", source="opsgenie", source_id="og-alert-fail",
                  on_success={"note": "ok", "close": True}, on_failure={"note": "Restart failed", "team": "oncall"})
    assert h.post(body).status == 202
    a = wait_wb(h, body["action_id"], 2)
    assert a["state"] == "failed"
    assert [c.op for c in fake.of("opsgenie")] == ["notes", "teams"]
    assert fake.of("opsgenie", "notes")[0].body["note"].startswith("Restart failed")
    assert fake.of("opsgenie", "teams")[0].body["team"] == {"name": "oncall"}


def test_alerts_from_other_sources_are_addressed_by_alias(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake, opsgenie_sources=["opsgenie", "alertmanager"])
    body = action([sshd.target(0)], "true", source="alertmanager", source_id="95c7516b6ade3654",
                  on_success={"note": "done"})
    assert h.post(body).status == 202
    wait_wb(h, body["action_id"], 1)
    c = fake.of("opsgenie", "notes")[0]
    assert c.identifier == "95c7516b6ade3654" and c.query["identifierType"] == ["alias"]


def test_dynatrace_problem_gets_a_comment(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake)
    pid = "-5897335313829954917_1700000000000V2"
    body = action([sshd.target(0)], "true", source="dynatrace", source_id=pid,
                  on_success={"note": "Cleared the cache"})
    assert h.post(body).status == 202
    a = wait_wb(h, body["action_id"], 1)
    assert a["writeback"][0]["sink"] == "dynatrace" and a["writeback"][0]["status"] == 201
    c = fake.of("dynatrace", "comment")[0]
    assert c.identifier == pid and c.headers["Authorization"] == f"Api-Token {DT_TOKEN}"
    assert c.body["message"].startswith("Cleared the cache") and c.body["context"] == "Reflex"
    assert not fake.of("opsgenie")


def test_webhook_receives_every_result(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake, webhook_url=fake.url + "/hook",
              webhook_token_file=str(tmp_path / "hook.token"))
    body = action([sshd.target(0), sshd.target(1)], "echo out")
    assert h.post(body).status == 202
    wait_wb(h, body["action_id"], 1)
    got = fake.of("webhook")[0]
    assert got.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert got.body["action_id"] == body["action_id"] and got.body["state"] == "succeeded"
    assert [r["stdout"] for r in got.body["results"]] == ["out\n", "out\n"]
    assert "writeback" not in got.body


def test_failed_writes_are_retried_with_backoff(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake)
    fake.fail(503, count=2)
    body = action([sshd.target(0)], "true", source="opsgenie", source_id="og-retry", on_success={"note": "n"})
    assert h.post(body).status == 202
    a = wait_wb(h, body["action_id"], 1)
    step = a["writeback"][0]
    assert step["state"] == "done" and step["attempts"] == 3 and step["status"] == 202
    assert a["state"] == "succeeded"
    assert len(fake.of("opsgenie", "notes")) == 1
    h.wait_log(msg="writeback retry", action_id=body["action_id"])


def test_a_failed_writeback_never_changes_the_result(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake, writeback_retries=2)
    fake.fail(500, count=100, echo_credentials=True)
    body = action([sshd.target(0)], "true", source="opsgenie", source_id="og-down",
                  on_success={"note": "n", "close": True})
    assert h.post(body).status == 202
    a = wait_wb(h, body["action_id"], 2)
    assert a["state"] == "succeeded" and a["results"][0]["state"] == "succeeded"
    assert [(s["state"], s["attempts"], s["status"]) for s in a["writeback"]] == [("failed", 3, 500)] * 2
    assert "500" in a["writeback"][0]["error"]
    # The far end echoed the key back in its error; it is blanked out before it is stored or logged.
    assert "GenieKey ****" in a["writeback"][0]["error"]
    assert OG_KEY not in h.stdout() + h.stderr() + (tmp_path / "ah" / "spool" / "actions.jsonl").read_text()


def test_rejected_credentials_are_not_retried(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake)
    (tmp_path / "og.key").write_text("wrong-key\n")
    h.stop()
    h.start()
    body = action([sshd.target(0)], "true", source="opsgenie", source_id="og-401", on_success={"note": "n"})
    assert h.post(body).status == 202
    a = wait_wb(h, body["action_id"], 1)
    assert a["writeback"][0]["state"] == "failed" and a["writeback"][0]["attempts"] == 1
    assert a["writeback"][0]["status"] == 401
    assert "wrong-key" not in h.stdout() + h.stderr()


def test_pending_writeback_resumes_after_a_restart(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake, writeback_backoff="10s")
    fake.fail(503, count=1)
    body = action([sshd.target(0)], "true", source="opsgenie", source_id="og-later", on_success={"note": "n"})
    assert h.post(body).status == 202
    wait_for(lambda: [s["attempts"] for s in h.get(body["action_id"])["writeback"]] == [1], 10,
             what="the first failed try")
    h.kill9()
    h.start()
    a = wait_wb(h, body["action_id"], 1)
    assert a["writeback"][0]["state"] == "done" and a["writeback"][0]["attempts"] == 2
    assert len(fake.of("opsgenie", "notes")) == 1


def test_refused_and_dry_run_actions_are_not_written_back(services, tmp_path, sshd, fake):
    h = start(services, tmp_path, sshd, fake, webhook_url=fake.url + "/hook",
              webhook_token_file=str(tmp_path / "hook.token"))
    dry = action([sshd.target(0)], "true", mode="dry-run", source="opsgenie", source_id="og-d", on_success={"note": "n"})
    refused = action(["10.9.9.9"], "true", source="opsgenie", source_id="og-r", on_failure={"note": "n"})
    assert h.post(dry).status == 202 and h.post(refused).status == 403
    ok = action([sshd.target(0)], "true")
    assert h.post(ok).status == 202
    wait_wb(h, ok["action_id"], 1)
    assert [c.body["action_id"] for c in fake.received] == [ok["action_id"]]
    assert h.get(dry["action_id"])["writeback"] == [] and h.get(refused["action_id"])["writeback"] == []
