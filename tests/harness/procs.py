"""The process harness shared by the integration tests (tests/conftest.py) and
the benchmark (bench/): a real local hub (angofs-hub with a temp SQLite db on a
free loopback port) and a real angofs mount against it.

Everything started here is recorded and torn down even when a test fails or the
run is interrupted: hubs are killed, mounts are unmounted (fusermount3 -u, then
lazy -z as a last resort). Binaries come from $ANGOFS_BUILD (default ./build)
unless a caller passes build=. $ANGOFS_MOUNT_OPTS (comma-separated, e.g.
"log_level=debug") adds -o options to every Mount, before a test's own.

  hub.url            "http://127.0.0.1:PORT"   (API under hub.url + "/v2")
  hub.key            the API key the hub accepts
  hub.api(method, path, body=None, key=..., query=None) -> (status, json_or_text)
  hub.stats()        GET /_admin/stats  (per-endpoint counters, request log)
  hub.reset_stats()  POST /_admin/stats/reset
  hub.fault(**spec)  POST /_admin/faults   (see tests/hub for the spec)
  hub.clear_faults() DELETE /_admin/faults
  hub.requests()     GET /_admin/requests: the wire log, [{method, path, query:
                     [[name, value], ...], body, body_bytes, status, ...}]
  hub.clear_requests()  DELETE /_admin/requests
  hub.stop() / hub.start()   restart on the same port and db
  mount.path         the mountpoint; mount.stop()/start() remount same cache
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ANGOFS_BUILD", os.path.join(ROOT, "build"))
HUB_BIN = os.path.join(BUILD, "contrib", "hub", "angofs-hub")
ANGOFS_BIN = os.path.join(BUILD, "src", "angofs")


def hub_bin(build=None):
    return os.path.join(build, "contrib", "hub", "angofs-hub") if build else HUB_BIN


def angofs_bin(build=None):
    return os.path.join(build, "src", "angofs") if build else ANGOFS_BIN

API_KEY = "test-key-0123456789"

_live_procs = []
_live_mounts = []
# the process that started them: a forked child (a multiprocessing reader, a
# test's os.fork()) inherits these lists and the atexit hook, and must not
# unmount or kill what its parent still uses
_owner_pid = os.getpid()


def cleanup_all():
    if os.getpid() != _owner_pid:
        return
    for path in list(_live_mounts):
        unmount(path)
    for p in list(_live_procs):
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(cleanup_all)




def run_angofs(args, env=None, timeout=60, key=None):
    """Run the angofs binary with args, expecting no mount (a refusal, --help,
    --status ...): ANGO_API_KEY is key (None: unset), env on top. Returns the
    CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("ANGO_API_KEY", None)
    if key is not None:
        e["ANGO_API_KEY"] = key
    e.update(env or {})
    return subprocess.run([ANGOFS_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


def read_log(path):
    """The text of a process's log file ("" if there is none)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_started(proc, ready, timeout, step=0.05):
    """Poll a starting process until ready() is true: "ready", or "exited"
    when proc ended first, or "timeout"."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return "exited"
        if ready():
            return "ready"
        time.sleep(step)
    return "timeout"


def stop_process(proc, timeout=20, sig=signal.SIGTERM):
    """Stop proc: send sig if it still runs (None: send nothing, e.g. after an
    unmount that ends it), wait up to timeout seconds, then SIGKILL. Returns
    its exit status."""
    if sig is not None and proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _hub_listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Sanitizer and valgrind runs (scripts/test.sh, scripts/sanitize.sh): a report in
# a daemon's or hub's log fails the test that stopped it. ANGOFS_VALGRIND=1 runs
# the daemon under valgrind memcheck (errors exit with VALGRIND_EXIT).
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")
VALGRIND = os.environ.get("ANGOFS_VALGRIND") == "1"
VALGRIND_EXIT = 97


def _log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def check_sanitizer_log(path, start, what):
    """Raise if the part of log `path` after offset `start` holds a sanitizer report."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return
    for m in SANITIZER_MARKERS:
        i = text.find(m)
        if i >= 0:
            raise AssertionError("%s: sanitizer report in %s:\n%s" % (what, path,
                                                                     text[max(0, i - 200):i + 4000]))


def sanitized(pid):
    """Process pid runs under a sanitizer or valgrind: its memory figures are
    theirs (shadow memory, quarantine), so RSS bounds do not apply."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    return any(s in maps for s in ("libasan", "libtsan", "vgpreload"))


def is_mounted(path):
    """True if path is a mount point, also for a dead FUSE mount (daemon killed:
    stat fails with ENOTCONN and os.path.ismount says False)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                mp = line.split()[1].replace("\\040", " ").replace("\\011", "\t")
                mp = mp.replace("\\012", "\n").replace("\\134", "\\")
                if mp == path:
                    return True
    except OSError:
        return os.path.ismount(path)
    return False


def unmount(path, busy_wait=5.0):
    """Unmount a (possibly dead) FUSE mount: fusermount3 -u, then, if it is
    still mounted after busy_wait seconds (a process holds a file in it),
    -u -z."""
    if not is_mounted(path):
        if path in _live_mounts:
            _live_mounts.remove(path)
        return
    for args in (["fusermount3", "-u", path], ["fusermount3", "-u", "-z", path]):
        subprocess.run(args, stderr=subprocess.DEVNULL, timeout=30)
        for _ in range(max(1, int(busy_wait * 10))):
            if not is_mounted(path):
                break
            time.sleep(0.1)
        if not is_mounted(path):
            break
    if path in _live_mounts:
        _live_mounts.remove(path)


# The suite runs against the hub's strict profile (docs/HUB.md, Profiles): the
# less convenient reading wherever the real Hub is undocumented, so a client
# that leans on a lenient default fails here rather than on the real Hub. A
# test of tolerant parsing passes extra_args=["--profile", "lenient"].
HUB_PROFILE = os.environ.get("ANGOFS_HUB_PROFILE", "strict")


class Hub:
    def __init__(self, workdir, seeds=("demo",), extra_args=(), key=API_KEY, build=None,
                 timeout=120, profile=HUB_PROFILE):
        """profile None: the hub binary's own default (no --profile)."""
        self.bin = hub_bin(build)
        self.profile = profile
        self.workdir = workdir
        self.db = os.path.join(workdir, "hub.db")
        self.key = key
        self.seeds = list(seeds)
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.logpath = os.path.join(workdir, "hub.log")
        self.start(timeout)

    def start(self, timeout=120):
        args = [self.bin, "--db", self.db, "--listen", "127.0.0.1:%d" % self.port,
                "--api-key", self.key]
        for s in self.seeds:
            args += ["--seed", s]
        if self.profile and "--profile" not in self.extra_args:
            args += ["--profile", self.profile]
        args += self.extra_args
        self._log_start = _log_size(self.logpath)
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        _live_procs.append(self.proc)
        r = wait_started(self.proc, lambda: _hub_listening(self.port), timeout)
        if r == "exited":
            raise RuntimeError("angofs-hub exited: %s" % self.log_text()[-2000:])
        if r == "timeout":
            raise RuntimeError("angofs-hub did not start listening")

    def stop(self):
        if self.proc:
            stop_process(self.proc)
        if self.proc in _live_procs:
            _live_procs.remove(self.proc)
        self._log.close()
        check_sanitizer_log(self.logpath, self._log_start, "angofs-hub")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stop()

    def log_text(self):
        return read_log(self.logpath)

    def raw(self, method, path, body=None, headers=None, timeout=60):
        """Plain HTTP request to hub.url + path. Returns (status, headers, bytes)."""
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api(self, method, path, body=None, key="default", query=None, timeout=120):
        """Request to /v2 + path with the apikey header. Returns (status, parsed JSON or text)."""
        if query:
            path = path + "?" + urllib.parse.urlencode(query)
        headers = {}
        if key == "default":
            key = self.key
        if key is not None:
            headers["apikey"] = key
        status, _, raw = self.raw(method, "/v2" + path, body, headers, timeout)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def admin(self, method, path, body=None):
        status, _, raw = self.raw(method, "/_admin" + path, body)
        assert 200 <= status < 300, (status, raw[:500])
        return json.loads(raw) if raw else None

    def stats(self):
        return self.admin("GET", "/stats")

    def reset_stats(self):
        return self.admin("POST", "/stats/reset")

    def fault(self, **spec):
        return self.admin("POST", "/faults", spec)

    def clear_faults(self):
        return self.admin("DELETE", "/faults")

    def requests(self):
        return self.admin("GET", "/requests")["requests"]

    def clear_requests(self):
        return self.admin("DELETE", "/requests")


class Mount:
    def __init__(self, hub, workdir, opts=(), env=None, name="mnt", build=None, cache=None,
                 timeout=30):
        self.bin = angofs_bin(build)
        self.hub = hub
        self.path = os.path.join(workdir, name)
        self.cache = cache or os.path.join(workdir, name + "-cache")
        self.logpath = os.path.join(workdir, name + ".log")
        # ANGOFS_MOUNT_OPTS=a=1,b=2: options for every mount of a run (e.g. a
        # suite against the libfuse 3.17 build with other settings); a test's
        # own options come after them and win
        self.opts = [o for o in os.environ.get("ANGOFS_MOUNT_OPTS", "").split(",") if o]
        self.opts += list(opts)
        self.env = dict(os.environ)
        self.env["ANGO_API_KEY"] = hub.key
        # hermetic: no user config file (~/.config/angofs/config) unless a test asks
        self.env["XDG_CONFIG_HOME"] = os.path.join(workdir, name + "-no-config")
        self.env.update(env or {})
        self.proc = None
        os.makedirs(self.path, exist_ok=True)
        self.start(timeout)

    def start(self, timeout=30):
        args = [self.bin, self.path, "-f", "-o", "host=" + self.hub.url,
                "-o", "cache_dir=" + self.cache]
        for o in self.opts:
            args += ["-o", o]
        if VALGRIND:
            timeout = max(timeout, 120)
            args = ["valgrind", "--quiet", "--error-exitcode=%d" % VALGRIND_EXIT,
                    "--leak-check=full", "--errors-for-leak-kinds=definite",
                    "--show-leak-kinds=definite", "--track-fds=no"] + args
        self._log_start = _log_size(self.logpath)
        self._log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env)
        _live_procs.append(self.proc)
        _live_mounts.append(self.path)
        r = wait_started(self.proc, lambda: os.path.ismount(self.path), timeout)
        if r != "ready":
            raise RuntimeError("angofs %s: %s" % ("exited" if r == "exited" else "did not mount",
                                                 self.log_text()[-3000:]))

    def stop(self):
        unmount(self.path)
        if self.proc:
            # the unmount ends the daemon: wait, SIGKILL only if it hangs
            stop_process(self.proc, 120 if VALGRIND else 20, sig=None)
            if self.proc in _live_procs:
                _live_procs.remove(self.proc)
        self._log.close()
        check_sanitizer_log(self.logpath, self._log_start, "angofs")
        if VALGRIND and self.proc and self.proc.returncode == VALGRIND_EXIT:
            raise AssertionError("angofs: valgrind reported errors:\n" + self.log_text()[-6000:])

    def kill9(self):
        """Kill the daemon hard (no clean unmount), then clear the dead mount."""
        self.proc.kill()
        self.proc.wait()
        if self.proc in _live_procs:
            _live_procs.remove(self.proc)
        # a dead mount: a reader still holding a file in it (ENOTCONN from
        # now on) keeps -u from working; detach it lazily without waiting long
        unmount(self.path, busy_wait=0.5)
        self._log.close()

    def log_text(self):
        return read_log(self.logpath)


# the names tests/conftest.py has always exported (tests import them from there)
_unmount = unmount
_is_mounted = is_mounted
_cleanup_all = cleanup_all
