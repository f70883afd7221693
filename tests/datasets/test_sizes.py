"""Image sizes as loaders see them (issue 23 item 4), on a real mount of the
real local hub: pictures copied into assets/ without metadata (the hub keeps
none for them), a box drawn on each through the hub's API, then the YOLO and
COCO views read back and the images opened with OpenCV and PIL.

- A phone photo stored 400x200 with EXIF Orientation 6 is 200x400 for
  OpenCV's imread (what Ultralytics trains on) and PIL's exif_transpose, as
  for the annotator in the browser: COCO lists 200x400 and the YOLO row is
  normalised by it, so the row's box lands on the red rectangle OpenCV
  shows. Before: 400x200, the row normalised by the wrong size.
- WebP, BMP, GIF and TIFF are sized from their headers. Before: left out of
  YOLO and COCO as no_size."""
import io
import json
import os
import subprocess

import cv2
import pytest
from PIL import Image, ImageOps

from conftest import Hub, Mount
from dsutil import PHOTOS, check_coco, check_yolo, records

RED = (230, 20, 20)


def rotated_jpeg():
    """(bytes, the picture as shown): shown 200x400 with a red box at
    x 20..120, y 300..350; stored turned 90 degrees counter-clockwise
    (400x200) with Orientation 6, which turns it back clockwise."""
    shown = Image.new("RGB", (200, 400), (40, 40, 200))
    for x in range(20, 120):
        for y in range(300, 350):
            shown.putpixel((x, y), RED)
    stored = shown.transpose(Image.ROTATE_90)
    exif = Image.Exif()
    exif[274] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue(), shown


def encoded(fmt, size):
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 10)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture
def photos(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=("rate_limit=0",))
    yield hub, m, os.path.join(m.path, PHOTOS)
    m.stop()
    hub.stop()


def test_orientation_and_header_formats(photos, tmp_path):
    hub, m, p = photos
    jpg, shown = rotated_jpeg()
    files = {"phone.jpg": jpg, "w.webp": encoded("WEBP", (120, 80)),
             "b.bmp": encoded("BMP", (90, 60)), "g.gif": encoded("GIF", (70, 50)),
             "t.tif": encoded("TIFF", (50, 40))}
    sizes = {"phone.jpg": (200, 400), "w.webp": (120, 80), "b.bmp": (90, 60),
             "g.gif": (70, 50), "t.tif": (50, 40)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    r = subprocess.run(["cp"] + [str(tmp_path / n) for n in files] + [os.path.join(p, "assets")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(p, "project.json")) as f:
        car = next(t["schemaId"] for t in json.load(f)["categorySchema"]["tools"]
                   if t["title"] == "Car")
    os.utime(os.path.join(p, "export"))
    recs = {r["externalId"]: r for r in records(os.path.join(p, "export", "tasks.ndjson"))
            if r["externalId"] in files}
    assert sorted(recs) == sorted(files)
    assert all(not r["metadata"].get("width") for r in recs.values())  # sizes from headers
    box = {"x": 20, "y": 300, "width": 100, "height": 50}  # as the annotator saw it
    for name, rec in recs.items():
        st, body = hub.api("POST", "/annotate/" + rec["task"]["taskId"], {"answer": {
            "tools": [{"schemaId": car, "objectId": "o-" + name, "bounding-box": box}],
            "classifications": [], "relations": []}})
        assert st == 200, body
    os.utime(os.path.join(p, "export"))

    ds = os.path.join(p, "datasets")
    doc = check_coco(os.path.join(ds, "coco"))
    coco = {i["file_name"]: (i["width"], i["height"]) for i in doc["images"]}
    for name, size in sizes.items():
        assert coco.get(name) == size, (name, coco.get(name))
    _, rows = check_yolo(os.path.join(ds, "yolo"))
    # phone.jpg: (20+50)/200, (300+25)/400, 100/200, 50/400
    assert rows["phone.jpg"] == [(0, pytest.approx([0.35, 0.8125, 0.5, 0.125], abs=1e-6))]
    with open(os.path.join(ds, "yolo", "skipped.txt")) as f:
        assert "no_size" not in f.read()

    # the loaders: OpenCV's imread and PIL's exif_transpose show 200x400,
    # and the YOLO box lands on the red rectangle OpenCV shows
    img = os.path.join(ds, "yolo", "images", "phone.jpg")
    cv = cv2.imread(img, cv2.IMREAD_COLOR)
    assert cv.shape[:2] == (400, 200)
    b, g, r_ = (int(v) for v in cv[int(0.8125 * 400), int(0.35 * 200)])
    assert r_ > 180 and g < 80 and b < 80, (r_, g, b)
    with Image.open(img) as im:
        assert im.size == (400, 200)  # as stored
        t = ImageOps.exif_transpose(im)
        assert t.size == (200, 400) and t.getpixel((70, 325))[0] > 180
    for name in ("w.webp", "b.bmp", "t.tif"):  # OpenCV 4.6 reads no GIF
        shape = cv2.imread(os.path.join(ds, "yolo", "images", name)).shape
        assert (shape[1], shape[0]) == sizes[name], name
    for name, size in sizes.items():
        with Image.open(os.path.join(ds, "coco", "images", name)) as im:
            assert ImageOps.exif_transpose(im).size == size, name


def test_a_header_that_cannot_be_read_is_not_read_again_for_every_generation(photos):
    """An asset without metadata size whose media cannot be fetched (here a
    refused connection): the first build of the views tries to read its
    header (the client's retries) and lists it as no_size; builds of later
    generations within 10 minutes do not try again (read/views/image_headers.c). Before: every
    new generation of the export paid the whole retry cycle per such image
    (the race model test: about 2 s an image, listings of 8-12 s)."""
    hub, m, p = photos
    with open(os.path.join(p, "project.json")) as f:
        doc = json.load(f)
    pid = doc.get("projectId") or doc["_id"]
    url = "http://127.0.0.1:1/unreachable-%s.png" % os.getpid()
    st, body = hub.api("POST", "/project/%s/cloud" % pid,
                       {"assets": [{"data": url, "externalId": "unreachable.png"}]})
    assert st in (200, 201), body
    os.utime(os.path.join(p, "export"))
    yolo = os.path.join(p, "datasets", "yolo")

    def tries():
        return m.log_text().count("GET " + url)

    os.listdir(os.path.join(yolo, "images"))
    with open(os.path.join(yolo, "skipped.txt")) as f:
        assert "no_size" in f.read()
    first = tries()
    assert first >= 1, "the header was never asked for: the test proves nothing"
    tid = records(os.path.join(p, "export", "tasks.ndjson"))[0]["task"]["taskId"]
    gens = set()
    for _ in range(2):  # two more generations of the export: a task changes
        st, body = hub.api("POST", "/annotate/" + tid,
                           {"answer": {"tools": [], "classifications": [], "relations": []}})
        assert st == 200, body
        os.utime(os.path.join(p, "export"))
        os.listdir(os.path.join(yolo, "images"))
        gens.add(m.log_text().count("datasets: indexed"))
    assert len(gens) == 2, "no new generation was indexed: the test proves nothing"
    assert tries() == first, "the header was read again for a later generation"
