"""first_bytes.py - first bytes of a cold export (src/exports/grow.c): how long
`head -c 100` of an export never read takes against a full `cat` of it, and
whether the cold `cat` still costs no more than curl + unzip.

  ANGOFS_BUILD=build PYTHONPATH=tests:tests/hub:bench \\
      python3 bench/first_bytes.py --build build [--quick] [--runs R]

Design: like bench.py, real processes timed from the outside, A/B interleaved
per run. Each run, each side on a fresh cache and a fresh daemon: `head -c
100` (default options), `cat` (default options), `cat` with -o first_bytes=0
(the whole-file open, as before), and the baseline: curl GET /export, curl the
zip, unzip, cat. For `head`, the hub's own request log says whether the zip
download had ended when head returned (it logs a download when it ends).
Nothing here is part of the test suite.
"""
import argparse
import os
import sys
import tempfile
import time

import benchlib as B
from benchlib import median, run, timed
from bench import Bench as Export  # its baseline (curl + unzip + cat)

SIZES = {"quick": dict(tasks=100000, runs=3), "full": dict(tasks=230000, runs=5)}


def fmt_s(xs):
    return "%.2f s (%.2f-%.2f)" % (median(xs), min(xs), max(xs))


class FirstBytes:
    def __init__(self, args):
        self.args = args
        self.size = dict(SIZES["quick" if args.quick else "full"])
        if args.runs:
            self.size["runs"] = args.runs
        self.build = os.path.abspath(args.build)
        self.dir = tempfile.mkdtemp(prefix="angofs-bench-fb-",
                                    dir=os.environ.get("BENCH_DIR", "/var/tmp"))
        self.rows, self.notes = [], []

    def log(self, msg):
        sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))

    def cold(self, cmd, opts=()):
        """cmd run on the export of a fresh daemon with a fresh cache: its
        seconds, whether the hub had ended the zip download by then, and the
        seconds the hub took to answer GET /export (it builds the zip)."""
        cache = os.path.join(self.dir, "cache")
        B.rmtree(cache)
        m = B.Mount(self.build, self.hub, os.path.join(self.dir, "mnt"), cache, opts)
        try:
            f = os.path.join(m.path, self.pname, "export", "tasks.json")
            os.stat(f)  # the listing, not timed
            self.hub.reset_stats()
            s = timed(lambda: run(cmd + [f]))
            log = self.hub.stats()["log"]
            ended = any(r["route"] == "GET /download" for r in log)
            prep = sum(r["ms"] for r in log if r["route"] == "GET /v2/export") / 1000.0
            return s, ended, prep
        finally:
            m.stop()
            B.rmtree(cache)

    def main(self):
        n = self.size["tasks"]
        self.pname = "synthetic-%d" % n
        self.log("seeding synthetic:%d in %s" % (n, self.dir))
        self.hub = B.Hub(self.build, self.dir, ["synthetic:%d" % n])
        pid = self.hub.project_id(self.pname)
        base = Export.__new__(Export)
        base.hub = self.hub
        bdir = os.path.join(self.dir, "baseline")
        head, cat, cat0, curl, before = [], [], [], [], 0
        head_x, cat_x = [], []  # the same after the hub answered GET /export
        for i in range(self.size["runs"]):
            s, ended, prep = self.cold(["head", "-c", "100"])
            head.append(s)
            head_x.append(s - prep)
            before += not ended
            s, _, prep = self.cold(["cat"])
            cat.append(s)
            cat_x.append(s - prep)
            cat0.append(self.cold(["cat"], ["first_bytes=0"])[0])
            curl.append(timed(lambda: base.baseline_export(pid, bdir)))
            self.log("run %d: head %.2f s (%.2f after GET /export; download ended: %s), cat "
                     "%.2f s (%.2f), cat with first_bytes=0 %.2f s, curl+unzip+cat %.2f s"
                     % (i + 1, head[-1], head_x[-1], ended, cat[-1], cat_x[-1], cat0[-1],
                        curl[-1]))
        size = os.path.getsize(os.path.join(bdir, "export.json"))
        B.rmtree(bdir)
        gb = size / 1e9
        r = median(head) / median(cat)
        self.rows.append(("`head -c 100`, cold %.2f GB export / its cold `cat`" % gb,
                          fmt_s(head), fmt_s(cat), "%.2f" % r, "<= 0.2",
                          "PASS" if r <= 0.2 else "FAIL"))
        r = median(head_x) / median(cat_x)
        self.rows.append(("the same, from the hub's answer to GET /export on", fmt_s(head_x),
                          fmt_s(cat_x), "%.2f" % r, "<= 0.2", "PASS" if r <= 0.2 else "FAIL"))
        r = median(cat) / median(curl)
        self.rows.append(("cold `cat` / curl + unzip + cat", fmt_s(cat), fmt_s(curl),
                          "%.2f" % r, "<= 1.0", "PASS" if r <= 1.0 else "FAIL"))
        r = median(cat) / median(cat0)
        self.rows.append(("cold `cat` / the same with first_bytes=0", fmt_s(cat), fmt_s(cat0),
                          "%.2f" % r, "<= 1.0", "PASS" if r <= 1.0 else "FAIL"))
        self.notes.append("the local hub builds the zip before it answers GET /export (a "
                          "floor for head and cat alike, which angofs cannot shorten); the "
                          "second row starts the clock at its answer (the hub's own log)")
        self.notes.append("head returned before the hub ended the zip download in %d of %d "
                          "runs (the hub's request log)" % (before, len(head)))
        print("\nfirst bytes of a cold export (%d runs, A/B interleaved), %s, %d cores"
              % (len(head), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 os.cpu_count()))
        B.print_table(("row", "angofs median (min-max)", "baseline median (min-max)", "ratio",
                       "target", "result"), self.rows, self.notes)


def parse():
    p = argparse.ArgumentParser(description="first bytes of a cold export")
    p.add_argument("--build", required=True, help="meson build directory")
    p.add_argument("--quick", action="store_true", help="a 0.5 GB export instead of 1.1 GB")
    p.add_argument("--runs", type=int, default=0, help="runs per row")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    return p.parse_args()


if __name__ == "__main__":
    B.run_bench(FirstBytes, parse())
