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


# Ultralytics' image suffixes (ultralytics/data/utils.py IMG_FORMATS, 8.0-8.3;
# 8.3 adds heic/heif, which no view holds).
ULTRA_IMG_FORMATS = ("bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm")


def ultralytics_resolve(yaml_arg, datasets_dir):
    """Where Ultralytics 8.0-8.3 looks for a detection data set named by
    `yaml_arg` (the data= argument, as typed: relative to the cwd or
    absolute). Ultralytics cannot be installed here, so this is its code,
    reduced to the path handling (check_det_dataset in
    ultralytics/yolo/data/utils.py for 8.0.x, ultralytics/data/utils.py from
    8.1 to 8.3):

        file = check_file(dataset)           # an existing path is returned as given
        data = yaml_load(file, append_filename=True)   # data["yaml_file"] = str(file)
        path = Path(extract_dir or data.get("path") or Path(data.get("yaml_file", "")).parent)
        if not path.is_absolute():
            path = (DATASETS_DIR / path).resolve()
        for k in "train", "val", "test", "minival":
            if data.get(k):
                x = (path / data[k]).resolve()
                if not x.exists() and data[k].startswith("../"):
                    x = (path / data[k][3:]).resolve()
                data[k] = str(x)

    DATASETS_DIR is SETTINGS["datasets_dir"]: <git root's parent or the cwd
    at first run>/datasets by default, never the yaml's folder. Then the
    trainer lists images with get_img_files (glob("<dir>/**/*.*",
    recursive=True), suffix in IMG_FORMATS) and finds each label with
    img2label_paths (the last "/images/" of the path becomes "/labels/", the
    suffix ".txt"). Returns {"train": [(image, label)], "val": [...]}, with
    every path as Ultralytics would open it."""
    import glob
    from pathlib import Path

    with open(yaml_arg, errors="ignore", encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    data["yaml_file"] = str(yaml_arg)
    for k in ("train", "val"):
        assert k in data, "Ultralytics: data.yaml '%s:' key missing" % k
    assert "names" in data or "nc" in data
    if "names" in data and "nc" in data:
        assert len(data["names"]) == data["nc"]
    path = Path(data.get("path") or Path(data.get("yaml_file", "")).parent)
    if not path.is_absolute():
        path = (Path(datasets_dir) / path).resolve()
    out = {}
    for k in ("train", "val"):
        x = (path / data[k]).resolve()
        if not x.exists() and data[k].startswith("../"):
            x = (path / data[k][3:]).resolve()
        assert x.exists(), "Ultralytics: %s images not found: %s" % (k, x)
        files = sorted(glob.glob(str(x / "**" / "*.*"), recursive=True))
        imgs = [f for f in files if f.split(".")[-1].lower() in ULTRA_IMG_FORMATS]
        sa, sb = os.sep + "images" + os.sep, os.sep + "labels" + os.sep
        out[k] = [(im, sb.join(im.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt") for im in imgs]
    return out
