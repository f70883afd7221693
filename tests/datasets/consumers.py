"""Run by tests/datasets/test_consumers.py in one child process (torch's
import is slow: it is paid once): the real consumers over a mounted
datasets/ tree. Prints one JSON object of what they saw.

usage: consumers.py DATASETS_DIR
"""
import hashlib
import json
import os
import sys

import cv2
import numpy
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader

ds_dir = sys.argv[1]
out = {}

# torchvision's ImageFolder + a DataLoader with 4 worker processes: every
# image decoded, each exactly once
to_tensor = torchvision.transforms.ToTensor()
ds = torchvision.datasets.ImageFolder(os.path.join(ds_dir, "imagefolder"), transform=to_tensor)
loader = DataLoader(ds, batch_size=1, num_workers=4, shuffle=False)
seen = []
for img, label in loader:
    seen.append([int(label[0]), list(img.shape[2:])])  # N, C, H, W
out["imagefolder"] = {"len": len(ds), "classes": ds.classes, "loaded": len(seen),
                      "samples": [[os.path.relpath(p, ds_dir), c] for p, c in ds.samples],
                      "shapes": [s for _, s in seen]}

# the Complete stage only (train on finished work): the same loader
stage = torchvision.datasets.ImageFolder(os.path.join(ds_dir, "stage", "Complete", "imagefolder"),
                                         transform=to_tensor)
n = sum(1 for _ in DataLoader(stage, batch_size=1, num_workers=4))
out["stage_imagefolder"] = {"len": len(stage), "loaded": n,
                            "samples": sorted(os.path.relpath(p, ds_dir) for p, _ in stage.samples)}

# COCO: every image opened by PIL and OpenCV at the size annotations.json says
coco_dir = os.path.join(ds_dir, "coco")
with open(os.path.join(coco_dir, "annotations.json")) as f:
    coco = json.load(f)
sizes = {}
for im in coco["images"]:
    path = os.path.join(coco_dir, "images", im["file_name"])
    with Image.open(path) as p:
        p.load()
        pil = list(p.size)
    cv = cv2.imread(path, cv2.IMREAD_COLOR)
    sizes[im["file_name"]] = {"coco": [im["width"], im["height"]], "pil": pil,
                              "cv2": [int(cv.shape[1]), int(cv.shape[0])]}
out["coco"] = sizes

# YOLO: every box row lands on pixels of its class's colour in its image
yolo_dir = os.path.join(ds_dir, "yolo")
hits = []
for name in sorted(os.listdir(os.path.join(yolo_dir, "images"))):
    img = numpy.asarray(Image.open(os.path.join(yolo_dir, "images", name)).convert("RGB"))
    h, w = img.shape[:2]
    stem = os.path.splitext(name)[0]
    with open(os.path.join(yolo_dir, "labels", stem + ".txt")) as f:
        for line in f:
            v = line.split()
            if len(v) != 5:
                continue
            cls, cx, cy, bw, bh = int(v[0]), *map(float, v[1:])
            x0, x1 = int(round((cx - bw / 2) * w)), int(round((cx + bw / 2) * w))
            y0, y1 = int(round((cy - bh / 2) * h)), int(round((cy + bh / 2) * h))
            patch = img[max(0, y0):y1, max(0, x0):x1].reshape(-1, 3)
            centre = img[min(h - 1, int(cy * h)), min(w - 1, int(cx * w))].tolist()
            hits.append({"image": name, "cls": cls, "centre": centre,
                         "colours": sorted({tuple(p) for p in patch[::7].tolist()})[:50]})
out["yolo_boxes"] = hits

# the same image through every view is the same bytes
digests = {}
for sub in ("yolo/images", "yolo-seg/images", "coco/images"):
    for name in sorted(os.listdir(os.path.join(ds_dir, sub))):
        with open(os.path.join(ds_dir, sub, name), "rb") as f:
            digests.setdefault(name, set()).add(hashlib.sha256(f.read()).hexdigest())
for path, _ in ds.samples:
    with open(path, "rb") as f:
        digests.setdefault(os.path.basename(path), set()).add(hashlib.sha256(f.read()).hexdigest())
out["digests"] = {k: sorted(v) for k, v in digests.items()}
print(json.dumps(out))
