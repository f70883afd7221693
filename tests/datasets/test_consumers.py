"""Issue 13 item 6: the dataset views read by real consumers (Debian's
python3-torchvision, python3-pil, python3-opencv) on a real mount of the
demo hub: torchvision's ImageFolder + DataLoader(num_workers=4) loads every
image (and, over stage/Complete/, the finished tasks' only), PIL and OpenCV open every COCO image at the size annotations.json
gives, every YOLO box lands on a shape of its class's colour (the demo's
"Street Photos" pictures are drawn from their answers), and one image is the
same bytes through every view. The consumers run in one child process
(tests/datasets/consumers.py) so torch is imported once. Request counts
prove one export per filter and one download per image, not per view."""
import json
import os
import subprocess
import sys

import pytest

from conftest import Mount
from dsutil import EXPORT, PHOTOS, count, records

HERE = os.path.dirname(os.path.abspath(__file__))
# class colours of the demo's drawing (contrib/hub/png.c img_class_color)
COLOUR = {"Car": [244, 67, 54], "Pedestrian": [33, 150, 243], "Road": [96, 125, 139]}
BACKGROUND = ([48, 56, 64], [74, 74, 74])  # sky, street


def weather(rec):
    for c in rec["task"].get("classifications", []):
        if c.get("title") == "Weather":
            return c.get("answer")
    return None


@pytest.fixture(scope="module")
def seen(module_hub, module_workdir):
    m = Mount(module_hub, module_workdir)
    try:
        ds = os.path.join(m.path, PHOTOS, "datasets")
        module_hub.reset_stats()
        r = subprocess.run([sys.executable, os.path.join(HERE, "consumers.py"), ds],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        counts = module_hub.stats()["counts"]
        recs = records(os.path.join(m.path, PHOTOS, "export", "tasks.ndjson"))
        with open(os.path.join(ds, "yolo", "data.yaml")) as f:
            names = [line.strip().strip('- "') for line in f if line.startswith("  - ")]
        yield json.loads(r.stdout), counts, recs, names
    finally:
        m.stop()


def test_imagefolder_loads_every_image_with_four_workers(seen):
    out, _, recs, _ = seen
    f = out["imagefolder"]
    want = sorted((weather(r) + "/" + r["externalId"]) for r in recs if weather(r))
    assert f["len"] == len(want) == f["loaded"] > 0
    assert sorted(p for p, _ in f["samples"]) == sorted("imagefolder/" + w for w in want)
    assert f["classes"] == sorted({w.split("/")[0] for w in want})
    by_ext = {r["externalId"]: r for r in recs}
    for (path, _), shape in zip(f["samples"], f["shapes"]):
        md = by_ext[os.path.basename(path)]["metadata"]
        assert shape == [md["height"], md["width"]]


def test_the_complete_stage_view_holds_finished_tasks_only(seen):
    out, counts, recs, _ = seen
    f = out["stage_imagefolder"]
    want = sorted("stage/Complete/imagefolder/%s/%s" % (weather(r), r["externalId"])
                  for r in recs if weather(r) and r["task"]["stage"] == "Complete")
    assert 0 < len(want) < out["imagefolder"]["len"]
    assert f["samples"] == want and f["len"] == f["loaded"] == len(want)


def test_pil_and_opencv_open_every_coco_image_at_its_size(seen):
    out, _, recs, _ = seen
    assert sorted(out["coco"]) == sorted(r["externalId"] for r in recs)
    for name, s in out["coco"].items():
        assert s["pil"] == s["cv2"] == s["coco"], name


def test_yolo_boxes_land_on_shapes_of_their_class(seen):
    out, _, _, names = seen
    boxes = out["yolo_boxes"]
    assert boxes
    shapes = list(COLOUR.values())
    for b in boxes:
        # every box is on a drawn shape (a later shape may cover it: then on that one)
        assert any(list(c) in shapes for c in b["colours"]), b
    own = sum(1 for b in boxes if COLOUR[names[b["cls"]]] in [list(c) for c in b["colours"]])
    assert own >= len(boxes) * 0.8, (own, len(boxes))


def test_one_image_is_the_same_bytes_everywhere_and_costs_one_download(seen):
    out, counts, recs, _ = seen
    assert sorted(out["digests"]) == sorted(r["externalId"] for r in recs)
    assert all(len(d) == 1 for d in out["digests"].values()), out["digests"]
    # one export per filter (the whole project's, shared by every view, and
    # the Complete stage's); one storage download per picture however many
    # views and workers read it; nothing per task
    assert counts.get(EXPORT) == 2, counts
    assert counts.get("GET /storage", 0) <= len(recs), counts
    assert not any("/task/" in k for k in counts), counts


def test_tar_of_a_view_never_read_is_byte_complete(module_hub, workdir):
    """Image sizes are unknown (1 byte) until fetched; the open that fetches
    makes them true before tar's fstat, as for exports."""
    m = Mount(module_hub, workdir)
    try:
        ds = os.path.join(m.path, PHOTOS, "datasets")
        tarf = os.path.join(workdir, "yolo.tar")
        r = subprocess.run(["tar", "-cf", tarf, "-C", ds, "yolo", "imagefolder"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out = os.path.join(workdir, "x")
        os.mkdir(out)
        subprocess.run(["tar", "-xf", tarf, "-C", out], check=True, timeout=300)
        n = 0
        for sub in ("yolo/images", "yolo/labels", "imagefolder"):
            for root, _, files in os.walk(os.path.join(ds, sub)):
                for f in files:
                    path = os.path.join(root, f)
                    with open(path, "rb") as a, open(
                            os.path.join(out, os.path.relpath(path, ds)), "rb") as b:
                        assert a.read() == b.read(), path
                    n += 1
        assert n > 16
    finally:
        m.stop()
