"""Helpers for the shared-cache tests (tests/scale): daemons that share one
cache directory, on a local directory or on a real GlusterFS volume mounted
twice (two client processes, like two nodes of a cluster).

Holds no tests. The GlusterFS fixture starts its own glusterd (foreground, so
its PID is ours), creates a one-brick volume on 127.0.0.2 (gluster refuses
127.0.0.1/localhost), mounts it twice with the kernel's entry and attribute
caches off (docs/SCALE.md: what a shared cache needs from the filesystem),
and removes everything again (mounts, volume, glusterd by PID) even when a
test fails. It skips, saying why, only if glusterd cannot start here.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

# harness (tests/) and hubutil (tests/hub): on the path through pytest.ini, or
# PYTHONPATH for bench/shared_cache.py (bench/run.sh shared-cache)
from harness.procs import Mount, stop_process, unmount as _unmount, wait_started
from harness.util import read, wait_for  # noqa: F401
from hubutil import main_project  # noqa: F401

EXPORT = "GET /v2/export"
DOWNLOAD = "GET /download"
IMPORT = "POST /v2/import/labels"
GLUSTER_MOUNT_OPTS = "entry-timeout=0,attribute-timeout=0,negative-timeout=0"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class SharedMount(Mount):
    """An angofs mount whose cache_dir is `cache` (shared with others)."""

    def __init__(self, hub, workdir, cache, name, opts=(), env=None):
        self._shared_cache = cache
        super().__init__(hub, workdir, opts=opts, env=env, name=name)

    def start(self, timeout=30):
        self.cache = self._shared_cache
        return super().start(timeout)


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def count(hub, route):
    return hub.stats()["counts"].get(route, 0)


def ok_posts(hub, route):
    return [r for r in hub.stats()["log"] if r["route"] == route and r["status"] == 200]


def _run(args, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def reap_orphans():
    """Tear down what a test process that died without its teardown (kill
    -9, a killed pipeline) left: a glusterd started from an angofs-gluster-*
    directory whose parent is gone (reparented to init), its volumes
    angofs<pid> of dead pids, the client mounts and brick processes under
    that directory. Left running, it made every later GlusterFS test skip
    ("a glusterd is already running here") for hours without a failure.
    Names the orphans it removed."""
    reaped = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid, cmd = int(d), _cmdline(int(d))
        if not cmd or os.path.basename(cmd[0]) != "glusterd" or "-l" not in cmd:
            continue
        log = cmd[cmd.index("-l") + 1] if cmd.index("-l") + 1 < len(cmd) else ""
        top = os.path.dirname(log)
        if not os.path.basename(top).startswith("angofs-gluster-") or _ppid(pid) != 1:
            continue
        r = _run(["gluster", "--mode=script", "volume", "list"], 20)
        for vol in r.stdout.split() if r.returncode == 0 else []:
            m = re.fullmatch(r"angofs(\d+)", vol)
            if m and not os.path.exists("/proc/" + m.group(1)):
                _run(["gluster", "--mode=script", "volume", "stop", vol, "force"], 120)
                _run(["gluster", "--mode=script", "volume", "delete", vol], 120)
        with open("/proc/mounts") as f:
            for line in f:
                mnt = line.split()[1]
                if mnt.startswith(top + "/"):
                    subprocess.run(["umount", "-l", mnt], capture_output=True)
        tag = os.path.basename(top)
        for e in os.listdir("/proc"):
            if e.isdigit() and int(e) != pid and any(tag in a for a in _cmdline(int(e))):
                try:
                    os.kill(int(e), signal.SIGKILL)
                except OSError:
                    pass
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not os.path.exists("/proc/%d" % pid):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        shutil.rmtree(top, ignore_errors=True)
        reaped.append(top)
    return reaped


class Gluster:
    """glusterd + a one-brick volume + two client mounts (a, b)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="angofs-gluster-")
        self.vol = "angofs%d" % os.getpid()
        self.proc = None
        self.created = self.started = False
        self.mounts = []

    def setup(self):
        import pytest
        if os.geteuid() != 0 or not shutil.which("glusterd"):
            pytest.skip("GlusterFS tests need root and glusterd (scripts/install-deps.sh)")
        for top in reap_orphans():
            print("scalelib: removed a GlusterFS test setup left by a dead process: " + top)
        if _run(["gluster", "--mode=script", "volume", "list"], 20).returncode == 0:
            pytest.skip("a glusterd is already running here; the test needs its own")
        self.proc = subprocess.Popen(
            ["glusterd", "-N", "-l", os.path.join(self.dir, "glusterd.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        r = wait_started(self.proc, lambda: _run(["gluster", "--mode=script", "volume", "list"],
                                                  20).returncode == 0, 30, step=0.3)
        if r == "exited":
            pytest.skip("glusterd cannot start here: %s" % self.log()[-1500:])
        if r == "timeout":
            pytest.skip("glusterd did not answer within 30 s: %s" % self.log()[-1500:])
        brick = os.path.join(self.dir, "brick")
        os.makedirs(brick)
        self._ok(["volume", "create", self.vol, "127.0.0.2:" + brick, "force"])
        self.created = True
        # no client-side metadata cache: a daemon that just took the publish
        # lock must see the meta another node renamed into place (docs/SCALE.md)
        self._ok(["volume", "set", self.vol, "performance.stat-prefetch", "off"])
        self._ok(["volume", "start", self.vol])
        self.started = True
        for name in ("a", "b"):
            mnt = os.path.join(self.dir, "client-" + name)
            os.makedirs(mnt)
            r = _run(["mount", "-t", "glusterfs", "-o", GLUSTER_MOUNT_OPTS,
                      "127.0.0.2:/" + self.vol, mnt], 60)
            assert r.returncode == 0, "mount -t glusterfs: %s %s" % (r.stdout, r.stderr)
            self.mounts.append(mnt)
        return self

    def _ok(self, args):
        r = _run(["gluster", "--mode=script"] + args, 120)
        assert r.returncode == 0, "gluster %s: %s %s" % (" ".join(args), r.stdout, r.stderr)

    def log(self):
        try:
            with open(os.path.join(self.dir, "glusterd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def teardown(self):
        for mnt in self.mounts:
            if subprocess.run(["umount", mnt], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", mnt], capture_output=True)
        if self.started:
            _run(["gluster", "--mode=script", "volume", "stop", self.vol, "force"], 120)
        if self.created:
            _run(["gluster", "--mode=script", "volume", "delete", self.vol], 120)
        if self.proc:
            stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def export_file(mount):
    """Path of the Street Scenes task export in a mount."""
    return os.path.join(mount.path, "Street Scenes", "export", "tasks.json")


def status(mount):
    with open(os.path.join(mount.path, ".status")) as f:
        return json.load(f)


def kill9(m):
    """kill -9 a daemon; its dead mount is cleared."""
    m.kill9()
    _unmount(m.path)
