"""`reflex report` on a generated history: logfmt logs (as files, and on stdin with `docker service logs`
prefixes), audit JSON lines, and the same records produced to a real Kafka topic give the same numbers, and they
are the numbers computed here independently from the generated history. Also the CSV form, the filters, and the
exit statuses."""
import csv
import io
import json
import math
import random
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from harness import BIN
from kafka import KafkaBroker, require_kafka, tool

RULES = ["nginx-down-restart", "disk-clean", "jvm-heap-dump"]
HOSTS = ["web-01", "web-02", "db-01", "[fd00::7]"]
STATES = ["succeeded"] * 6 + ["failed", "timeout", "refused", "refused", "dry-run", "interrupted"]
REASONS = {"failed": "exit_status", "timeout": "timeout", "refused": None, "interrupted": "restart"}
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def history(seed=7, n=400):
    """Events and their actions over the last 48 hours; about 1 in 6 events has no rule (investigate)."""
    rnd = random.Random(seed)
    events, actions = [], []
    for i in range(n):
        t = NOW - timedelta(minutes=rnd.randint(1, 48 * 60))
        host = rnd.choice(HOSTS)
        ev = {"id": f"E{i:05d}", "source_id": f"src-{i:05d}", "entity": host.strip("[]"), "ts": t, "rule": None}
        events.append(ev)
        if rnd.random() < 1 / 6:
            continue
        ev["rule"] = rnd.choice(RULES)
        state = rnd.choice(STATES)
        reason = rnd.choice(["cooldown", "max_per_hour", "target_not_allowed"]) if state == "refused" \
            else REASONS.get(state)
        port = rnd.choice(["", ":2222"]) if not host.startswith("[") else ":22"
        ran = state in ("succeeded", "failed", "timeout", "interrupted")
        actions.append({"id": f"A{i:05d}", "event": ev, "rule": ev["rule"], "state": state, "reason": reason,
                        "target": host + port, "ts": t + timedelta(seconds=5),
                        "duration": rnd.randint(50, 60000) if ran else None})
    return events, actions


def logfmt_lines(events, actions):
    def q(v):
        return v if v and not any(c in v for c in ' ="') else json.dumps(v)
    out = []
    for e in events:
        out.append((e["ts"], f'ts={iso(e["ts"])} level=info svc=classifier msg="event classified" event_id={e["id"]} '
                    f'source=generic source_id={e["source_id"]} state=open entity={q(e["entity"])} '
                    f'event_type=T rule={e["rule"] or ""} decision={"act" if e["rule"] else "investigate"}'))
    for a in actions:
        line = (f'ts={iso(a["ts"])} level=info svc=action-handler msg="action finished" action_id={a["id"]} '
                f'event_id={a["event"]["id"]} rule={a["rule"]} source=generic source_id={a["event"]["source_id"]} '
                f'targets={q(a["target"])} state={a["state"]}')
        if a["reason"]:
            line += f" reason={a['reason']}"
        if a["duration"] is not None:
            line += f" duration_ms={a['duration']}"
        out.append((a["ts"], line))
    return [l for _, l in sorted(out, key=lambda x: x[0])]


def audit_lines(events, actions):
    out = []
    for e in events:
        d = [{"rule": e["rule"], "action_id": "A" + e["id"][1:], "mode": "enforce", "status": "sent"}] if e["rule"] \
            else [{"rule": None, "action_id": None, "mode": None, "status": "investigate"}]
        out.append((e["ts"], {"type": "event.classified", "ts": iso(e["ts"]), "svc": "classifier",
                              "event_id": e["id"], "source": "generic", "source_id": e["source_id"],
                              "state": "open", "entity": e["entity"], "event_type": "T", "decisions": d}))
    for a in actions:
        rec = {"type": "action.finished", "ts": iso(a["ts"]), "svc": "action-handler", "action_id": a["id"],
               "event_id": a["event"]["id"], "source": "generic", "source_id": a["event"]["source_id"],
               "rule": a["rule"], "mode": "enforce", "state": a["state"],
               "results": [{"target": a["target"], "state": a["state"]}]}
        if a["reason"]:
            rec["reason"] = a["reason"]
        if a["duration"] is not None:
            rec["duration_ms"] = a["duration"]
        out.append((a["ts"], rec))
    return [json.dumps(r) for _, r in sorted(out, key=lambda x: x[0])]


def nearest_rank(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def expected(events, actions, since=None, rule=None, entity=None):
    """The report's numbers, computed independently from the generated history."""
    def on_entity(a):
        host = a["target"].rsplit(":", 1)[0].strip("[]")
        return host == entity or a["event"]["entity"] == entity
    sel = [a for a in actions if (since is None or a["ts"] >= since) and (rule is None or a["rule"] == rule)
           and (entity is None or on_entity(a))]

    def stats(group):
        c = defaultdict(int)
        for a in group:
            c[a["state"]] += 1
        ran = c["succeeded"] + c["failed"] + c["timeout"] + c["interrupted"]
        durs = [a["duration"] for a in group if a["duration"] is not None]
        return {"actions": len(group), "ran": ran, "succeeded": c["succeeded"], "failed": c["failed"],
                "timeout": c["timeout"], "interrupted": c["interrupted"], "refused": c["refused"],
                "dry_run": c["dry-run"], "other": 0, "success_rate": c["succeeded"] / ran if ran else None,
                "duration_ms": {"p50": nearest_rank(durs, 50), "p90": nearest_rank(durs, 90),
                                "p99": nearest_rank(durs, 99), "max": max(durs) if durs else None}}
    by_rule = defaultdict(list)
    for a in sel:
        by_rule[a["rule"]].append(a)
    refusals = defaultdict(int)
    for a in sel:
        if a["state"] == "refused":
            refusals[a["reason"]] += 1
    evs = [e for e in events if (since is None or e["ts"] >= since) and (entity is None or e["entity"] == entity)]
    return numbers({
        "events": {"classified": len(evs), "acted": sum(1 for e in evs if e["rule"]),
                   "investigate": sum(1 for e in evs if not e["rule"])},
        "total": stats(sel),
        "rules": sorted(({"rule": r, **stats(g)} for r, g in by_rule.items()),
                        key=lambda x: (-x["actions"], x["rule"])),
        "refusals": sorted(({"reason": k, "count": v} for k, v in refusals.items()),
                           key=lambda x: (-x["count"], x["reason"])),
    })


def run_report(*args, stdin=None, ok=True):
    r = subprocess.run([str(BIN / "reflex"), "report", *args], input=stdin, capture_output=True, text=True,
                       timeout=120)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def numbers(rep):
    """The report's numbers; success rates to 9 places (the JSON printer keeps 15 significant digits)."""
    out = json.loads(json.dumps({k: rep[k] for k in ("events", "total", "rules", "refusals")}))
    for r in [out["total"], *out["rules"]]:
        if r["success_rate"] is not None:
            r["success_rate"] = round(r["success_rate"], 9)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    events, actions = history()
    (d / "all.log").write_text("\n".join(logfmt_lines(events, actions)) + "\n")
    (d / "audit.jsonl").write_text("\n".join(audit_lines(events, actions)) + "\n")
    return d, events, actions


def test_logs_and_audit_lines_give_the_expected_numbers(data):
    d, events, actions = data
    want = expected(events, actions)
    assert numbers(json.loads(run_report("--json", str(d / "all.log")).stdout)) == want
    assert numbers(json.loads(run_report("--json", str(d / "audit.jsonl")).stdout)) == want
    # The same lines twice (two copies of a log) count once; docker prefixes on stdin are skipped.
    prefixed = "".join(f"reflex_action-handler.1.x7k@node-1    | {l}\n"
                       for l in (d / "all.log").read_text().splitlines())
    assert numbers(json.loads(run_report("--json", "-", str(d / "all.log"), stdin=prefixed).stdout)) == want


@pytest.mark.parametrize("since_h,rule,entity", [(24, None, None), (None, "nginx-down-restart", None),
                                                 (None, None, "web-01"), (12, "disk-clean", "db-01"),
                                                 (None, None, "fd00::7")])
def test_filters(data, since_h, rule, entity):
    d, events, actions = data
    args = ["--json", str(d / "all.log")]
    since = None
    if since_h:
        # A fixed time rather than "24h": the boundary must not move while the test runs.
        since = NOW - timedelta(hours=since_h)
        args += ["--since", iso(since)]
    if rule:
        args += ["--rule", rule]
    if entity:
        args += ["--entity", entity]
    assert numbers(json.loads(run_report(*args).stdout)) == expected(events, actions, since, rule, entity)


def test_csv_and_table_carry_the_same_numbers(data):
    d, events, actions = data
    want = expected(events, actions)
    rows = list(csv.DictReader(io.StringIO(run_report("--csv", str(d / "all.log")).stdout)))
    by = {(r["kind"], r["rule"], r["reason"]): r for r in rows}
    for r in want["rules"]:
        row = by[("rule", r["rule"], "")]
        assert int(row["actions"]) == r["actions"] and int(row["succeeded"]) == r["succeeded"]
        assert float(row["success_rate"]) == pytest.approx(r["success_rate"], abs=1e-4)
        assert float(row["p90_ms"]) == r["duration_ms"]["p90"]
    assert int(by[("total", "", "")]["refused"]) == want["total"]["refused"]
    for f in want["refusals"]:
        assert int(by[("refusal", "", f["reason"])]["actions"]) == f["count"]
    table = run_report("--rule", "nginx-down-restart", "--entity", "web-01", str(d / "all.log")).stdout
    n = expected(events, actions, rule="nginx-down-restart", entity="web-01")["total"]["ran"]
    assert f"nginx-down-restart acted on web-01 {n} times" in table
    assert "refusals by reason" in run_report(str(d / "all.log")).stdout


def test_exit_statuses(data, tmp_path):
    assert run_report("--json", str(tmp_path / "missing.log"), ok=False).returncode == 1
    assert run_report("--since", "last tuesday", "-", stdin="", ok=False).returncode == 2
    assert run_report("--bogus", ok=False).returncode == 2
    assert run_report("--kafka", "127.0.0.1:1", "file.log", ok=False).returncode == 2
    r = run_report("--json", "-", stdin="")
    assert json.loads(r.stdout)["total"]["actions"] == 0
    # No broker listening: a plain error, not a hang.
    r = run_report("--kafka", "127.0.0.1:1", "--timeout", "3s", ok=False)
    assert r.returncode == 1 and "kafka" in r.stderr


def test_topic_gives_the_same_numbers_as_the_logs(data, tmp_path):
    require_kafka()
    d, events, actions = data
    broker = KafkaBroker(tmp_path).start()
    try:
        r = subprocess.run([tool("audit_load"), "--brokers", broker.bootstrap, "--topic", "reflex.audit",
                            "--spool", str(tmp_path / "spool"), "--from", str(d / "audit.jsonl")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        stats = json.loads(r.stdout.strip().splitlines()[-1])
        assert stats["delivered"] == len(events) + len(actions)
        from_topic = json.loads(run_report("--json", "--kafka", broker.bootstrap).stdout)
        assert numbers(from_topic) == numbers(json.loads(run_report("--json", str(d / "all.log")).stdout))
        assert numbers(from_topic) == expected(events, actions)
        assert run_report("--json", "--kafka", broker.bootstrap, "--topic", "no.such.topic").returncode == 0
    finally:
        broker.stop()
