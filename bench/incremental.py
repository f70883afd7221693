"""incremental.py - the benchmark rows of issue 14: what it costs to see fresh
data after k tasks changed elsewhere (incremental refresh against a full
refetch), and what change polling costs per hour. Run it through bench/run.sh:

  bench/run.sh incremental --quick     10k-task project, 2 runs per k (~2 min)
  bench/run.sh incremental             100k-task project, 3 runs per k

Design: like bench.py, real processes only, timed from the outside, request
counts and bytes from the hub's own counters (GET /_admin/stats: its request
log has the reply size of every request, the download's zip included).

Refresh rows. One hub holds a synthetic project of N tasks (`--seed
synthetic:N`, the hub's fastest way to make one: ~10 s for 100k). Two mounts
on separate caches read export/tasks.json once (cached): `incr` with default
options and `full` with incremental refresh turned off (the option found in
`angofs --help`, or --full-opt). For each k, each run: k tasks get a new
answer through the hub's API (POST /annotate, a marker text unique to the
run), then on each mount, in alternating order (A B, B A, ...): the hub's
counters are reset, `touch export/tasks.json` marks the cached copy stale (the
mounts have no poll, so they learn of the change only this way, as after a
TTL), and `cat export/tasks.json > /dev/null` is timed: that is the cost of
showing the fresh data. The daemon's CPU seconds (/proc/PID/stat) are taken
around it too, as a noise-free second measure. Correctness, untimed, each
run: both files hold the k changed answers with this run's marker, and the
incremental file is byte-identical to the full refetch's (cmp).

Poll rows (in a thread, on two small hubs of their own so their counters see
nothing else): 10 projects are read through a mount with -o poll=SECONDS and
through one without; then the hub's requests are counted over a window.
Requests per hour are extrapolated from the window (stated as such).
Nothing here is part of the test suite (tests/bench has a small smoke test).
"""
import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import benchlib as B
from benchlib import run, timed, median

SIZES = {
    "quick": dict(tasks=10000, runs=2, poll_interval=10, poll_window=45, poll_changes=3),
    "full": dict(tasks=100000, runs=3, poll_interval=60, poll_window=330, poll_changes=3),
}
KS = (1, 10, 1000)
# Both refresh mounts keep their project list and projects for the whole run
# (a default meta_ttl of 60 s would add a GET /listProjects or /project/{id}
# on the way now and then, to both sides alike), so every request the hub
# counts during a refresh is the refresh's own.
MOUNT_OPTS = ["meta_ttl=86400"]


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))


def fmt_s(xs):
    return "%.2f s (%.2f-%.2f)" % (median(xs), min(xs), max(xs))


def fmt_bytes(n):
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return "%.1f %s" % (n / div, unit)
    return "%d B" % n


def cpu_seconds(pid):
    """utime + stime of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def full_switch(build):
    """The -o option that turns incremental refresh off, from `angofs --help`
    (an option named incremental..., a BOOL): "NAME=0", or None if this build
    has no incremental refresh."""
    r = subprocess.run([os.path.join(build, "src", "angofs"), "--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    m = re.search(r"-o (\w*incremental\w*)=", r.stdout.decode("utf-8", "replace"))
    return m.group(1) + "=0" if m else None


def export_entries(node):
    """Every export entry of a .status document, wherever it sits."""
    if isinstance(node, dict):
        if "generation" in node and "project" in node:
            yield node
        for v in node.values():
            yield from export_entries(v)
    elif isinstance(node, list):
        for v in node:
            yield from export_entries(v)


def last_refresh(m, pid):
    """What the mount says its last refresh of the project's export/tasks.json
    did (.status "last_refresh": mode incremental/unchanged/full, why, ms), or
    {} when this build does not say."""
    deadline = time.time() + 60
    while True:
        with open(os.path.join(m.path, ".status")) as f:
            st = json.load(f)
        for e in export_entries(st):
            if (e.get("project") == pid and e.get("type", "task") == "task"
                    and e.get("format", "json") == "json"
                    and not any(k in e for k in ("stage", "batch", "purpose"))):
                # served while written: the refresh says how it went after
                if e.get("writing") and time.time() < deadline:
                    break
                return e.get("last_refresh") or {}
        else:
            return {}
        time.sleep(0.05)


class Api:
    """Keep-alive connection to the hub's /v2 API (1000 annotates in one go)."""

    def __init__(self, hub):
        u = urllib.parse.urlparse(hub.url)
        self.host, self.port, self.key = u.hostname, u.port, hub.key
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                hdrs = {"apikey": self.key}
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    hdrs["Content-Type"] = "application/json"
                self.conn.request(method, "/v2" + path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                if r.status != 200:
                    B.die("%s %s: HTTP %d %s" % (method, path, r.status, raw[:300]))
                return json.loads(raw)
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()


class Counters:
    """The hub's counters since a reset: requests, reply bytes, by route."""

    def __init__(self, hub):
        self.hub = hub

    def reset(self):
        self.hub.reset_stats()

    def read(self):
        # a streamed reply (the download) is logged when it completes, which
        # may be a moment after the client read its last byte
        for _ in range(50):
            st = self.hub.stats()
            if len(st["log"]) >= st["total"]:
                break
            time.sleep(0.05)
        self.hub_ms = {}
        for e in st["log"]:
            self.hub_ms[e["route"]] = self.hub_ms.get(e["route"], 0) + e["ms"]
        return (st["total"], sum(e["bytes"] for e in st["log"]),
                {k: v for k, v in st["counts"].items() if v})


class Bench:
    def __init__(self, args):
        self.args = args
        self.size = dict(SIZES["quick" if args.quick else "full"])
        if args.tasks:
            self.size["tasks"] = args.tasks
        if args.runs:
            self.size["runs"] = args.runs
        for k in ("poll_interval", "poll_window"):
            if getattr(args, k):
                self.size[k] = getattr(args, k)
        self.poll_projects = args.poll_projects
        self.ks = [int(x) for x in args.ks.split(",")] if args.ks else list(KS)
        self.build = os.path.abspath(args.build)
        base = os.environ.get("BENCH_DIR", "/var/tmp")
        self.dir = tempfile.mkdtemp(prefix="angofs-bench-incr-", dir=base)
        self.rows, self.notes, self.failures = [], [], []
        self.full_opt = args.full_opt or full_switch(self.build)
        self.results = {"k": {}}

    def row(self, *cells):
        self.rows.append(tuple(str(c) for c in cells))

    def mount(self, hub, name, opts=()):
        return B.Mount(self.build, hub, os.path.join(self.dir, name),
                       os.path.join(self.dir, name + "-cache"), opts)

    # --- refresh rows ------------------------------------------------------

    def pick_tasks(self, api, pid, n):
        """n task ids spread over the project (whole pages of 100, evenly spaced)."""
        total = api.call("GET", "/project/%s/tasks?limit=1&fields=_id" % pid)["data"]["total"]
        pages = (total + 99) // 100
        want = min(pages, (n + 99) // 100)
        ids = []
        for i in range(want):
            p = 1 + i * pages // want
            d = api.call("GET", "/project/%s/tasks?limit=100&page=%d&fields=_id" % (pid, p))
            ids += [t["_id"] for t in d["data"]["tasks"]]
        if len(ids) < n:
            B.die("project has %d tasks, %d asked" % (len(ids), n))
        return ids[:n]

    def annotate(self, api, ids, marker):
        for i, t in enumerate(ids):
            ans = {"objects": [], "relations": [],
                   "classifications": [{"schemaId": "cComm001", "answer": "%s #%d" % (marker, i)}]}
            api.call("POST", "/annotate/%s?nextStage=false" % t, {"answer": ans})

    def refresh(self, cnt, m, f, pid):
        """touch + cat of one mount's export: seconds, requests, bytes, routes,
        daemon CPU seconds, and what the mount says the refresh was."""
        cnt.reset()
        c0 = cpu_seconds(m.proc.pid)
        os.utime(f)
        t = timed(lambda: run(["cat", f]))
        c1 = cpu_seconds(m.proc.pid)
        req, nbytes, routes = cnt.read()
        dl = sum(v for r, v in routes.items() if r.startswith("GET /download"))
        lr = last_refresh(m, pid)
        return dict(s=t, req=req, api=req - dl, dl=dl, bytes=nbytes, routes=routes,
                    hub_ms=dict(cnt.hub_ms),
                    cpu=c1 - c0, mode=lr.get("mode", "?"), why=lr.get("full_because", ""),
                    daemon_ms=lr.get("ms"), changed=lr.get("changed"), indexed=lr.get("indexed"))

    def verify(self, files, ids, marker, k, r):
        """Every file shows the k new answers; the incremental file equals the
        full refetch's byte for byte."""
        idfile = os.path.join(self.dir, "ids.txt")
        idset = set(ids)
        with open(idfile, "w") as g:
            g.write("\n".join(ids) + "\n")
        for side, f in files.items():
            out = subprocess.run(["grep", "-F", "-f", idfile, f], stdout=subprocess.PIPE,
                                 timeout=600).stdout.decode()
            seen = {}
            for line in out.splitlines():
                rec = json.loads(line.rstrip().rstrip(","))
                if rec["task"]["taskId"] not in idset:
                    continue
                cls = rec["task"].get("classifications") or [{}]
                seen[rec["task"]["taskId"]] = cls[0].get("answer", "")
            bad = [t for i, t in enumerate(ids) if seen.get(t) != "%s #%d" % (marker, i)]
            if bad:
                self.fail("k=%d run %d: %s mount: %d of %d changed answers not visible (e.g. %s: %r)"
                          % (k, r + 1, side, len(bad), k, bad[0], seen.get(bad[0])))
        if len(files) == 2:
            c = subprocess.run(["cmp", "-s", files["incr"], files["full"]], timeout=600)
            if c.returncode != 0:
                self.fail("k=%d run %d: the incremental tasks.json differs from the full "
                          "refetch's (cmp)" % (k, r + 1))

    def fail(self, msg):
        self.failures.append(msg)
        log("CHECK FAILED: " + msg)

    def refresh_rows(self):
        n = self.size["tasks"]
        pname = "synthetic-%d" % n
        hub = self.hub
        api = Api(hub)
        cnt = Counters(hub)
        pid = hub.project_id(pname)
        sides = {"full": self.mount(hub, "mnt-full",
                                    MOUNT_OPTS + ([self.full_opt] if self.full_opt else []))}
        if self.full_opt:
            sides["incr"] = self.mount(hub, "mnt-incr", MOUNT_OPTS)
        else:
            self.notes.append("this build has no incremental refresh (no -o ...incremental... in "
                              "angofs --help): the full refetch only")
        files = {s: os.path.join(m.path, pname, "export", "tasks.json") for s, m in sides.items()}
        for s in sorted(sides):
            cnt.reset()
            t = timed(lambda: run(["cat", files[s]]))
            req, nbytes, _ = cnt.read()
            log("%s mount: first read of %s: %.2f s, %d req, %s" % (s, pname, t, req,
                                                                   fmt_bytes(nbytes)))
        size = os.path.getsize(files["full"])
        ids_all = self.pick_tasks(api, pid, max(self.ks))
        order = ["incr", "full"] if "incr" in sides else ["full"]
        res = self.results["k"]
        for k in self.ks:
            res[k] = {s: [] for s in sides}
            for r in range(self.size["runs"]):
                ids = ids_all[:k]
                marker = "bench k=%d run %d at %d" % (k, r + 1, time.time())
                ta = timed(lambda: self.annotate(api, ids, marker))
                for s in (order if r % 2 == 0 else order[::-1]):
                    res[k][s].append(self.refresh(cnt, sides[s], files[s], pid))
                self.verify(files, ids, marker, k, r)
                log("k=%d run %d (annotate %.1f s): %s" % (k, r + 1, ta, "; ".join(
                    "%s %.2f s (daemon says %s ms) %d req (%d API) %s cpu %.2f s %s%s%s" % (
                        s, x["s"], x["daemon_ms"], x["req"], x["api"], fmt_bytes(x["bytes"]),
                        x["cpu"], x["mode"], " indexed" if x["indexed"] else "",
                        " (%s)" % x["why"] if x["why"] else "")
                    for s, x in ((s, res[k][s][-1]) for s in order))))
        api.close()
        self.hwm = {s: m.vm_hwm_kb() for s, m in sides.items()}
        for m in sides.values():
            m.stop()
        self.table_refresh(res, sides, size, n)

    def table_refresh(self, res, sides, size, n):
        def cell(xs):
            modes = {}
            for x in xs:
                modes[x["mode"]] = modes.get(x["mode"], 0) + 1
            dms = [x["daemon_ms"] for x in xs if x["daemon_ms"] is not None]
            return "%s%s, %d API req + %d download, %s, cpu %.2f s, %s" % (
                fmt_s([x["s"] for x in xs]),
                " (refresh %.2f s)" % (median(dms) / 1000.) if dms else "",
                max(x["api"] for x in xs), max(x["dl"] for x in xs),
                fmt_bytes(median([x["bytes"] for x in xs])), median([x["cpu"] for x in xs]),
                " ".join("%s %d/%d" % (md, v, len(xs)) for md, v in sorted(modes.items())))

        for k in self.ks:
            full = cell(res[k]["full"])
            if "incr" not in sides:
                self.row("k=%d changed, cat tasks.json" % k, "-", full, "-", "-", "-")
                continue
            inc = res[k]["incr"]
            ratio = median([x["s"] for x in inc]) / median([x["s"] for x in res[k]["full"]])
            cpu_ratio = (median([x["cpu"] for x in inc]) /
                         max(1e-9, median([x["cpu"] for x in res[k]["full"]])))
            target, result = "-", "-"
            if k == 10:
                target = "<= 3 hub req, time <= 0.10"
                missed = []
                if max(x["api"] for x in inc) > 3:
                    missed.append("req")
                if ratio > 0.10:
                    missed.append("time")
                if not all(x["mode"] == "incremental" for x in inc):
                    missed.append("not incremental")
                result = "FAIL (%s)" % ", ".join(missed) if missed else "PASS"
            self.row("k=%d changed, cat tasks.json" % k, cell(inc), full,
                     "%.3f (cpu %.3f)" % (ratio, cpu_ratio), target, result)
        if "incr" in sides:
            self.row("daemon peak RSS (VmHWM, whole run)", "%.1f MB" % (self.hwm["incr"] / 1024.),
                     "%.1f MB" % (self.hwm["full"] / 1024.), "-", "-", "-")
        self.notes.append("project synthetic-%d, tasks.json %s (metadata + history); each cell: "
                          "median (min-max) of %d runs, max requests, median reply bytes, median "
                          "daemon CPU, the mount's last_refresh mode; (refresh X s): median of "
                          "the refresh's own duration as .status last_refresh.ms reports it, the "
                          "cat reads the new file through FUSE while it is written (src/exports/stream.c); "
                          "requests: the most any run made as the hub counts them: API = the /v2 "
                          "ones (the hub requests), download = GET of the export's exportPath, "
                          "a signed link fetched without the API key (on the real Hub a storage "
                          "URL, shared/hub-api.md 1.3; here the local hub serves it); both "
                          "mounts run with -o %s, so none of them is a project-list or "
                          "project lookup after an expired meta_ttl"
                          % (n, fmt_bytes(size), self.size["runs"], ",".join(MOUNT_OPTS)))
        routes = {}
        for k in self.ks:
            for s in sides:
                for x in res[k][s]:
                    for rt, v in x["routes"].items():
                        routes.setdefault((s, k), {}).setdefault(rt, []).append(v)
        for k in self.ks:
            for x in res[k].get("incr", []):
                if x["mode"] != "incremental":
                    self.notes.append("incr, k=%d: a refresh was %s%s" % (
                        k, x["mode"], ": " + x["why"] if x["why"] else ""))
        for (s, k), rts in sorted(routes.items()):
            ms = {rt: median([x["hub_ms"].get(rt, 0) for x in res[k][s]]) for rt in rts}
            self.notes.append("%s, k=%d, requests by route (max per refresh; median ms the hub "
                              "took to answer, not shown for the download: its log entry ends "
                              "when the file is handed to the socket): %s" % (s, k, ", ".join(
                                  "%s %d%s" % (rt, max(v), "" if rt.startswith("GET /download")
                                               else " (%.0f ms)" % ms[rt])
                                  for rt, v in sorted(rts.items()))))

    # --- poll rows -----------------------------------------------------------

    def poll_side(self, name, opts, out):
        """One small hub of its own, 10 projects read through one mount, then
        the hub's requests over the window."""
        try:
            wd = os.path.join(self.dir, "poll-" + name)
            os.makedirs(wd)
            seeds = ["synthetic:%d" % (11 + i) for i in range(self.poll_projects)]
            hub = B.Hub(self.build, wd, seeds)
            m = self.mount(hub, "mnt-poll-" + name, opts)
            for i in range(self.poll_projects):
                run(["cat", os.path.join(m.path, "synthetic-%d" % (11 + i), "export",
                                         "tasks.json")])
            st = os.path.join(m.path, ".status")
            interval = self.size["poll_interval"]
            if opts:  # let the first round (the baseline answers) happen first
                deadline = time.time() + 3 * interval + 30
                while time.time() < deadline:
                    with open(st) as f:
                        if json.load(f)["poll"]["rounds"] >= 1:
                            break
                    time.sleep(0.2)
            hub.reset_stats()
            t0 = time.time()
            # sample the mount's round counter and the hub's request counter:
            # (time, rounds, requests) at each round that completes
            marks, last = [], self.poll_rounds(st)
            while time.time() - t0 < self.size["poll_window"]:
                time.sleep(0.25)
                r = self.poll_rounds(st)
                if r != last:
                    marks.append((time.time(), r, hub.stats()["total"]))
                    last = r
            total = hub.stats()["total"]
            counts = {k: v for k, v in hub.stats()["counts"].items() if v}
            window = time.time() - t0
            d = dict(req=total, window=window, rounds=len(marks), counts=counts)
            if len(marks) >= 2:  # whole rounds between the first and the last mark
                (ta, ra, qa), (tb, rb, qb) = marks[0], marks[-1]
                d.update(period=(tb - ta) / (rb - ra), per_round=(qb - qa) / (rb - ra))
            if opts:
                d["seen"] = self.poll_latency(hub, m)
            out[name] = d
            m.stop()
            hub.stop()
        except BaseException as e:  # reported by the main thread
            out[name] = dict(error=repr(e))

    def poll_latency(self, hub, m):
        """Changes made through the hub's API, one at a time: seconds until the
        polling mount's export/tasks.json shows each (read every 0.25 s, as a
        polling reader would), and how the mount refreshed it. Each change is
        made at a random moment of the poll cycle: the expected wait is half
        an interval, the worst one interval (plus the refresh)."""
        api = Api(hub)
        pname = "synthetic-11"
        pid = hub.project_id(pname)
        f = os.path.join(m.path, pname, "export", "tasks.json")
        task = api.call("GET", "/project/%s/tasks?limit=1&fields=_id" % pid)["data"]["tasks"][0]
        seen = []
        for i in range(self.size["poll_changes"]):
            # at a random phase of the poll cycle, as a change made elsewhere would be
            time.sleep(random.uniform(0, self.size["poll_interval"]))
            marker = "poll change %d at %d" % (i, time.time())
            self.annotate(api, [task["_id"]], marker)
            t0 = time.time()
            deadline = t0 + 3 * self.size["poll_interval"] + 30
            while time.time() < deadline:
                with open(f, "rb") as g:
                    if marker.encode() in g.read():
                        break
                time.sleep(0.25)
            else:
                B.die("poll: a change was not visible after %.0f s" % (time.time() - t0))
            seen.append(dict(s=time.time() - t0, mode=last_refresh(m, pid).get("mode", "?")))
        api.close()
        return seen

    def poll_rounds(self, st):
        with open(st) as f:
            p = json.load(f).get("poll")
        return p.get("rounds", 0) if isinstance(p, dict) else 0

    def poll_rows(self, out):
        iv = self.size["poll_interval"]
        for name in ("on", "off"):
            if "error" in out.get(name, {"error": "did not run"}):
                B.die("poll %s: %s" % (name, out.get(name, {}).get("error", "did not run")))
        on, off = out["on"], out["off"]
        if "per_round" not in on:
            B.die("poll on: fewer than 2 rounds in %.0f s" % on["window"])
        per_round, period = on["per_round"], on["period"]
        per_hour = per_round * 3600.0 / period
        per_hour_60 = per_round * 3600.0 / 60
        self.results["poll"] = dict(on=on, off=off, per_round=per_round, period=period)
        ok = per_round <= self.poll_projects
        if self.poll_projects * 60.0 / iv > 100:
            self.notes.append("poll=%d on %d projects asks more than the mount's default request "
                              "budget (100 a minute): rounds, and the refreshes they trigger, wait "
                              "for the budget" % (iv, self.poll_projects))
        self.row("poll=%d, %d projects read, over %.0f s" % (iv, self.poll_projects,
                                                             on["window"]),
                 "%d req, %d rounds; %.1f req per round, a round every %.1f s: %.0f/h" % (
                     on["req"], on["rounds"], per_round, period, per_hour),
                 "-", "-", "%d per round" % self.poll_projects, "PASS" if ok else "FAIL")
        self.row("poll=60, %d projects, requests per hour" % self.poll_projects,
                 "%.0f (%.1f per round x 60 rounds)" % (per_hour_60, per_round), "-", "-",
                 "<= %d" % (self.poll_projects * 60),
                 "PASS" if per_hour_60 <= self.poll_projects * 60 else "FAIL")
        seen = on["seen"]
        lat = [x["s"] for x in seen]
        modes = sorted(set(x["mode"] for x in seen))
        self.results["poll"]["seen"] = seen
        self.row("poll=%d: a change made through the API, until a reader sees it" % iv,
                 "%s over %d changes (refreshes: %s)" % (fmt_s(lat), len(lat), ", ".join(modes)),
                 "-", "-", "<= %d s + the refresh" % iv, "PASS" if max(lat) <= iv + 5 else "FAIL")
        self.row("poll off, %d projects read, over %.0f s" % (self.poll_projects, off["window"]),
                 "%d req" % off["req"], "-", "-", "0", "PASS" if off["req"] == 0 else "FAIL")
        self.notes.append("poll rows: each mount on its own hub, the %d projects read once "
                          "(export/tasks.json), then the hub's counters over the window; poll=%d "
                          "routes: %s" % (self.poll_projects, iv, ", ".join(
                              "%s %d" % kv for kv in sorted(on["counts"].items())) or "none"))
        if iv != 60:
            self.notes.append("requests per hour at poll=60 are extrapolated: measured requests "
                              "per round at poll=%d x 60 rounds an hour (a round costs the same "
                              "whatever the interval)" % iv)
        else:
            self.notes.append("poll=60 measured directly: requests per round and the time "
                              "between rounds over %.0f s (%d rounds), scaled to an hour"
                              % (on["window"], on["rounds"]))

    # --- output ----------------------------------------------------------------

    def print_table(self):
        head = ("row", "incremental (default)", "full refetch (%s)" % (self.full_opt or "main"),
                "ratio", "target", "result")
        B.print_table(head, self.rows, self.notes)
        for f in self.failures:
            print("CHECK FAILED: " + f)

    def main(self):
        mode = "quick" if self.args.quick else "full"
        only = set(self.args.only.split(",")) if self.args.only else {"refresh", "poll"}
        log("%s run in %s; incremental off = %s" % (mode, self.dir, self.full_opt or "n/a"))
        poll_out, th = {}, []
        if "poll" in only:
            iv = self.size["poll_interval"]
            for name, opts in (("on", ["poll=%d" % iv]), ("off", [])):
                th.append(threading.Thread(target=self.poll_side, args=(name, opts, poll_out)))
                th[-1].start()
        try:
            if "refresh" in only:
                log("seeding synthetic:%d" % self.size["tasks"])
                self.hub = B.Hub(self.build, os.path.join(self.dir), [
                    "synthetic:%d" % self.size["tasks"]])
                self.refresh_rows()
        finally:
            for t in th:
                t.join()
        if "poll" in only:
            self.poll_rows(poll_out)
        print("\nangofs incremental refresh and poll benchmark (%s, %d runs per k, A/B "
              "alternating), %s, %d cores" % (mode, self.size["runs"],
                                             time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                             os.cpu_count()))
        self.print_table()
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump(dict(results=self.results, failures=self.failures,
                               full_opt=self.full_opt), f, default=str, indent=1)
        return 1 if self.failures else 0


def parse():
    p = argparse.ArgumentParser(description="incremental refresh / poll benchmark "
                                "(docs/PERFORMANCE.md)")
    p.add_argument("--build", required=True, help="meson build directory")
    p.add_argument("--quick", action="store_true", help="10k tasks, a couple of minutes")
    p.add_argument("--tasks", type=int, default=0, help="tasks in the project")
    p.add_argument("--runs", type=int, default=0, help="runs per k")
    p.add_argument("--ks", default="", help="comma list of k (default 1,10,1000)")
    p.add_argument("--poll-interval", type=int, default=0, help="seconds (poll row)")
    p.add_argument("--poll-projects", type=int, default=10, help="projects read (poll row)")
    p.add_argument("--poll-window", type=int, default=0, help="seconds counted (poll row)")
    p.add_argument("--only", default="", help="comma list of refresh,poll")
    p.add_argument("--full-opt", default="",
                   help="-o option that turns incremental refresh off (default: from --help)")
    p.add_argument("--json", default="", help="also write the figures to this file")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(B.run_bench(Bench, parse()))
