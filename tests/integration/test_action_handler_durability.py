"""Accepted means durable: actions survive kill -9 and restarts; queued ones run afterwards, one cut off while
running is recorded as interrupted and never run again, and the kill switch stays on across a restart."""
import json
import threading
import time
from collections import Counter

import pytest

from harness import wait_for
from sshd import Sshd
from test_action_handler import Handler, action

FINAL = {"succeeded", "failed", "timeout", "refused", "dry-run", "interrupted"}


@pytest.fixture
def sshd(tmp_path):
    srv = Sshd(tmp_path / "sshd", ports=5).start()
    yield srv
    srv.stop()


def post_all(h, bodies, threads=8):
    """Posts concurrently; returns {action_id: status}."""
    statuses = {}
    lock = threading.Lock()
    todo = list(bodies)

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                b = todo.pop()
            r = h.post(b)
            with lock:
                statuses[b["action_id"]] = r.status

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return statuses


def ran_ids(path):
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_kill9_mid_queue_loses_nothing_and_runs_nothing_twice(services, tmp_path, sshd):
    ran = sshd.scratch / "ran"
    h = services.add(Handler(tmp_path / "ah", sshd, workers=4)).start()
    # One action that is certainly running at the kill: it records its id, then sleeps.
    long_ = action([sshd.target(4)], f"echo {{id}} >> {ran}; sleep 20")
    long_["command"] = long_["command"].replace("{id}", long_["action_id"])
    assert h.post(long_).status == 202
    wait_for(lambda: ran_ids(ran)[long_["action_id"]] == 1, 10, what="the long action to start")
    bodies = []
    for i in range(200):
        b = action([sshd.target(i % 4)], "")
        b["command"] = f"echo {b['action_id']} >> {ran}; sleep 0.04"
        bodies.append(b)
    statuses = post_all(h, bodies)
    assert set(statuses.values()) == {202}, Counter(statuses.values())
    wait_for(lambda: sum(ran_ids(ran).values()) >= 40, 30, what="some actions to run")
    h.kill9()
    before = ran_ids(ran)
    assert sum(before.values()) < 201, "the kill came too late to leave anything queued"

    h.start()
    accepted = [long_["action_id"]] + [b["action_id"] for b in bodies]

    def all_final():
        return all(h.get(i)["state"] in FINAL for i in accepted)
    wait_for(all_final, 60, interval=0.2, what="every accepted action to reach a final state")
    after = ran_ids(ran)
    states = Counter()
    for i in accepted:
        a = h.get(i)
        states[a["state"]] += 1
        if a["state"] == "succeeded":
            assert after[i] == 1, f"{i} succeeded but ran {after[i]} times"
        else:
            assert a["state"] == "interrupted", a
            assert after[i] <= 1 and after[i] == before[i], f"{i} was run again after the restart"
    a = h.get(long_["action_id"])
    assert a["state"] == "interrupted" and a["results"][0]["reason"] == "restart"
    assert after[long_["action_id"]] == 1
    assert states["succeeded"] + states["interrupted"] == 201, states
    assert states["succeeded"] >= 195, states
    # Each action finished exactly once in the audit trail (an action cut off between its durable final state and
    # its audit record may have none, never two).
    finished = Counter(r["action_id"] for r in h.audit() if r["type"] == "action.finished")
    assert max(finished.values()) == 1
    assert len(finished) >= 200
    h.wait_log(msg="journal replayed")


def test_restart_keeps_the_pause_and_the_queue(services, tmp_path, sshd):
    marker_dir = sshd.scratch
    h = services.add(Handler(tmp_path / "ah", sshd, shutdown_grace="0s")).start()
    running = action([sshd.target(0)], f"touch {marker_dir}/first; sleep 2; touch {marker_dir}/first-done")
    queued = [action([sshd.target(0)], f"touch {marker_dir}/q{i}") for i in range(3)]
    assert h.post(running).status == 202
    h.wait_state(running["action_id"], "running")
    t0 = time.monotonic()
    for b in queued:
        assert h.post(b).status == 202
    assert h.pause().status == 200
    # A clean stop cuts the running command off (shutdown_grace 0) and records it as interrupted.
    h.stop()
    h.start()
    assert h.request("GET", "/v1/status").json()["paused"] is True, "the kill switch survives a restart"
    a = h.get(running["action_id"])
    assert a["state"] == "interrupted" and a["results"][0]["reason"] == "shutdown", a
    time.sleep(0.3)
    assert all(h.get(b["action_id"])["state"] == "queued" for b in queued)
    assert not list(marker_dir.glob("q*"))
    assert h.resume().status == 200
    for b in queued:
        assert h.wait_final(b["action_id"])["state"] == "succeeded"
    assert sorted(p.name for p in marker_dir.glob("q*")) == ["q0", "q1", "q2"]
    time.sleep(max(0, 2.5 - (time.monotonic() - t0)))  # the cut-off command would have finished by now
    assert not (marker_dir / "first-done").exists(), "the interrupted command was stopped and not run again"


def test_limits_survive_a_restart(services, tmp_path, sshd):
    h = services.add(Handler(tmp_path / "ah", sshd)).start()
    first = action([sshd.target(0)], "true", limits={"cooldown": 600})
    assert h.post(first).status == 202
    h.wait_final(first["action_id"])
    h.kill9()
    h.start()
    r = h.post(action([sshd.target(0)], "true", limits={"cooldown": 600}))
    assert r.status == 409 and r.json()["reason"] == "cooldown"


def test_journal_with_a_torn_tail_still_replays(services, tmp_path, sshd):
    h = services.add(Handler(tmp_path / "ah", sshd)).start()
    body = action([sshd.target(0)], "true")
    assert h.post(body).status == 202
    h.wait_final(body["action_id"])
    h.stop()
    journal = tmp_path / "ah" / "spool" / "actions.jsonl"
    with open(journal, "ab") as f:
        f.write(b'{"action_id": "torn-write", "rule": "x", "ty')  # a write cut off by a crash
    h.start()
    assert h.get(body["action_id"])["state"] == "succeeded"
    assert h.get("torn-write") is None
    # The journal is usable afterwards: the torn line is gone after the start-up compaction.
    assert all(json.loads(l) for l in journal.read_text().splitlines())


def test_history_is_bounded_and_survives_a_restart(services, tmp_path, sshd):
    h = services.add(Handler(tmp_path / "ah", sshd, history_size=10)).start()
    bodies = [action([sshd.target(i % 4)], "true") for i in range(25)]
    for b in bodies:
        assert h.post(b).status == 202
    for b in bodies[-10:]:
        h.wait_final(b["action_id"])
    wait_for(lambda: h.request("GET", "/v1/status").json()["actions"] == 10, 10, what="history trimmed to 10")
    listed = [a["action_id"] for a in h.request("GET", "/v1/actions?limit=1000").json()["actions"]]
    assert listed == [b["action_id"] for b in reversed(bodies[-10:])], "the newest are kept, newest first"
    assert h.get(bodies[0]["action_id"]) is None
    # A repeated id that has left the history is new again: history_size is also the idempotency window.
    h.stop()
    h.start()
    assert h.request("GET", "/v1/status").json()["actions"] == 10
    journal = tmp_path / "ah" / "spool" / "actions.jsonl"
    assert len(journal.read_text().splitlines()) == 10, "compacted at start to one snapshot per kept action"
