"""Pinned snapshots (issue 24 item 1): `mkdir <project>/snapshots/NAME` on a
real mount of the real local hub pins the project's current generation, its
export and every view derived from it, in the cache directory. What is
checked: the pin's files are the live ones of that moment, byte for byte;
snapshot.json says what it is and its fingerprints are the files' own (each
recomputed here from the mount, with hashlib); nothing in a snapshot
changes when tasks change on the hub (a second pin does hold the changes);
reading a warm snapshot asks the hub nothing; latest follows the newest
pin; rmdir unpins, while an open file keeps its bytes; bad names are
refused with their own errno; a pin is seen by another daemon sharing the
cache directory at once and survives a restart; pins count in cache_size,
are listed with their size by .status and `angofs --status`, and are never
evicted (a 1-byte cap evicts every export, not the pin)."""
import errno
import json
import os
import subprocess

import pytest

from conftest import ANGOFS_BIN, Hub, Mount
from harness import errno_of, read, wait_for
from reproutil import (PHOTOS, project_by_name, records, set_weather, sha, status,
                       tasks_with_answers, tree)


@pytest.fixture
def env(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    yield hub, m
    m.stop()
    hub.stop()


def labels_digest(labels_dir):
    lines = sorted("%s\t%s" % (n, sha(read(os.path.join(labels_dir, n))))
                   for n in os.listdir(labels_dir))
    return sha("".join(ln + "\n" for ln in lines).encode()), len(lines)


def names_digest(names):
    return sha("".join(n + "\n" for n in sorted(names)).encode()), len(names)


def check_description(p, snap, hub, pid):
    with open(os.path.join(snap, "snapshot.json")) as f:
        d = json.load(f)
    st, body = hub.api("GET", "/project/" + pid)
    assert d["name"] == os.path.basename(snap)
    assert d["project"] == {"id": pid, "name": PHOTOS}
    assert d["hub"]["taskCount"] == body["data"]["project"]["taskCount"]
    recs = records(read(os.path.join(snap, "export", "tasks.ndjson")))
    assert d["counts"]["records"] == len(recs)
    assert d["generation"]["ident"].startswith(d["generation"]["export"] + "-")
    f = d["files"]
    for name in ("tasks.ndjson", "tasks.json", "issues.json"):
        data = read(os.path.join(snap, "export", name))
        assert f["export/" + name] == {"size": len(data), "sha256": sha(data)}, name
    ann = read(os.path.join(snap, "datasets", "coco", "annotations.json"))
    assert f["datasets/coco/annotations.json"] == {"size": len(ann), "sha256": sha(ann)}
    assert d["counts"]["annotations"] == len(json.loads(ann)["annotations"])
    for v in ("yolo", "yolo-detect", "yolo-seg"):
        h, n = labels_digest(os.path.join(snap, "datasets", v, "labels"))
        assert f["datasets/%s/labels" % v] == {"files": n, "sha256": h}, v
        h, n = names_digest(os.listdir(os.path.join(snap, "datasets", v, "images")))
        assert f["datasets/%s/images" % v] == {"files": n, "names_sha256": h}, v
    imf = os.path.join(snap, "datasets", "imagefolder")
    names = [c + "/" + n for c in os.listdir(imf) if os.path.isdir(os.path.join(imf, c))
             for n in os.listdir(os.path.join(imf, c))]
    assert f["datasets/imagefolder"] == dict(zip(("names_sha256", "files"), names_digest(names)))
    return d


def test_a_pin_holds_the_generation_and_never_changes(env):
    hub, m = env
    pid = project_by_name(hub, PHOTOS)
    p = os.path.join(m.path, PHOTOS)
    snaps = os.path.join(p, "snapshots")
    assert os.listdir(snaps) == [] and not os.path.lexists(os.path.join(snaps, "latest"))
    live = os.path.join(p, "datasets")
    before = {"export": read(os.path.join(p, "export", "tasks.ndjson")),
              "coco": read(os.path.join(live, "coco", "annotations.json")),
              "imagefolder": tree(os.path.join(live, "imagefolder"))}
    os.mkdir(os.path.join(snaps, "v1"))
    v1 = os.path.join(snaps, "v1")
    assert sorted(os.listdir(snaps)) == ["latest", "v1"]
    # the kernel's negative entry of latest (the lexists above) is dropped
    # by the side thread: at once, or at worst after negative_timeout (1 s)
    wait_for(lambda: os.path.lexists(os.path.join(snaps, "latest")), timeout=3,
             what="latest after the first pin")
    assert os.readlink(os.path.join(snaps, "latest")) == "v1"
    assert os.path.samefile(os.path.join(snaps, "latest"), v1)
    assert sorted(os.listdir(v1)) == ["datasets", "export", "snapshot.json"]
    for sub in ("stage", "batch"):
        assert sorted(os.listdir(os.path.join(v1, "datasets", sub))) == \
            sorted(os.listdir(os.path.join(live, sub)))
    # stage and batch views: the pinned export's records of each, in every format
    for sub in ("stage", "batch"):
        for s in os.listdir(os.path.join(live, sub)):
            for v in ("imagefolder", "coco", "yolo", "voc", "masks"):
                a = tree(os.path.join(v1, "datasets", sub, s, v))
                b = tree(os.path.join(live, sub, s, v))
                for t in (a, b):
                    t.pop("data.yaml", None)  # its path is the view's own
                assert a == b, (sub, s, v)
    # the pin is what the live tree showed
    assert read(os.path.join(v1, "export", "tasks.ndjson")) == before["export"]
    assert json.loads(read(os.path.join(v1, "export", "tasks.json"))) == \
        records(before["export"])
    assert read(os.path.join(v1, "datasets", "coco", "annotations.json")) == before["coco"]
    assert tree(os.path.join(v1, "datasets", "imagefolder")) == before["imagefolder"]
    check_description(p, v1, hub, pid)
    pinned = tree(v1)
    assert len(pinned) > 40, sorted(pinned)

    # tasks change on the hub: three move to another class, one loses its marks
    tasks = tasks_with_answers(hub, pid)
    for t in tasks[:3]:
        set_weather(hub, t["_id"], "Snow")
    os.utime(os.path.join(p, "export"))  # the live views refresh
    assert read(os.path.join(p, "export", "tasks.ndjson")) != before["export"]
    assert tree(os.path.join(live, "imagefolder")) != before["imagefolder"]
    hub.reset_stats()
    assert tree(v1) == pinned  # not one byte of the snapshot changed
    assert hub.stats()["total"] == 0, hub.stats()["counts"]  # and it asked nothing

    os.mkdir(os.path.join(snaps, "v2"))
    v2 = os.path.join(snaps, "v2")
    assert os.readlink(os.path.join(snaps, "latest")) == "v2"
    assert read(os.path.join(v2, "export", "tasks.ndjson")) == \
        read(os.path.join(p, "export", "tasks.ndjson"))
    snow = os.listdir(os.path.join(v2, "datasets", "imagefolder", "Snow"))
    assert all(os.path.basename(t["externalId"]) in snow for t in tasks[:3])
    assert tree(v1) == pinned
    check_description(p, v2, hub, pid)

    # rmdir unpins; a file open meanwhile keeps its bytes; latest goes back
    fd = os.open(os.path.join(v2, "export", "tasks.ndjson"), os.O_RDONLY)
    want = read(os.path.join(v2, "export", "tasks.ndjson"))
    os.rmdir(v2)
    got = b""
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        got += b
    os.close(fd)
    assert got == want
    assert not os.path.exists(v2) and sorted(os.listdir(snaps)) == ["latest", "v1"]
    assert os.readlink(os.path.join(snaps, "latest")) == "v1"
    os.rmdir(v1)
    assert os.listdir(snaps) == []


def test_bad_names_and_refused_writes(env):
    hub, m = env
    snaps = os.path.join(m.path, PHOTOS, "snapshots")
    os.mkdir(os.path.join(snaps, "ok"))
    cases = {".hidden": errno.EINVAL, "a..b": errno.EINVAL, "live": errno.EINVAL,
             "x" * 101: errno.ENAMETOOLONG, "x" * 300: errno.ENAMETOOLONG,
             "ok": errno.EEXIST, "latest": errno.EEXIST, "tab\tname": errno.EINVAL,
             "..": errno.EEXIST}
    for name, want in cases.items():
        assert errno_of(lambda: os.mkdir(os.path.join(snaps, name))) == want, name
    assert sorted(os.listdir(snaps)) == ["latest", "ok"]
    ok = os.path.join(snaps, "ok")
    assert errno_of(lambda: os.mkdir(os.path.join(ok, "sub"))) == errno.EPERM
    assert errno_of(lambda: os.mkdir(os.path.join(m.path, PHOTOS, "export", "x"))) == \
        errno.EPERM
    assert errno_of(lambda: open(os.path.join(ok, "export", "tasks.json"), "w")) == \
        errno.EACCES
    assert errno_of(lambda: os.unlink(os.path.join(ok, "snapshot.json"))) == errno.EPERM
    assert errno_of(lambda: os.rmdir(os.path.join(ok, "export"))) == errno.EPERM
    assert errno_of(lambda: os.rmdir(os.path.join(snaps, "nope"))) == errno.ENOENT
    assert errno_of(lambda: os.unlink(os.path.join(snaps, "latest"))) == errno.EPERM
    log = m.log_text()
    assert "'..' separates the sides of changes/<A>..<B>" in log
    assert "snapshot name of 101 bytes: at most 100" in log


def test_pins_are_shared_and_survive_a_restart(workdir):
    hub = Hub(workdir)
    a = Mount(hub, workdir, name="a", opts=["rate_limit=0"])
    b = Mount(hub, workdir, name="b", cache=a.cache, opts=["rate_limit=0"])
    try:
        sa = os.path.join(a.path, PHOTOS, "snapshots")
        sb = os.path.join(b.path, PHOTOS, "snapshots")
        os.mkdir(os.path.join(sa, "shared"))
        assert os.listdir(sb) == ["latest", "shared"] or \
            sorted(os.listdir(sb)) == ["latest", "shared"]
        want = tree(os.path.join(sa, "shared"))
        hub.reset_stats()
        assert {k: v for k, v in tree(os.path.join(sb, "shared")).items()
                if not k.endswith("data.yaml")} == \
            {k: v for k, v in want.items() if not k.endswith("data.yaml")}
        counts = hub.stats()["counts"]  # b builds its views from the pin: no export
        assert not any("export" in k for k in counts), counts
        assert errno_of(lambda: os.mkdir(os.path.join(sb, "shared"))) == errno.EEXIST
        a.stop()
        a.start()
        assert tree(os.path.join(sa, "shared")) == want
        os.rmdir(os.path.join(sb, "shared"))
        assert wait_for(lambda: not os.path.exists(os.path.join(sa, "shared")), timeout=15,
                        what="the unpin seen by the other daemon")
    finally:
        b.stop()
        a.stop()
        hub.stop()


def test_pins_count_in_cache_size_and_are_never_evicted(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=["rate_limit=0", "cache_size=1"])  # evicts every export
    try:
        p = os.path.join(m.path, PHOTOS)
        os.mkdir(os.path.join(p, "snapshots", "keep"))
        v = os.path.join(p, "snapshots", "keep")
        want = tree(v)
        read(os.path.join(p, "export", "tasks.json"))  # more exports, evicted at close
        read(os.path.join(p, "export", "tasks.ndjson"))
        cache = os.path.join(m.cache, "exports")
        assert wait_for(lambda: not [f for f in os.listdir(cache) if f.endswith(".data")],
                        timeout=20, what="the exports evicted (cap of 1 byte)")
        assert tree(v) == want
        s = status(m)
        pins = [x for x in s["snapshots"] if x["name"] == "keep"]
        assert len(pins) == 1 and pins[0]["path"] == PHOTOS + "/snapshots/keep"
        assert pins[0]["bytes"] >= os.stat(os.path.join(v, "export", "tasks.ndjson")).st_size
        assert s["exports"]["pinned_bytes"] > 0
        assert s["exports"]["cache_bytes"] >= s["exports"]["pinned_bytes"]
        out = subprocess.run([ANGOFS_BIN, "--status", m.path], capture_output=True, text=True,
                             timeout=30)
        assert out.returncode == 0, out.stderr
        assert "snapshots:   1 pinned" in out.stdout and PHOTOS + "/snapshots/keep" in out.stdout
    finally:
        m.stop()
        hub.stop()


def test_images_read_once_are_pinned_with_the_snapshot(env):
    """A snapshot's image read whole once is kept in the pin: gone from the
    media cache and deleted on the hub, it is still read, the same bytes,
    with no request; and it counts in the pin's size."""
    hub, m = env
    pid = project_by_name(hub, PHOTOS)
    p = os.path.join(m.path, PHOTOS)
    os.mkdir(os.path.join(p, "snapshots", "imgs"))
    imgs = os.path.join(p, "snapshots", "imgs", "datasets", "coco", "images")
    size0 = [x for x in status(m)["snapshots"] if x["name"] == "imgs"][0]["bytes"]
    first = {n: read(os.path.join(imgs, n)) for n in sorted(os.listdir(imgs))}
    want = size0 + sum(len(b) for b in first.values())
    # pinned at each handle's release, which the kernel sends after close()
    wait_for(lambda: [x for x in status(m)["snapshots"] if x["name"] == "imgs"][0]["bytes"]
             >= want, timeout=10, what="the images pinned")
    media = os.path.join(m.cache, "media")
    for f in os.listdir(media):  # the media cache loses them (as an eviction would)
        if f.endswith(".data"):
            os.unlink(os.path.join(media, f))
    tasks = tasks_with_answers(hub, pid)
    st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [tasks[0]["asset"]]})
    assert st == 200, body
    hub.reset_stats()
    again = {n: read(os.path.join(imgs, n)) for n in sorted(os.listdir(imgs))}
    assert again == first
    assert hub.stats()["total"] == 0, hub.stats()["counts"]
    # the live view's image of the deleted asset: fetched, it is gone (404)
    os.utime(os.path.join(p, "export"))
    assert os.path.basename(tasks[0]["externalId"]) not in \
        os.listdir(os.path.join(p, "datasets", "coco", "images"))
