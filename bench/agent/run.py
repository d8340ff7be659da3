#!/usr/bin/env python3
"""The agent benchmark (issue: topology agent). With N established loopback connections held by a helper:
the agent's time per scan (cold and warm, netlink and /proc/net), the CPU the real reflex-agent uses over a window
at the default interval while reporting to a real classifier, its resident memory, and `ss -tanp` / `ss -tan` on
the same sockets as the reference.

    python3 bench/agent/run.py [--connections 10000] [--seconds 60] [--build build]

Everything listens on 127.0.0.1 and stops by pid at the end."""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def build(bdir):
    sh("make", "-s", f"{bdir}/bin/reflex-agent", f"{bdir}/bin/reflex-classifier", f"{bdir}/libagent.a", cwd=ROOT)
    libs = subprocess.run(["pkg-config", "--libs", "libmicrohttpd", "libcurl", "libcjson", "yaml-0.1", "libssh",
                           "rdkafka", "openssl"], capture_output=True, text=True, check=True).stdout.split()
    cflags = subprocess.run(["pkg-config", "--cflags", "libcjson"], capture_output=True, text=True,
                            check=True).stdout.split()
    out = ROOT / bdir / "bench" / "agent_scan"
    out.parent.mkdir(parents=True, exist_ok=True)
    sh("cc", "-O2", "-std=gnu11", "-D_GNU_SOURCE", "-Ishared", "-Iagent", *cflags, "-o", str(out),
       "bench/agent/scan_bench.c", f"{bdir}/libagent.a", f"{bdir}/libreflex.a", *libs, "-lpthread", "-lm", cwd=ROOT)
    return out


def timed(cmd, runs=5):
    times = []
    lines = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, check=True).stdout
        times.append((time.perf_counter() - t0) * 1000)
        lines = out.count(b"\n")
    return statistics.median(times), min(times), lines


def proc_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_kib(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def wait_http(url, timeout=15):
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"not ready: {url}")


def agent_window(bdir, seconds, work):
    """The real agent at the default interval (10 s), reporting to a real classifier, for `seconds`."""
    token = work / "token"
    token.write_text("bench-token\n")
    (work / "rules").mkdir()
    cport, aport = free_port(), free_port()
    (work / "classifier.yaml").write_text(
        f'{{"bind": "127.0.0.1", "port": {cport}, "rules_dir": "{work}/rules", "api_tokens_file": "{token}",'
        f' "state_dir": "{work}/state", "log_level": "warn"}}\n')
    (work / "agent.yaml").write_text(
        f'{{"bind": "127.0.0.1", "port": {aport}, "classifier_url": "http://127.0.0.1:{cport}",'
        f' "classifier_token_file": "{token}", "node_name": "bench", "include_loopback": true, "log_level": "warn"}}\n')
    logs = open(work / "services.log", "wb")
    cls = subprocess.Popen([str(ROOT / bdir / "bin/reflex-classifier"), "--config", str(work / "classifier.yaml")],
                           stdout=logs, stderr=logs, cwd=work)
    agent = None
    try:
        wait_http(f"http://127.0.0.1:{cport}/readyz")
        agent = subprocess.Popen([str(ROOT / bdir / "bin/reflex-agent"), "--config", str(work / "agent.yaml")],
                                 stdout=logs, stderr=logs, cwd=work)
        wait_http(f"http://127.0.0.1:{aport}/readyz")
        cpu0, t0 = proc_cpu_seconds(agent.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, t1 = proc_cpu_seconds(agent.pid), time.monotonic()
        mem = proc_mem_kib(agent.pid)
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{aport}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        scans = next((l.split()[-1] for l in metrics.splitlines() if l.startswith("reflex_agent_scans_total")), "?")
        return (cpu1 - cpu0), (t1 - t0), mem, scans
    finally:
        for p in (agent, cls):
            if p and p.poll() is None:
                p.terminate()
                p.wait(10)
        logs.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    bench = build(a.build)
    helper = subprocess.Popen([sys.executable, str(HERE / "conns.py"), str(a.connections)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    work = Path(tempfile.mkdtemp(prefix="rfx-agent-bench-"))
    try:
        line = helper.stdout.readline().split()
        assert line and line[0] == "ready", "the connection helper failed"
        print(f"machine: {os.cpu_count()} cores, kernel {os.uname().release}, load average {os.getloadavg()[0]:.1f}; "
              f"{a.connections} established "
              f"loopback connections on port {line[1]} (server pid {line[2]}, client pid {line[3]})")
        ss_p = timed(["ss", "-tanp"])
        ss = timed(["ss", "-tan"])
        print(f"ss -tanp: median {ss_p[0]:.1f} ms (best {ss_p[1]:.1f} ms), {ss_p[2]} lines")
        print(f"ss -tan:  median {ss[0]:.1f} ms (best {ss[1]:.1f} ms), {ss[2]} lines")
        sys.stdout.flush()
        sh(str(bench), "50")
        sys.stdout.flush()
        cpu, wall, mem, scans = agent_window(a.build, a.seconds, work)
        print(f"reflex-agent at the default interval (10 s) for {wall:.0f} s ({scans} scans, reports to a real "
              f"classifier): CPU {cpu:.3f} s = {100 * cpu / wall:.3f}% of one core; "
              f"RSS {mem.get('VmRSS', 0) / 1024:.1f} MiB (peak {mem.get('VmHWM', 0) / 1024:.1f} MiB); "
              f"load average now {os.getloadavg()[0]:.1f}")
    finally:
        helper.stdin.close()
        helper.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
