"""One name per asset in assets/ and every dataset view (issue 23 item 6),
on a real mount of the real local hub.

A second picture named like an old one (photo_01.png again, and
photo_01.jpg: the same stem) used to be photo_01~<asset id>.png in assets/
but photo_01~<task id>.png in datasets/ (README promised the same names).
Now every view names colliding images by their assets' ids and creation
times, as assets/ does (one filtered asset lookup per colliding externalId),
and a stage view takes the whole project's names."""
import hashlib
import io
import json
import os
import subprocess

import pytest
from PIL import Image

from conftest import Hub, Mount
from dsutil import PHOTOS, check_yolo, count, records

LOOKUP = "GET /v2/project/{id}/assets"


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def photos(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=("rate_limit=0",))
    yield hub, m, os.path.join(m.path, PHOTOS)
    m.stop()
    hub.stop()


def test_one_name_per_asset_in_assets_and_every_view(photos, tmp_path):
    hub, m, p = photos
    a = os.path.join(p, "assets")
    for name, color in (("photo_01.png", (1, 2, 3)), ("photo_01.jpg", (4, 5, 6))):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), color).save(buf, "PNG" if name.endswith("png") else "JPEG")
        (tmp_path / name).write_bytes(buf.getvalue())
        r = subprocess.run(["cp", str(tmp_path / name), a], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    os.utime(a)  # the listing read again from every page
    os.utime(os.path.join(p, "export"))
    in_assets = {n: digest(os.path.join(a, n)) for n in os.listdir(a) if n.startswith("photo_01")}
    assert len(in_assets) == 3 and "photo_01.png" in in_assets, in_assets
    assert sum("~" in n for n in in_assets) == 2
    recs = records(os.path.join(p, "export", "tasks.ndjson"))
    new_stage = next(r["task"]["stage"] for r in recs if r["externalId"] == "photo_01.jpg")
    hub.reset_stats()
    ds = os.path.join(p, "datasets")
    views = [os.path.join(ds, v, "images") for v in ("yolo", "yolo-seg", "coco")]
    views.append(os.path.join(ds, "stage", new_stage, "yolo", "images"))
    for v in views:
        got = {n: digest(os.path.join(v, n)) for n in os.listdir(v) if n.startswith("photo_01")}
        want = {n: d for n, d in in_assets.items() if n in got}
        assert got == want, (v, got, in_assets)  # the same picture under the same name
        if "stage" not in v:
            assert sorted(got) == sorted(in_assets), v
    # the labels follow the names
    _, rows = check_yolo(os.path.join(ds, "yolo"))
    assert sorted(n for n in rows if n.startswith("photo_01")) == sorted(in_assets)
    # lookups: one per colliding externalId and build (the whole view and,
    # for the stage view, the whole project's names again), nothing per image
    assert count(hub, LOOKUP) <= 4, hub.stats()["counts"]
