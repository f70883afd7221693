"""Helpers of the dataset view tests (tests/datasets): format checks written
the way an ordinary consumer reads each layout (a YOLO reader, COCO with
json.load, ImageFolder's folder rule), and the expected content computed from
the export records themselves. Holds no tests."""
import json
import os

import yaml

PHOTOS = "Street Photos"
EXPORT = "GET /v2/export"
AREA_TOOLS = ("bounding-box", "rotated-bounding-box", "polygon", "segmentation")
IMG_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def count(hub, route):
    return hub.stats()["counts"].get(route, 0)


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def area_marks(rec, schema_ids):
    """The marks of a record the YOLO/COCO views convert (area tools, page 0)."""
    return [t for t in rec["task"].get("tools", [])
            if t.get("schemaId") in schema_ids and t.get("page", 0) == 0
            and any(k in t for k in AREA_TOOLS)]


def check_yolo(view):
    """A YOLO reader's checks; returns {image name: [rows]}."""
    with open(os.path.join(view, "data.yaml")) as f:
        data = yaml.safe_load(f)
    names = data["names"]
    assert data["nc"] == len(names) and data["train"] == "images"
    images = sorted(os.listdir(os.path.join(view, "images")))
    labels = sorted(os.listdir(os.path.join(view, "labels")))
    stems = [os.path.splitext(n)[0] for n in images]
    assert all(n.lower().endswith(IMG_EXT) for n in images)
    assert labels == sorted(s + ".txt" for s in stems)  # every image has its label file
    out = {}
    for img, stem in zip(images, stems):
        path = os.path.join(view, "labels", stem + ".txt")
        with open(path) as f:
            text = f.read()
        assert os.stat(path).st_size == len(text.encode())  # stat is true
        rows = []
        for line in text.splitlines():
            v = line.split()
            cls, nums = int(v[0]), [float(x) for x in v[1:]]
            assert 0 <= cls < len(names), line
            assert len(nums) >= 4 and len(nums) % 2 == 0, line
            assert all(0.0 <= x <= 1.0 for x in nums), line
            rows.append((cls, nums))
        out[img] = rows
    return data, out


def check_coco(view):
    """json.load, every id resolving, every image file present."""
    path = os.path.join(view, "annotations.json")
    with open(path, "rb") as f:
        raw = f.read()
    assert os.stat(path).st_size == len(raw)  # stat is true
    doc = json.loads(raw)
    imgs = {i["id"]: i for i in doc["images"]}
    cats = {c["id"]: c for c in doc["categories"]}
    assert len(imgs) == len(doc["images"]) and len(cats) == len(doc["categories"])
    for a in doc["annotations"]:
        assert a["image_id"] in imgs and a["category_id"] in cats, a
        x, y, w, h = a["bbox"]
        im = imgs[a["image_id"]]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= im["width"] + 1e-6 and y + h <= im["height"] + 1e-6
        assert a["area"] > 0 and a["iscrowd"] == 0 and a["segmentation"]
    files = sorted(os.listdir(os.path.join(view, "images")))
    assert sorted(i["file_name"] for i in doc["images"]) == files
    return doc


def imagefolder(view):
    """{class dir: [image names]} the way torchvision's ImageFolder sees it."""
    out = {}
    for e in os.scandir(view):
        if e.is_dir():
            out[e.name] = sorted(n for n in os.listdir(e.path) if n.lower().endswith(IMG_EXT))
    return out
