#!/usr/bin/env python3
"""Poller benchmark: one Dynatrace-shaped feed with 10,000 open problems in pages of 500 (the local fake of
GET /api/v2/problems), polled by the real reflex-poller, forwarding to the real reflex-classifier.

Records, from the poller process itself (/proc/<pid>/stat and /status, and its own poll-duration metric):
  - the first poll (10,000 new problems normalized, compared, committed to the outbox) with the classifier down,
    so the CPU is the cycle's alone;
  - the delivery of the 10,000 problems once the classifier is up;
  - steady polls where nothing changed (the cost of watching a large feed);
  - a poll in which 1,000 problems were closed.
Goal (issue): under 1 s of CPU per cycle and under 32 MiB resident.

    python3 bench/poller/bench_poller.py [--problems 10000] [--page-size 500] [--out bench/poller/results.txt]
"""
import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from fake_feeds import FakeDynatrace, dynatrace_problem, metric, secret_file, start_poller  # noqa: E402
from harness import free_port, start_classifier, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


class Registry(list):
    def add(self, svc):
        self.append(svc)
        return svc


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def mem_kib(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def wait_cycles(p, n, timeout=120):
    """Waits for n more completed polls; returns (cpu seconds, wall seconds of those polls by the poller's metric)."""
    start = metric(p, "reflex_poller_polls_total", feed="dt")
    dur0 = metric(p, "reflex_poller_poll_duration_seconds_sum", feed="dt")
    cpu0 = cpu_seconds(p.proc.pid)
    wait_for(lambda: metric(p, "reflex_poller_polls_total", feed="dt") >= start + n, timeout, interval=0.2,
             what=f"{n} polls")
    cpu = cpu_seconds(p.proc.pid) - cpu0
    dur = metric(p, "reflex_poller_poll_duration_seconds_sum", feed="dt") - dur0
    return cpu, dur


def run(args):
    work = Path(tempfile.mkdtemp(prefix="reflex-bench-poller-"))
    services = Registry()
    dt = FakeDynatrace(token="bench").start()
    rows = []
    try:
        print(f"generating {args.problems} problems ...", flush=True)
        probs = [dynatrace_problem(f"P-{i}", title=f"CPU saturation on web-{i:05d}", entity=f"web-{i:05d}",
                                   tags={"env": "prod", "team": f"team-{i % 40}", "[AWS]region": "eu-west-1"})
                 for i in range(args.problems)]
        dt.add(*probs)
        cport = free_port()
        feed = {"name": "dt", "type": "dynatrace", "url": dt.url, "token_file": secret_file(work, "tok", "bench"),
                "page_size": args.page_size, "interval": "4s", "timeout": "60s", "max_response": "64MiB"}
        # The classifier is down for the first poll, so the poll's CPU is not mixed with delivery.
        p = start_poller(services, work / "p", f"http://127.0.0.1:{cport}", [feed], log_level="warn",
                         forward_retry_min="1s", forward_retry_max="1s")
        pid = p.proc.pid
        wait_for(lambda: metric(p, "reflex_poller_polls_total", feed="dt") >= 1, 300, interval=0.2, what="poll 1")
        first_cpu = cpu_seconds(pid)
        first_wall = metric(p, "reflex_poller_poll_duration_seconds_sum", feed="dt")
        queued = metric(p, "reflex_poller_outbox_pending")
        if queued != args.problems:
            print([l for l in p.request("GET", "/metrics").text.splitlines() if "pending" in l or "polls" in l])
        assert queued == args.problems, f"{queued} problems queued"
        rows.append(("first poll: %d new problems, %d pages" % (args.problems, -(-args.problems // args.page_size)),
                     first_wall, first_cpu, mem_kib(pid)))

        c = start_classifier(services, work / "c", port=cport, history_size=100,
                             log_level="warn")
        cpu0, ccpu0, t0 = cpu_seconds(pid), cpu_seconds(c.proc.pid), time.monotonic()
        wait_for(lambda: metric(p, "reflex_poller_outbox_pending") == 0, 600, interval=0.2, what="delivery")
        wall = time.monotonic() - t0
        rows.append((f"delivery of {args.problems} problems to the classifier (one POST each, in order; the "
                     f"classifier used {cpu_seconds(c.proc.pid) - ccpu0:.1f} s CPU meanwhile)", wall,
                     cpu_seconds(pid) - cpu0, mem_kib(pid)))

        cpu, dur = wait_cycles(p, args.steady)
        rows.append((f"steady poll, nothing changed (mean of {args.steady})", dur / args.steady, cpu / args.steady,
                     mem_kib(pid)))

        closed = min(1000, args.problems)
        for pr in probs[:closed]:
            dt.close(pr["problemId"])
        cpu, dur = wait_cycles(p, 1)
        rows.append((f"poll with {closed} problems closed", dur, cpu, mem_kib(pid)))
        wait_for(lambda: metric(p, "reflex_poller_outbox_pending") == 0, 600, interval=0.05, what="delivery 2")
        assert metric(p, "reflex_poller_forwarded_total") == args.problems + closed
        assert metric(p, "reflex_poller_poll_errors_total", feed="dt") == 0
        del c
    finally:
        for s in reversed(services):
            s.stop(check=False)
        dt.stop()
    return rows


def report(rows, args):
    lines = [f"reflex-poller benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, "
             f"{args.problems} problems in pages of {args.page_size}",
             "",
             "| phase | wall (s) | poller CPU (s) | RSS (MiB) | peak RSS (MiB) |",
             "|---|---|---|---|---|"]
    for name, wall, cpu, mem in rows:
        lines.append(f"| {name} | {wall:.3f} | {cpu:.3f} | {mem['VmRSS'] / 1024:.1f} | {mem['VmHWM'] / 1024:.1f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=10000)
    ap.add_argument("--page-size", type=int, default=500)
    ap.add_argument("--steady", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.txt")))
    args = ap.parse_args()
    text = report(run(args), args)
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
