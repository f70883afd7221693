"""benchlib.py - processes, measurements and output for the bench/ scripts.

Design: the benchmark drives real processes only (angofs-hub, angofs, curl,
unzip, cat, cp, ls) and times each step from the outside with perf_counter, the
way a user would see it. Every process and mount it starts is recorded and torn
down by cleanup() (also on Ctrl-C / SIGTERM), so an interrupted run leaves no
mount, daemon or data behind. Request counts come from the hub's own counters
(GET /_admin/stats), never from angofs's logs.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import harness

API_KEY = "bench-key-0123456789"


def die(msg):
    sys.stderr.write("bench: %s\n" % msg)
    raise SystemExit(2)


def run(args, timeout=1800, **kw):
    """Run a command, fail loudly on a non-zero exit; returns CompletedProcess."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.PIPE)
    r = subprocess.run(args, timeout=timeout, **kw)
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace") if isinstance(r.stderr, bytes) else r.stderr
        die("%s failed (exit %d): %s" % (" ".join(map(str, args[:4])), r.returncode,
                                           (err or "")[-800:]))
    return r


def timed(fn):
    """Seconds fn() takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cleanup():
    """Unmount every mount and stop every process the harness started."""
    harness.cleanup_all()


def install_signal_handlers():
    """SIGTERM/SIGINT tear down what this process started, then exit. Only in
    the process that installed the handlers: a forked child (a
    multiprocessing Pool's reader) inherits them and the lists of live mounts
    and daemons, and Pool.terminate() at the end of every `with Pool()` sends
    SIGTERM to each worker; a worker that ran cleanup() then unmounted the
    mount under the next pass (ENOENT for every path of assets/, no request
    reaching the daemon). A child gets the handlers back that were in place
    before (SIGTERM: the default, which ends it at once) as soon as it is
    forked: a Python handler there could also miss a SIGTERM arriving just
    before the worker blocks on its queue, and Pool's join then waited for
    ever. The pid check covers a signal between the fork and that hook."""
    owner = os.getpid()
    prev = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}

    def in_child():
        for s, h in prev.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)

    def handler(signum, _frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        cleanup()
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    os.register_at_fork(after_in_child=in_child)


class Hub(harness.Hub):
    """The tests' hub (harness.procs.Hub) with the benchmark's key, a long
    export TTL and the counters the tables report."""

    def __init__(self, build, workdir, seeds):
        try:
            # lenient: the curl baselines send no stage filter and must get
            # the same tasks as angofs's explicit every-stage filter
            super().__init__(workdir, seeds, ["--export-ttl", "120"], key=API_KEY,
                             build=build, timeout=900, profile="lenient")
        except RuntimeError as e:
            die("%s (see %s/hub.log)" % (e, workdir))

    def total(self):
        """Requests counted so far (every route, downloads included)."""
        return self.stats()["total"]

    def counts(self):
        return self.stats()["counts"]

    def rate_limit(self, n):
        if n:
            self.fault(rate_limit=n)
        else:
            self.clear_faults()

    def project_id(self, name):
        page = 1
        while True:
            st, body = self.api("GET", "/listProjects", query={"limit": 100, "page": page},
                                timeout=300)
            if st != 200:
                die("listProjects: HTTP %d" % st)
            d = body["data"]
            for p in d["projects"]:
                if p["name"] == name:
                    return p["_id"]
            if page * 100 >= d["total"]:
                die("no project named %s" % name)
            page += 1


class Mount(harness.Mount):
    """The tests' mount (harness.procs.Mount) at `path` with its cache at `cache`."""

    def __init__(self, build, hub, path, cache, opts=()):
        try:
            super().__init__(hub, os.path.dirname(path), opts, name=os.path.basename(path),
                             build=build, cache=cache, timeout=60)
        except RuntimeError as e:
            die("%s (see %s.log)" % (e, path))

    def vm_hwm_kb(self):
        """Peak resident set size of the daemon so far (VmHWM)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return -1


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def print_table(head, rows, notes):
    """The results as a Markdown table (columns padded to their widest cell),
    then one "note: " line per note."""
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(head)) + " |")
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |")
    for n in notes:
        print("note: " + n)


def run_bench(make, args):
    """A benchmark script's entry: the signal handlers, make(args) (an object
    with .main() and .dir), its main(), then every process stopped and, unless
    --keep, its data directory removed, also on failure. Returns what main()
    returned."""
    install_signal_handlers()
    b = make(args)
    try:
        return b.main()
    finally:
        cleanup()
        if not args.keep:
            rmtree(b.dir)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def write_labels(folder, pid, n, nbytes):
    """A labels file (NDJSON, n items of about nbytes/n bytes each) for the
    synthetic project pid, and the same items as one POST /import/labels body:
    (its path, the body's path)."""
    per = nbytes // n
    src, body = os.path.join(folder, "labels.ndjson"), os.path.join(folder, "labels-body.json")
    with open(src, "w") as f, open(body, "w") as g:
        g.write('{"project": "%s", "jsonContent": [\n' % pid)
        for i in range(1, n + 1):
            objs = []
            while True:
                it = {"externalId": "synthetic_%07d.jpg" % i, "objects": objs,
                      "classifications": [{"schemaId": "cWeath01", "answer": "Cloudy"}]}
                line = json.dumps(it)
                if len(line) >= per - 1:
                    break
                k = len(objs)
                objs.append({"schemaId": "tCar0001" if k % 2 else "tPed0001",
                             "objectId": "o%d-%d" % (i, k),
                             "bounding-box": {"x": (i + k) % 900, "y": k * 7 % 500,
                                              "width": 20 + k, "height": 10 + k}})
            f.write(line + "\n")
            g.write(line + (",\n" if i < n else "\n"))
        g.write("]}\n")
    return src, body
