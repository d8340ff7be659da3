"""`reflex topology` against a real classifier fed with agent-shaped reports and events: the node, edge and problem
tables are checked against what was posted and against the classifier's own GET /v1/topology; --json, the
environment defaults, and the exit statuses for refusals, an unreachable classifier and bad usage."""
import json
import os
import re
import subprocess

from harness import BIN, free_port, start_classifier, wait_for

TOKEN = "topology-cli-token"


def reflex(*args, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("REFLEX_")}
    base.update(env or {})
    return subprocess.run([str(BIN / "reflex"), "topology", *args], capture_output=True, text=True, env=base,
                          timeout=30)


def report(node, addr, services=(), connections=()):
    return {"node": node, "boot_id": f"boot-{node}", "seq": 1, "full": True, "interval": 30, "addresses": [addr],
            "services": [{"port": p, "proto": "tcp", "process": proc} for p, proc in services],
            "connections": list(connections)}


def out(proc, remote, port, count):
    return {"direction": "out", "process": proc, "remote": remote, "remote_port": port, "count": count}


def inbound(port, remote, count, proc):
    return {"direction": "in", "local_port": port, "remote": remote, "count": count, "process": proc}


REPORTS = [
    report("db", "10.0.0.9", [(5432, "postgres"), (22, "sshd")], [inbound(5432, "10.0.0.5", 3, "postgres")]),
    report("web", "10.0.0.5", [(80, "nginx")],
           [out("app", "10.0.0.9", 5432, 4), out("app", "198.51.100.1", 443, 1), inbound(80, "203.0.113.7", 2, "nginx"),
            inbound(80, "10.0.0.2", 5, "nginx")]),
    report("lb", "10.0.0.2", [], [out("haproxy", "10.0.0.5", 80, 5)]),
]


def estate(services, tmp_path):
    c = start_classifier(services, tmp_path / "c", token=TOKEN)
    for rep in REPORTS:
        r = c.request("POST", f"/v1/topology/{rep['node']}", rep)
        assert r.status == 200 and r.json()["applied"], r
    for ev in ({"source_id": "pg-down", "title": "PostgreSQL is down", "severity": "critical", "entity": "db",
                "event_type": "PostgresDown", "tags": {"port": "5432"}},
               {"source_id": "disk-full", "title": "Disk\x1b[31m full", "severity": "warning", "entity": "mystery-host"}):
        assert c.request("POST", "/v1/events", ev).status == 202
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    return c, token_file


def tables(text):
    """The output's tables (blocks separated by blank lines, the last one being the summary) as lists of dicts,
    columns cut where the header's names start."""
    blocks = [b.splitlines() for b in text.strip("\n").split("\n\n")]
    parsed = []
    for lines in blocks[:-1]:
        head = lines[0]
        names = [n for n in head.split("  ") if n.strip()]
        starts = [head.index(n.strip()) for n in names]
        rows = []
        for line in lines[1:]:
            cells = [line[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
            rows.append(dict(zip((n.strip() for n in names), cells)))
        parsed.append(rows)
    return parsed, "\n".join(blocks[-1])


def by(rows, key):
    return {r[key]: r for r in rows}


def test_tables_match_the_graph(services, tmp_path):
    c, token_file = estate(services, tmp_path)
    r = reflex("--url", c.url, "--token-file", str(token_file))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout  # a title's terminal escape is not passed through
    (nodes, edges, problems), summary = tables(r.stdout)
    g = c.request("GET", "/v1/topology").json()

    # nodes: every node of the graph once, in its order; what was reported, and the problem's marks
    assert [n["NODE"] for n in nodes] == [n["id"] for n in g["nodes"]]
    nodes = by(nodes, "NODE")
    assert nodes["db"]["KIND"] == "agent" and nodes["db"]["ADDRESSES"] == "10.0.0.9"
    assert nodes["db"]["STATE"] == "problem"
    assert nodes["db"]["SERVICES"] == "22/sshd, 5432/postgres (problem)"
    assert nodes["web"]["STATE"] == "impacted" and nodes["web"]["SERVICES"] == "80/nginx"
    assert nodes["lb"]["STATE"] == "impacted" and nodes["lb"]["SERVICES"] == "-"
    assert nodes["ext:clients"]["KIND"] == "external" and nodes["ext:clients"]["ADDRESSES"] == "203.0.113.7"
    assert nodes["ext:198.51.100.1"]["STATE"] == "-"

    # edges: client -> server:port with the processes at both ends, as the graph has them
    assert len(edges) == len(g["edges"]) == 4
    for e in g["edges"]:
        row = by(edges, "EDGE")[f"{e['from']} -> {e['to']}:{e['port']}"]
        assert row["CLIENT PROCESSES"] == (", ".join(e["client_processes"]) or "-")
        assert row["SERVER PROCESS"] == (e["server_process"] or "-")
        assert row["CONNECTIONS"] == str(e["count"])
    web_db = by(edges, "EDGE")["web -> db:5432"]
    assert (web_db["CLIENT PROCESSES"], web_db["SERVER PROCESS"], web_db["CONNECTIONS"]) == ("app", "postgres", "4")
    assert by(edges, "EDGE")["lb -> web:80"]["SERVER PROCESS"] == "nginx"
    assert by(edges, "EDGE")["ext:clients -> web:80"]["CLIENT PROCESSES"] == "-"

    # problems: the mapped one on db's service with its blast radius, the unmapped one after it
    assert [p["PROBLEM"].split("/", 1)[1] for p in problems] == ["pg-down", "disk-full"]
    pg, disk = problems
    db = next(n for n in g["nodes"] if n["id"] == "db")
    assert pg["PROBLEM"] == f"{db['problems'][0]['source']}/pg-down"
    assert (pg["ENTITY"], pg["NODE"], pg["SERVICE"], pg["SEVERITY"]) == ("db", "db", "5432/postgres", "critical")
    assert pg["DEPENDENTS"] == ", ".join(db["dependents"]) + ", outside clients" == "web, lb, outside clients"
    assert pg["TITLE"] == "PostgreSQL is down"
    assert (disk["NODE"], disk["SERVICE"], disk["DEPENDENTS"]) == ("(unmapped)", "-", "-")
    assert disk["TITLE"] == "Disk [31m full"
    assert re.fullmatch(r"nodes: 5 \(3 with an agent\); edges: 4; open problems: 2 \(1 unmapped\); "
                        r"generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", summary), summary


def test_held_edge_and_stale_node(services, tmp_path):
    """db has a problem and web stops reporting: web's edge to db outlives its age, marked held."""
    c = start_classifier(services, tmp_path / "c", token=TOKEN)
    fast = [dict(rep, interval=0.05) for rep in REPORTS[:2]]
    for rep in fast:
        assert c.request("POST", f"/v1/topology/{rep['node']}", rep).status == 200
    assert c.request("POST", "/v1/events", {"source_id": "pg-down", "title": "PostgreSQL is down",
                                            "entity": "10.0.0.9:9187"}).status == 202

    def held():
        g = c.request("GET", "/v1/topology").json()
        return g if any(e["held"] and e["to"] == "db" for e in g["edges"]) else None
    wait_for(held, 10, what="a held edge into db")
    (tmp_path / "token").write_text(TOKEN)
    r = reflex("--url", c.url, "--token-file", str(tmp_path / "token"))
    assert r.returncode == 0, r.stderr
    (nodes, edges, problems), _ = tables(r.stdout)
    assert by(edges, "EDGE")["web -> db:5432"]["HELD"] == "held"
    assert by(nodes, "NODE")["web"]["STATE"] == "stale, impacted"
    assert by(nodes, "NODE")["db"]["STATE"] == "problem, stale"
    assert (problems[0]["ENTITY"], problems[0]["NODE"]) == ("10.0.0.9:9187", "db")


def test_json_env_and_failures(services, tmp_path):
    c, token_file = estate(services, tmp_path)
    env = {"REFLEX_URL": c.url, "REFLEX_TOKEN_FILE": str(token_file)}
    r = reflex("--json", env=env)
    assert r.returncode == 0, r.stderr
    printed, api = json.loads(r.stdout), c.request("GET", "/v1/topology").json()
    printed.pop("generated_at"), api.pop("generated_at")
    assert printed == api

    bad = tmp_path / "bad-token"
    bad.write_text("not-the-token\n")
    r = reflex("--url", c.url, "--token-file", str(bad))
    assert r.returncode == 1 and "401" in r.stderr and r.stdout == ""
    r = reflex("--url", f"http://127.0.0.1:{free_port()}", "--token-file", str(token_file))
    assert r.returncode == 1 and "reflex: GET" in r.stderr
    assert reflex("--url", c.url, "stray").returncode == 2
    assert reflex("--frobnicate").returncode == 2


def test_empty_estate(services, tmp_path):
    c = start_classifier(services, tmp_path / "c", token=TOKEN)
    (tmp_path / "token").write_text(TOKEN)
    r = reflex("--url", c.url, "--token-file", str(tmp_path / "token"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("no nodes: no agent has reported yet\n")
    assert "\nnodes: 0 (0 with an agent); edges: 0; open problems: 0 (0 unmapped); generated " in r.stdout
