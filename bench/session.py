"""session.py - the scripted session of issue 5 and its request budget.

Design: a fresh mount (empty cache, default options) walks through what a user
does in a first session with the demo project; after each step the hub's
counters (GET /_admin/stats, which count every request on arrival, downloads
included) are read, so each step's cost is what the hub saw. The budget is the
number of requests we commit to per step; the table marks any step over it.
"""
import json
import os
import subprocess

import benchlib as B

PROJECT = "Street Scenes"
ANSWER = {"objects": [], "classifications": [{"schemaId": "cWeath01", "answer": "Sunny"}],
          "relations": []}

# step, budget (requests), why
BUDGET = [
    ("ls MOUNT (list root)", 1, "listProjects, one page per 100 projects"),
    ("ls MOUNT/project", 1, "GET /project/{id}"),
    ("cat export/tasks.json", 2, "GET /export + the download"),
    ("cat export/tasks.ndjson", 2, "GET /export + the download"),
    ("cat export/issues.json", 2, "GET /export + the download"),
    ("ls -l tasks/ (240 tasks)", 3, "pages of 100 with answers (also fill the task cache)"),
    ("cat 100 tasks/*/answer.json", 0, "served from the pages of the listing"),
    ("cp labels file (10 items)", 1, "POST /import/labels"),
    ("write 10 answer.json", 20, "POST /annotate/{id} each, after GET /task/{id}: the labels "
     "import made the cached tasks stale"),
]


def run_session(bench):
    hub = bench.hub
    B.rmtree(os.path.join(bench.dir, "cache-s"))
    m = bench.mount("mnt-s", "cache-s")
    counts0 = hub.counts()
    steps = []
    try:
        root = m.path
        pdir = os.path.join(root, PROJECT)
        tdir = os.path.join(pdir, "tasks")
        labels = os.path.join(bench.dir, "session-labels.ndjson")
        with open(labels, "w") as f:
            for i in range(2, 12):
                f.write(json.dumps({"externalId": "street_%04d.jpg" % i, "objects": [],
                                    "classifications": [{"schemaId": "cWeath01",
                                                         "answer": "Rain"}]}) + "\n")
        ids = []

        def list_tasks():
            ids.extend(sorted(os.listdir(tdir)))
            B.run(["ls", "-l", tdir])

        def read_answers():
            for t in ids[:100]:
                with open(os.path.join(tdir, t, "answer.json")) as f:
                    json.load(f)

        def write_answers():
            for t in ids[100:110]:
                with open(os.path.join(tdir, t, "answer.json"), "w") as f:
                    json.dump(ANSWER, f)

        actions = [
            lambda: os.listdir(root),
            lambda: os.listdir(pdir),
            lambda: B.run(["cat", os.path.join(pdir, "export", "tasks.json")]),
            lambda: B.run(["cat", os.path.join(pdir, "export", "tasks.ndjson")]),
            lambda: B.run(["cat", os.path.join(pdir, "export", "issues.json")]),
            list_tasks,
            read_answers,
            lambda: B.run(["cp", labels, os.path.join(pdir, "labels", "session.ndjson")]),
            write_answers,
        ]
        for (name, budget, why), act in zip(BUDGET, actions):
            t0 = hub.total()
            act()
            steps.append((name, hub.total() - t0, budget, why))
    finally:
        m.stop()
        B.rmtree(os.path.join(bench.dir, "cache-s"))
    counts = hub.counts()
    routes = {k: counts.get(k, 0) - counts0.get(k, 0) for k in counts}
    out = ["Request counts, scripted session (fresh mount, demo project '%s', hub counters)"
           % PROJECT,
           "| step | requests | budget | result | what |", "|---|---|---|---|---|"]
    for name, n, budget, why in steps:
        out.append("| %s | %d | %d | %s | %s |" % (name, n, budget,
                                                  "ok" if n <= budget else "OVER", why))
    tot = sum(s[1] for s in steps)
    bud = sum(s[2] for s in steps)
    out.append("| **total** | %d | %d | %s | |" % (tot, bud, "ok" if tot <= bud else "OVER"))
    out.append("by route: " + ", ".join("%s %d" % (k, v) for k, v in sorted(routes.items())
                                          if v))
    bench.rows.append(("scripted session, requests", "%d" % tot, "-", "-", "<= %d" % bud,
                       "PASS" if tot <= bud else "FAIL"))
    return "\n".join(out)
