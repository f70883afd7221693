"""Write side: adding assets with cp (issue 13, item 3).

A media file copied into <project>/assets/ is uploaded like the SDK's
upload_files (GET /getUploadUrl type assets, PUT to the storage, POST
/project/{id}/cloud with the stored URL and the file name as externalId); a
.json/.ndjson list of {data, externalId, ...} items is sent like
upload_files_cloud. Every test proves what reached the hub with its request
counters and the hub's own asset list, and that no retry, fault or crash
leaves a second task. The project is the demo's Empty Project (no assets), so
every asset in it was made by the test."""
import errno
import io
import json
import os
import threading
import time

import pytest
from PIL import Image

from conftest import Mount
from harness import sanitized
from hubutil import all_tasks, project_by_name
from test_write_common import WENV, WOPTS, count, project_dir, read, status_state, wait_for, \
    write_file

CLOUD = "POST /v2/project/{id}/cloud"
UPURL = "GET /v2/getUploadUrl"
PUT = "PUT /storage"
ASSETS = "GET /v2/project/{id}/assets"


def jpeg_bytes(w=64, h=48, color=(200, 30, 30)):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "JPEG")
    return buf.getvalue()


def png_bytes(w=32, h=24):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 10)).save(buf, "PNG")
    return buf.getvalue()


def fetch(url):
    """GET url with no apikey header: (status, bytes)."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def status_file(path):
    """The status file of a file written in assets/ (at any depth):
    assets/.status/<its path under assets/>, out of a glob of images' way."""
    i = path.rindex("/assets/") + len("/assets/")
    return path[:i] + ".status/" + path[i:]


def hub_assets(hub, pid, ext=None):
    q = {"page": 1, "limit": 100}
    if ext:
        q["filters"] = json.dumps({"externalId": ext})
    st, body = hub.api("GET", "/project/%s/assets" % pid, query=q)
    assert st == 200, body
    return body["data"]["assets"]


def mount_on(hub, workdir, project):
    """A write mount and one of the demo's projects in it: (hub, mount,
    project id, project directory); the mount is stopped after the test."""
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    pid = project_by_name(hub, project)
    yield hub, m, pid, project_dir(m, pid)
    m.stop()


@pytest.fixture
def empty(hub, workdir):
    yield from mount_on(hub, workdir, "Empty Project")


def cp(src_bytes, dst, tmpdir):
    """cp(1) of a local file: its exit status and stderr."""
    import subprocess
    src = os.path.join(tmpdir, os.path.basename(dst))
    with open(src, "wb") as f:
        f.write(src_bytes)
    p = subprocess.run(["cp", src, dst], capture_output=True, text=True)
    return p.returncode, p.stderr


def test_cp_jpeg_creates_one_task_seen_in_tasks_and_export(empty, tmp_path):
    hub, m, pid, pdir = empty
    jpg = jpeg_bytes()
    assert os.path.isdir(os.path.join(pdir, "assets"))
    assert os.listdir(os.path.join(pdir, "tasks")) == []
    hub.reset_stats()
    rc, err = cp(jpg, os.path.join(pdir, "assets", "photo.jpg"), str(tmp_path))
    assert rc == 0, err
    st = read(os.path.join(pdir, "assets", ".status", "photo.jpg"))
    assert st.startswith("sent: asset created: externalId photo.jpg, 1 task"), st
    assert count(hub, UPURL) == 1 and count(hub, PUT) == 1 and count(hub, CLOUD) == 1
    assets = hub_assets(hub, pid)
    assert [a["externalId"] for a in assets] == ["photo.jpg"]
    # the stored object is the file, byte for byte (read with the signed URL)
    url = assets[0]["data"]
    path = url[url.index("/storage/"):]
    code, _, body = hub.raw("GET", path)
    assert code == 200 and body == jpg
    # the new task shows in tasks/ and in the export (the caches were marked stale)
    tasks = all_tasks(hub, pid)
    assert len(tasks) == 1
    wait_for(lambda: os.listdir(os.path.join(pdir, "tasks")) == [tasks[0]["_id"]], 30,
             "the new task in tasks/")
    export = json.loads(read(os.path.join(pdir, "export", "tasks.json")))
    assert [r["externalId"] for r in export] == ["photo.jpg"]
    # the export's link works with no key, as the Hub UI's would: sent with
    # uploadLocal "true" (the SDK's upload_files), the object is the hub's own
    # (without it the strict hub keeps an external reference nobody can
    # read: issue 22)
    assert fetch(export[0]["asset"]) == (200, jpg)
    # and in assets/ (the read side): the same bytes, PIL opens it
    wait_for(lambda: "photo.jpg" in os.listdir(os.path.join(pdir, "assets")), 30,
             "photo.jpg in assets/")
    with open(os.path.join(pdir, "assets", "photo.jpg"), "rb") as f:
        assert f.read() == jpg
    assert Image.open(os.path.join(pdir, "assets", "photo.jpg")).size == (64, 48)
    # a second cp of the same name is a second asset (the SDK does the same)
    rc, err = cp(png_bytes(), os.path.join(pdir, "assets", "photo.jpg"), str(tmp_path))
    assert rc == 0, err
    assert len(hub_assets(hub, pid, "photo.jpg")) == 2
    assert count(hub, CLOUD) == 2 and count(hub, PUT) == 2
    names = os.listdir(os.path.join(pdir, "assets"))
    assert names.count("photo.jpg") == 1 and len([n for n in names if n.startswith("photo")
                                                 and not n.endswith(".status")]) == 2, names


def test_json_list_creates_n_tasks_in_one_request(empty):
    hub, m, pid, pdir = empty
    items = [{"data": "https://example.com/media/img_%d.jpg" % i, "externalId": "img_%d.jpg" % i,
              "metadata": {"width": 640, "height": 480}} for i in range(5)]
    hub.reset_stats()
    assert write_file(os.path.join(pdir, "assets", "list.json"), json.dumps(items)) is None
    assert read(os.path.join(pdir, "assets", ".status", "list.json")).startswith(
        "sent: 5 assets and 5 tasks created\n")
    assert count(hub, CLOUD) == 1 and count(hub, PUT) == 0 and count(hub, UPURL) == 0
    assert sorted(a["externalId"] for a in hub_assets(hub, pid)) == \
        ["img_%d.jpg" % i for i in range(5)]
    assert len(all_tasks(hub, pid)) == 5
    # NDJSON too
    nd = "\n".join(json.dumps({"data": "https://example.com/v%d.mp4" % i,
                               "externalId": "v%d.mp4" % i}) for i in range(3))
    assert write_file(os.path.join(pdir, "assets", "more.ndjson"), nd) is None
    assert count(hub, CLOUD) == 2 and len(all_tasks(hub, pid)) == 8


def test_bad_list_refused_naming_the_item_nothing_sent(empty):
    hub, m, pid, pdir = empty
    items = [{"data": "https://example.com/a.jpg", "externalId": "a.jpg"},
             {"externalId": "b.jpg"},
             {"data": "ftp://example.com/c.jpg", "externalId": "c.jpg"},
             {"data": "https://example.com/d.jpg", "externalID": "d.jpg"}]
    dst = os.path.join(pdir, "assets", "bad.json")
    hub.reset_stats()
    e = write_file(dst, json.dumps(items, indent=1))
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    st = read(status_file(dst))
    assert st.startswith("failed: "), st
    assert "(item 2): \"data\" is missing" in st
    assert "(item 3): \"data\" must be the asset's URL" in st
    assert "(item 4): unknown key \"externalID\"" in st
    assert "nothing was lost" in st or "problems:" in st
    assert count(hub, CLOUD) == 0 and hub_assets(hub, pid) == []
    # the file stays, fixable; an empty list is refused too
    assert read(dst) == json.dumps(items, indent=1)
    e = write_file(os.path.join(pdir, "assets", "none.json"), "[]")
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    assert count(hub, CLOUD) == 0


def test_put_failures_are_retried_and_create_one_task(empty, tmp_path):
    hub, m, pid, pdir = empty
    hub.reset_stats()
    hub.fault(route=PUT, status=503, count=2)
    jpg = jpeg_bytes(color=(1, 2, 3))
    rc, err = cp(jpg, os.path.join(pdir, "assets", "retry.jpg"), str(tmp_path))
    assert rc == 0, err
    assert count(hub, PUT) == 3 and count(hub, CLOUD) == 1
    assets = hub_assets(hub, pid, "retry.jpg")
    assert len(assets) == 1
    # each attempt sent the file from its first byte: the stored object is whole
    url = assets[0]["data"]
    code, _, body = hub.raw("GET", url[url.index("/storage/"):])
    assert code == 200 and body == jpg


def test_cloud_reply_lost_after_apply_no_duplicate(empty, tmp_path):
    """The hub creates the asset and the reply is lost (500 after the commit):
    close fails, the file stays pending, and the next attempt finds the asset
    (its unique stored URL) instead of creating a second one."""
    hub, m, pid, pdir = empty
    hub.reset_stats()
    hub.fault(route=CLOUD, status=500, apply=True, count=1)
    dst = os.path.join(pdir, "assets", "lost.jpg")
    rc, err = cp(jpeg_bytes(), dst, str(tmp_path))
    assert rc != 0 and "Input/output error" in err, err
    assert status_state(status_file(dst)) == "pending"
    assert "the next attempt checks before sending again" in read(status_file(dst))
    wait_for(lambda: status_state(status_file(dst)) == "sent", 60, "background delivery")
    assert "by an earlier request whose reply was lost" in read(status_file(dst))
    assert len(hub_assets(hub, pid, "lost.jpg")) == 1
    assert len(all_tasks(hub, pid)) == 1
    assert count(hub, CLOUD) == 1 and count(hub, PUT) == 1 and count(hub, ASSETS) >= 1


def test_cloud_failure_before_apply_is_sent_again_once(empty, tmp_path):
    hub, m, pid, pdir = empty
    hub.reset_stats()
    hub.fault(route=CLOUD, status=502, count=1)  # refused, nothing created
    dst = os.path.join(pdir, "assets", "again.jpg")
    rc, err = cp(jpeg_bytes(), dst, str(tmp_path))
    assert rc != 0, err
    wait_for(lambda: status_state(status_file(dst)) == "sent", 60, "background delivery")
    assert len(hub_assets(hub, pid, "again.jpg")) == 1
    # one upload, the check found nothing, one more POST
    assert count(hub, PUT) == 1 and count(hub, CLOUD) == 2


def test_kill9_during_cloud_then_restart_one_task(hub, workdir, tmp_path):
    pid = project_by_name(hub, "Empty Project")
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        pdir = project_dir(m, pid)
        dst = os.path.join(pdir, "assets", "crash.jpg")
        hub.reset_stats()
        hub.fault(route=CLOUD, latency_ms=3000, count=1)
        t = threading.Thread(target=cp, args=(jpeg_bytes(), dst, str(tmp_path)), daemon=True)
        t.start()
        wait_for(lambda: count(hub, CLOUD) == 1, 60, "the /cloud request")
        m.kill9()  # the hub still applies the request it received
        t.join(30)
        wait_for(lambda: len(hub_assets(hub, pid, "crash.jpg")) == 1, 30, "the hub's commit")
        m.start()
        pdir = project_dir(m, pid)
        dst = os.path.join(pdir, "assets", "crash.jpg")
        wait_for(lambda: status_state(status_file(dst)) == "sent", 90, "delivery after restart")
        assert len(hub_assets(hub, pid, "crash.jpg")) == 1
        assert count(hub, CLOUD) == 1 and count(hub, PUT) == 1
    finally:
        m.stop()


def test_scratch_names_and_empty_file(empty, tmp_path):
    hub, m, pid, pdir = empty
    hub.reset_stats()
    assert write_file(os.path.join(pdir, "assets", ".hidden.jpg"), jpeg_bytes()) is None
    e = write_file(os.path.join(pdir, "assets", "empty.jpg"), b"")
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    assert count(hub, PUT) == 0 and count(hub, CLOUD) == 0
    names = os.listdir(os.path.join(pdir, "assets"))
    assert ".hidden.jpg" in names and "empty.jpg" in names


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_file_is_streamed_not_held_in_memory(empty, tmp_path):
    """A 40 MiB video goes from the spool to the storage through a read
    callback: the daemon's peak memory grows by far less than the file."""
    import hashlib
    hub, m, pid, pdir = empty
    data = os.urandom(40 << 20)
    before = peak_rss_kb(m.proc.pid)
    hub.reset_stats()
    rc, err = cp(data, os.path.join(pdir, "assets", "clip.mp4"), str(tmp_path))
    assert rc == 0, err
    grew = peak_rss_kb(m.proc.pid) - before
    print("peak RSS growth: %d KiB" % grew)
    # under ASan the quarantine holds freed buffers: the bound is the plain build's
    assert sanitized(m.proc.pid) or grew < 12 * 1024, "peak RSS grew by %d KiB for a 40 MiB upload" % grew
    assert count(hub, PUT) == 1 and count(hub, CLOUD) == 1
    url = hub_assets(hub, pid, "clip.mp4")[0]["data"]
    code, _, body = hub.raw("GET", url[url.index("/storage/"):])
    assert code == 200 and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()


def test_list_reply_lost_is_uncertain_never_resent(empty):
    """A list names URLs the user chose, so a lost reply cannot be checked:
    the file is uncertain, names its items, and is not sent again."""
    hub, m, pid, pdir = empty
    items = [{"data": "https://example.com/u%d.jpg" % i, "externalId": "u%d.jpg" % i}
             for i in range(3)]
    dst = os.path.join(pdir, "assets", "u.json")
    hub.reset_stats()
    hub.fault(route=CLOUD, status=500, apply=True, count=1)
    e = write_file(dst, json.dumps(items))
    assert isinstance(e, OSError) and e.errno == errno.EIO
    st = read(status_file(dst))
    assert st.startswith("uncertain: the hub may have applied this write"), st
    assert "u0.jpg, u1.jpg, u2.jpg" in st
    time.sleep(5)  # the background sender leaves it alone
    assert count(hub, CLOUD) == 1 and len(hub_assets(hub, pid)) == 3
    assert status_state(status_file(dst)) == "uncertain"


def test_kill9_during_list_request_is_uncertain_after_restart(hub, workdir):
    pid = project_by_name(hub, "Empty Project")
    items = [{"data": "https://example.com/k%d.jpg" % i, "externalId": "k%d.jpg" % i}
             for i in range(2)]
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        dst = os.path.join(project_dir(m, pid), "assets", "k.json")
        hub.reset_stats()
        hub.fault(route=CLOUD, latency_ms=3000, count=1)
        t = threading.Thread(target=write_file, args=(dst, json.dumps(items)), daemon=True)
        t.start()
        wait_for(lambda: count(hub, CLOUD) == 1, 60, "the /cloud request")
        m.kill9()
        t.join(30)
        wait_for(lambda: len(hub_assets(hub, pid)) == 2, 30, "the hub's commit")
        m.start()
        dst = os.path.join(project_dir(m, pid), "assets", "k.json")
        wait_for(lambda: status_state(status_file(dst)) == "uncertain", 60, "uncertain")
        assert "the daemon stopped while this request was being sent" in read(status_file(dst))
        time.sleep(4)
        assert count(hub, CLOUD) == 1 and len(hub_assets(hub, pid)) == 2
    finally:
        m.stop()


def test_rsync_and_cp_of_several_files(empty, tmp_path):
    """rsync writes a .name.XXXXXX temp file and renames it: one upload per
    file, at the rename; cp of three files makes three assets."""
    import subprocess
    hub, m, pid, pdir = empty
    srcs = []
    for i in range(3):
        p = os.path.join(str(tmp_path), "s%d.jpg" % i)
        with open(p, "wb") as f:
            f.write(jpeg_bytes(color=(i, 50, 50)))
        srcs.append(p)
    hub.reset_stats()
    r = subprocess.run(["rsync", srcs[0], os.path.join(pdir, "assets") + "/"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["cp"] + srcs[1:] + [os.path.join(pdir, "assets") + "/"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(a["externalId"] for a in hub_assets(hub, pid)) == ["s0.jpg", "s1.jpg", "s2.jpg"]
    assert count(hub, CLOUD) == 3 and count(hub, PUT) == 3
    assert status_state(os.path.join(pdir, "assets", ".status", "s0.jpg")) == "sent"


def test_unicode_and_spaces_in_the_name(empty):
    """The externalId is the file name as written; the storage name is the
    name with bytes other than [A-Za-z0-9._-] replaced (the hub's rule)."""
    hub, m, pid, pdir = empty
    name = "фото 1 (copy).jpg"
    assert write_file(os.path.join(pdir, "assets", name), jpeg_bytes()) is None
    assets = hub_assets(hub, pid, name)
    assert len(assets) == 1
    url = assets[0]["data"]
    assert url.split("?")[0].endswith("_________1__copy_.jpg"), url
    wait_for(lambda: name in os.listdir(os.path.join(pdir, "assets")), 30, "listed")


@pytest.fixture
def photos(hub, workdir):
    yield from mount_on(hub, workdir, "Street Photos")


def test_mv_of_a_listed_asset_is_refused_not_missing(photos, tmp_path):
    """mv of an asset the hub has (not a file written here): EPERM, as for rm,
    never 'No such file' for a file ls shows; nothing is sent, nothing lost."""
    hub, m, pid, pdir = photos
    a = os.path.join(pdir, "assets")
    before = open(os.path.join(a, "photo_01.png"), "rb").read()
    hub.reset_stats()
    with pytest.raises(OSError) as ei:
        os.rename(os.path.join(a, "photo_01.png"), os.path.join(a, "renamed.png"))
    assert ei.value.errno == errno.EPERM, ei.value
    assert open(os.path.join(a, "photo_01.png"), "rb").read() == before
    assert "renamed.png" not in os.listdir(a)
    assert count(hub, CLOUD) == 0 and count(hub, PUT) == 0


def test_a_new_upload_does_not_take_an_old_images_name(photos, tmp_path):
    """A second photo_01.png copied in is the younger asset and task: in
    assets/ and in the dataset views the old picture keeps the plain name (ids
    the hub makes sort by creation, like ObjectIds)."""
    hub, m, pid, pdir = photos
    a = os.path.join(pdir, "assets")
    old = open(os.path.join(a, "photo_01.png"), "rb").read()
    rc, err = cp(jpeg_bytes(), os.path.join(a, "photo_01.png"), str(tmp_path))
    assert rc == 0, err
    assert len(hub_assets(hub, pid, "photo_01.png")) == 2
    wait_for(lambda: len([n for n in os.listdir(a) if n.startswith("photo_01")
                          and not n.endswith(".status")]) == 2, 30, "listed")
    assert open(os.path.join(a, "photo_01.png"), "rb").read() == old
    img = os.path.join(pdir, "datasets", "yolo", "images", "photo_01.png")
    assert open(img, "rb").read() == old


def test_rsync_twice_with_ignore_existing_uploads_once(empty, tmp_path):
    """The hub cannot replace an asset, so every upload is a new one and a
    second plain `rsync -a` (mtimes differ) would upload again: the README's
    way to sync a folder, `rsync -a --ignore-existing`, sends each file once."""
    import subprocess
    hub, m, pid, pdir = empty
    src = tmp_path / "src"
    src.mkdir()
    for i in range(2):
        (src / ("r%d.jpg" % i)).write_bytes(jpeg_bytes(color=(i, 90, 90)))
    for _ in range(2):
        r = subprocess.run(["rsync", "-a", "--ignore-existing", str(src) + "/",
                            os.path.join(pdir, "assets") + "/"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert sorted(a["externalId"] for a in hub_assets(hub, pid)) == ["r0.jpg", "r1.jpg"]
    assert count(hub, CLOUD) == 2


def test_cp_of_many_files_costs_o1_requests_each_and_lists_them(workdir, tmp_path):
    """Issue 23: each upload used to drop the cached listing of assets/, so
    cp's stat of the next destination name read every page again
    (ceil(N/100) requests per file). Now the new asset joins the listing:
    getUploadUrl + PUT + POST per file whatever the project's size, plus one
    lookup per asset whose name collides (its id names it); the listing,
    colliding names included, reads exactly as a fetch of every page."""
    import subprocess
    from conftest import Hub
    hub = Hub(workdir, seeds=("synthetic:450",))
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        pid = project_by_name(hub, "synthetic-450")
        a = os.path.join(project_dir(m, pid), "assets")
        before = [x for x in os.listdir(a) if x != ".status"]
        assert len(before) == 450
        src = tmp_path / "src"
        src.mkdir()
        names = ["new_%02d.jpg" % i for i in range(10)]
        names += [before[0], before[1].rsplit(".", 1)[0] + ".png"]  # two collisions
        for i, n in enumerate(names):
            (src / n).write_bytes(jpeg_bytes(color=(i, 20, 20)))
        hub.reset_stats()
        r = subprocess.run("cp %s/* %s/" % (src, a), shell=True, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        stats = hub.stats()
        n = len(names)
        assert count(hub, UPURL) == n and count(hub, PUT) == n and count(hub, CLOUD) == n
        lookups = [e for e in stats["log"] if e["route"] == ASSETS]
        assert len(lookups) == 2, [e["path"] for e in stats["log"]]  # the colliding two
        assert stats["total"] == 3 * n + 2, stats["counts"]
        # a second copy of a new name collides with an asset listed without
        # its id: both are looked up (2 requests), nothing else is read
        hub.reset_stats()
        rc, err = cp(jpeg_bytes(color=(1, 2, 3)), os.path.join(a, "new_00.jpg"), str(tmp_path))
        assert rc == 0, err
        assert count(hub, ASSETS) == 2 and hub.stats()["total"] == 5, hub.stats()["counts"]
        # the listing now has them, with no request, named as a fetch names them
        hub.reset_stats()
        cached = sorted(x for x in os.listdir(a) if not x.endswith(".status"))
        sizes = {x: os.stat(os.path.join(a, x)).st_size for x in cached if x.startswith("new")}
        assert hub.stats()["total"] == 0
        assert len(cached) == 450 + n + 1
        for x in names[:10]:
            assert x in cached
        with open(os.path.join(a, "new_03.jpg"), "rb") as f:  # listed without its id
            assert f.read() == jpeg_bytes(color=(3, 20, 20))
        os.utime(a)  # touch: the next listing reads every page
        fetched = sorted(x for x in os.listdir(a) if not x.endswith(".status"))
        assert count(hub, ASSETS) == 5
        assert cached == fetched
        assert sorted(sizes) == sorted(x for x in fetched if x.startswith("new"))
        # the colliding copies got ~<asset id>; the old pictures kept their names
        assert before[0] in fetched and before[1] in fetched and "new_00.jpg" in fetched
        assert len([x for x in fetched if "~" in x]) == 3
        with open(os.path.join(a, "new_00.jpg"), "rb") as f:  # the first copy
            assert f.read() == jpeg_bytes(color=(0, 20, 20))
    finally:
        m.stop()
        hub.stop()


def test_status_files_are_out_of_a_glob_of_images(empty, tmp_path):
    """Issue 23: assets/ filled with <name>.status files that glob("assets/*")
    handed to a loader. Status files of assets/ now live in assets/.status/
    (a hidden directory: glob and ls leave it out), named as the file."""
    import glob
    hub, m, pid, pdir = empty
    a = os.path.join(pdir, "assets")
    assert os.listdir(a) == []  # nothing copied in: no .status listed either
    rc, err = cp(jpeg_bytes(), os.path.join(a, "photo.jpg"), str(tmp_path))
    assert rc == 0, err
    assert read(os.path.join(a, ".status", "photo.jpg")).startswith("sent: asset created")
    assert not os.path.exists(os.path.join(a, "photo.jpg.status"))
    wait_for(lambda: "photo.jpg" in os.listdir(a), 30, "listed")
    assert [os.path.basename(x) for x in glob.glob(os.path.join(a, "*"))] == ["photo.jpg"]
    assert sorted(os.listdir(a)) == [".status", "photo.jpg"]
    assert os.listdir(os.path.join(a, ".status")) == ["photo.jpg"]
    # a refused list: the file stays in assets/, its reason in .status/
    e = write_file(os.path.join(a, "bad.json"), '[{"externalId": "x"}]')
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    assert "\"data\" is missing" in read(os.path.join(a, ".status", "bad.json"))
    assert sorted(os.listdir(os.path.join(a, ".status"))) == ["bad.json", "photo.jpg"]
    assert "bad.json" in os.listdir(a)
    with pytest.raises(OSError) as ei:  # status files are read-only
        open(os.path.join(a, ".status", "photo.jpg"), "w")
    assert ei.value.errno in (errno.EACCES, errno.EPERM)
    os.unlink(os.path.join(a, "bad.json"))  # discarded, its status with it
    assert os.listdir(os.path.join(a, ".status")) == ["photo.jpg"]
    os.unlink(os.path.join(a, ".status", "photo.jpg"))  # a sent file's status: rm drops it
    assert os.listdir(os.path.join(a, ".status")) == []


def test_cp_r_of_a_class_folder_flattens_into_externalids(empty, tmp_path):
    """Issue 23: `cp -r` of a class-structured folder failed on its first
    subfolder (mkdir: EPERM). Subfolders are accepted and flattened: a file
    at assets/<dir>/<sub>/<name> becomes the asset whose externalId is that
    path ("train/cat/1.jpg"), listed as train_cat_1.jpg; same-named files of
    two classes stay apart. Statuses mirror the tree under assets/.status/."""
    import subprocess
    hub, m, pid, pdir = empty
    a = os.path.join(pdir, "assets")
    src = tmp_path / "train"
    for cls, names in (("cat", ["1.jpg", "2.png"]), ("dog", ["1.jpg"])):
        (src / cls).mkdir(parents=True)
        for i, n in enumerate(names):
            data = png_bytes() if n.endswith(".png") else jpeg_bytes(color=(i, 9, 99))
            (src / cls / n).write_bytes(data)
    r = subprocess.run(["cp", "-r", str(src), a + "/"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(x["externalId"] for x in hub_assets(hub, pid)) == [
        "train/cat/1.jpg", "train/cat/2.png", "train/dog/1.jpg"]
    wait_for(lambda: {"train_cat_1.jpg", "train_cat_2.png", "train_dog_1.jpg"} <=
             set(os.listdir(a)), 30, "listed, flattened")
    with open(os.path.join(a, "train_dog_1.jpg"), "rb") as f:
        assert f.read() == (src / "dog" / "1.jpg").read_bytes()
    assert status_state(os.path.join(a, ".status", "train", "cat", "2.png")) == "sent"
    assert sorted(os.listdir(os.path.join(a, ".status", "train"))) == ["cat", "dog"]
    # the folders stay (empty: their files were sent) until rmdir; a sent
    # file is still found under its path (not listed there: it is listed
    # flattened), so rsync --ignore-existing and cp -n send nothing again
    assert sorted(os.listdir(os.path.join(a, "train"))) == ["cat", "dog"]
    assert os.listdir(os.path.join(a, "train", "cat")) == []
    with open(os.path.join(a, "train", "dog", "1.jpg"), "rb") as f:
        assert f.read() == (src / "dog" / "1.jpg").read_bytes()
    for cmd in (["rsync", "-a", "--ignore-existing", str(src), a + "/"],
                ["cp", "-rn", str(src), a + "/"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stderr)
    assert len(hub_assets(hub, pid)) == 3
    # a refused file keeps its folder: rmdir says ENOTEMPTY
    e = write_file(os.path.join(a, "train", "cat", "l.json"), "[]")
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    assert os.listdir(os.path.join(a, "train", "cat")) == ["l.json"]
    with pytest.raises(OSError) as ei:
        os.rmdir(os.path.join(a, "train", "cat"))
    assert ei.value.errno == errno.ENOTEMPTY
    os.unlink(os.path.join(a, "train", "cat", "l.json"))
    r = subprocess.run(["rm", "-r", os.path.join(a, "train")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(a, "train"))
    # mkdir over an asset's name, or outside assets/: refused
    with pytest.raises(OSError) as ei:
        os.mkdir(os.path.join(a, "train_cat_1.jpg"))
    assert ei.value.errno == errno.EEXIST
    with pytest.raises(OSError) as ei:
        os.mkdir(os.path.join(pdir, "labels", "sub"))
    assert ei.value.errno == errno.EPERM
