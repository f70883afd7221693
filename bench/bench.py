"""bench.py - the angofs benchmark (issue 5); run it through bench/run.sh.

Design: one process starts one local hub with the data every row needs, then
runs each row as A/B pairs interleaved (angofs run i, baseline run i, angofs
run i+1, ...), so machine noise hits both sides alike. Each side is timed from
the outside (perf_counter around the real commands). The table reports medians
with min-max and the ratio angofs/baseline against the target of issue 5.
Absolute rows (ls -l under the rate limit, peak RSS) are judged on their own
numbers. Request counts come from the hub's counters (GET /_admin/stats).
Nothing here is part of the test suite.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import benchlib as B  # bench/ is on the path as the script's folder
from benchlib import timed, run, median
import session

DEVNULL = subprocess.DEVNULL

SIZES = {
    # tasks of the export project (~4.9 KB per task with metadata and history),
    # label items and their size, runs per row
    # pages of the paging baseline actually fetched (0 = all; quick scales up)
    "quick": dict(export_tasks=100000, label_items=20000, label_bytes=20 << 20, runs=3,
                  pages=100),
    "full": dict(export_tasks=230000, label_items=100000, label_bytes=100 << 20, runs=5,
                 pages=0),
}
LS_TASKS = 100000
EXPORT_QUERY = ("type=task&format=json&includeMetadata=true&includeHistory=true"
                "&includeOnlyKeyFrames=false&includeIdleBlurDurations=false"
                "&sendEmail=false&doNotNotify=true")


def fmt_s(xs):
    return "%.2f s (%.2f-%.2f)" % (median(xs), min(xs), max(xs))


class Bench:
    def __init__(self, args):
        self.args = args
        self.size = dict(SIZES["quick" if args.quick else "full"])
        if args.runs:
            self.size["runs"] = args.runs
        self.build = os.path.abspath(args.build)
        base = os.environ.get("BENCH_DIR", "/var/tmp")
        self.dir = tempfile.mkdtemp(prefix="angofs-bench-", dir=base)
        self.rows = []
        self.notes = []

    # --- helpers ---------------------------------------------------------

    def mount(self, name, cache, opts=()):
        return B.Mount(self.build, self.hub, os.path.join(self.dir, name),
                       os.path.join(self.dir, cache), opts)

    def row(self, name, a, b, target, ok, ratio=None):
        self.rows.append((name, a, b, "-" if ratio is None else "%.2f" % ratio, target,
                          "PASS" if ok else "FAIL"))

    def log(self, msg):
        sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))

    # --- rows ------------------------------------------------------------

    def export_rows(self):
        n = self.size["export_tasks"]
        pname = "synthetic-%d" % n
        pid = self.hub.project_id(pname)
        cold_a, cold_b, warm_a, warm_b, re_a, re_b, hwm = [], [], [], [], [], [], []
        size = 0
        bdir = os.path.join(self.dir, "baseline")
        for i in range(self.size["runs"]):
            # A: fresh cache, fresh daemon; first cat, second cat, cat after remount
            B.rmtree(os.path.join(self.dir, "cache-x"))
            m = self.mount("mnt-x", "cache-x")
            f = os.path.join(m.path, pname, "export", "tasks.json")
            cold_a.append(timed(lambda: run(["cat", f])))
            hwm.append(m.vm_hwm_kb())
            warm_a.append(timed(lambda: run(["cat", f])))
            size = os.path.getsize(f)
            m.stop()
            m = self.mount("mnt-x", "cache-x")
            re_a.append(timed(lambda: run(["cat", f])))
            if i == 0:
                self.check_same(f, bdir, pid)
            m.stop()
            B.rmtree(os.path.join(self.dir, "cache-x"))
            # B: curl GET /export, curl the zip, unzip, cat
            cold_b.append(timed(lambda: self.baseline_export(pid, bdir)))
            local = os.path.join(bdir, "export.json")
            warm_b.append(timed(lambda: run(["cat", local])))
            re_b.append(timed(lambda: run(["cat", local])))
            self.log("export run %d: cold %.2f/%.2f warm %.2f/%.2f remount %.2f/%.2f s, "
                     "VmHWM %d kB" % (i + 1, cold_a[-1], cold_b[-1], warm_a[-1], warm_b[-1],
                                      re_a[-1], re_b[-1], hwm[-1]))
        B.rmtree(bdir)
        gb = size / 1e9
        r = median(cold_a) / median(cold_b)
        self.row("cold read, %.2f GB export (first cat)" % gb, fmt_s(cold_a), fmt_s(cold_b),
                 "<= 1.0", r <= 1.0, r)
        r = median(warm_a) / median(warm_b)
        self.row("repeated read, same mount (second cat)", fmt_s(warm_a), fmt_s(warm_b),
                 "<= 1.1", r <= 1.1, r)
        r = median(re_a) / median(re_b)
        self.row("read from disk cache after remount", fmt_s(re_a), fmt_s(re_b), "<= 1.5",
                 r <= 1.5, r)
        peak = max(hwm) / 1024.0
        self.row("daemon peak RSS, %.2f GB export streaming" % gb,
                 "%.1f MB (max of %d)" % (peak, len(hwm)), "-", "<= 64 MB", peak <= 64)
        if gb < 1.0:
            self.notes.append("--quick uses a %.2f GB export; the full size uses >= 1 GB" % gb)

    def baseline_export(self, pid, bdir):
        B.rmtree(bdir)
        os.makedirs(bdir)
        r = run(["curl", "-sf", "-H", "apikey: " + B.API_KEY,
                 "%s/v2/export?project=%s&%s" % (self.hub.url, pid, EXPORT_QUERY)],
                stdout=subprocess.PIPE)
        url = json.loads(r.stdout)["data"]["exportPath"]
        zpath = os.path.join(bdir, "export.zip")
        run(["curl", "-sf", "-o", zpath, url])
        run(["unzip", "-q", "-o", zpath, "-d", bdir])
        run(["cat", os.path.join(bdir, "export.json")])

    def check_same(self, f, bdir, pid):
        """Once: the bytes angofs serves are the export's bytes."""
        self.baseline_export(pid, bdir)
        run(["cmp", f, os.path.join(bdir, "export.json")])

    def ls_rows(self):
        pname = "synthetic-%d" % LS_TASKS
        pid = self.hub.project_id(pname)
        cold, warm, cold_req, warm_req, base, base_req = [], [], [], [], [], []
        for i in range(self.size["runs"]):
            B.rmtree(os.path.join(self.dir, "cache-ls"))
            self.hub.rate_limit(100)
            m = self.mount("mnt-ls", "cache-ls")
            d = os.path.join(m.path, pname, "tasks")
            t0 = self.hub.total()
            out = []
            cold.append(timed(lambda: out.append(run(["ls", "-l", d], stdout=subprocess.PIPE))))
            cold_req.append(self.hub.total() - t0)
            lines = out[0].stdout.count(b"\n") - 1  # minus "total N"
            if lines != LS_TASKS:
                B.die("ls -l tasks/ listed %d entries, expected %d" % (lines, LS_TASKS))
            t0 = self.hub.total()
            warm.append(timed(lambda: run(["ls", "-l", d])))
            warm_req.append(self.hub.total() - t0)
            m.stop()
            B.rmtree(os.path.join(self.dir, "cache-ls"))
            self.hub.rate_limit(0)
            if i == 0:  # 1000 requests: once per invocation is enough
                t0 = self.hub.total()
                pages = []
                t = timed(lambda: pages.append(self.baseline_paging(pid)))
                done = self.hub.total() - t0
                # --quick fetches the first pages only and scales up (later
                # pages cost the hub more, so this is a lower bound)
                base.append(t * pages[0] / done)
                base_req.append(pages[0])
                if done < pages[0]:
                    self.notes.append("paging baseline: %d of %d pages fetched (%.1f s), "
                                      "time scaled up" % (done, pages[0], t))
            self.log("ls run %d: cold %.2f s (%d req) warm %.2f s (%d req), paging %.2f s "
                     "(%d req)" % (i + 1, cold[-1], cold_req[-1], warm[-1], warm_req[-1],
                                   base[-1], base_req[-1]))
        pages = max(base_req)
        floor = max(0, (pages + 99) // 100 - 1) * 60
        bl = "%s, %d req; >= %d s at 100/min" % (fmt_s(base), pages, floor)
        ok = median(cold) < 60 and max(cold_req) <= 5
        self.row("ls -l tasks/, %dk tasks, 100 req/min, cold" % (LS_TASKS // 1000),
                 "%s, %d req" % (fmt_s(cold), max(cold_req)), bl, "< 60 s, <= 5 req", ok)
        self.row("ls -l tasks/, warm", "%s, %d req" % (fmt_s(warm), max(warm_req)), bl,
                 "< 60 s", median(warm) < 60)
        self.notes.append("the paging baseline (no answers, 100 per page) runs once, without "
                          "the rate limit: at 100 req/min it would need >= %d s" % floor)

    def baseline_paging(self, pid):
        url = "%s/v2/project/%s/tasks?limit=100&page=" % (self.hub.url, pid)
        r = run(["curl", "-sf", "-H", "apikey: " + B.API_KEY, url + "1"], stdout=subprocess.PIPE)
        total = json.loads(r.stdout)["data"]["total"]
        pages = (total + 99) // 100
        last = min(pages, self.size["pages"]) if self.size["pages"] else pages
        cfg = os.path.join(self.dir, "pages.curl")
        with open(cfg, "w") as f:
            f.write('header = "apikey: %s"\n' % B.API_KEY)
            for p in range(2, last + 1):
                f.write('url = "%s%d"\noutput = "/dev/null"\n' % (url, p))
        run(["curl", "-sf", "-K", cfg])
        return pages

    def cp_rows(self):
        pname = "synthetic-%d" % LS_TASKS
        pid = self.hub.project_id(pname)
        src, body = self.make_labels(pid)
        a, b = [], []
        m = self.mount("mnt-cp", "cache-cp", ["rate_limit=0"])
        try:
            os.listdir(os.path.join(m.path, pname, "labels"))
            for i in range(self.size["runs"]):
                dst = os.path.join(m.path, pname, "labels", "bench-%d.ndjson" % i)
                a.append(timed(lambda: run(["cp", src, dst])))
                with open(dst + ".status") as f:
                    st = f.read()
                if not st.startswith("sent:"):
                    B.die("cp into labels/ was not sent: %s" % st[:400])
                b.append(timed(lambda: self.baseline_post(body)))
                self.log("cp run %d: %.2f s / curl %.2f s" % (i + 1, a[-1], b[-1]))
        finally:
            m.stop()
        mb = os.path.getsize(src) / 1e6
        r = median(a) / median(b)
        self.row("cp of a %.0f MB labels file into labels/" % mb, fmt_s(a), fmt_s(b), "<= 1.2",
                 r <= 1.2, r)
        self.notes.append("cp row: the mount uses -o rate_limit=0 like the hub in this row "
                          "(the real hub's 100/min would pace the %d-item file)"
                          % self.size["label_items"])

    def make_labels(self, pid):
        return B.write_labels(self.dir, pid, self.size["label_items"], self.size["label_bytes"])

    def baseline_post(self, body):
        r = run(["curl", "-sf", "-X", "POST", "-H", "apikey: " + B.API_KEY, "-H",
                 "Content-Type: application/json", "--data-binary", "@" + body,
                 self.hub.url + "/v2/import/labels"], stdout=subprocess.PIPE)
        if json.loads(r.stdout).get("status") != "success":
            B.die("baseline POST /import/labels failed: %s" % r.stdout[:400])

    # --- output ----------------------------------------------------------

    def print_table(self):
        head = ("row", "angofs median (min-max)", "baseline median (min-max)", "ratio", "target",
                "result")
        B.print_table(head, self.rows, self.notes)

    def main(self):
        mode = "quick" if self.args.quick else "full"
        seeds = ["demo", "synthetic:%d" % LS_TASKS]
        if self.size["export_tasks"] != LS_TASKS:
            seeds.append("synthetic:%d" % self.size["export_tasks"])
        self.log("%s run in %s; seeding %s" % (mode, self.dir, ", ".join(seeds)))
        self.hub = B.Hub(self.build, self.dir, seeds)
        only = set(self.args.only.split(",")) if self.args.only else None
        if not only or "export" in only:
            self.export_rows()
        if not only or "ls" in only:
            self.ls_rows()
        if not only or "cp" in only:
            self.cp_rows()
        table = None
        if not only or "session" in only:
            table = session.run_session(self)
        print("\nangofs benchmark (%s, %d runs per row, A/B interleaved), %s, %d cores"
              % (mode, self.size["runs"], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 os.cpu_count()))
        self.print_table()
        if table:
            print()
            print(table)


def parse():
    p = argparse.ArgumentParser(description="angofs benchmark (see docs/PERFORMANCE.md)")
    p.add_argument("--build", required=True, help="meson build directory")
    p.add_argument("--quick", action="store_true", help="a few-minute run at a smaller size")
    p.add_argument("--runs", type=int, default=0, help="A/B pairs per row")
    p.add_argument("--only", default="", help="comma list of export,ls,cp,session")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    return p.parse_args()


if __name__ == "__main__":
    B.run_bench(Bench, parse())
