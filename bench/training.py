"""training.py - epoch time of a training run's reads from the mount against
a local copy of the same files (issue 23 item 7), side by side in one run.

Design: one local hub seeded with synthetic:N (N 1920x1080 PNGs of ~15 KB,
drawn by the hub on request, with boxes, polygons and a classification);
per run, interleaved so every side sees the same machine load:
  cold   a fresh mount (empty cache): tests/datasets/training.py over its
         datasets/ (ImageFolder + DataLoader(num_workers=4) epoch, YOLO as
         Ultralytics resolves it with OpenCV reads, COCO, no masks);
  warm   the same again on the same mount (media and export caches full);
  local  the same over a local copy of the views (copied from the mount).
Reported: medians (min-max) of the ImageFolder epoch seconds and of the
YOLO pass (every image read by OpenCV, every label checked), the ratios
against the local copy. Everything started is torn down at exit.
Run: bench/run.sh training [--images 400] [--runs 3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from harness import Hub, Mount

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUMER = os.path.join(HERE, "..", "tests", "datasets", "training.py")


def consume(root, cwd):
    r = subprocess.run([sys.executable, CONSUMER, root, cwd], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    out = json.loads(r.stdout)
    assert out["coco"]["errors"] == [] and out["yolo_detect"]["bad"] == [], out
    return out["imagefolder"]["seconds"], out["yolo_detect"]["seconds"]


def copy_views(ds, dst):
    for v in ("imagefolder", "yolo-detect", "yolo-seg", "coco"):
        shutil.copytree(os.path.join(ds, v), os.path.join(dst, v))
    for v in ("yolo-detect", "yolo-seg"):
        y = os.path.join(dst, v, "data.yaml")
        with open(y) as f:
            lines = [('path: "%s"\n' % os.path.join(dst, v)) if ln.startswith("path:") else ln
                     for ln in f]
        with open(y, "w") as f:
            f.writelines(lines)


def med(xs):
    return "%.2f (%.2f-%.2f)" % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build")
    a = ap.parse_args()
    if a.build:
        os.environ["ANGOFS_BUILD"] = a.build
    work = tempfile.mkdtemp(prefix="angofs-bench-training-")
    hub = Hub(work, seeds=("synthetic:%d" % a.images,))
    t = {k: [] for k in ("cold", "warm", "local", "ycold", "ywarm", "ylocal")}
    other = os.path.join(work, "elsewhere")
    os.makedirs(other)
    try:
        for run in range(a.runs):
            m = Mount(hub, work, name="m%d" % run, opts=("rate_limit=0",))
            try:
                ds = os.path.join(m.path, "synthetic-%d" % a.images, "datasets")
                e, y = consume(ds, other)
                t["cold"].append(e)
                t["ycold"].append(y)
                e, y = consume(ds, other)
                t["warm"].append(e)
                t["ywarm"].append(y)
                local = os.path.join(work, "copy%d" % run)
                copy_views(ds, local)
            finally:
                m.stop()
            e, y = consume(local, other)
            t["local"].append(e)
            t["ylocal"].append(y)
            shutil.rmtree(local)
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)
    lo, ylo = statistics.median(t["local"]), statistics.median(t["ylocal"])
    print("| row (%d images, %d runs) | seconds, median (min-max) | local copy, median (min-max) "
          "| ratio (mount/local) |" % (a.images, a.runs))
    print("|---|---|---|---|")
    for k, what in (("cold", "ImageFolder epoch, DataLoader(num_workers=4), cold mount"),
                    ("warm", "ImageFolder epoch, warm mount"),
                    ("ycold", "YOLO pass (Ultralytics paths, cv2.imread, labels), cold"),
                    ("ywarm", "YOLO pass, warm")):
        base = t["ylocal"] if k.startswith("y") else t["local"]
        print("| %s | %s | %s | %.2f |" % (what, med(t[k]), med(base),
                                           statistics.median(t[k]) / (ylo if k.startswith("y")
                                                                      else lo)))


if __name__ == "__main__":
    main()
