"""assets/ and task masks through the media cache (issue 13 items 1-2, read
side): real hub, real mount, the demo project "Street Photos" (8 assets in the
hub's storage, odd ones public, even ones private behind signed URLs) and the
brush masks of "Street Scenes".

What is checked: names and listing cost (pages of GET /project/{id}/assets,
never a request per file); bytes equal the hub's object bytes; private
objects are read through their signed URL, an expired one is signed again
(GET /getSignedUrl); 8 reader processes at once download each object once;
a large object is readable from its start while the rest of its download is
held back by the hub; the cache cap holds; two daemons sharing one cache
directory download each object once and never serve a torn file; PIL and
OpenCV open an asset and a mask.png."""
import glob
import hashlib
import mmap
import multiprocessing
import os
import threading
import time
import urllib.request

import pytest

from conftest import Hub, Mount
from harness.util import wait_for
from hubutil import fetch_signed

PROJECT = "Street Photos"


def hub_assets(hub, pid):
    st, body = hub.api("GET", "/project/%s/assets" % pid, query={"limit": "100"})
    assert st == 200, body
    return body["data"]["assets"]


def project_id(hub, name):
    st, body = hub.api("GET", "/listProjects", query={"limit": "100"})
    assert st == 200
    # the oldest of that name: the one the mount shows under the plain name
    return min((p["createdAt"], p["_id"]) for p in body["data"]["projects"]
               if p["name"] == name)[1]


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def counts(hub):
    return hub.stats()["counts"]


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def media_files(cache):
    return glob.glob(os.path.join(cache, "media", "*.data"))


def published(m, n, timeout=30):
    """Wait until the media cache names n complete objects (H.meta): a reader
    gets an object's last byte just before its download is published, and
    only an open after that is served from the complete file."""
    wait_for(lambda: len(glob.glob(os.path.join(m.cache, "media", "*.meta"))) >= n, timeout,
             "%d downloads published" % n)


@pytest.fixture
def env(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir)
    yield hub, m
    m.stop()
    hub.stop()


@pytest.fixture
def two_on_one_cache(workdir):
    """One hub and two daemons (mnt-a, mnt-b) sharing one cache directory:
    (hub, cache, a, b)."""
    hub = Hub(workdir)
    cache = os.path.join(workdir, "shared-cache")
    a = Mount(hub, workdir, name="mnt-a", cache=cache)
    b = Mount(hub, workdir, name="mnt-b", cache=cache)
    yield hub, cache, a, b
    a.stop()
    b.stop()
    hub.stop()


def test_assets_listing_bytes_and_cost(env):
    hub, m = env
    pid = project_id(hub, PROJECT)
    want = {a["externalId"]: fetch(a["data"]) for a in hub_assets(hub, pid)}
    assert len(want) == 8
    hub.reset_stats()
    d = os.path.join(m.path, PROJECT, "assets")
    names = sorted(os.listdir(d))
    assert names == sorted(want)
    c = counts(hub)
    assert c.get("GET /v2/project/{id}/assets") == 1  # one page, not one per file
    assert c.get("GET /storage", 0) == 0  # listing fetches no media
    # before the first read the size is unknown: 1 byte, no blocks
    st = os.stat(os.path.join(d, names[0]))
    assert st.st_size == 1 and st.st_blocks == 0
    for n in names:
        assert read_file(os.path.join(d, n)) == want[n], n
        assert os.stat(os.path.join(d, n)).st_size == len(want[n])
    c = counts(hub)
    assert c.get("GET /storage") == 8
    # the listing's signed URLs are still valid: nothing needed signing
    assert c.get("GET /v2/getSignedUrl", 0) == 0
    # a second read of everything is served from the cache
    for n in names:
        assert read_file(os.path.join(d, n)) == want[n]
    assert counts(hub).get("GET /storage") == 8
    # private and unknown names
    assert not os.path.exists(os.path.join(d, "nope.png"))
    for f in media_files(m.cache):
        assert os.stat(f).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(m.cache, "media")).st_mode & 0o777 == 0o700


def test_assets_listing_on_a_hub_with_a_lower_page_limit(workdir):
    """A hub that serves 50 items a page whatever limit asks (nothing
    promises the asked 100): assets/ still lists every asset, once; paging
    goes by count, the next pages asking the served size (issue 22: stopping
    at page x 100 >= total listed 150 of 240)."""
    hub = Hub(workdir, extra_args=["--page-cap", "50"])
    m = Mount(hub, workdir)
    try:
        pid = project_id(hub, "Street Scenes")
        hub.clear_requests()
        names = [n for n in os.listdir(os.path.join(m.path, "Street Scenes", "assets"))
                 if n != ".status"]  # the write side's status folder
        assert len(names) == len(set(names)) == 240, len(names)
        asked = [dict(r["query"]) for r in hub.requests()
                 if r["path"] == "/v2/project/%s/assets" % pid]
        assert [(q["page"], q["limit"]) for q in asked] == [
            ("1", "100"), ("2", "50"), ("3", "50"), ("4", "50"), ("5", "50")], asked
        assert all(q["filters"] == "{}" for q in asked)  # the SDK's get_assets
    finally:
        m.stop()
        hub.stop()


def test_masks_listed_only_when_present(env):
    hub, m = env
    pid = project_id(hub, "Street Scenes")
    tasks = []
    for page in range(1, 4):
        st, body = hub.api("GET", "/project/%s/tasks" % pid,
                           query={"limit": "100", "page": str(page)})
        tasks += body["data"]["tasks"]
    brush = [t for t in tasks if t.get("brushDataUrl")]
    med = [t for t in tasks if t.get("medicalBrushDataUrl")]
    assert len(brush) == 4 and len(med) == 1
    plain = next(t for t in tasks if not t.get("brushDataUrl") and not t.get("medicalBrushDataUrl"))
    tdir = os.path.join(m.path, "Street Scenes", "tasks")
    assert "mask.png" not in os.listdir(os.path.join(tdir, plain["_id"]))
    assert not os.path.exists(os.path.join(tdir, plain["_id"], "mask.png"))
    for t in brush:
        d = os.path.join(tdir, t["_id"])
        assert "mask.png" in os.listdir(d)
        assert read_file(os.path.join(d, "mask.png")) == fetch_signed(hub, t["brushDataUrl"], pid)
    t = med[0]
    d = os.path.join(tdir, t["_id"])
    assert "mask.seg.nrrd" in os.listdir(d)
    data = read_file(os.path.join(d, "mask.seg.nrrd"))
    assert data.startswith(b"NRRD") and data == fetch_signed(hub, t["medicalBrushDataUrl"], pid,
                                                             "medicalBrushes")


def test_shared_mmap_of_an_asset_is_decided_per_file(env):
    """An asset maps shared (page cache) while another handle of it is open
    (the RELEASE of `cat f` not delivered yet when `mmap f` opens: the same
    file, so the pages are shared) and while other assets are being read.
    Before: any open asset or mask made the open direct_io, and shared mmap
    failed with ENODEV (30 of 30 and 54 of 60 here)."""
    hub, m = env
    d = os.path.join(m.path, PROJECT, "assets")
    names = sorted(os.listdir(d))
    for n in names:
        read_file(os.path.join(d, n))  # complete in the cache
    a, others = os.path.join(d, names[0]), [os.path.join(d, n) for n in names[1:4]]
    want = read_file(a)

    def mapped():
        with open(a, "rb") as f:
            with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
                return mm[:]

    failed = []
    for _ in range(20):
        with open(a, "rb") as held:
            held.read(100)
            try:
                assert mapped() == want
            except OSError as e:
                failed.append(("same file open", e.errno))
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            for q in others:
                read_file(q)

    ts = [threading.Thread(target=reader) for _ in range(2)]
    for t in ts:
        t.start()
    try:
        for _ in range(40):
            try:
                assert mapped() == want
            except OSError as e:
                failed.append(("others read", e.errno))
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert failed == [], failed[:3]


def test_pil_and_opencv_open_asset_and_mask(env):
    from PIL import Image
    import cv2

    hub, m = env
    asset = os.path.join(m.path, PROJECT, "assets", "photo_02.png")  # private
    with Image.open(asset) as im:
        assert im.size == (1920, 1080)
        im.load()
    img = cv2.imread(asset)
    assert img is not None and img.shape[:2] == (1080, 1920)
    tdir = os.path.join(m.path, "Street Scenes", "tasks")
    mask = next(os.path.join(tdir, t, "mask.png") for t in sorted(os.listdir(tdir))
                if os.path.exists(os.path.join(tdir, t, "mask.png")))
    with Image.open(mask) as im:
        assert im.size == (1920, 1080)
        im.load()
    assert cv2.imread(mask, cv2.IMREAD_UNCHANGED) is not None


def test_expired_signed_url_is_signed_again(workdir):
    hub = Hub(workdir, extra_args=["--signed-url-ttl", "2"])
    m = Mount(hub, workdir)
    try:
        pid = project_id(hub, PROJECT)
        d = os.path.join(m.path, PROJECT, "assets")
        names = sorted(os.listdir(d))  # the asset list holds URLs signed for ~2 s
        time.sleep(4)
        hub.reset_stats()
        data = read_file(os.path.join(d, "photo_04.png"))  # private
        c = counts(hub)
        assert c.get("GET /v2/getSignedUrl", 0) == 1
        assert c.get("GET /storage") == 2  # the expired URL (403), then the new one
        a = next(a for a in hub_assets(hub, pid) if a["externalId"] == "photo_04.png")
        assert data == fetch(a["data"])
        assert "photo_04.png" in names
        log = hub.stats()["log"]
        assert any(e["route"] == "GET /storage" and e["status"] == 403 for e in log)
        # a public object needs no signature however old its URL
        hub.reset_stats()
        read_file(os.path.join(d, "photo_03.png"))
        assert counts(hub).get("GET /v2/getSignedUrl", 0) == 0
    finally:
        m.stop()
        hub.stop()


def _reader(args):
    d, names = args
    return {n: hashlib.sha256(read_file(os.path.join(d, n))).hexdigest() for n in names}


def test_eight_reader_processes(env):
    hub, m = env
    pid = project_id(hub, PROJECT)
    want = {a["externalId"]: hashlib.sha256(fetch(a["data"])).hexdigest()
            for a in hub_assets(hub, pid)}
    d = os.path.join(m.path, PROJECT, "assets")
    names = sorted(os.listdir(d))
    hub.reset_stats()
    # each process reads every image, in its own order
    jobs = [(d, names[i:] + names[:i]) for i in range(8)]
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results = pool.map(_reader, jobs)
    for r in results:
        assert r == want
    assert counts(hub).get("GET /storage") == 8  # one download per object


def upload_object(hub, pid, name, data):
    st, body = hub.api("GET", "/getUploadUrl",
                       query={"name": name, "project": pid, "type": "assets"})
    assert st in (200, 201), body
    url = body["data"]["uploadUrl"]
    req = urllib.request.Request(url, data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.status in (200, 201)
    obj = url.split("?")[0]
    st, body = hub.api("POST", "/project/%s/cloud" % pid,
                       body={"assets": [{"data": obj, "externalId": name}]})
    assert st in (200, 201), body
    return obj


def test_large_object_readable_while_downloading(env):
    hub, m = env
    pid = project_id(hub, PROJECT)
    big = os.urandom(1 << 20) * 24  # 24 MiB
    upload_object(hub, pid, "video.bin", big)
    d = os.path.join(m.path, PROJECT, "assets")
    assert "video.bin" in os.listdir(d)
    # the hub sends 4 MiB, then holds the rest back until the fault is cleared
    hub.fault(route="GET /storage", stall_after=4 << 20)
    try:
        with open(os.path.join(d, "video.bin"), "rb", buffering=0) as f:
            head = f.read(2 << 20)
            assert head == big[:2 << 20]
            # the size is the announced Content-Length while downloading
            assert os.fstat(f.fileno()).st_size in (1, len(big))
            assert glob.glob(os.path.join(m.cache, "media", "*.tmp-*"))  # still downloading
            hub.clear_faults()
            rest = b""
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                rest += b
        assert head + rest == big
    finally:
        hub.clear_faults()
    assert os.stat(os.path.join(d, "video.bin")).st_size == len(big)


def test_cache_cap_holds(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=["cache_size=40K"])
    try:
        d = os.path.join(m.path, PROJECT, "assets")
        names = sorted(os.listdir(d))
        sizes = {n: len(read_file(os.path.join(d, n))) for n in names}
        time.sleep(1)  # eviction runs in the download thread, after publishing
        total = sum(os.stat(f).st_size for f in media_files(m.cache))
        assert total <= 40 * 1024, (total, sizes)
        assert len(media_files(m.cache)) < len(names)
        # evicted objects are fetched again, whole
        pid = project_id(hub, PROJECT)
        want = {a["externalId"]: fetch(a["data"]) for a in hub_assets(hub, pid)}
        assert read_file(os.path.join(d, names[0])) == want[names[0]]
    finally:
        m.stop()
        hub.stop()


def test_two_daemons_share_one_cache(two_on_one_cache):
    hub, cache, a, b = two_on_one_cache
    pid = project_id(hub, PROJECT)
    want = {x["externalId"]: fetch(x["data"]) for x in hub_assets(hub, pid)}
    hub.reset_stats()
    got, errors = {}, []

    def run(mnt, key):
        try:
            d = os.path.join(mnt.path, PROJECT, "assets")
            got[key] = {n: read_file(os.path.join(d, n)) for n in sorted(want)}
        except Exception as e:  # reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(mnt, i)) for i, mnt in
          enumerate([a, b, a, b])]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    for r in got.values():
        assert r == want  # never a torn or mixed file
    assert counts(hub).get("GET /storage") == 8  # each object downloaded once
    assert len(media_files(cache)) == 8


def test_stale_kernel_size_then_parallel_readers(two_on_one_cache):
    """stat shows 1 byte before an object is fetched, and the kernel keeps
    that size: once the object is complete in the cache (here fetched by a
    second daemon sharing it), an open must still drop the old size, or the
    readers get 1 byte. Several processes read at once (one alone, the rest
    sharing the file)."""
    hub, _, a, b = two_on_one_cache
    pid = project_id(hub, PROJECT)
    want = {x["externalId"]: hashlib.sha256(fetch(x["data"])).hexdigest()
            for x in hub_assets(hub, pid)}
    da = os.path.join(a.path, PROJECT, "assets")
    db = os.path.join(b.path, PROJECT, "assets")
    names = sorted(os.listdir(da))
    assert sorted(want) == names
    for n in names:  # the kernel of mount a now holds 1 byte for each
        assert os.stat(os.path.join(da, n)).st_size == 1
    for n in names:  # complete in the shared cache, fetched by b
        assert hashlib.sha256(read_file(os.path.join(db, n))).hexdigest() == want[n]
    jobs = [(da, names[i:] + names[:i]) for i in range(4)]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_reader, jobs)
    for r in results:
        assert r == want
    for n in names:  # and stat is true afterwards
        with open(os.path.join(da, n), "rb") as f:
            assert os.fstat(f.fileno()).st_size == len(f.read())


def _strace_counts(pid, fn, calls):
    """{syscall: count} of the daemon (all threads) while fn runs."""
    import subprocess
    import tempfile
    fd, out = tempfile.mkstemp(prefix="angofs-strace-")
    os.close(fd)
    try:
        s = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-e",
                              "trace=" + ",".join(calls), "-p", str(pid)],
                             stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.5)  # attached to every thread
            fn()
            time.sleep(0.3)
        finally:
            s.send_signal(2)
            err = s.communicate(timeout=30)[1]
        text = open(out).read()
    finally:
        os.unlink(out)
    if "attached" not in err:
        pytest.skip("strace could not attach to the daemon: %r" % err[:200])
    got = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1] in calls and f[3].isdigit():
            got[f[-1]] = int(f[3])
    return got


@pytest.mark.skipif(not any(os.access(os.path.join(p, "strace"), os.X_OK)
                            for p in os.environ.get("PATH", "").split(":")),
                    reason="needs strace")
def test_warm_open_of_a_cached_asset_opens_nothing(env):
    """A warm open of a cached asset costs the daemon no open, dup, close or
    LRU stamp of cache files: the object stays open once unused (a read
    lock and two stats check it is still the published file)."""
    hub, m = env
    d = os.path.join(m.path, PROJECT, "assets")
    paths = [os.path.join(d, n) for n in sorted(os.listdir(d))]
    want = {p: read_file(p) for p in paths}  # cached now
    published(m, len(paths))

    def passes():
        for _ in range(3):
            for p in paths:
                assert read_file(p) == want[p]
    calls = ["openat", "dup", "close", "utimensat"]
    got = _strace_counts(m.proc.pid, passes, calls)
    opens = 3 * len(paths)
    # before: 4 openat, 5 close, 1 dup, 1 utimensat per open
    assert sum(got.values()) < opens, got


def test_an_asset_kept_open_is_replaced_by_another_daemons_generation(workdir):
    """Daemon a keeps a cached object open between reads; daemon b, whose
    TTL ran out, fetches the object again after it changed on the storage:
    a's next open reads b's generation, whole, without a download."""
    hub = Hub(workdir)
    cache = os.path.join(workdir, "shared-cache")
    a = Mount(hub, workdir, name="mnt-a", cache=cache)
    b = Mount(hub, workdir, name="mnt-b", cache=cache, opts=["export_ttl=1"])
    try:
        pid = project_id(hub, PROJECT)
        one, two = os.urandom(70000), os.urandom(90000)
        url = upload_object(hub, pid, "swap.bin", one)
        fa = os.path.join(a.path, PROJECT, "assets", "swap.bin")
        fb = os.path.join(b.path, PROJECT, "assets", "swap.bin")
        assert read_file(fa) == one
        assert read_file(fa) == one  # kept open by a now
        st, body = hub.api("GET", "/getUploadUrl",
                           query={"name": "swap.bin", "project": pid, "type": "assets"})
        up = body["data"]["uploadUrl"]
        assert up.split("?")[0] == url  # the same object, new bytes
        req = urllib.request.Request(up, data=two, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status in (200, 201)
        time.sleep(1.2)
        metas = {p: os.stat(p).st_ino for p in glob.glob(os.path.join(cache, "media", "*.meta"))}
        hub.reset_stats()
        assert read_file(fb) == two  # b's TTL ran out: fetched again
        n = counts(hub).get("GET /storage")
        assert n  # (twice when the storage wants it signed)
        # b's generation is published once H.meta names it: a reader may get
        # the last byte just before (T6 promises the next open after that)
        wait_for(lambda: any(os.stat(p).st_ino != i for p, i in metas.items()), 30,
                 "b's generation published")
        assert read_file(fa) == two
        with open(fa, "rb") as f:
            assert os.fstat(f.fileno()).st_size == len(two)
        assert counts(hub).get("GET /storage") == n
    finally:
        a.stop()
        b.stop()
        hub.stop()


NEEDS_STRACE = pytest.mark.skipif(
    not any(os.access(os.path.join(p, "strace"), os.X_OK)
            for p in os.environ.get("PATH", "").split(":")), reason="needs strace")


def warm_passes(m, paths):
    """Read every path (cold), wait until the downloads are published, read
    each once more (its first open of complete content), then count the
    daemon's data-moving system calls over 3 more passes with stat."""
    want = {p: read_file(p) for p in paths}
    published(m, len(paths))
    for p in paths:
        assert read_file(p) == want[p]

    def passes():
        for _ in range(3):
            for p in paths:
                assert read_file(p) == want[p]
                assert os.stat(p).st_size == len(want[p])
    return _strace_counts(m.proc.pid, passes, ["splice", "pread64", "vmsplice"])


@NEEDS_STRACE
def test_warm_open_of_a_cached_asset_keeps_the_kernel_pages(env):
    """A warm open of unchanged cached content keeps the kernel's pages and
    attributes: its bytes do not cross /dev/fuse again (no READ reaches the
    daemon, which would splice or pread them from the cache file)."""
    hub, m = env
    d = os.path.join(m.path, PROJECT, "assets")
    got = warm_passes(m, [os.path.join(d, n) for n in sorted(os.listdir(d))])
    assert sum(got.values()) == 0, got


@NEEDS_STRACE
def test_warm_open_of_a_dataset_image_keeps_the_kernel_pages(env):
    """The same for the images of a dataset view (datasets/imagefolder/, what
    a DataLoader reads every epoch): a warm open of unchanged content keeps
    the kernel's pages. Before: every open of a view image dropped them, so
    each epoch read every byte through the daemon again."""
    hub, m = env
    root = os.path.join(m.path, PROJECT, "datasets", "imagefolder")
    paths = sorted(p for p in glob.glob(os.path.join(root, "*", "*")) if os.path.isfile(p))
    assert len(paths) >= 3, paths
    got = warm_passes(m, paths)
    # a READ is answered by splicing from the cache file (splice + vmsplice
    # per reply: the mount has FUSE_CAP_SPLICE_WRITE); preads here are the
    # view's own, not bytes: the image's record at each open, and more now
    # and then (20 for 18 opens once), so they are not counted
    assert got.get("splice", 0) + got.get("vmsplice", 0) == 0, got


def test_copyfile_of_never_read_assets_is_whole(workdir):
    """shutil.copyfile (sendfile), shutil.copytree and cp of assets nobody
    read yet give whole copies. sendfile splices through the kernel's page
    cache, which stops at the kernel's size of the file: before the first
    read that is the 1-byte placeholder, and the kernel asks again only once
    the open dropped it. Before: the open of an object still downloading
    dropped it after replying, so copyfile's fstat raced the drop and 1 to 6
    of 40 copies were 1 byte long (this test: 1 to 9 of 100)."""
    import shutil
    import subprocess
    hub = Hub(workdir, seeds=("synthetic:100",))
    m = None
    try:
        st, body = hub.api("GET", "/listProjects", query={"limit": "100"})
        pid, pname = next((p["_id"], p["name"]) for p in body["data"]["projects"]
                          if p["name"].startswith("synthetic"))
        want = {a["externalId"]: fetch(a["data"]) for a in hub_assets(hub, pid)}
        assert len(want) == 100
        m = Mount(hub, workdir, name="m")
        d = os.path.join(m.path, pname, "assets")
        names = sorted(os.listdir(d))
        assert names == sorted(want)
        assert {os.stat(os.path.join(d, n)).st_size for n in names} == {1}  # placeholders
        out = os.path.join(workdir, "copies")
        os.mkdir(out)
        short = []
        for n in names[:80]:  # one at a time: each open finds its object cold
            shutil.copyfile(os.path.join(d, n), os.path.join(out, n))
        for n in names[80:90]:
            subprocess.run(["cp", os.path.join(d, n), out], check=True, timeout=60)
        shutil.copytree(d, os.path.join(workdir, "tree"),
                        ignore=lambda _, ns: [x for x in ns if x in names[:90]])
        for n in names:
            got = read_file(os.path.join(out if n in names[:90] else
                                         os.path.join(workdir, "tree"), n))
            if got != want[n]:
                short.append((n, len(got), len(want[n])))
        assert not short, short
    finally:
        if m:
            m.stop()
        hub.stop()
