"""The bundle under a real `docker stack deploy` on the local engine (make test-stack).

The stack is deployed once for the module by scripts/docker-stack.sh (the path `make stack` takes), with a second
compose file adding an SSH target container built for the test, and is removed by the last test. Skipped, saying why,
only when no Docker engine can be started here. REFLEX_STACK_KEEP=1 leaves everything running for a look afterwards.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK = os.environ.get("REFLEX_TEST_STACK", "rfxstacktest")
TARGET_IMAGE = "reflex-stack-target:test"
TAG = os.environ.get("REFLEX_TAG", "latest")
SERVICES = ["kafka", "classifier", "action-handler", "poller", "agent", "sshtarget"]
LOGFMT_PAIR = re.compile(r'([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def sh(*args, input=None, check=True, timeout=600, env=None):
    r = subprocess.run([str(a) for a in args], input=input, capture_output=True, text=True, timeout=timeout,
                       env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def docker(*args, **kw):
    return sh(os.environ.get("DOCKER", "docker"), *args, **kw)


def wait_for(what, fn, timeout=90.0, interval=1.0):
    """Polls fn until it returns something true; fails naming what it waited for and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def parse_logfmt(line):
    return {k: (v[1:-1].replace('\\"', '"').replace("\\\\", "\\") if v.startswith('"') else v)
            for k, v in LOGFMT_PAIR.findall(line)}


class Stack:
    """What the tests need to know about the deployed stack."""

    def __init__(self, tmp, port, token):
        self.tmp = tmp
        self.port = port
        self.token = token
        self.url = f"http://127.0.0.1:{port}"
        self.posted = []  # source_ids of the events the tests posted, to check reports against

    def containers(self, service):
        out = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}").stdout
        return out.split()

    def container(self, service):
        ids = self.containers(service)
        assert len(ids) == 1, f"{service}: expected one running container, found {ids}"
        return ids[0]

    def drop_rule(self, name, text):
        """Writes a rule file into the rules volume the way an operator would: a helper container, then a rename."""
        script = f"cat > /rules/.{name}.tmp && mv /rules/.{name}.tmp /rules/{name}.yaml"
        docker("run", "--rm", "-i", "-v", f"{STACK}_rules:/rules", "--entrypoint", "sh", TARGET_IMAGE, "-c", script,
               input=text)

    def post_event(self, event):
        status, body = http("POST", f"{self.url}/v1/events", event, token=self.token)
        assert status == 202, (status, body)
        self.posted.append(event["source_id"])
        return body["events"][0]

    def rules_loaded(self):
        status, body = http("GET", f"{self.url}/v1/rules", token=self.token)
        assert status == 200, (status, body)
        return body

    def service_logs(self, *services):
        lines = []
        for s in services:
            r = docker("service", "logs", "--no-task-ids", f"{STACK}_{s}")
            lines += (r.stdout + r.stderr).splitlines()
        return lines


_engine = {}  # the first look at the engine in this run: whether it was already up, or why none can start


def engine_or_skip():
    """Starts the engine if none answers (scripts/docker-engine.sh); skips, saying why, when none can be started.
    Returns whether an engine was already up when the run first looked."""
    if not _engine:
        was_up = shutil.which("docker") is not None and sh("docker", "info", check=False, timeout=30).returncode == 0
        _engine["was_up"] = was_up
        if not was_up:
            r = sh(ROOT / "scripts/docker-engine.sh", check=False)
            if r.returncode != 0:
                why = " / ".join(line.strip() for line in r.stderr.strip().splitlines()[-8:])
                _engine["skip"] = f"no Docker engine can be started on this machine: {why}"
    if "skip" in _engine:
        pytest.skip(_engine["skip"])
    return _engine["was_up"]


def write_test_files(tmp):
    """Secrets (from deploy/secrets, plus the target's host key), configs, and the compose file adding the target."""
    secrets = tmp / "secrets"
    env = dict(os.environ, REFLEX_SECRETS_DIR=str(secrets))
    sh(ROOT / "scripts/docker-stack.sh", "secrets", env=env)
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshtarget", "-f", secrets / "target_host_key")
    host_pub = (secrets / "target_host_key.pub").read_text().split()
    (secrets / "ssh_known_hosts").write_text(f"sshtarget {host_pub[0]} {host_pub[1]}\n")
    shutil.copy(secrets / "ssh_key.pub", secrets / "target_authorized_keys")

    config = tmp / "config"
    shutil.copytree(ROOT / "deploy/config", config)
    ah = config / "action-handler.yaml"
    text = ah.read_text()
    assert "targets_allowed: []" in text
    ah.write_text(text.replace("targets_allowed: []", 'targets_allowed: ["sshtarget"]'))

    override = tmp / "stack-test.yaml"
    override.write_text(f"""version: "3.8"
services:
  sshtarget:
    image: {TARGET_IMAGE}
    hostname: sshtarget
    networks: [backend]
    secrets:
      - {{source: target_host_key, target: target_host_key, mode: 0400}}
      - {{source: target_authorized_keys, target: target_authorized_keys, mode: 0444}}
    deploy:
      endpoint_mode: dnsrr
      restart_policy: {{condition: any, delay: 2s}}
      resources: {{limits: {{cpus: "0.5", memory: 64M}}}}
secrets:
  target_host_key: {{file: {secrets / "target_host_key"}}}
  target_authorized_keys: {{file: {secrets / "target_authorized_keys"}}}
""")
    return secrets, config, override


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    engine_was_up = engine_or_skip()
    swarm_was_active = docker("info", "-f", "{{.Swarm.LocalNodeState}}").stdout.strip() == "active"
    tmp = tmp_path_factory.mktemp("stack")
    started = time.monotonic()
    try:
        sh(ROOT / "scripts/docker-base-image.sh")
        docker("build", "-q", "--force-rm", "-t", TARGET_IMAGE, "-f", ROOT / "tests/stack/target.Dockerfile", ROOT / "tests/stack")
        secrets, config, override = write_test_files(tmp)
        port = free_port()
        env = dict(os.environ, REFLEX_STACK=STACK, REFLEX_PORT=str(port), REFLEX_AGENT_PORT=str(free_port()),
                   REFLEX_SECRETS_DIR=str(secrets), REFLEX_CONFIG_DIR=str(config), REFLEX_STACK_FILES=str(override))
        sh(ROOT / "scripts/docker-stack.sh", "down", env=env)  # leftovers of an interrupted run
        for v in docker("volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}").stdout.split():
            docker("volume", "rm", v)
        r = sh(ROOT / "scripts/docker-stack.sh", "up", env=env, timeout=1800)
        print(r.stderr[-2000:])
        print(f"stack up in {time.monotonic() - started:.0f}s")
        token = (secrets / "service_token").read_text().strip()
        st = Stack(tmp, port, token)
        wait_for("the classifier's published port", lambda: http("GET", f"{st.url}/healthz")[0] == 200, 60)
        yield st
    finally:
        # REFLEX_STACK_KEEP=1, for debugging: leave the stack, the swarm and the engine running.
        if os.environ.get("REFLEX_STACK_KEEP") != "1":
            teardown(swarm_was_active, engine_was_up)


def teardown(swarm_was_active, engine_was_up):
    """Leaves the machine as the test found it: no stack, no volumes, and no swarm or engine it did not have."""
    env = dict(os.environ, REFLEX_STACK=STACK, REFLEX_STACK_RM_VOLUMES="1")
    sh(ROOT / "scripts/docker-stack.sh", "down", env=env, check=False)
    if not swarm_was_active:
        docker("swarm", "leave", "--force", check=False)
    if not engine_was_up:
        sh(ROOT / "scripts/docker-engine.sh", "stop", check=False)


SSH_RULE = """name: stack-touch-marker
description: Writes a marker file on the SSH target
priority: 100
match:
  source: generic
  event_type: StackTest
  entity: sshtarget
action:
  type: ssh
  targets: ["{{entity}}"]
  command: "echo ran {{tags.marker}} > /home/remediation/ran-{{tags.marker}}"
  verify: "test -s /home/remediation/ran-{{tags.marker}}"
  timeout: 30s
limits:
  cooldown: 0s
"""

LATER_RULE = """name: stack-later-rule
description: Dropped into the running stack
priority: 50
match:
  source: generic
  event_type: StackLater
action:
  type: none
"""


def test_compose_file_is_valid_for_stack_and_compose():
    engine_or_skip()
    env = dict(os.environ, REFLEX_SECRETS_DIR=str(ROOT / "deploy/secrets"))
    out = docker("stack", "config", "-c", ROOT / "docker-compose.yaml", env=env).stdout
    assert "endpoint_mode: dnsrr" in out and "mode: global" in out
    published = re.findall(r"published: \"?(\d+)", out)
    assert published == ["8080"], f"only the classifier's port is published by default: {published}"
    if shutil.which("docker-compose"):  # installed by scripts/docker-engine.sh when it can be
        docker_compose = sh("docker-compose", "-f", ROOT / "docker-compose.yaml", "config", "-q", env=env)
        assert docker_compose.returncode == 0
    else:
        print("docker-compose is not installed: the Compose validation of docker-compose.yaml was not run")


def test_images_are_small_non_root_and_health_checked(stack):
    for svc in ["classifier", "action-handler", "poller", "agent"]:
        info = json.loads(docker("image", "inspect", f"reflex-{svc}:{TAG}").stdout)[0]
        cfg = info["Config"]
        assert cfg["User"] == "10001:10001", (svc, cfg["User"])
        assert "/healthz" in " ".join(cfg["Healthcheck"]["Test"]), (svc, cfg["Healthcheck"])
        assert info["Size"] < 140e6, f"reflex-{svc} is {info['Size'] / 1e6:.0f} MB"
        # Runtime libraries only: no compiler in the image.
        r = docker("run", "--rm", "--entrypoint", "sh", f"reflex-{svc}:{TAG}", "-c",
                   "command -v cc gcc make || echo none")
        assert r.stdout.strip() == "none", (svc, r.stdout)


def test_services_run_read_only_and_healthy(stack):
    for svc in SERVICES:
        ids = stack.containers(svc)
        assert len(ids) == 1, (svc, ids)
        state = json.loads(docker("inspect", ids[0]).stdout)[0]
        assert state["State"]["Health"]["Status"] == "healthy", (svc, state["State"]["Health"])
        if svc in ("classifier", "action-handler", "poller", "agent"):
            assert state["HostConfig"]["ReadonlyRootfs"], svc
    published = {}
    for svc in SERVICES:
        spec = docker("service", "inspect", "-f", "{{json .Spec.EndpointSpec}}", f"{STACK}_{svc}").stdout
        for p in (json.loads(spec) or {}).get("Ports") or []:
            published[svc] = (p["TargetPort"], p["PublishedPort"], p["PublishMode"])
    assert published == {"classifier": (8080, stack.port, "host")}, published


def test_map_page_is_served_from_the_image(stack):
    for path, needle in [("/map", b"cytoscape.min.js"), ("/map/node_modules/cytoscape/dist/cytoscape.min.js", b"cytoscape")]:
        with urllib.request.urlopen(f"{stack.url}{path}", timeout=10) as r:
            assert r.status == 200 and needle in r.read(), path


def test_event_runs_the_remediation_on_the_target(stack):
    stack.drop_rule("stack-touch", SSH_RULE)
    wait_for("the dropped rule to load",
             lambda: any(r.get("name") == "stack-touch-marker" for r in stack.rules_loaded().get("rules", [])))
    marker = uuid.uuid4().hex[:12]
    stack.marker = marker
    stack.source_id = f"stack-test-{marker}"
    ev = stack.post_event({"source": "generic", "source_id": stack.source_id, "title": "stack test",
                           "entity": "sshtarget", "event_type": "StackTest", "severity": "critical",
                           "tags": {"marker": marker}})
    decisions = [d for d in ev["decisions"] if d["rule"] == "stack-touch-marker"]
    assert decisions and decisions[0]["action_id"], ev
    target = stack.container("sshtarget")
    out = wait_for("the command to run in the target container",
                   lambda: docker("exec", target, "cat", f"/home/remediation/ran-{marker}", check=False).stdout)
    assert out.strip() == f"ran {marker}"
    owner = docker("exec", target, "stat", "-c", "%U", f"/home/remediation/ran-{marker}").stdout.strip()
    assert owner == "remediation"


def test_new_rule_classifies_without_restart(stack):
    before = stack.container("classifier")
    started = docker("inspect", "-f", "{{.State.StartedAt}}", before).stdout.strip()
    ev = {"source": "generic", "title": "later", "entity": "web-01", "event_type": "StackLater"}
    first = stack.post_event(dict(ev, source_id=f"later-{uuid.uuid4().hex[:8]}"))
    assert not any(d["rule"] == "stack-later-rule" for d in first["decisions"]), first
    stack.drop_rule("stack-later", LATER_RULE)

    def classified():
        e = stack.post_event(dict(ev, source_id=f"later-{uuid.uuid4().hex[:8]}"))
        return [d for d in e["decisions"] if d["rule"] == "stack-later-rule"]

    assert wait_for("an event classified by the new rule", classified, timeout=60, interval=1.0)
    assert stack.container("classifier") == before
    assert docker("inspect", "-f", "{{.State.StartedAt}}", before).stdout.strip() == started
    tasks = docker("service", "ps", "-q", f"{STACK}_classifier").stdout.split()
    assert len(tasks) == 1, f"the classifier restarted: {tasks}"


def test_service_logs_are_logfmt_and_reflex_report_counts_them(stack):
    marker = stack.marker

    def finished():
        lines = stack.service_logs("action-handler")
        return [ln for ln in lines if marker in ln and "succeeded" in ln]

    wait_for("the action's outcome in the action handler's log", finished, timeout=60)
    lines = stack.service_logs("classifier", "action-handler", "poller", "agent")
    records = []
    for ln in lines:
        body = ln.split("| ", 1)[1] if "| " in ln else ln
        if not body.startswith("ts="):
            continue
        rec = parse_logfmt(body)
        assert {"ts", "level", "svc", "msg"} <= rec.keys(), ln
        records.append(rec)
    svcs = {r["svc"] for r in records}
    assert {"classifier", "action-handler", "poller", "agent"} <= svcs, svcs
    # reflex report reads `docker service logs` output as it comes, here from the CLI in the classifier image.
    report = reflex_report([], input="\n".join(lines) + "\n")
    check_report(stack, report)


def reflex_report(args, input=None, network=None):
    net = ["--network", network] if network else []
    r = docker("run", "--rm", "-i", *net, "--entrypoint", "reflex", f"reflex-classifier:{TAG}", "report", "--json",
               *args, input=input, timeout=120)
    return json.loads(r.stdout)


def check_report(stack, report):
    """What the tests did: one SSH remediation that succeeded, every posted event classified, nothing refused."""
    assert report["events"]["classified"] == len(stack.posted), report["events"]
    total = report["total"]
    assert (total["actions"], total["ran"], total["succeeded"], total["failed"], total["refused"]) == (1, 1, 1, 0, 0), total
    rules = {x["rule"]: x for x in report["rules"]}
    assert list(rules) == ["stack-touch-marker"], rules
    assert (rules["stack-touch-marker"]["actions"], rules["stack-touch-marker"]["succeeded"]) == (1, 1)
    assert report["refusals"] == []


def test_audit_records_are_on_the_stacks_kafka(stack):
    sid = stack.source_id

    def records():
        r = docker("run", "--rm", "--network", f"{STACK}_backend", TARGET_IMAGE, "kcat", "-b", "kafka:9092", "-C",
                   "-t", "reflex.audit", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n", check=False, timeout=60)
        found = []
        for line in r.stdout.splitlines():
            key, _, value = line.partition("\t")
            try:
                rec = json.loads(value)
            except ValueError:
                continue
            if rec.get("source_id") == sid:
                found.append((key, rec))
        types = {rec["type"] for _, rec in found}
        return found if {"event.received", "event.classified", "action.queued", "action.finished"} <= types else None

    found = wait_for("the audit records of the SSH remediation on reflex.audit", records, timeout=90, interval=3)
    assert all(key == sid for key, _ in found), "audit records are keyed by source_id"
    svcs = {rec["svc"] for _, rec in found}
    assert {"classifier", "action-handler"} <= svcs, svcs
    # The same numbers from the topic as from the logs.
    check_report(stack, reflex_report(["--kafka", "kafka:9092", "--timeout", "30s"], network=f"{STACK}_backend"))


def test_stack_rm_cleans_up(stack):
    label = f"label=com.docker.stack.namespace={STACK}"
    docker("stack", "rm", STACK)

    def gone():
        left = {kind: docker(kind, "ls", "-q", "--filter", label).stdout.split()
                for kind in ("service", "network", "secret", "config")}
        left["container"] = docker("ps", "-aq", "--filter", label).stdout.split()
        return all(not v for v in left.values()) or None

    wait_for("docker stack rm to remove services, containers, networks, secrets and configs", gone, timeout=120)
    assert STACK not in docker("stack", "ls", "--format", "{{.Name}}").stdout.split()
