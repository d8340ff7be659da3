#!/usr/bin/env python3
"""Writes N benchmark rules into DIR (several files), shaped like a large estate's rules: most key on an event type
and a tag, some on entity globs or regexes, a few with `when` expressions. Usage: gen_rules.py N DIR"""
import os
import sys

n, out = int(sys.argv[1]), sys.argv[2]
os.makedirs(out, exist_ok=True)
for f in os.listdir(out):
    os.unlink(os.path.join(out, f))
per_file = 500
for start in range(0, n, per_file):
    docs = []
    for i in range(start, min(n, start + per_file)):
        kind = i % 10
        doc = [f"name: bench-rule-{i:05d}", f"priority: {i % 100}"]
        if kind < 6:
            doc += ["match:", f"  event_type: Alert{i}", f"  tags: {{service: svc{i % 50}}}"]
        elif kind < 8:
            doc += ["match:", f"  event_type: [Alert{i}, Other{i}]", f"  entity: {{glob: \"web-{i % 30}*\"}}"]
        elif kind < 9:
            doc += ["match:", f"  source: alertmanager", f"  event_type: Alert{i}",
                    f"  title: {{regex: \"(?i)down.*{i}\"}}"]
        else:
            doc += ["match:", f"  event_type: Alert{i}", f"when: 'severity == \"critical\" || tags.env != \"prod\"'"]
        doc += ["action:", "  type: ssh", "  command: \"sudo systemctl restart {{tags.service}}\"",
                "  mode: dry-run"]
        docs.append("\n".join(doc))
    with open(os.path.join(out, f"bench-{start // per_file:03d}.yaml"), "w") as fh:
        fh.write("\n---\n".join(docs) + "\n")
