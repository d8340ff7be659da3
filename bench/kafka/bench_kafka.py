"""Kafka audit benchmark: audit records per second through the sink to a local broker, and the classifier's events/s
with Kafka auditing on against off in the same run (alternating rounds). Prints one line per measurement and appends
them to bench/kafka/results.txt.

    python3 bench/kafka/bench_kafka.py            # BENCH_DURATION=10 BENCH_CONNECTIONS=32 BENCH_ROUNDS=2

BENCH_OLD_BUILD=<dir> compares against another build (e.g. one linked with an earlier shared/audit_kafka.c) in the
same run: the sink sizes alternate new/old, and the classifier rounds are off / kafka / kafka-old instead of off /
file / kafka. BENCH_SINK_ONLY=1 skips the classifier; BENCH_SINK_REPEAT=n repeats the sink part n times.
"""
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from harness import BUILD, free_port, http, wait_for  # noqa: E402
from kafka import KafkaBroker, kafka_skip_reason  # noqa: E402

DUR = int(os.environ.get("BENCH_DURATION", "10"))
CONN = int(os.environ.get("BENCH_CONNECTIONS", "32"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
RECORDS = int(os.environ.get("BENCH_RECORDS", "200000"))
# production: the broker JVM options of Kafka's own start scripts (C2 JIT, G1); test: the test suite's quick-start ones.
BROKER_JVM = os.environ.get("BENCH_BROKER_JVM", "production")
OLD_BUILD = Path(os.environ["BENCH_OLD_BUILD"]).resolve() if os.environ.get("BENCH_OLD_BUILD") else None
SINK_ONLY = os.environ.get("BENCH_SINK_ONLY") == "1"
SINK_REPEAT = int(os.environ.get("BENCH_SINK_REPEAT", "1"))
OUT = ROOT / "bench" / "kafka" / "results.txt"


def sink_bench(broker, work, count, build=BUILD, tag=""):
    """Records/s from the first write until the broker acknowledged the last one (~330-byte records, 1000 keys).
    A burst larger than the producer's queue (100,000 records) overflows into the spool, as an outage would.
    CPU per record: the load tool's user+system time (building records, the sink, librdkafka's threads)."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([str(build / "tools" / "audit_load"), "--brokers", broker.bootstrap, "--topic", "bench.sink",
                        "--spool", str(work / f"sink-spool-{count}{tag}"), "--count", str(count), "--keys", "1000",
                        "--payload", "200", "--flush-ms", "120000"], capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise SystemExit(f"audit_load failed: {r.stderr[-2000:]}")
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["delivered"] == count and s["dropped"] == 0, s
    return (f"sink{tag} records={count} delivered={s['delivered']} records/s={count / s['seconds']:.0f} "
            f"write_us_per_record={1e6 * s['write_seconds'] / count:.2f} cpu_us_per_record={1e6 * cpu / count:.2f} "
            f"spooled={s['spooled']}")


def start_classifier(work, rules, kafka, tag, audit_file=False, build=BUILD):
    port = free_port()
    cfg = {"bind": "127.0.0.1", "port": port, "rules_dir": str(rules), "api_tokens_file": str(work / "token"),
           "state_dir": str(work / f"state-{tag}"), "log_level": "warn"}
    if kafka:
        cfg.update(kafka_brokers=kafka.bootstrap, kafka_audit_topic="bench.audit",
                   audit_spool_dir=str(work / f"spool-{tag}"))
    elif audit_file:
        cfg.update(audit_file=str(work / f"audit-{tag}.jsonl"))
    (work / f"{tag}.yaml").write_text(json.dumps(cfg))
    log = open(work / f"{tag}.log", "wb")
    p = subprocess.Popen([str(build / "bin" / "reflex-classifier"), "--config", str(work / f"{tag}.yaml")], stdout=log,
                         stderr=subprocess.STDOUT)
    wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200, 20,
             what="classifier ready")
    return p, port


def metric(port, name):
    text = http("GET", f"http://127.0.0.1:{port}/metrics").text
    m = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def cpu_seconds(pid):
    """User + system CPU time of a process so far (less sensitive to a busy machine than throughput)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rdk_thread_seconds(pid):
    """CPU time of librdkafka's own threads (rdk:*) inside a process."""
    total = 0.0
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (t / "comm").read_text().startswith("rdk:"):
                fields = (t / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def wrk(port):
    r = subprocess.run(["wrk", "-t2", f"-c{CONN}", f"-d{DUR}s", "--latency", "-s",
                        str(ROOT / "bench" / "classifier" / "post.lua"), f"http://127.0.0.1:{port}"],
                       capture_output=True, text=True, check=True)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", r.stdout).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", r.stdout, re.M).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    total = int(re.search(r"(\d+) requests in", r.stdout).group(1))
    return rps, p99, int(non2xx.group(1)) if non2xx else 0, total


def classifier_round(work, rules, broker, mode, i):
    """mode: off (no audit sink), file (JSON lines), kafka."""
    tag = f"{mode}-{i}"
    kafka_on = mode.startswith("kafka")
    p, port = start_classifier(work, rules, broker if kafka_on else None, tag, audit_file=mode == "file",
                               build=OLD_BUILD if mode == "kafka-old" else BUILD)
    try:
        cpu0, rdk0, brk0 = cpu_seconds(p.pid), rdk_thread_seconds(p.pid), cpu_seconds(broker.proc.pid)
        rps, p99, non2xx, total = wrk(port)
        cpu_us = 1e6 * (cpu_seconds(p.pid) - cpu0) / total
        rdk_us = 1e6 * (rdk_thread_seconds(p.pid) - rdk0) / total
        brk_us = 1e6 * (cpu_seconds(broker.proc.pid) - brk0) / total
        line = (f"classifier audit={mode} round={i} events/s={rps:.0f} p99={p99} "
                f"non2xx={non2xx} cpu_us_per_event={cpu_us:.0f} librdkafka_threads_us={rdk_us:.0f} "
                f"broker_jvm_us={brk_us:.0f}")
        if kafka_on:
            written = metric(port, "reflex_audit_kafka_written_total")
            wait_for(lambda: metric(port, "reflex_audit_kafka_delivered_total") >= written, 60, interval=0.2,
                     what="audit records delivered")
            written = metric(port, "reflex_audit_kafka_written_total")
            line += (f" audit_records={written:.0f} delivered={metric(port, 'reflex_audit_kafka_delivered_total'):.0f}"
                     f" spooled={metric(port, 'reflex_audit_kafka_spooled_total'):.0f}"
                     f" dropped={metric(port, 'reflex_audit_kafka_dropped_total'):.0f}")
        return rps, cpu_us, line
    finally:
        p.terminate()
        p.wait(15)


def main():
    reason = kafka_skip_reason()
    if reason:
        raise SystemExit(f"bench/kafka: {reason}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "token").write_text("bench-token\n")
        rules = work / "rules"
        subprocess.run([sys.executable, str(ROOT / "bench" / "classifier" / "gen_rules.py"), "100", str(rules)],
                       check=True)
        jvm = KafkaBroker.TEST_JVM if BROKER_JVM == "test" else KafkaBroker.PRODUCTION_JVM
        broker = KafkaBroker(work, jvm=jvm).start()
        lines = [f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cores, "
                 f"one local broker (Kafka {kafka_version()}, {BROKER_JVM} JVM options), "
                 f"wrk -t2 -c{CONN} -d{DUR}s, 100 rules, load average "
                 f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}" + (f", old build {OLD_BUILD.name}" if OLD_BUILD else "")]
        print(lines[0], flush=True)
        try:
            builds = ((BUILD, ""), (OLD_BUILD, "-old")) if OLD_BUILD else ((BUILD, ""),)
            for i in range(SINK_REPEAT):
                for count in (RECORDS // 4, RECORDS):
                    for build, tag in builds if i % 2 == 0 else builds[::-1]:  # alternate who goes first
                        lines.append(sink_bench(broker, work, count, build, tag))
                        print(lines[-1], flush=True)
            if SINK_ONLY:
                return
            modes = ("off", "kafka", "kafka-old") if OLD_BUILD else ("off", "file", "kafka")
            rates, cpus = {m: [] for m in modes}, {m: [] for m in modes}
            for i in range(ROUNDS):
                for m in modes:
                    rps, cpu_us, line = classifier_round(work, rules, broker, m, i)
                    rates[m].append(rps)
                    cpus[m].append(cpu_us)
                    lines.append(line)
                    print(line, flush=True)
            r = {m: sum(v) / ROUNDS for m, v in rates.items()}
            c = {m: sum(v) / ROUNDS for m, v in cpus.items()}
            line = "classifier mean"
            for m in modes[1:]:
                line += (f" {m}: events/s={r[m]:.0f} of off={r['off']:.0f} cost={100 * (r['off'] - r[m]) / r['off']:.1f}%"
                         f" cpu_us_per_event={c[m]:.0f} of off={c['off']:.0f}"
                         f" cpu_cost={100 * (c[m] - c['off']) / c['off']:.1f}%;")
            lines.append(line.rstrip(";"))
            print(lines[-1], flush=True)
        finally:
            broker.stop()
            finish(lines)


def finish(lines):
    lines.append(f"# load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(lines[-1], flush=True)
    with open(OUT, "a") as f:
        f.write("\n".join(lines) + "\n")


def kafka_version():
    pom = (ROOT / "tests" / "kafka" / "pom.xml").read_text()
    return re.search(r"<kafka.version>([^<]+)<", pom).group(1)


if __name__ == "__main__":
    main()
