"""Write side: writing tasks/<id>/mask.png (issue 13, item 2).

A PNG written there is checked (signature + IHDR, the asset's size when its
metadata has it), uploaded to the hub's storage (getUploadUrl type brushes,
PUT) and set on the task with /annotate, the rest of the answer untouched.
The strict hub profile is used: it clears a mask or answer a client leaves
out, so a write that dropped anything would show here. Street Photos' assets
are 1920x1080 pictures with that metadata."""
import errno
import io
import json
import os
import urllib.parse

import pytest

from PIL import Image

from hubutil import all_tasks, fetch_signed, project_by_name
from test_write_common import (count, hub_task, main_project, project_dir, read, status_state,
                               strict, write_file)  # noqa: F401 (fixture)

UPURL = "GET /v2/getUploadUrl"
PUT = "PUT /storage"
ANNOTATE = "POST /v2/annotate/{id}"
TASK = "GET /v2/task/{id}"


def png(w, h, color=(255, 0, 0, 255)):
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    for x in range(10, 60):
        for y in range(10, 40):
            img.putpixel((x, y), color)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def fetch(hub, url):
    """The object's bytes, signed first when the URL is bare and private."""
    pid = urllib.parse.urlsplit(url).path.split("/")[3]  # /storage/<type>/<project>/...
    return fetch_signed(hub, url, pid)


def photos_task(hub, m, answered=True):
    pid = project_by_name(hub, "Street Photos")
    for t in all_tasks(hub, pid):
        full = hub_task(hub, t["_id"])
        if bool(full.get("answer", {}).get("tools")) == answered:
            return pid, full, os.path.join(project_dir(m, pid), "tasks", t["_id"])
    raise AssertionError("no task of Street Photos with an answer=%s" % answered)


def warm(tdir):
    """Look the task directory up (the read side's lookup is then cached), so
    the hub's counters that follow show only what the write made."""
    os.listdir(tdir)
    os.stat(os.path.join(tdir, "answer.json"))


def test_new_mask_is_stored_and_keeps_the_answer(strict):
    hub, m = strict
    pid, t, tdir = photos_task(hub, m)
    before = hub_task(hub, t["_id"])
    data = png(1920, 1080)
    warm(tdir)
    hub.reset_stats()
    assert write_file(os.path.join(tdir, "mask.png"), data) is None
    log = [(r["route"], r["path"]) for r in hub.stats()["log"]]
    st = read(os.path.join(tdir, "mask.png.status"))
    assert st.startswith("sent: mask stored (1920x1080 PNG) and set on the task"), st
    after = hub_task(hub, t["_id"])
    # the answer is untouched, the mask is ours, byte for byte
    assert after["answer"]["tools"] == before["answer"]["tools"]
    assert after["answer"]["classifications"] == before["answer"]["classifications"]
    assert after["answer"]["relations"] == before["answer"]["relations"]
    assert fetch(hub, after["brushDataUrl"]) == data
    img = Image.open(io.BytesIO(fetch(hub, after["brushDataUrl"])))
    assert img.size == (1920, 1080) and img.getpixel((20, 20)) == (255, 0, 0, 255)
    # requests: the task, the asset's size, the upload, one annotate
    routes = [r for r, _ in log]
    assert routes.count(TASK) == 1, log  # the answer, read right before
    assert routes.count(UPURL) == 1 and routes.count(PUT) == 1 and routes.count(ANNOTATE) == 1
    assert routes.count("GET /v2/project/{id}/assets") == 1, log
    # the mount shows the new mask next to the answer
    shown = json.loads(read(os.path.join(tdir, "answer.json")))
    assert urllib.parse.urlsplit(shown["brushDataUrl"]).path == \
        urllib.parse.urlsplit(after["brushDataUrl"]).path
    # and mask.png reads back the new mask (read side), PIL opens it
    with open(os.path.join(tdir, "mask.png"), "rb") as f:
        assert f.read() == data
    assert Image.open(os.path.join(tdir, "mask.png")).size == (1920, 1080)


def test_mask_on_a_task_without_answer_saved_by_pil(strict):
    hub, m = strict
    pid, t, tdir = photos_task(hub, m, answered=False)
    img = Image.new("L", (1920, 1080))
    img.putpixel((5, 5), 200)
    img.save(os.path.join(tdir, "mask.png"))  # PIL opens, writes, closes
    assert status_state(os.path.join(tdir, "mask.png.status")) == "sent"
    after = hub_task(hub, t["_id"])
    assert Image.open(io.BytesIO(fetch(hub, after["brushDataUrl"]))).getpixel((5, 5)) == 200
    assert after["brushDataUrl"] and after["answer"].get("tools", []) == []


def test_not_a_png_refused_nothing_sent(strict):
    hub, m = strict
    pid, t, tdir = photos_task(hub, m)
    warm(tdir)
    hub.reset_stats()
    for bad, why in ((b"GIF89a not a png at all", "is not a PNG image"),
                     (b"\x89PNG\r\n\x1a\n" + b"\0" * 10, "no IHDR chunk")):
        e = write_file(os.path.join(tdir, "mask.png"), bad)
        assert isinstance(e, OSError) and e.errno == errno.EINVAL, e
        st = read(os.path.join(tdir, "mask.png.status"))
        assert st.startswith("failed: ") and why in st, st
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "JPEG")
    e = write_file(os.path.join(tdir, "mask.png"), buf.getvalue())
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    assert count(hub, TASK) == 0 and count(hub, PUT) == 0 and count(hub, ANNOTATE) == 0
    assert count(hub, UPURL) == 0
    assert "brushDataUrl" not in hub_task(hub, t["_id"]) or \
        hub_task(hub, t["_id"])["brushDataUrl"] == t.get("brushDataUrl")


def test_stored_mask_png_shows_writable_medical_mask_does_not(strict):
    """mask.png can be replaced through the mount, so its mode says so (0644):
    with -o default_permissions the kernel checks it and a 0444 mask.png
    refused its owner's cp over it. mask.seg.nrrd is read-only (0444)."""
    import stat as st_
    hub, m = strict
    pid = main_project(hub)
    tasks = all_tasks(hub, pid)
    tdir = os.path.join(project_dir(m, pid), "tasks")
    seen = set()
    for t in tasks:
        for name in ("mask.png", "mask.seg.nrrd"):
            p = os.path.join(tdir, t["_id"], name)
            if name not in seen and os.path.exists(p):
                seen.add(name)
                mode = st_.S_IMODE(os.stat(p).st_mode)
                assert mode == (0o644 if name == "mask.png" else 0o444), (name, oct(mode))
        if len(seen) == 2:
            break
    assert seen == {"mask.png", "mask.seg.nrrd"}


def test_truncated_png_refused_nothing_sent(strict):
    """A PNG of the right size cut short (an interrupted copy) or with chunks
    missing at its end is refused before anything is sent: it would replace a
    good mask with one no reader can open."""
    hub, m = strict
    pid, t, tdir = photos_task(hub, m)
    warm(tdir)
    good = png(1920, 1080)
    hub.reset_stats()
    for bad in (good[:100], good[:-12], good[:len(good) // 2]):
        e = write_file(os.path.join(tdir, "mask.png"), bad)
        assert isinstance(e, OSError) and e.errno == errno.EINVAL, e
        st = read(os.path.join(tdir, "mask.png.status"))
        assert st.startswith("failed: mask.png is not a complete PNG"), st
    assert count(hub, TASK) == 0 and count(hub, PUT) == 0 and count(hub, ANNOTATE) == 0
    assert count(hub, UPURL) == 0
    assert write_file(os.path.join(tdir, "mask.png"), good) is None
    assert status_state(os.path.join(tdir, "mask.png.status")) == "sent"


def test_wrong_size_refused_nothing_uploaded(strict):
    hub, m = strict
    pid, t, tdir = photos_task(hub, m)
    hub.reset_stats()
    e = write_file(os.path.join(tdir, "mask.png"), png(640, 480))
    assert isinstance(e, OSError) and e.errno == errno.EINVAL
    st = read(os.path.join(tdir, "mask.png.status"))
    assert "mask.png is 640x480 but the task's asset is 1920x1080" in st, st
    assert count(hub, PUT) == 0 and count(hub, UPURL) == 0 and count(hub, ANNOTATE) == 0
    assert hub_task(hub, t["_id"]).get("brushDataUrl") == t.get("brushDataUrl")
    # the refused mask stays visible (nothing lost), listed once; rm drops it
    assert os.path.exists(os.path.join(tdir, "mask.png"))
    names = os.listdir(tdir)
    assert names.count("mask.png") == 1 and names.count("mask.png.status") == 1, names
    os.unlink(os.path.join(tdir, "mask.png"))


def test_annotate_failure_retried_without_a_second_upload(strict):
    hub, m = strict
    pid, t, tdir = photos_task(hub, m)
    hub.reset_stats()
    hub.fault(route=ANNOTATE, status=503, count=8)
    dst = os.path.join(tdir, "mask.png")
    e = write_file(dst, png(1920, 1080))
    assert isinstance(e, OSError), e
    assert status_state(dst + ".status") == "pending"
    hub.clear_faults()
    from test_write_common import wait_for
    wait_for(lambda: status_state(dst + ".status") == "sent", 90, "background delivery")
    assert count(hub, PUT) == 1 and count(hub, UPURL) == 1
    after = hub_task(hub, t["_id"])
    assert after["brushDataUrl"] and after["answer"]["tools"] == t["answer"]["tools"]


def damage(data, where):
    """data (a PNG) with its IHDR CRC wrong ("ihdr"), or a byte of its IDAT's
    compressed stream changed and that chunk's CRC made right again ("idat":
    only inflating finds it)."""
    import struct
    import zlib
    b = bytearray(data)
    if where == "ihdr":
        b[29] ^= 0x55
        return bytes(b)
    off = 8
    while off < len(b):
        n = struct.unpack(">I", b[off:off + 4])[0]
        if b[off + 4:off + 8] == b"IDAT":
            b[off + 8 + n // 2] ^= 0xff
            b[off + 8 + n:off + 12 + n] = struct.pack(">I", zlib.crc32(bytes(b[off + 4:off + 8 + n])))
            return bytes(b)
        off += 12 + n
    raise AssertionError("no IDAT")


def test_undecodable_mask_refused_good_one_kept(strict):
    """Issue 23: a PNG whose chunks are complete but whose IHDR CRC is wrong,
    or whose IDAT data does not inflate, was 'sent: mask stored' and replaced
    the task's good mask; PIL and OpenCV cannot open it. Now refused with
    EINVAL before any request; the good mask stays."""
    import cv2
    import numpy
    hub, m = strict
    pid, t, tdir = photos_task(hub, m)
    good = png(1920, 1080)
    assert write_file(os.path.join(tdir, "mask.png"), good) is None
    stored = hub_task(hub, t["_id"])["brushDataUrl"]
    warm(tdir)
    hub.reset_stats()
    for where in ("ihdr", "idat"):
        bad = damage(good, where)
        # OpenCV cannot open either (PIL shows garbage rows for the second)
        assert cv2.imdecode(numpy.frombuffer(bad, numpy.uint8), cv2.IMREAD_UNCHANGED) is None
        if where == "ihdr":
            with pytest.raises(Exception):
                Image.open(io.BytesIO(bad)).load()
        e = write_file(os.path.join(tdir, "mask.png"), bad)
        assert isinstance(e, OSError) and e.errno == errno.EINVAL, (where, e)
        st = read(os.path.join(tdir, "mask.png.status"))
        assert st.startswith("failed: mask.png is not a valid PNG: "), st
    assert hub.stats()["total"] == 0, hub.stats()["counts"]
    assert hub_task(hub, t["_id"])["brushDataUrl"] == stored


def plain_png(w, h):
    buf = io.BytesIO()
    Image.new("L", (w, h)).save(buf, "PNG")
    return buf.getvalue()


def test_mask_size_checked_against_a_jpeg_assets_header(strict, tmp_path):
    """Issue 23: the hub keeps no width/height for JPEG assets, and a 10x10
    mask was stored on a 305x154 picture. Now the size comes from the
    asset's header (one Range request for its first bytes), with EXIF
    orientation applied as the editor shows the picture."""
    import subprocess
    hub, m = strict
    pid = project_by_name(hub, "Street Photos")
    pdir = project_dir(m, pid)
    plain = io.BytesIO()
    Image.new("RGB", (305, 154), (9, 9, 9)).save(plain, "JPEG")
    turned = io.BytesIO()
    exif = Image.Exif()
    exif[274] = 6
    Image.new("RGB", (400, 200), (9, 9, 9)).save(turned, "JPEG", exif=exif.tobytes())
    (tmp_path / "pic.jpg").write_bytes(plain.getvalue())
    (tmp_path / "phone.jpg").write_bytes(turned.getvalue())
    r = subprocess.run(["cp", str(tmp_path / "pic.jpg"), str(tmp_path / "phone.jpg"),
                        os.path.join(pdir, "assets")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    os.utime(os.path.join(pdir, "export"))
    with open(os.path.join(pdir, "export", "tasks.ndjson")) as f:
        recs = {j["externalId"]: j for j in map(json.loads, f) if j["externalId"] in
                ("pic.jpg", "phone.jpg")}
    assert not recs["pic.jpg"]["metadata"].get("width")  # no size kept by the hub
    tdir = os.path.join(pdir, "tasks", recs["pic.jpg"]["task"]["taskId"])
    warm(tdir)
    hub.reset_stats()
    e = write_file(os.path.join(tdir, "mask.png"), plain_png(10, 10))
    assert isinstance(e, OSError) and e.errno == errno.EINVAL, e
    st = read(os.path.join(tdir, "mask.png.status"))
    assert "mask.png is 10x10 but the task's asset is 305x154 (from its JPEG header)" in st, st
    assert count(hub, PUT) == 0 and count(hub, UPURL) == 0 and count(hub, ANNOTATE) == 0
    reads = [x for x in hub.stats()["log"] if x["route"] == "GET /storage"]
    assert len(reads) == 1 and reads[0]["status"] == 206 and reads[0]["bytes"] <= 4096, reads
    assert write_file(os.path.join(tdir, "mask.png"), plain_png(305, 154)) is None
    assert status_state(os.path.join(tdir, "mask.png.status")) == "sent"
    # the phone photo: stored 400x200, Orientation 6: the editor shows 200x400
    tdir = os.path.join(pdir, "tasks", recs["phone.jpg"]["task"]["taskId"])
    e = write_file(os.path.join(tdir, "mask.png"), plain_png(400, 200))
    assert isinstance(e, OSError) and e.errno == errno.EINVAL, e
    assert "asset is 200x400 (from its JPEG header)" in read(os.path.join(tdir, "mask.png.status"))
    assert write_file(os.path.join(tdir, "mask.png"), plain_png(200, 400)) is None
