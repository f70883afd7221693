"""A training run's reads over a datasets/ tree, as trainers make them (issue
23 item 7), in one child process (torch's import is paid once). Used by
tests/datasets/test_training.py (on the mount cold, warm, and on a local
copy) and bench/training.py (the epoch times). Prints one JSON object.

usage: training.py DATASETS_DIR OTHER_CWD [MASK ...]

- ImageFolder: torchvision's ImageFolder + DataLoader(num_workers=4), every
  image decoded and resized (one epoch: the time a trainer waits for data);
- YOLO: data.yaml resolved as Ultralytics 8.0-8.3 does (dsutil.
  ultralytics_resolve) from OTHER_CWD, every image read with OpenCV and
  its label checked as Ultralytics' verify_image_label checks it (5 columns
  in yolo-detect, an odd count >= 7 in yolo-seg, classes < nc, numbers in
  [0, 1], no duplicate rows);
- COCO: annotations.json checked against the COCO data format
  (cocodataset.org, "Data format": info, images, annotations, categories,
  their fields and types, unique ids, references, bbox inside its image,
  polygons of >= 3 points), each image opened with PIL at its size;
- masks: each MASK read with cv2.imread(IMREAD_UNCHANGED) and PIL, the two
  compared pixel for pixel.
"""
import hashlib
import json
import os
import sys
import time

import cv2
import numpy
import torch
import torchvision
from PIL import Image, ImageOps
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dsutil import ultralytics_resolve  # noqa: E402

root, other_cwd, masks = sys.argv[1], sys.argv[2], sys.argv[3:]
out = {}


def imagefolder():
    tf = torchvision.transforms.Compose([torchvision.transforms.Resize((128, 128)),
                                         torchvision.transforms.ToTensor()])
    ds = torchvision.datasets.ImageFolder(os.path.join(root, "imagefolder"), transform=tf)
    t0 = time.perf_counter()
    seen, total = 0, 0.0
    for x, y in DataLoader(ds, batch_size=16, num_workers=4, shuffle=False):
        seen += x.shape[0]
        total += float(x.sum())  # touch every pixel, as a model would
    return {"len": len(ds), "classes": ds.classes, "loaded": seen,
            "samples": [[os.path.relpath(p, root), c] for p, c in ds.samples],
            "checksum": round(total, 1), "seconds": time.perf_counter() - t0}


def yolo(view, kind):
    t0 = time.perf_counter()
    here = os.getcwd()
    os.chdir(other_cwd)  # Ultralytics is started anywhere
    try:
        arg = os.path.relpath(os.path.join(root, view, "data.yaml"), other_cwd)
        got = ultralytics_resolve(arg, os.path.join(other_cwd, "datasets"))
        import yaml
        with open(arg) as f:
            nc = yaml.safe_load(f)["nc"]
        bad, rows, shapes = [], 0, {}
        for img, lab in got["train"]:
            im = cv2.imread(img, cv2.IMREAD_COLOR)
            if im is None:
                bad.append("unreadable " + img)
                continue
            shapes[os.path.basename(img)] = list(im.shape[:2])
            with open(lab) as f:
                lines = [ln.split() for ln in f.read().splitlines() if ln.strip()]
            if len({tuple(ln) for ln in lines}) != len(lines):
                bad.append("duplicate rows " + lab)
            for ln in lines:
                v = [float(x) for x in ln]
                if kind == "detect" and len(v) != 5 or kind == "segment" and \
                        (len(v) < 7 or len(v) % 2 == 0):
                    bad.append("%s row of %d numbers: %s" % (kind, len(v), lab))
                if not (0 <= v[0] < nc and v[0] == int(v[0])):
                    bad.append("class %s: %s" % (ln[0], lab))
                if not all(0 <= x <= 1 for x in v[1:]):
                    bad.append("out of [0,1]: %s" % lab)
                if kind == "detect" and (v[3] <= 0 or v[4] <= 0):
                    bad.append("empty box: %s" % lab)
            rows += len(lines)
        return {"images": len(got["train"]), "val": len(got["val"]), "rows": rows,
                "bad": bad[:10], "shapes": shapes, "seconds": time.perf_counter() - t0}
    finally:
        os.chdir(here)


def coco():
    t0 = time.perf_counter()
    view = os.path.join(root, "coco")
    with open(os.path.join(view, "annotations.json")) as f:
        doc = json.load(f)
    err = []

    def need(obj, key, types, what):
        if key not in obj or not isinstance(obj[key], types) or isinstance(obj[key], bool):
            err.append("%s: %s missing or not %s" % (what, key, types))

    for k, t in (("info", dict), ("images", list), ("annotations", list),
                 ("categories", list)):
        need(doc, k, t, "document")
    num = (int, float)
    for c in doc.get("categories", []):
        need(c, "id", int, "category")
        need(c, "name", str, "category")
        need(c, "supercategory", str, "category")
    imgs = {}
    for im in doc.get("images", []):
        for k, t in (("id", int), ("width", int), ("height", int), ("file_name", str)):
            need(im, k, t, "image %s" % im.get("id"))
        imgs[im["id"]] = im
        with Image.open(os.path.join(view, "images", im["file_name"])) as p:
            if tuple(ImageOps.exif_transpose(p).size) != (im["width"], im["height"]):
                err.append("image %s: size %s, annotations.json says %sx%s" % (
                    im["file_name"], p.size, im["width"], im["height"]))
    cats = {c["id"] for c in doc.get("categories", [])}
    anns = doc.get("annotations", [])
    if len(imgs) != len(doc.get("images", [])):
        err.append("image ids repeat")
    if len({a.get("id") for a in anns}) != len(anns):
        err.append("annotation ids repeat")
    for a in anns:
        what = "annotation %s" % a.get("id")
        for k, t in (("id", int), ("image_id", int), ("category_id", int), ("area", num),
                     ("bbox", list), ("iscrowd", int), ("segmentation", (list, dict))):
            need(a, k, t, what)
        if a.get("image_id") not in imgs or a.get("category_id") not in cats:
            err.append(what + ": dangling id")
            continue
        im = imgs[a["image_id"]]
        x, y, w, h = a["bbox"]
        if not (w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= im["width"] + 1e-6 and
                y + h <= im["height"] + 1e-6):
            err.append(what + ": bbox outside its image")
        if a["iscrowd"] not in (0, 1) or not a["area"] > 0:
            err.append(what + ": iscrowd/area")
        if a["iscrowd"] == 0:
            for poly in a["segmentation"]:
                if len(poly) < 6 or len(poly) % 2 or not all(isinstance(v, num) for v in poly):
                    err.append(what + ": polygon")
    return {"images": len(imgs), "annotations": len(anns), "categories": len(cats),
            "errors": err[:10], "seconds": time.perf_counter() - t0}


def mask_reads():
    t0 = time.perf_counter()
    res = []
    for m in masks:
        cv = cv2.imread(m, cv2.IMREAD_UNCHANGED)
        with Image.open(m) as p:
            pil = numpy.asarray(p)
        if cv is not None and cv.ndim == 3:  # OpenCV is BGR(A)
            cv = cv[..., [2, 1, 0, 3][:cv.shape[2]]]
        with open(m, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        res.append({"shape": None if cv is None else list(cv.shape), "sha": sha,
                    "same": cv is not None and cv.shape == pil.shape and
                    bool((cv == pil).all()), "set": int((pil > 0).sum())})
    return {"masks": res, "seconds": time.perf_counter() - t0}


torch.set_num_threads(1)
out["imagefolder"] = imagefolder()
out["yolo_detect"] = yolo("yolo-detect", "detect")
out["yolo_seg"] = yolo("yolo-seg", "segment")
out["coco"] = coco()
out["masks"] = mask_reads()
print(json.dumps(out))
