"""Training acceptance (issue 23 item 7): a fresh synthetic project on the
real local hub, read from a real mount the way a training run reads it
(tests/datasets/training.py in a child process: torchvision ImageFolder +
DataLoader(num_workers=4), a YOLO reader that resolves data.yaml as
Ultralytics 8.0-8.3 does from another directory, COCO checked against its
data format, masks read by OpenCV and PIL), cold (nothing cached), warm
(the same mount again) and from a local copy of the same files: all three
see the same data, and every check of every reader passes.

The epoch times are printed, not asserted (a loaded machine is no place for
timed tests): bench/training.py measures them side by side, docs/
PERFORMANCE.md holds the figures."""
import io
import json
import os
import shutil
import subprocess
import sys

from PIL import Image

from conftest import Hub, Mount
from dsutil import EXPORT, count

HERE = os.path.dirname(os.path.abspath(__file__))
N = 48


def run(root, cwd, masks):
    r = subprocess.run([sys.executable, os.path.join(HERE, "training.py"), root, cwd] + masks,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def mask_png(i):
    img = Image.new("L", (1920, 1080))
    for x in range(100 + 40 * i, 300 + 40 * i):
        for y in range(200, 260):
            img.putpixel((x, y), 1 + i)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def local_copy(ds, dst, masks):
    """What a user makes instead of the mount: the views copied, data.yaml's
    path edited to the copy (docs/DATASETS.md says so), the masks copied."""
    for v in ("imagefolder", "yolo-detect", "yolo-seg", "coco"):
        shutil.copytree(os.path.join(ds, v), os.path.join(dst, v))
    for v in ("yolo-detect", "yolo-seg"):
        y = os.path.join(dst, v, "data.yaml")
        with open(y) as f:
            lines = [("path: \"%s\"\n" % os.path.join(dst, v)) if ln.startswith("path:") else ln
                     for ln in f]
        with open(y, "w") as f:
            f.writelines(lines)
    out = []
    for i, m in enumerate(masks):
        out.append(os.path.join(dst, "mask%d.png" % i))
        shutil.copyfile(m, out[-1])
    return out


def same_data(a, b):
    assert a["imagefolder"]["samples"] == b["imagefolder"]["samples"]
    assert a["imagefolder"]["checksum"] == b["imagefolder"]["checksum"]
    for k in ("yolo_detect", "yolo_seg"):
        assert (a[k]["images"], a[k]["rows"], a[k]["shapes"]) == \
            (b[k]["images"], b[k]["rows"], b[k]["shapes"]), k
    assert (a["coco"]["images"], a["coco"]["annotations"]) == \
        (b["coco"]["images"], b["coco"]["annotations"])
    assert [m["sha"] for m in a["masks"]["masks"]] == [m["sha"] for m in b["masks"]["masks"]]


def test_training_reads_cold_warm_and_local(workdir, tmp_path):
    hub = Hub(workdir, seeds=("synthetic:%d" % N,))
    m = Mount(hub, workdir, opts=("rate_limit=0",))
    try:
        p = os.path.join(m.path, "synthetic-%d" % N)
        other = tmp_path / "elsewhere"
        other.mkdir()
        # masks written through the mount (checked, uploaded, set), then read back
        masks, written = [], []
        for i, t in enumerate(sorted(os.listdir(os.path.join(p, "tasks")))[:3]):
            path = os.path.join(p, "tasks", t, "mask.png")
            data = mask_png(i)
            with open(path, "wb") as f:
                f.write(data)
            with open(os.path.join(p, "tasks", t, "mask.png.status")) as f:
                assert f.read().startswith("sent: mask stored (1920x1080 PNG)")
            masks.append(path)
            written.append(data)
        hub.reset_stats()
        cold = run(os.path.join(p, "datasets"), str(other), masks)
        assert count(hub, EXPORT) == 1, hub.stats()["counts"]
        hub.reset_stats()
        warm = run(os.path.join(p, "datasets"), str(other), masks)
        warm_counts = hub.stats()["counts"]
        local = run(str(tmp_path / "copy"), str(other),
                    local_copy(os.path.join(p, "datasets"), str(tmp_path / "copy"), masks))
    finally:
        m.stop()
        hub.stop()
    for res in (cold, warm, local):
        f = res["imagefolder"]
        assert f["len"] > N // 2 and f["loaded"] == f["len"] and len(f["classes"]) > 1, f
        for k in ("yolo_detect", "yolo_seg"):
            y = res[k]
            assert y["images"] == N and y["val"] == N and y["bad"] == [], y["bad"]
            assert y["rows"] > N and set(map(tuple, y["shapes"].values())) == {(1080, 1920)}
        c = res["coco"]
        assert c["errors"] == [] and c["images"] == N and c["annotations"] > N, c["errors"]
        for i, mk in enumerate(res["masks"]["masks"]):
            assert mk["shape"] == [1080, 1920] and mk["same"], mk
            assert mk["set"] == 200 * 60
    assert [mk["sha"] for mk in cold["masks"]["masks"]] == [
        __import__("hashlib").sha256(d).hexdigest() for d in written]
    same_data(cold, warm)
    same_data(cold, local)
    # warm: everything from the caches (no image, mask or export fetched again)
    assert not any(k.startswith("GET /storage") or k == EXPORT for k in warm_counts), \
        warm_counts
    print("\nepoch (ImageFolder, DataLoader num_workers=4) seconds: cold %.2f, warm %.2f, "
          "local %.2f" % (cold["imagefolder"]["seconds"], warm["imagefolder"]["seconds"],
                          local["imagefolder"]["seconds"]))
