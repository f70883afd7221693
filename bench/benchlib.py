"""benchlib.py - processes and measurements for bench/bench.py.

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
import socket
import subprocess
import sys
import time
import urllib.request

API_KEY = "bench-key-0123456789"
_procs = []
_mounts = []


def die(msg):
    sys.stderr.write("bench: %s\n" % msg)
    raise SystemExit(2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def is_mounted(path):
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


def unmount(path):
    for _ in range(100):
        if not is_mounted(path):
            return
        subprocess.run(["fusermount3", "-u", path], stderr=subprocess.DEVNULL, timeout=60)
        if is_mounted(path):
            time.sleep(0.1)
    subprocess.run(["fusermount3", "-uz", path], stderr=subprocess.DEVNULL, timeout=60)


def cleanup():
    for m in list(_mounts):
        unmount(m)
        _mounts.remove(m)
    for p in list(_procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        _procs.remove(p)


def install_signal_handlers():
    def handler(signum, _frame):
        cleanup()
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Hub:
    def __init__(self, build, workdir, seeds):
        self.bin = os.path.join(build, "contrib", "hub", "angofs-hub")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(workdir, "hub.log"), "ab")
        args = [self.bin, "--db", os.path.join(workdir, "hub.db"), "--listen",
                "127.0.0.1:%d" % self.port, "--api-key", API_KEY, "--export-ttl", "120"]
        for s in seeds:
            args += ["--seed", s]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        _procs.append(self.proc)
        deadline = time.time() + 900
        while time.time() < deadline:
            if self.proc.poll() is not None:
                die("angofs-hub exited (see %s/hub.log)" % workdir)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        die("angofs-hub did not start")

    def _req(self, method, path, body=None, headers=None, timeout=300):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=dict(headers or {}))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def api(self, method, path, body=None):
        return self._req(method, "/v2" + path, body, {"apikey": API_KEY})

    def admin(self, method, path, body=None):
        return self._req(method, "/_admin" + path, body)

    def total(self):
        """Requests counted so far (every route, downloads included)."""
        return self.admin("GET", "/stats")["total"]

    def counts(self):
        return self.admin("GET", "/stats")["counts"]

    def rate_limit(self, n):
        if n:
            self.admin("POST", "/faults", {"rate_limit": n})
        else:
            self.admin("DELETE", "/faults")

    def project_id(self, name):
        page = 1
        while True:
            d = self.api("GET", "/listProjects?limit=100&page=%d" % page)["data"]
            for p in d["projects"]:
                if p["name"] == name:
                    return p["_id"]
            if page * 100 >= d["total"]:
                die("no project named %s" % name)
            page += 1


class Mount:
    def __init__(self, build, hub, path, cache, opts=()):
        self.path, self.cache = path, cache
        os.makedirs(path, exist_ok=True)
        env = dict(os.environ, ANGO_API_KEY=API_KEY)
        args = [os.path.join(build, "src", "angofs"), path, "-f", "-o", "host=" + hub.url,
                "-o", "cache_dir=" + cache]
        for o in opts:
            args += ["-o", o]
        self.log = open(path + ".log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        _procs.append(self.proc)
        _mounts.append(path)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                die("angofs exited (see %s.log)" % path)
            if is_mounted(path):
                return
            time.sleep(0.05)
        die("angofs did not mount")

    def vm_hwm_kb(self):
        """Peak resident set size of the daemon so far (VmHWM)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return -1

    def stop(self):
        unmount(self.path)
        if self.path in _mounts:
            _mounts.remove(self.path)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc in _procs:
            _procs.remove(self.proc)
        self.log.close()


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
