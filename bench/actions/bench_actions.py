"""Action handler benchmark: concurrent signed actions over SSH targets on loopback.

Real OpenSSH servers listen on BENCH_TARGETS ports of 127.0.0.1 (each port a distinct target to the handler). A
warm-up round runs one action per target, so that every target has a warm connection; then each measured round
posts BENCH_ACTIONS actions at once, spread evenly over the targets: one client thread each, released together
(BENCH_CLIENT=threads, the default), or one connection each driven by a single polling thread (BENCH_CLIENT=poll).
Each command appends its action id and the time it started (`exec date +'ID %s%N'`, same clock as the client's) to
a file; the client notes when each 202 arrived. A round is over when every line is in that file and the handler
has no queued or running run left (two list queries), so the client does not poll every action.

Reported per round: time from 202 to the command starting (p50, p99, max), the same from the handler's accept
time, the handler's queue wait, when the last 202 came and the last command started, actions per second (first
post to last action finished), the mean run time, CPU per action of the handler, of sshd with the commands it
ran, and of the client, how busy the machine was, and the handler's resident memory (VmRSS now, VmHWM peak).
Results are appended to bench/actions/results.txt (BENCH_RESULTS to write elsewhere).

    python3 bench/actions/bench_actions.py     # BENCH_ACTIONS=100 BENCH_TARGETS=20 BENCH_ROUNDS=3 BENCH_WORKERS=20
"""
import hashlib
import hmac
import json
import os
import selectors
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from harness import Service, http, wait_for  # noqa: E402
from sshd import Sshd  # noqa: E402

ACTIONS = int(os.environ.get("BENCH_ACTIONS", "100"))
TARGETS = int(os.environ.get("BENCH_TARGETS", "20"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "20"))
CLIENT = os.environ.get("BENCH_CLIENT", "threads")
OUT = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "actions" / "results.txt"))
KEY = b"bench-hmac-key-0123456789abcdef0123"


def post(url, body):
    data = json.dumps(body).encode()
    sig = "sha256=" + hmac.new(KEY, data, hashlib.sha256).hexdigest()
    return http("POST", url + "/v1/actions", data, {"X-Reflex-Signature": sig, "Content-Type": "application/json"},
                timeout=30)


def post_all(port, bodies, acks):
    """Posts every body at once from one thread: one connection each, driven by a poll loop, so that no client
    thread waits for the interpreter lock between the 202 arriving and its time being noted. Each request is
    built and signed just before it is sent, as a client would. Returns the bodies of answers other than 202."""
    sel = selectors.DefaultSelector()
    for b in bodies:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_WRITE, [b, b"", None])
    bad = []
    while sel.get_map():
        for key, ev in sel.select(timeout=30):
            s, st = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                data = json.dumps(st[0]).encode()
                sig = "sha256=" + hmac.new(KEY, data, hashlib.sha256).hexdigest()
                s.sendall(b"POST /v1/actions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                          b"Content-Type: application/json\r\nX-Reflex-Signature: " + sig.encode() +
                          b"\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data)
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            chunk = s.recv(65536)
            if st[2] is None and chunk:
                st[2] = time.time_ns()  # the first bytes of the answer: its status line
            st[1] += chunk
            if chunk:
                continue
            sel.unregister(s)
            s.close()
            acks[st[0]["action_id"]] = st[2]
            if not st[1].startswith(b"HTTP/1.1 202"):
                bad.append(st[1][:300])
    return bad


def body(action_id, target, starts):
    return {"action_id": action_id, "event_id": "E" + action_id, "source": "alertmanager", "source_id": action_id,
            "rule": "bench", "type": "ssh", "targets": [target], "timeout": 30,
            "command": f"exec date +'{action_id} %s%N' >> {starts}"}


def started_at(starts):
    out = {}
    if starts.exists():
        for line in starts.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out[parts[0]] = int(parts[1])
    return out


def wait_all(url, starts, n, timeout=120):
    """Returns once all n commands have started (their lines are in the starts file, read without asking the
    handler) and the handler has no queued or running run left. One cheap poller instead of a GET per action, so
    that the client takes as little CPU as possible from the handler and the targets."""
    wait_for(lambda: starts.exists() and starts.read_bytes().count(b"\n") >= n, timeout, interval=0.002,
             what="every command started")

    def idle():
        for st in ("queued", "running"):
            if http("GET", f"{url}/v1/actions?state={st}&limit=1").json()["count"]:
                return False
        return True
    wait_for(idle, timeout, interval=0.002, what="every action finished")


def machine_cpu():
    """(busy, total) clock ticks of all CPUs so far, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, sum(f[:8])


def tree_cpu_seconds(comm):
    """CPU of every process named comm, with the children they reaped (a session's shells and commands)."""
    total = 0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            head, _, rest = (d / "stat").read_text().rpartition(")")
        except OSError:
            continue
        if head.split("(", 1)[1] != comm:
            continue
        f = rest.split()
        total += sum(int(x) for x in f[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User plus system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            fields[k] = int(v.split()[0]) / 1024.0
    return fields


def run_round(h, srv, name, n):
    starts = srv.scratch / f"starts-{name}"
    acks = {}
    barrier = threading.Barrier(n)
    bodies = [body(f"{name}-{i:04d}", srv.target(i % TARGETS), starts) for i in range(n)]
    errors = []

    def one(b):
        barrier.wait()
        r = post(h.url, b)
        acks[b["action_id"]] = time.time_ns()
        if r.status != 202:
            errors.append(r)

    threads = [threading.Thread(target=one, args=(b,)) for b in bodies] if CLIENT == "threads" else []
    m0 = machine_cpu()
    t0, t0_ns = time.monotonic(), time.time_ns()
    if CLIENT == "poll":
        errors = post_all(h.port, bodies, acks)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"not accepted: {errors[:3]}")
    ids = [b["action_id"] for b in bodies]
    wait_all(h.url, starts, n)
    elapsed = time.monotonic() - t0
    m1 = machine_cpu()
    busy = 100.0 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    got = started_at(starts)
    actions = [http("GET", f"{h.url}/v1/actions/{i}").json() for i in ids]
    failed = [a["action_id"] for a in actions if a["state"] != "succeeded"]
    if failed or len(got) != n:
        raise SystemExit(f"{len(failed)} actions failed, {len(got)} of {n} started: {failed[:3]}")
    lat = sorted(max(0, got[i] - acks[i]) / 1e6 for i in ids)
    runs = [a["results"][0]["duration_ms"] for a in actions]
    queued = sorted(iso_ms(a["results"][0]["started_at"]) - iso_ms(a["received_at"]) for a in actions)
    # The same wait, measured from the handler's own accept time (before the 202 was even sent): free of any
    # delay between the 202 arriving at the client and the client noting it.
    strict = sorted(max(0, got[a["action_id"]] / 1e6 - iso_ms(a["received_at"])) for a in actions)
    spread = ((max(acks.values()) - t0_ns) / 1e6, (max(got.values()) - t0_ns) / 1e6)
    return lat, elapsed, statistics.mean(runs), queued, busy, spread, strict


def iso_ms(s):
    """Milliseconds of an ISO 8601 UTC time with milliseconds (2026-11-22T01:21:04.264Z)."""
    t = time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    return (time.mktime(t) - time.timezone) * 1000 + int(s[20:23])


def pct(xs, p):
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Targets:
    """n SSH targets on 127.0.0.1: as many sshd processes as needed (16 ports each), one client key, one known_hosts."""

    def __init__(self, work, n):
        self.servers = []
        for i in range(0, n, Sshd.MAX_PORTS):
            key = self.servers[0].client_key if self.servers else None
            self.servers.append(Sshd(work / f"sshd{i}", ports=min(Sshd.MAX_PORTS, n - i), client_key=key,
                                     max_startups=200).start())
        first = self.servers[0]
        self.client_key, self.user, self.scratch = first.client_key, first.user, first.scratch
        self.ports = [p for s in self.servers for p in s.ports]
        self.known_hosts_file = work / "known_hosts"
        self.known_hosts_file.write_text("".join(l + "\n" for s in self.servers for l in s.known_hosts_lines()))

    def target(self, i):
        return f"127.0.0.1:{self.ports[i]}"

    def stop(self):
        for s in self.servers:
            s.stop()


def main():
    work = Path(tempfile.mkdtemp(prefix="reflex-bench-actions-"))
    srv = Targets(work, TARGETS)
    (work / "hmac.key").write_bytes(KEY + b"\n")
    h = Service("reflex-action-handler", work / "ah", {
        "hmac_key_file": str(work / "hmac.key"), "ssh_key_file": str(srv.client_key),
        "ssh_known_hosts_file": str(srv.known_hosts_file), "ssh_user": srv.user, "targets_allowed": ["127.0.0.1"],
        "spool_dir": str(work / "ah" / "spool"), "workers": WORKERS, "log_level": "warn"})
    lines = []
    try:
        h.start()
        run_round(h, srv, "warmup", TARGETS)
        print(f"warm-up: {TARGETS} actions, one per target (first connections)")
        rounds = [(f"r{r}", ACTIONS) for r in range(ROUNDS)] + [("one-per-target", TARGETS)]
        for name, n in rounds:
            cpu0, sshd0, me0 = cpu_seconds(h.proc.pid), tree_cpu_seconds("sshd"), sum(os.times()[:2])
            lat, elapsed, run_ms, queued, busy, spread, strict = run_round(h, srv, name, n)
            cpu_ms = (cpu_seconds(h.proc.pid) - cpu0) * 1000 / n
            sshd_ms = (tree_cpu_seconds("sshd") - sshd0) * 1000 / n
            me_ms = (sum(os.times()[:2]) - me0) * 1000 / n
            mem = memory(h.proc.pid)
            client = "" if CLIENT == "threads" else f", {CLIENT} client"
            line = (f"{time.strftime('%Y-%m-%d')} {name}: {n} actions over {TARGETS} targets{client}, "
                    f"{WORKERS} workers, warm: 202->start p50 {pct(lat, 50):.1f} ms p99 {pct(lat, 99):.1f} ms "
                    f"max {lat[-1]:.1f} ms; accepted->start p99 {pct(strict, 99):.0f} ms; in the handler accepted->run started p50 {pct(queued, 50):.0f} ms "
                    f"p99 {pct(queued, 99):.0f} ms; last 202 at {spread[0]:.0f} ms, last start at {spread[1]:.0f} ms; "
                    f"{n / elapsed:.0f} actions/s; run (command on target) mean "
                    f"{run_ms:.1f} ms; CPU per action: handler {cpu_ms:.2f} ms, sshd and commands {sshd_ms:.2f} ms, "
                    f"client {me_ms:.2f} ms; machine {busy:.0f}% busy; RSS {mem['VmRSS']:.1f} MiB (peak {mem['VmHWM']:.1f} MiB); "
                    f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
            print(line)
            lines.append(line)
    finally:
        h.stop(check=False)
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    with open(OUT, "a") as f:
        for line in lines:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
