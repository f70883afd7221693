"""Stable train/val/test splits (issue 24 item 3): datasets/splits/<view>/
{train,val,test}/ on a real mount of the real local hub. Every image's split
is recomputed here independently (hashlib: the first 8 bytes of SHA-256 of
its externalId, as a fraction of 2^64, against -o split), and must match
the mount's exactly: in YOLO (one data.yaml naming the three sets, resolved
as Ultralytics resolves it from another directory), in COCO (one
annotations.json per split, equal to the whole view's filtered to the
split's images) and in ImageFolder (only classes with images in the split).
A refresh that adds 1,000 tasks moves no image that was there; the new ones
land where the hash says, in about the asked proportions. split_by=class
splits each class in the exact proportions (recomputed from the rule in
docs/DATASETS.md), and bad option values stop the mount with a message."""
import hashlib
import json
import os
import subprocess

from conftest import ANGOFS_BIN, Hub, Mount
from dsutil import IMG_EXT, check_coco, check_yolo, imagefolder, ultralytics_resolve
from reproutil import PHOTOS, project_by_name, records
from harness import read

PARTS = ("train", "val", "test")


def unit(xid):
    h = int.from_bytes(hashlib.sha256(xid.encode()).digest()[:8], "big")
    return (h >> 11) / 2 ** 53


def by_fraction(q, f):
    return "train" if q < f[0] else "val" if q < f[0] + f[1] else "test"


def expected(recs, f):
    return {r["externalId"]: by_fraction(unit(r["externalId"]), f) for r in recs}


def split_listing(root, view):
    """{name: split} of the images of splits/<view>."""
    out = {}
    for s in PARTS:
        d = os.path.join(root, view, s, "images")
        if os.path.isdir(d):
            for n in os.listdir(d):
                assert n not in out, n
                out[n] = s
    return out


def check_splits(p, f=(0.8, 0.1, 0.1)):
    ds = os.path.join(p, "datasets")
    sp = os.path.join(ds, "splits")
    recs = records(read(os.path.join(p, "export", "tasks.ndjson")))
    want = expected(recs, f)
    assert sorted(os.listdir(sp)) == ["coco", "imagefolder", "masks", "voc", "webdataset", "yolo",
                                      "yolo-detect", "yolo-seg"]
    for v in ("yolo", "yolo-detect", "coco"):
        got = split_listing(sp, v)
        assert got == {n: want[n] for n in os.listdir(os.path.join(ds, v, "images"))}, v
    # YOLO: one data.yaml, resolved as Ultralytics does; every label there
    for s in PARTS:
        check_yolo_split = os.path.join(sp, "yolo", s)
        assert sorted(os.listdir(check_yolo_split)) == ["images", "labels", "skipped.txt"]
    res = ultralytics_resolve(os.path.join(sp, "yolo", "data.yaml"), "/nonexistent")
    got = {os.path.basename(im): s for s in ("train", "val") for im, _ in res[s]}
    assert got == {n: s for n, s in split_listing(sp, "yolo").items() if s != "test"}
    for s in ("train", "val"):
        for im, lab in res[s]:
            assert read(lab) == read(os.path.join(ds, "yolo", "labels", os.path.basename(lab)))
    # COCO: the whole view's annotations.json filtered to the split's images
    whole = check_coco(os.path.join(ds, "coco"))
    for s in PARTS:
        doc = check_coco(os.path.join(sp, "coco", s))
        ids = {i["id"] for i in whole["images"] if want[i["file_name"]] == s}
        assert doc["categories"] == whole["categories"]
        assert doc["images"] == [i for i in whole["images"] if i["id"] in ids]
        assert [{k: v for k, v in a.items() if k != "id"} for a in doc["annotations"]] == \
            [{k: v for k, v in a.items() if k != "id"} for a in whole["annotations"]
             if a["image_id"] in ids]
    # ImageFolder: the classes that have images in the split
    allf = imagefolder(os.path.join(ds, "imagefolder"))
    for s in PARTS:
        got = imagefolder(os.path.join(sp, "imagefolder", s))
        exp = {c: [n for n in v if want[n] == s] for c, v in allf.items()}
        assert got == {c: v for c, v in exp.items() if v}, s
    return want


def test_splits_are_the_hash_of_the_external_id_and_stay_when_1000_tasks_come(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    try:
        pid = project_by_name(hub, PHOTOS)
        p = os.path.join(m.path, PHOTOS)
        before = check_splits(p)
        st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": [
            {"data": "https://example.invalid/new/%04d.jpg" % i, "externalId":
             "new_%04d.jpg" % i, "metadata": {"width": 640, "height": 480}}
            for i in range(1000)]})
        assert st == 201, body
        os.utime(os.path.join(p, "export"))  # the refresh
        after = check_splits(p)
        assert len(after) == len(before) + 1000
        assert {k: after[k] for k in before} == before  # no image moved
        got = split_listing(os.path.join(p, "datasets", "splits"), "yolo")
        assert {k: got[k] for k in before} == before
        n = {s: sum(1 for k, v in after.items() if v == s and k.startswith("new_"))
             for s in PARTS}
        assert 740 <= n["train"] <= 860 and 60 <= n["val"] <= 140 and 60 <= n["test"] <= 140, n
    finally:
        m.stop()
        hub.stop()


def test_split_by_class_splits_each_class_in_proportion(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=["rate_limit=0", "split=50:50:0", "split_by=class"])
    try:
        pid = project_by_name(hub, PHOTOS)
        st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": [
            {"data": "https://example.invalid/c/%03d.jpg" % i, "externalId": "c_%03d.jpg" % i,
             "metadata": {"width": 64, "height": 48}} for i in range(60)]})
        assert st == 201, body
        p = os.path.join(m.path, PHOTOS)
        sp = os.path.join(p, "datasets", "splits")
        assert sorted(os.listdir(os.path.join(sp, "imagefolder"))) == ["train", "val"]
        y = read(os.path.join(sp, "yolo", "data.yaml")).decode()
        assert "train: \"train/images\"" in y and "val: \"val/images\"" in y and "test:" not in y
        recs = records(read(os.path.join(p, "export", "tasks.ndjson")))
        # the rule (docs/DATASETS.md): per class, by hash order, (i + 0.5) / n
        classes = {}
        for r in recs:
            w = [c["answer"] for c in r["task"].get("classifications", [])
                 if c.get("title") == "Weather"]
            classes.setdefault(w[0] if w else None, []).append(r["externalId"])
        want = {}
        for c, xs in classes.items():
            if c is None:
                continue
            xs.sort(key=lambda x: int.from_bytes(hashlib.sha256(x.encode()).digest()[:8], "big"))
            for i, x in enumerate(xs):
                want[x] = by_fraction((i + 0.5) / len(xs), (0.5, 0.5, 0.0))
        got = {}
        for s in ("train", "val"):
            for c, names in imagefolder(os.path.join(sp, "imagefolder", s)).items():
                for n in names:
                    got[n] = s
        assert got == want
        for c in classes:
            if c:
                k = [got[x] for x in classes[c]]
                assert abs(k.count("train") - k.count("val")) <= 1, (c, k)
    finally:
        m.stop()
        hub.stop()


def test_bad_split_options_are_refused(hub, workdir):
    mp = os.path.join(workdir, "never")
    os.makedirs(mp)
    env = dict(os.environ, ANGO_API_KEY=hub.key,
               XDG_CONFIG_HOME=os.path.join(workdir, "no-config"))
    for opt, needle in (("split=a:b", "split: 'a:b'"), ("split=0:0:0", "split: '0:0:0'"),
                        ("split=80", "split: '80'"), ("split=1:2:3:4", "split: '1:2:3:4'"),
                        ("split=-1:2", "split"), ("split_by=label", "split_by: 'label'")):
        r = subprocess.run([ANGOFS_BIN, mp, "-f", "-o", "host=" + hub.url, "-o",
                            "cache_dir=" + os.path.join(workdir, "c"), "-o", opt],
                           env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and needle in r.stderr, (opt, r.stderr)
        assert not os.path.ismount(mp)
