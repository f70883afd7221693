"""shared_cache.py - N daemons on one shared cache directory vs N independent
caches (issue 11); writes the table of docs/SCALE.md.

Design: one local hub (angofs-hub, demo data plus "synthetic-T" with T
tasks); every export request made slow on purpose (--export-latency, the
hub's own fault injection) because a real hub takes minutes to build a big
project's export. For each N in --ns and each layout, N angofs daemons
are mounted (layout "shared": one cache_dir for all; "independent": one
each; with --gluster, "shared" lives on a one-brick GlusterFS volume mounted
twice, daemons alternating between the two client mounts like two nodes),
their trees resolved, the hub's counters reset, and then every daemon reads
the same exports (the synthetic project's tasks.json and Street Scenes'
tasks.json) at the same time. Reported: export requests (GET /v2/export),
total API requests (every /v2 request), wall time of the reads, from the
hub's counters and perf_counter. Everything started is torn down at exit.
Run: sudo bench/run.sh shared-cache [--tasks 5000] [--ns 1,2,4,8]
"""
import argparse
import json
import os
import shutil
import tempfile
import threading
import time

import scalelib  # tests/scale, on PYTHONPATH through bench/run.sh shared-cache
from harness import Hub

EXPORT = "GET /v2/export"


def project_dirs(m, names):
    out = []
    for n in sorted(os.listdir(m.path)):
        if any(n.startswith(x) for x in names):
            out.append(os.path.join(m.path, n, "export", "tasks.json"))
    return out


def one_run(hub, work, n, layout, caches):
    ms = []
    try:
        for i in range(n):
            cache = caches[i % len(caches)] if layout == "shared" else os.path.join(
                work, "cache-%s-%d-%d" % (layout, n, i))
            ms.append(scalelib.SharedMount(hub, work, cache, "b-%s-%d-%d" % (layout, n, i),
                                           opts=("export_ttl=3600",)))
        files = [project_dirs(m, ("synthetic", "Street Scenes")) for m in ms]
        for fs in files:
            for f in fs:
                os.stat(os.path.dirname(f))
        hub.reset_stats()
        errs, sizes = [], []

        def reader(fs):
            for f in fs:
                try:
                    with open(f, "rb") as fh:
                        sizes.append(len(fh.read()))
                except OSError as e:
                    errs.append(e)
        ts = [threading.Thread(target=reader, args=(fs,)) for fs in files]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        wall = time.perf_counter() - t0
        if errs:
            raise SystemExit("bench: read errors: %s" % errs[:3])
        counts = hub.stats()["counts"]
        api = sum(v for k, v in counts.items() if " /v2/" in k)
        return {"n": n, "layout": layout, "export_requests": counts.get(EXPORT, 0),
                "api_requests": api, "wall_s": round(wall, 2),
                "bytes_per_daemon": sum(sizes) // max(n, 1)}
    finally:
        for m in ms:
            m.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--ns", default="1,2,4,8")
    ap.add_argument("--export-latency", type=int, default=3000, help="ms per GET /export")
    ap.add_argument("--gluster", action="store_true", help="shared cache on GlusterFS")
    ap.add_argument("--json", help="also write the rows here")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="angofs-bench-shared-")
    g = None
    hub = None
    try:
        hub = Hub(work, seeds=("demo", "synthetic:%d" % a.tasks))
        if a.gluster:
            import _pytest.outcomes
            try:
                g = scalelib.Gluster().setup()
            except _pytest.outcomes.Skipped as e:
                raise SystemExit("bench: %s" % e)
        rows = []
        for n in [int(x) for x in a.ns.split(",")]:
            for layout in ("shared", "independent"):
                if g:
                    caches = [os.path.join(mnt, "cache-%d" % n) for mnt in g.mounts]
                else:
                    caches = [os.path.join(work, "shared-cache-%d" % n)]
                hub.clear_faults()
                hub.fault(route=EXPORT, latency_ms=a.export_latency)
                r = one_run(hub, work, n, layout, caches)
                r["fs"] = "glusterfs" if g and layout == "shared" else "local"
                rows.append(r)
                print(json.dumps(r), flush=True)
        print("\n| N | cache | export requests | API requests | wall time (s) |")
        print("|---|---|---|---|---|")
        for r in rows:
            print("| %d | %s (%s) | %d | %d | %.1f |" % (r["n"], r["layout"], r["fs"],
                                                      r["export_requests"],
                                                      r["api_requests"], r["wall_s"]))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"tasks": a.tasks, "export_latency_ms": a.export_latency,
                           "rows": rows}, f, indent=1)
    finally:
        if hub:
            hub.stop()
        if g:
            g.teardown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
