"""native.py - near-native reads (issue 26): cached and cold exports, small
cached files, a warm ImageFolder epoch and `cp` into labels/, each against
the same work done locally; run it through bench/run.sh native.

Design: one local hub holds every row's data (synthetic:T for the export and
the labels, synthetic:I for the images). A "side" is one way to run the
daemon: each build given (--build, and --build-317 for a second build in the
same run), and on a build with passthrough support both the default
(passthrough=auto) and -o passthrough=off; a build without it is one side
marked "passthrough: not built" (support: the daemon's --help offers the
option and it loads libfuse >= 3.17; the state each side reached, or why
not, is read from its .status and printed). Every row runs its rounds with the
sides and the local baseline interleaved in an order that rotates per round,
so machine noise hits them alike; the table reports medians (min-max), the
ratio against the baseline and the row's target. Each side is checked to
serve the baseline's bytes. After the timed rounds, --explain measures
(untimed, strace attached to the daemon, bench/fusetrace.py) what a read
costs each side: FUSE requests by opcode and other system calls per open,
which is what explains a miss. The image, epoch and labels rows are in
bench/native_rows.py. Nothing here is part of the test suite (its smoke run
is: tests/bench/test_bench_native.py).
"""
import argparse
import faulthandler
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import benchlib as B
from benchlib import timed, run, median
import fusetrace
import native_rows

EXPORT_QUERY = ("type=task&format=json&includeMetadata=true&includeHistory=true"
                "&includeOnlyKeyFrames=false&includeIdleBlurDurations=false"
                "&sendEmail=false&doNotNotify=true")
ROWS = ("cached", "cold", "small", "epoch", "cp")
# full size: a ~1.1 GB export (4.9 KB per task), 2,000 images, a 23 MB labels file
# (the epoch is seconds of CPU-bound decoding on a shared machine: more rounds)
FULL = dict(tasks=230000, images=2000, epoch_images=500, label_mb=23.0, runs=3, epoch_runs=7)
SMOKE = dict(tasks=2000, images=40, epoch_images=32, label_mb=1.0, runs=1, epoch_runs=1)


def drop_pages(path):
    """The file's pages out of the page cache (this file only, not the machine's)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def libfuse_of(build):
    """The libfuse version the build's daemon loads ("3.14.0"), from ldd."""
    binary = os.path.join(build, "src", "angofs")
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    m = re.search(r"libfuse3\.so\.\S+ => (\S+)", r.stdout)
    if not m:
        return "?"
    v = re.search(r"libfuse3\.so\.([\d.]+)$", os.path.realpath(m.group(1)))
    return v.group(1) if v else "?"


def has_passthrough(build, version):
    """The daemon offers -o passthrough (its --help) and was built against a
    libfuse that has it (>= 3.17: the option exists on older builds too,
    where .status says why it stays off)."""
    r = subprocess.run([os.path.join(build, "src", "angofs"), "--help"], capture_output=True,
                       text=True)
    try:
        new_enough = tuple(int(x) for x in version.split(".")[:2]) >= (3, 17)
    except ValueError:
        new_enough = False
    return "passthrough" in (r.stdout + r.stderr) and new_enough


class Side:
    def __init__(self, label, build, opts, pt):
        self.label, self.build, self.opts, self.pt = label, build, opts, pt
        self.state = None  # .status "passthrough" as first seen


def make_sides(builds):
    sides = []
    for build in builds:
        v = libfuse_of(build)
        name = "libfuse %s" % v
        if has_passthrough(build, v):
            sides.append(Side(name + ", passthrough default", build, [], True))
            sides.append(Side(name + ", passthrough=off", build, ["passthrough=off"], True))
        else:
            sides.append(Side(name + ", passthrough: not built", build, [], False))
    return sides


def fmt_t(xs):
    return "%.3f s (%.3f-%.3f)" % (median(xs), min(xs), max(xs))


def fmt_r(xs):
    return "%.0f/s (%.0f-%.0f)" % (median(xs), min(xs), max(xs))


class Bench:
    def __init__(self, args):
        self.args = args
        base = os.environ.get("BENCH_DIR", "/var/tmp")
        self.dir = tempfile.mkdtemp(prefix="angofs-bench-native-", dir=base)
        builds = [os.path.abspath(args.build)]
        if args.build_317:
            builds.append(os.path.abspath(args.build_317))
        self.sides = make_sides(builds)
        self.hub_build = builds[0]
        self.rows, self.notes, self.explain, self.failures = [], [], {}, []
        self.nmount = 0

    # --- helpers ---------------------------------------------------------

    def log(self, msg):
        sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))

    def mount(self, side, cache, opts=()):
        self.nmount += 1
        m = B.Mount(side.build, self.hub, os.path.join(self.dir, "mnt%d" % self.nmount),
                    os.path.join(self.dir, cache), list(side.opts) + list(opts))
        if side.state is None:
            with open(os.path.join(m.path, ".status")) as f:
                side.state = json.load(f).get("passthrough", "(not in .status)")
        return m

    def order(self, i, items):
        """Round i's order: the list rotated by i."""
        k = i % len(items)
        return items[k:] + items[:k]

    def row(self, name, side, a, b, target, kind="time"):
        """kind time: ratio a/b must be <= target; rate: a/b must be >= target."""
        ratio = median(a) / median(b) if median(b) else float("inf")
        ok = ratio <= target if kind == "time" else ratio >= target
        fmt = fmt_t if kind == "time" else fmt_r
        self.rows.append({"row": name, "side": side.label, "a": a, "b": b, "ratio": ratio,
                          "target": ("<= %.2f" if kind == "time" else ">= %.2f") % target,
                          "ok": ok, "a_text": fmt(a), "b_text": fmt(b)})

    def trace(self, m, action):
        """(FUSE requests, syscalls) of action() on mount m's daemon, or None
        once strace could not attach here (said once in the notes)."""
        if "unavailable" in self.explain:
            return None
        try:
            return fusetrace.trace(m.proc.pid, action, self.dir)
        except fusetrace.NoTrace as e:
            self.explain["unavailable"] = str(e)
            self.notes.append("--explain: no strace counts: %s" % e)
            return None

    def check(self, ok, what):
        if not ok:
            self.failures.append(what)
            self.log("CHECK FAILED: " + what)

    # --- a cached export: re-read and first read after a remount ----------

    def cache_file(self, cache):
        xdir = os.path.join(self.dir, cache, "exports")
        data = [os.path.join(xdir, n) for n in os.listdir(xdir) if n.endswith(".data")]
        if len(data) != 1:
            B.die("expected one cached export in %s, found %d" % (xdir, len(data)))
        return data[0]

    def cached_rows(self):
        rel = os.path.join(self.pname, "export", "tasks.json")
        m = self.mount(self.sides[0], "cache-x")
        t = timed(lambda: run(["cat", os.path.join(m.path, rel)]))
        m.stop()
        cfile = self.cache_file("cache-x")
        local = os.path.join(self.dir, "local-export.json")
        run(["cp", cfile, local])
        size = os.path.getsize(local)
        self.log("cached export: cold fill %.1f s, %.0f MB" % (t, size / 1e6))
        sides = self.sides + [None]
        first = {id(s): [] for s in sides}
        again = {id(s): [] for s in sides}
        disk = {id(s): [] for s in sides}
        for i in range(self.args.runs):
            for s in self.order(i, sides):
                if s is None:  # local cat of the same bytes
                    run(["cat", local])
                    first[id(s)].append(timed(lambda: run(["cat", local])))
                    again[id(s)].append(timed(lambda: run(["cat", local])))
                    drop_pages(local)
                    disk[id(s)].append(timed(lambda: run(["cat", local])))
                    continue
                for cold in (False, True):
                    if cold:
                        drop_pages(cfile)
                    else:
                        run(["cat", cfile])  # the cache file's pages in memory
                    m = self.mount(s, "cache-x")
                    f = os.path.join(m.path, rel)
                    os.stat(f)  # the lookup, not timed
                    t1 = timed(lambda: run(["cat", f]))
                    if cold:
                        disk[id(s)].append(t1)
                    else:
                        first[id(s)].append(t1)
                        again[id(s)].append(timed(lambda: run(["cat", f])))
                        if i == 0:
                            self.check(subprocess.run(["cmp", "-s", f, local]).returncode == 0,
                                       "%s: export bytes differ from the cache file" % s.label)
                    m.stop()
            self.log("cached round %d: first/again/disk " % (i + 1) + "; ".join(
                "%s %.2f/%.2f/%.2f" % (s.label if s else "local", first[id(s)][-1],
                                       again[id(s)][-1], disk[id(s)][-1]) for s in sides))
        gb = size / 1e9
        lo = id(None)
        for s in self.sides:
            self.row("re-read of a cached %.2f GB export, same mount / local cat" % gb, s,
                     again[id(s)], again[lo], 1.1)
            self.row("first read after a remount (cache file's pages in memory) / local cat",
                     s, first[id(s)], first[lo], 1.2)
            self.row("first read after a remount, pages dropped / local cat, pages dropped",
                     s, disk[id(s)], disk[lo], 1.2)
        if self.args.explain:
            for s in self.sides:
                m = self.mount(s, "cache-x")
                f = os.path.join(m.path, rel)
                os.stat(f)
                got = {}
                for when in ("first cat after a remount", "second cat, same mount"):
                    t = self.trace(m, lambda: run(["cat", f]))
                    if t is None:
                        break
                    ops, calls = t
                    got[when] = {"ops": ops, "calls": calls}
                    self.notes.append("%s, %s: FUSE requests %s; %d other syscalls (%.0f MB "
                                      "file)" % (when, s.label, fusetrace.per(ops, 1) or "none",
                                                 sum(calls.values()), size / 1e6))
                m.stop()
                if got:
                    self.explain.setdefault("cached", {})[s.label] = got
        os.unlink(local)

    # --- a cold export: head -c 100, the full read, curl + unzip ---------

    def cold_rows(self):
        rel = os.path.join(self.pname, "export", "tasks.json")
        bdir = os.path.join(self.dir, "baseline")
        sides = [None] + self.sides  # round 1: the baseline first, the reference bytes
        head = {id(s): [] for s in self.sides}
        compared = set()
        full = {id(s): [] for s in self.sides}
        head_x = {id(s): [] for s in self.sides}  # from the hub's answer to GET /export on
        full_x = {id(s): [] for s in self.sides}
        ended = {id(s): [] for s in self.sides}
        base, parts = [], []
        first100 = None
        for i in range(self.args.runs):
            for s in self.order(i, sides):
                if s is None:
                    split = {}
                    base.append(timed(lambda: self.baseline_export(bdir, split)))
                    parts.append(split)
                    with open(os.path.join(bdir, "export.json"), "rb") as f:
                        first100 = f.read(100)
                    continue
                B.rmtree(os.path.join(self.dir, "cache-c"))
                m = self.mount(s, "cache-c")
                f = os.path.join(m.path, rel)
                os.stat(f)  # the lookup, not timed
                out = {}
                self.hub.reset_stats()
                t0 = time.perf_counter()
                out["head"] = run(["head", "-c", "100", f], stdout=subprocess.PIPE).stdout
                t1 = time.perf_counter()
                log = self.hub.stats()["log"]  # the hub logs a download when it ends
                ended[id(s)].append(any(r["route"] == "GET /download" for r in log))
                run(["cat", f])
                t2 = time.perf_counter()
                # the local hub builds the zip before it answers GET /export
                prep = sum(r["ms"] for r in self.hub.stats()["log"]
                           if r["route"] == "GET /v2/export") / 1000.0
                head[id(s)].append(t1 - t0)
                full[id(s)].append(t2 - t0)
                head_x[id(s)].append(t1 - t0 - prep)
                full_x[id(s)].append(t2 - t0 - prep)
                if id(s) not in compared:
                    compared.add(id(s))
                    out["cmp"] = subprocess.run(["cmp", "-s", f, os.path.join(bdir, "export.json")]
                                                ).returncode
                m.stop()
                B.rmtree(os.path.join(self.dir, "cache-c"))
                self.check(out["head"] == first100,
                           "%s: head -c 100 differs from the export's first bytes" % s.label)
                self.check(len(out["head"]) == 100, "%s: head -c 100 gave %d bytes"
                           % (s.label, len(out["head"])))
                if "cmp" in out:
                    self.check(out["cmp"] == 0, "%s: cold export differs from curl + unzip's"
                               % s.label)
            self.log("cold round %d: head/full " % (i + 1) + "; ".join(
                "%s %.2f/%.2f" % (s.label, head[id(s)][-1], full[id(s)][-1])
                for s in self.sides) + "; curl+unzip %.2f" % base[-1])
        B.rmtree(bdir)
        for s in self.sides:
            self.row("head -c 100 of a cold export / its full read (same mount)", s,
                     head[id(s)], full[id(s)], 0.2)
            self.row("the same from the hub's answer to GET /export on", s, head_x[id(s)],
                     full_x[id(s)], 0.2)
            self.row("cold read (open to last byte) / curl + unzip + cat", s, full[id(s)],
                     base, 1.0)
            self.notes.append("%s: head -c 100 returned before the hub ended the zip download "
                              "in %d of %d rounds (the hub's request log)" % (
                                  s.label, ended[id(s)].count(False), len(ended[id(s)])))
        med = {k: median([p[k] for p in parts]) for k in parts[0]}
        self.notes.append("curl + unzip baseline, medians: GET /export %.2f s (the local hub "
                          "builds the zip before it answers), download %.2f s, unzip %.2f s, "
                          "cat %.2f s" % (med["export"], med["download"], med["unzip"],
                                          med["cat"]))

    def baseline_export(self, bdir, split):
        B.rmtree(bdir)
        os.makedirs(bdir)
        t0 = time.perf_counter()
        r = run(["curl", "-sf", "-H", "apikey: " + B.API_KEY,
                 "%s/v2/export?project=%s&%s" % (self.hub.url, self.pid, EXPORT_QUERY)],
                stdout=subprocess.PIPE)
        url = json.loads(r.stdout)["data"]["exportPath"]
        t1 = time.perf_counter()
        zpath = os.path.join(bdir, "export.zip")
        run(["curl", "-sf", "-o", zpath, url])
        t2 = time.perf_counter()
        run(["unzip", "-q", "-o", zpath, "-d", bdir])
        t3 = time.perf_counter()
        run(["cat", os.path.join(bdir, "export.json")])
        t4 = time.perf_counter()
        split.update(export=t1 - t0, download=t2 - t1, unzip=t3 - t2, cat=t4 - t3)
        os.unlink(zpath)

    # --- output ----------------------------------------------------------

    def print_table(self):
        head = ("row", "side", "angofs median (min-max)", "local/baseline median (min-max)",
                "ratio", "target", "result")
        rows = [(r["row"], r["side"], r["a_text"], r["b_text"], "%.2f" % r["ratio"], r["target"],
                 "PASS" if r["ok"] else "MISS") for r in self.rows]
        B.print_table(head, rows, self.notes)

    def main(self):
        a = self.args
        only = a.rows.split(",") if a.rows else list(ROWS)
        for r in only:
            if r not in ROWS:
                B.die("--rows: '%s' is not one of %s" % (r, ",".join(ROWS)))
        seeds = ["synthetic:%d" % a.tasks]
        if a.images != a.tasks:
            seeds.append("synthetic:%d" % a.images)
        if a.epoch_images not in (a.tasks, a.images) and "epoch" in only:
            seeds.append("synthetic:%d" % a.epoch_images)
        self.log("native rows %s in %s; sides: %s; seeding %s" % (
            ",".join(only), self.dir, "; ".join(s.label for s in self.sides), ", ".join(seeds)))
        self.hub = B.Hub(self.hub_build, self.dir, seeds)
        self.pname = "synthetic-%d" % a.tasks
        self.pid = self.hub.project_id(self.pname)
        t0 = time.time()
        for r in ROWS:
            if r in only:
                t = time.time()
                if r == "cached":
                    self.cached_rows()
                elif r == "cold":
                    self.cold_rows()
                else:
                    getattr(native_rows, r + "_rows")(self)
                self.log("%s rows: %.0f s" % (r, time.time() - t))
        print("\nangofs near-native reads (%d rounds per row, %d for the epoch; sides and "
              "baseline interleaved), %s, %d cores, kernel %s, %.0f s" % (
                  a.runs, a.epoch_runs, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                  os.cpu_count(), os.uname().release, time.time() - t0))
        for s in self.sides:
            print("side %s: %s; .status passthrough: %s" % (s.label, s.build,
                                                            json.dumps(s.state)))
        self.print_table()
        for f in self.failures:
            print("CHECK FAILED: " + f)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"sides": [{"label": s.label, "build": s.build, "pt": s.pt,
                                      "state": s.state} for s in self.sides],
                           "rows": self.rows, "notes": self.notes, "explain": self.explain,
                           "failures": self.failures}, f, indent=1)
        return 1 if self.failures else 0


def parse(argv=None):
    p = argparse.ArgumentParser(description="angofs near-native read rows (issue 26)")
    p.add_argument("--build", required=True, help="meson build directory")
    p.add_argument("--build-317", default=os.environ.get("ANGOFS_BUILD_317", ""),
                   help="a second build (against libfuse 3.17) run side by side")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, one round (< 2 min)")
    p.add_argument("--rows", default="", help="comma list of " + ",".join(ROWS))
    p.add_argument("--runs", type=int, help="rounds per row (full: %d)" % FULL["runs"])
    p.add_argument("--epoch-runs", type=int, help="rounds of the epoch row (full: %d)"
                   % FULL["epoch_runs"])
    p.add_argument("--tasks", type=int, help="tasks of the export (4.9 KB each; full: %d)"
                   % FULL["tasks"])
    p.add_argument("--images", type=int, help="cached images read by 8 readers (full: %d)"
                   % FULL["images"])
    p.add_argument("--epoch-images", type=int, help="images of the ImageFolder epoch (full: %d)"
                   % FULL["epoch_images"])
    p.add_argument("--label-mb", type=float, help="size of the labels file (full: %.0f)"
                   % FULL["label_mb"])
    p.add_argument("--explain", action="store_true",
                   help="also count per side, untimed under strace, what a read costs")
    p.add_argument("--json", default="", help="write the figures here")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    a = p.parse_args(argv)
    for k, v in (SMOKE if a.smoke else FULL).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if min(a.tasks, a.images, a.epoch_images, a.runs, a.epoch_runs) < 1 or a.label_mb <= 0:
        p.error("sizes and --runs must be positive")
    return a


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1: where it waits
    sys.exit(B.run_bench(Bench, parse()))
