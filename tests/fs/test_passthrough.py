"""FUSE passthrough (issue 26): with a build against libfuse >= 3.17 on Linux
>= 6.9, a complete cached export or media object is opened with a backing id
and the kernel reads the cache file itself (src/daemon/passthrough.c, the
decision in src/fs/kcache.c, per node: src/daemon/inodes.c). Against the
real local hub and a real mount.

Which way a descriptor reads is seen from outside: a byte of the cache file
changed in place shows at once through a passthrough descriptor (the kernel
reads the file's own page cache), while a page-cache descriptor keeps the
FUSE pages it already read. .status says whether passthrough is on and why
not; the tests that need it on skip with that reason (the default build
against libfuse 3.14)."""
import errno
import json
import mmap
import os
import time

import pytest

from conftest import Mount
from harness.procs import run_angofs
from test_read_common import all_tasks, main_project, pdir, read
from test_consistency_mmap import annotate


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)["passthrough"]


def cache_file(m, sub, data, timeout=10):
    """The cache file under m.cache/sub whose bytes are data (a download
    that served its reader may still be closing its file: waited for)."""
    xdir = os.path.join(m.cache, sub)
    end = time.time() + timeout
    while True:
        for n in sorted(os.listdir(xdir)):
            p = os.path.join(xdir, n)
            if n.endswith(".data") and os.path.getsize(p) == len(data) and read(p) == data:
                return p
        if time.time() > end:
            raise AssertionError("no cache file under %s holds the bytes" % sub)
        time.sleep(0.1)


def byte_changed_in_place_shows(path, cache, data):
    """Open path, read it whole (fstat, shared mmap), change one byte of its
    cache file in place (restored after): does the descriptor see it?"""
    k = len(data) // 2
    with open(path, "rb", buffering=0) as f:
        assert os.pread(f.fileno(), len(data) + 10, 0) == data
        assert os.fstat(f.fileno()).st_size == len(data)
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
            assert mm[:] == data
        old = data[k:k + 1]
        with open(cache, "r+b") as c:
            c.seek(k)
            c.write(b"#" if old != b"#" else b"$")
        try:
            return os.pread(f.fileno(), 1, k) != old
        finally:
            with open(cache, "r+b") as c:
                c.seek(k)
                c.write(old)


def test_status_says_whether_and_why_not(hub, workdir):
    m = Mount(hub, workdir, opts=["passthrough=off"], name="off")
    try:
        assert status(m) == {"on": False, "why_not": "-o passthrough=off"}
        r = run_angofs(["--status", m.path])
        assert "passthrough: off (-o passthrough=off)" in r.stdout, r.stdout
    finally:
        m.stop()
    m = Mount(hub, workdir, opts=["passthrough=auto"], name="auto")
    try:
        st = status(m)
        assert st["on"] or st["why_not"], st  # on, or a reason
    finally:
        m.stop()


def test_bad_value_is_refused_before_mounting(hub, workdir):
    with pytest.raises(RuntimeError, match="passthrough=maybe: expected auto or off"):
        Mount(hub, workdir, opts=["passthrough=maybe"], timeout=10)


def ways(m, path):
    """How the daemon opened path so far (its debug log): "passthrough",
    "page cache", "direct_io", ..."""
    rel = "/" + os.path.relpath(path, m.path)
    tag = "open %s (" % rel
    return [line.split("): ", 1)[1] for line in m.log_text().splitlines() if tag in line]


def settled(m, path, timeout=10):
    """Open path until the daemon serves it as a complete file (not
    direct_io: a reader gets the last byte just before the download is
    published complete)."""
    end = time.time() + timeout
    while True:
        open(path, "rb").close()
        if ways(m, path)[-1] != "direct_io":
            return
        assert time.time() < end, ways(m, path)
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_reads_come_from_the_cache_file_itself(hub, workdir, mode):
    """An export and an asset of the media cache, both complete: opened with
    passthrough (the daemon's log) and read by the kernel from the cache
    file (a byte changed in place shows at once). Without passthrough the
    byte may show or not (a direct_io open under load reads through the
    daemon), so only the way is checked."""
    m = Mount(hub, workdir, opts=["passthrough=" + mode, "log_level=debug"])
    try:
        on = status(m)["on"]
        if mode == "auto" and not on:
            pytest.skip(status(m)["why_not"])
        pid = main_project(hub)
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        data = read(exp)
        shows = byte_changed_in_place_shows(exp, cache_file(m, "exports", data), data)
        if on:
            assert ways(m, exp)[-1] == "passthrough"
            assert shows  # the kernel read the cache file itself
        else:
            assert "passthrough" not in ways(m, exp)
        d = os.path.join(m.path, "Street Photos", "assets")
        asset = os.path.join(d, sorted(os.listdir(d))[0])
        data = read(asset)
        cache = cache_file(m, "media", data)
        settled(m, asset)  # its download published (the last byte came first)
        shows = byte_changed_in_place_shows(asset, cache, data)
        if on:
            assert ways(m, asset)[-1] == "passthrough"
            assert shows
        else:
            assert "passthrough" not in ways(m, asset)
    finally:
        m.stop()


def test_a_newer_generation_opens_beside_an_older_one_passing_through(hub, workdir):
    """The kernel keeps one backing file per inode and refuses any other open
    beside a passthrough one. A newer generation gets a new node: while a
    passthrough descriptor of generation 1 stays open past the 2 s bound, an
    open of generation 2 succeeds (after that one wait), passes through too
    and reads generation 2 whole, mapped; the old descriptor keeps reading
    generation 1 (E1). (The prototype on the high-level API, one inode per
    path, failed that open with EBUSY.)"""
    m = Mount(hub, workdir, opts=["rate_limit=0", "log_level=debug"])
    try:
        if not status(m)["on"]:
            pytest.skip(status(m)["why_not"])
        pid = main_project(hub)
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        tid = all_tasks(hub, pid)[2]["_id"]
        annotate(hub, tid, "Rain")
        old = read(exp)
        with open(exp, "rb") as f1:
            assert ways(m, exp)[-1] == "passthrough"
            ino1 = os.fstat(f1.fileno()).st_ino
            annotate(hub, tid, "Cloudy")
            os.utime(exp)
            t0 = time.time()
            with open(exp, "rb") as f2:
                assert time.time() - t0 < 10
                new = f2.read()  # still being written at its open: the normal way
                assert new != old and len(new) != len(old)
                assert os.fstat(f2.fileno()).st_ino != ino1  # another node
                assert f1.read() == old  # E1: the old descriptor reads its generation
        # generation 2 complete, nothing open: it passes through on its node
        with open(exp, "rb") as f3:
            assert f3.read() == new
            assert ways(m, exp)[-1] == "passthrough"
            with mmap.mmap(f3.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m3:
                assert m3[:] == new
    finally:
        m.stop()
