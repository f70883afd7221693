"""native_rows.py - the rows of bench/native.py that read many small files or
write one: cached images with 8 readers, a warm ImageFolder epoch, `cp` of a
labels file. Each function takes the running native.Bench (its hub, sides,
mount(), row(), check(), notes) and adds its rows.

Design: as in native.py, rounds interleave every side and the local baseline
in a rotating order. The baselines are the same files in a local directory
(copied out through the mount, so they are the bytes the mount serves) and,
for `cp`, curl POSTing the same labels as one JSON body. Untimed, --explain
adds what each side spends per open (bench/fusetrace.py) and where a `cp`
spends its time (the writes against the close that sends).
"""
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

import benchlib as B
from benchlib import timed, run
import fusetrace

HERE = os.path.dirname(os.path.abspath(__file__))


def read_all(paths):
    """Bytes of paths, each read as cat reads it: open, read to EOF, close
    (no buffered file object: its isatty() is one more FUSE request)."""
    n = 0
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                n += len(chunk)
        finally:
            os.close(fd)
    return n


def readers(paths, procs=8):
    """(seconds, bytes) for `procs` processes reading paths, split evenly.
    The pool ends by close() and join() (each worker takes its end-of-work
    marker and exits), not by `with Pool()`'s terminate(): a SIGTERM that
    reaches a worker still being forked when a short map is already done
    can be lost in the child (CPython drops signals pending across the
    fork), and terminate() then waits for that worker for ever."""
    t0 = time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(procs)
    try:
        total = sum(pool.map(read_all, [paths[i::procs] for i in range(procs)]))
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()
    return time.perf_counter() - t0, total


# --- small cached files: 8 readers, files/s ------------------------------

def small_rows(b):
    n = b.args.images
    pname = "synthetic-%d" % n
    m = b.mount(b.sides[0], "cache-i")
    adir = os.path.join(m.path, pname, "assets")
    names = sorted(os.listdir(adir))
    b.check(len(names) == n, "assets/ lists %d files, expected %d" % (len(names), n))
    t, size = readers([os.path.join(adir, x) for x in names])
    local = os.path.join(b.dir, "local-images")
    shutil.copytree(adir, local)
    m.stop()
    b.log("small files: cold fill %.1f s, %d files, %.1f MB" % (t, n, size / 1e6))
    lpaths = [os.path.join(local, x) for x in names]
    sides = b.sides + [None]
    first = {id(s): [] for s in sides}
    again = {id(s): [] for s in sides}
    for i in range(b.args.runs):
        for s in b.order(i, sides):
            if s is None:
                t1, n1 = readers(lpaths)
                t2, n2 = readers(lpaths)
            else:
                m = b.mount(s, "cache-i")
                paths = [os.path.join(m.path, pname, "assets", x) for x in names]
                os.listdir(os.path.dirname(paths[0]))  # the listing, not timed
                t1, n1 = readers(paths)
                t2, n2 = readers(paths)
                m.stop()
            b.check(n1 == n2 == size, "%s: read %d and %d bytes of images, expected %d"
                    % (s.label if s else "local", n1, n2, size))
            first[id(s)].append(n / t1)
            again[id(s)].append(n / t2)
        b.log("small round %d: files/s first/again " % (i + 1) + "; ".join(
            "%s %.0f/%.0f" % (s.label if s else "local", first[id(s)][-1], again[id(s)][-1])
            for s in sides))
    for s in b.sides:
        b.row("%d cached images, 8 readers, first pass after a remount / local dir" % n, s,
              first[id(s)], first[id(None)], 0.8, kind="rate")
        b.row("%d cached images, 8 readers, second pass, same mount / local dir" % n, s,
              again[id(s)], again[id(None)], 0.8, kind="rate")
    if b.args.explain:
        k = min(200, n)
        for s in b.sides:
            m = b.mount(s, "cache-i")
            paths = [os.path.join(m.path, pname, "assets", x) for x in names[:k]]
            os.listdir(os.path.dirname(paths[0]))
            got = {}
            for when in ("first", "again"):
                t = b.trace(m, lambda: read_all(paths))
                if t is None:
                    break
                ops, calls = t
                got[when] = {"ops": ops, "calls": calls}
                b.notes.append("per open+read+close of a cached image, %s, %s: FUSE requests "
                               "%s; other syscalls %s" % (
                                   s.label, "first after the remount" if when == "first"
                                   else "again in the same mount",
                                   fusetrace.per(ops, k) or "none",
                                   fusetrace.per(calls, k) or "none"))
            m.stop()
            if got:
                b.explain.setdefault("small", {})[s.label] = got
    shutil.rmtree(local)


# --- a warm ImageFolder epoch --------------------------------------------

class EpochWorker:
    """bench/epoch_worker.py as a child: one epoch per request."""

    def __init__(self):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "epoch_worker.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._answer()

    def _answer(self):
        line = self.p.stdout.readline()
        if not line:
            B.die("epoch_worker.py ended (torch/torchvision missing? %s)" % sys.executable)
        out = json.loads(line)
        if "error" in out:
            B.die("epoch: " + out["error"])
        return out

    def epoch(self, root):
        self.p.stdin.write(root + "\n")
        self.p.stdin.flush()
        return self._answer()

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def epoch_rows(b):
    n = b.args.epoch_images
    pname = "synthetic-%d" % n
    m = b.mount(b.sides[0], "cache-e")
    src = os.path.join(m.path, pname, "datasets", "imagefolder")
    local = os.path.join(b.dir, "local-imagefolder")
    t = timed(lambda: shutil.copytree(src, local))  # cold: fills the caches
    m.stop()
    b.log("epoch: cold fill (copy of datasets/imagefolder) %.1f s" % t)
    w = EpochWorker()
    mounts = {}
    try:
        for k, s in enumerate(b.sides):  # each side its own copy of the filled cache
            run(["cp", "-a", os.path.join(b.dir, "cache-e"),
                 os.path.join(b.dir, "cache-e%d" % k)])
            mounts[id(s)] = b.mount(s, "cache-e%d" % k)
        roots = {id(s): os.path.join(mounts[id(s)].path, pname, "datasets", "imagefolder")
                 for s in b.sides}
        roots[id(None)] = local
        sides = b.sides + [None]
        first, warm, sums = {}, {id(s): [] for s in sides}, {}
        for s in sides:  # the first epoch after the mount (and a local one)
            out = w.epoch(roots[id(s)])
            first[id(s)] = out["seconds"]
            sums[id(s)] = (out["images"], out["checksum"])
        b.log("epoch: first epoch after mount " + "; ".join(
            "%s %.2f s" % (s.label if s else "local", first[id(s)]) for s in sides))
        for i in range(b.args.epoch_runs):
            for s in b.order(i, sides):
                out = w.epoch(roots[id(s)])
                warm[id(s)].append(out["seconds"])
                b.check((out["images"], out["checksum"]) == sums[id(None)],
                        "%s: epoch saw %s, the local copy %s" % (
                            s.label if s else "local", (out["images"], out["checksum"]),
                            sums[id(None)]))
            b.log("epoch round %d: " % (i + 1) + "; ".join(
                "%s %.2f s" % (s.label if s else "local", warm[id(s)][-1]) for s in sides))
        n = sums[id(None)][0]  # images ImageFolder found (tasks with a class)
        b.check(n > 0, "the epoch saw no image in %s" % local)
        for s in b.sides:
            b.row("warm ImageFolder epoch, %d images, 4 workers / local copy" % n, s,
                  warm[id(s)], warm[id(None)], 1.05)
        b.notes.append("first ImageFolder epoch after the mount (untimed row): " + "; ".join(
            "%s %.2f s" % (s.label if s else "local copy", first[id(s)]) for s in sides))
    finally:
        w.stop()
        for m in mounts.values():
            m.stop()
        shutil.rmtree(local, ignore_errors=True)


# --- cp of a labels file into labels/ vs curl ----------------------------

def make_labels(b):
    """A labels file of about --label-mb for the export project's tasks, and
    the same items as the JSON body curl sends."""
    nbytes = int(b.args.label_mb * 1e6)
    n = max(1, min(b.args.tasks, nbytes // 1000))
    src, body = B.write_labels(b.dir, b.pid, n, nbytes)
    return src, body, n


def post_labels(b, body):
    r = run(["curl", "-sf", "-X", "POST", "-H", "apikey: " + B.API_KEY, "-H",
             "Content-Type: application/json", "--data-binary", "@" + body,
             b.hub.url + "/v2/import/labels"], stdout=subprocess.PIPE)
    if json.loads(r.stdout).get("status") != "success":
        B.die("baseline POST /import/labels failed: %s" % r.stdout[:400])


def sent(b, dst):
    with open(dst + ".status") as f:
        st = f.read()
    b.check(st.startswith("sent:"), "cp into labels/ was not sent: %s" % st[:300])


def cp_rows(b):
    src, body, items = make_labels(b)
    mb = os.path.getsize(src) / 1e6
    sides = b.sides + [None]
    t = {id(s): [] for s in sides}
    k = 0
    for i in range(b.args.runs):
        for s in b.order(i, sides):
            if s is None:
                t[id(s)].append(timed(lambda: post_labels(b, body)))
                continue
            k += 1
            m = b.mount(s, "cache-cp%d" % k, ["rate_limit=0"])
            ldir = os.path.join(m.path, b.pname, "labels")
            os.listdir(ldir)
            dst = os.path.join(ldir, "bench-%d.ndjson" % k)
            t[id(s)].append(timed(lambda: run(["cp", src, dst])))
            sent(b, dst)
            m.stop()
        b.log("cp round %d: " % (i + 1) + "; ".join(
            "%s %.2f s" % (s.label if s else "curl", t[id(s)][-1]) for s in sides))
    for s in b.sides:
        b.row("cp of a %.0f MB labels file (%d items) into labels/ / curl POST" % (mb, items), s,
              t[id(s)], t[id(None)], 1.2)
    if b.args.explain:
        for s in b.sides:
            k += 1
            m = b.mount(s, "cache-cp%d" % k, ["rate_limit=0"])
            ldir = os.path.join(m.path, b.pname, "labels")
            os.listdir(ldir)
            dst = os.path.join(ldir, "bench-%d.ndjson" % k)
            with open(src, "rb") as f:
                data = f.read()
            t0 = time.perf_counter()
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            for off in range(0, len(data), 128 << 10):
                os.write(fd, data[off:off + (128 << 10)])
            t1 = time.perf_counter()
            os.close(fd)
            t2 = time.perf_counter()
            sent(b, dst)
            m.stop()
            b.explain.setdefault("cp", {})[s.label] = {"write": t1 - t0, "close": t2 - t1}
            b.notes.append("cp's time, %s (one upload, 128 KiB writes): open+writes %.2f s, "
                           "close (until sent) %.2f s" % (s.label, t1 - t0, t2 - t1))
    for p in (src, body):
        os.unlink(p)
    # the mounts' caches of this row
    for d in os.listdir(b.dir):
        if d.startswith("cache-cp"):
            B.rmtree(os.path.join(b.dir, d))
