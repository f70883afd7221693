"""More formats (issue 24 item 4): datasets/voc/, datasets/masks/ and
datasets/webdataset/ on a real mount of the real local hub, each read by
the consumer a trainer would use and compared with a conversion written
here, independently, from the export records:
- Pascal VOC with xml.etree against the VOC layout (Annotations/<id>.xml,
  JPEGImages/, ImageSets/Main/<set>.txt): every box recomputed from the
  record's marks (corners ordered, clipped, 1-based inclusive pixels), the
  sets from the split rule;
- semantic masks with PIL (a palette PNG, pixel = class index): every pixel
  of every mask against a rasterization of the record's boxes, polygons,
  rotated boxes and segmentation zones written with numpy (pixel centres,
  crossing rule, marks painted in order); classes.txt;
- WebDataset with Python's tarfile and a WebDataset-style iterator (members
  grouped by key): every sample's image is the view's image byte for byte,
  its JSON the COCO view's annotations of that image; shards.json names
  every shard with its true size, shards stay under -o shard_size unless
  one sample is larger.
The three are also checked under splits/ (the union of the three splits is
the view), stage/ and a snapshot (identical to the live view it pinned)."""
import io
import json
import math
import os
import tarfile
import xml.etree.ElementTree as ET

import numpy
import pytest
from PIL import Image

from conftest import Hub, Mount
from dsutil import AREA_TOOLS, check_coco
from harness import read
from reproutil import PHOTOS, records, tree
from test_splits import by_fraction, unit

SHARD = 60 * 1024


@pytest.fixture(scope="module")
def env(module_workdir):
    hub = Hub(module_workdir)
    m = Mount(hub, module_workdir, opts=["rate_limit=0", "shard_size=%d" % SHARD])
    yield hub, m
    m.stop()
    hub.stop()


def project(m):
    p = os.path.join(m.path, PHOTOS)
    schema = json.loads(read(os.path.join(p, "project.json")))["categorySchema"]
    classes = [t for t in schema["tools"] if t["tool"] in AREA_TOOLS]
    recs = records(read(os.path.join(p, "export", "tasks.ndjson")))
    return p, classes, recs


def marks(rec, classes):
    """(class index, kind, geometry) of the marks the views convert, in order."""
    ids = {t["schemaId"]: i for i, t in enumerate(classes)}
    out = []
    for t in rec["task"].get("tools", []):
        if t.get("schemaId") not in ids or t.get("page", 0) != 0:
            continue
        k = ids[t["schemaId"]]
        if "bounding-box" in t:
            b = t["bounding-box"]
            out.append((k, "box", (b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"])))
        elif "polygon" in t:
            out.append((k, "poly", [t["polygon"]]))
        elif "rotated-bounding-box" in t:
            out.append((k, "poly", [t["rotated-bounding-box"]["corners"]]))
        elif "segmentation" in t and t["segmentation"].get("zones"):
            out.append((k, "poly", [z["region"] for z in t["segmentation"]["zones"]]))
    return out


def clipped_bbox(kind, geo, w, h):
    if kind == "box":
        x0, y0, x1, y1 = geo
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
    else:
        xs = [p[0] for poly in geo for p in poly]
        ys = [p[1] for poly in geo for p in poly]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def kept(kind, geo, w, h):
    x0, y0, x1, y1 = clipped_bbox(kind, geo, w, h)
    return x1 - x0 >= 1 and y1 - y0 >= 1  # degenerate and sub-pixel marks are skipped


def test_voc_read_with_xml_etree_matches_the_records(env):
    hub, m = env
    p, classes, recs = project(m)
    voc = os.path.join(p, "datasets", "voc")
    assert sorted(os.listdir(voc)) == ["Annotations", "ImageSets", "JPEGImages", "skipped.txt"]
    by_name = {r["externalId"]: r for r in recs}
    anns = sorted(os.listdir(os.path.join(voc, "Annotations")))
    imgs = sorted(os.listdir(os.path.join(voc, "JPEGImages")))
    assert [os.path.splitext(a)[0] for a in anns] == [os.path.splitext(i)[0] for i in imgs]
    nobj = 0
    for a in anns:
        path = os.path.join(voc, "Annotations", a)
        assert os.stat(path).st_size == len(read(path))
        root = ET.parse(path).getroot()
        assert root.tag == "annotation"
        fn = root.findtext("filename")
        assert fn in imgs and root.findtext("folder") == "JPEGImages"
        rec = by_name[fn]
        w, h = int(root.findtext("size/width")), int(root.findtext("size/height"))
        assert (w, h) == (rec["metadata"]["width"], rec["metadata"]["height"])
        assert root.findtext("size/depth") == "3" and root.findtext("segmented") == "0"
        want = []
        for k, kind, geo in marks(rec, classes):
            if not kept(kind, geo, w, h):
                continue
            x0, y0, x1, y1 = clipped_bbox(kind, geo, w, h)
            r = lambda v: int(math.floor(v + 0.5))  # noqa: E731  (C's lround, v >= 0)
            want.append((classes[k]["title"], max(1, r(x0) + 1), max(1, r(y0) + 1),
                         r(x1), r(y1)))
        got = [(o.findtext("name"), int(o.findtext("bndbox/xmin")),
                int(o.findtext("bndbox/ymin")), int(o.findtext("bndbox/xmax")),
                int(o.findtext("bndbox/ymax"))) for o in root.findall("object")]
        assert got == want, a
        for o in root.findall("object"):
            assert o.findtext("difficult") == "0" and o.findtext("truncated") in ("0", "1")
        nobj += len(got)
    coco = check_coco(os.path.join(p, "datasets", "coco"))
    assert nobj == len(coco["annotations"]) and nobj > 0
    main = os.path.join(voc, "ImageSets", "Main")
    assert sorted(os.listdir(main)) == ["test.txt", "train.txt", "trainval.txt", "val.txt"]
    stems = {os.path.splitext(i)[0]: i for i in imgs}
    for s in ("train", "val", "test"):
        ids = read(os.path.join(main, s + ".txt")).decode().split()
        assert sorted(ids) == sorted(k for k, i in stems.items()
                                     if by_fraction(unit(i), (0.8, 0.1, 0.1)) == s), s
    tv = read(os.path.join(main, "trainval.txt")).decode().split()
    assert sorted(tv) == sorted(read(os.path.join(main, "train.txt")).decode().split() +
                                read(os.path.join(main, "val.txt")).decode().split())


def raster(rec, classes, w, h):
    """The class-index mask of docs/DATASETS.md, written with numpy: a pixel
    belongs to a mark when its centre is inside (boxes: half-open; polygons:
    an odd number of edge crossings of the ray to its right); later marks
    over earlier ones."""
    out = numpy.zeros((h, w), numpy.uint16)
    cy, cx = numpy.mgrid[0:h, 0:w].astype(float) + 0.5
    for k, kind, geo in marks(rec, classes):
        if not kept(kind, geo, w, h):
            continue
        if kind == "box":
            x0, y0, x1, y1 = clipped_bbox(kind, geo, w, h)
            inside = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
        else:
            inside = numpy.zeros((h, w), bool)
            for poly in geo:
                pin = numpy.zeros((h, w), bool)
                for (xa, ya), (xb, yb) in zip(poly, poly[1:] + poly[:1]):
                    if ya == yb:
                        continue
                    cross = (ya <= cy) != (yb <= cy)
                    xc = xa + (cy - ya) * (xb - xa) / (yb - ya)
                    pin ^= cross & (xc > cx)
                inside |= pin
        out[inside] = k + 1
    return out


def test_masks_read_with_pil_match_a_numpy_rasterization(env):
    hub, m = env
    p, classes, recs = project(m)
    mk = os.path.join(p, "datasets", "masks")
    assert sorted(os.listdir(mk)) == ["annotations", "classes.txt", "images", "skipped.txt"]
    assert read(os.path.join(mk, "classes.txt")).decode().splitlines() == \
        ["background"] + [c["title"] for c in classes]
    by_name = {r["externalId"]: r for r in recs}
    imgs = sorted(os.listdir(os.path.join(mk, "images")))
    masks = sorted(os.listdir(os.path.join(mk, "annotations")))
    assert masks == sorted(os.path.splitext(i)[0] + ".png" for i in imgs)
    painted = 0
    for img in imgs:
        path = os.path.join(mk, "annotations", os.path.splitext(img)[0] + ".png")
        data = read(path)
        assert os.stat(path).st_size == len(data)
        pm = Image.open(io.BytesIO(data))
        assert pm.mode == "P"
        with Image.open(os.path.join(mk, "images", img)) as pi:
            assert pm.size == pi.size
        rec = by_name[img]
        got = numpy.asarray(pm)
        want = raster(rec, classes, pm.size[0], pm.size[1])
        assert (got == want).all(), (img, int((got != want).sum()))
        painted += int((got > 0).sum())
    assert painted > 10000
    # the listing knows the sizes of the masks made
    st = {e.name: e.stat().st_size for e in os.scandir(os.path.join(mk, "annotations"))}
    assert all(v > 1 for v in st.values())


def wds_samples(shards):
    """A WebDataset-style iterator: tar members grouped into samples by key
    (the basename up to its first dot), in order."""
    for path in shards:
        with tarfile.open(path) as tf:
            cur = None
            for mem in tf:
                base = os.path.basename(mem.name)
                key, ext = base.split(".", 1)
                if cur and cur["__key__"] != key:
                    yield cur
                    cur = None
                cur = cur or {"__key__": key, "__url__": path}
                cur[ext] = tf.extractfile(mem).read()
            if cur:
                yield cur


def check_wds(view, coco_view):
    index = json.loads(read(os.path.join(view, "shards.json")))
    names = [s["name"] for s in index["shards"]]
    assert sorted(n for n in os.listdir(view) if n.endswith(".tar")) == names
    for s in index["shards"]:
        path = os.path.join(view, s["name"])
        assert os.stat(path).st_size == s["size"] == len(read(path))
    samples = list(wds_samples([os.path.join(view, n) for n in names]))
    assert len(samples) == index["samples"]
    coco = json.loads(read(os.path.join(coco_view, "annotations.json")))
    anns = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    by_file = {i["file_name"]: i for i in coco["images"]}
    for smp in samples:
        meta = json.loads(smp["json"])
        ext = [k for k in smp if k not in ("json", "__key__", "__url__")]
        assert len(ext) == 1 and smp["__key__"] == meta["taskId"]
        assert smp[ext[0]] == read(os.path.join(coco_view, "images", meta["name"]))
        im = by_file[meta["name"]]
        assert (meta["width"], meta["height"]) == (im["width"], im["height"])
        want = [(a["category_id"] - 1, [round(v, 6) for v in a["bbox"]])
                for a in anns.get(im["id"], [])]
        assert [(o["class"], [round(v, 6) for v in o["bbox"]]) for o in meta["objects"]] == want
    return index, samples


def test_webdataset_read_with_tarfile_matches_the_coco_view(env):
    hub, m = env
    p, classes, recs = project(m)
    ds = os.path.join(p, "datasets")
    index, samples = check_wds(os.path.join(ds, "webdataset"), os.path.join(ds, "coco"))
    assert len(samples) == len(os.listdir(os.path.join(ds, "coco", "images")))
    assert len(index["shards"]) > 1  # 60 KiB shards
    for s in index["shards"]:
        assert s["size"] <= SHARD + 1024 or s["samples"] == 1, s
    # splits: each split's shards hold the images of that split; together all
    keys = []
    for s in ("train", "val", "test"):
        _, sm = check_wds(os.path.join(ds, "splits", "webdataset", s),
                          os.path.join(ds, "splits", "coco", s))
        keys += [x["__key__"] for x in sm]
    assert sorted(keys) == sorted(x["__key__"] for x in samples)


def test_formats_under_stage_splits_and_snapshots(env):
    hub, m = env
    p, classes, recs = project(m)
    ds = os.path.join(p, "datasets")
    complete = os.path.join(ds, "stage", "Complete")
    imgs = sorted(os.listdir(os.path.join(complete, "coco", "images")))
    assert sorted(os.listdir(os.path.join(complete, "voc", "JPEGImages"))) == imgs
    assert sorted(os.listdir(os.path.join(complete, "masks", "annotations"))) == \
        sorted(os.path.splitext(i)[0] + ".png" for i in imgs)
    check_wds(os.path.join(complete, "webdataset"), os.path.join(complete, "coco"))
    for s in ("train", "val", "test"):
        v = os.path.join(ds, "splits", "voc", s)
        ids = read(os.path.join(v, "ImageSets", "Main", s + ".txt")).decode().split()
        assert sorted(ids) == sorted(os.path.splitext(n)[0]
                                     for n in os.listdir(os.path.join(v, "JPEGImages")))
    live = {f: tree(os.path.join(ds, f)) for f in ("voc", "masks", "webdataset")}
    os.mkdir(os.path.join(p, "snapshots", "formats"))
    snap = os.path.join(p, "snapshots", "formats", "datasets")
    for f in ("voc", "masks", "webdataset"):
        assert tree(os.path.join(snap, f)) == live[f], f
