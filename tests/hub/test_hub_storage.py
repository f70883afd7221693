"""angofs-hub storage and masks: seeded brush masks are real PNGs in the hub's
storage, referenced by the task's brushDataUrl (GET /task, task lists,
exports), served from signed, expiring URLs that need no API key; /annotate
keeps (lenient) or clears (strict) a mask it is not told about, clears it on
null and sets it to a stored object's URL (docs/HUB.md, "Storage", "Profiles")."""
import os
import urllib.parse

import pytest

from conftest import Hub
from hubutil import (all_tasks, export_records, fetch, fetch_until_expired, main_project,
                     png_decode)


def start(module_workdir, name, *args):
    d = os.path.join(module_workdir, name)
    os.makedirs(d)
    return Hub(d, extra_args=list(args))


@pytest.fixture(scope="module")
def lenient(module_workdir):
    h = start(module_workdir, "lenient", "--profile", "lenient")
    yield h
    h.stop()


@pytest.fixture(scope="module")
def strict(module_workdir):
    h = start(module_workdir, "strict", "--profile", "strict")
    yield h
    h.stop()


def masked(hub):
    pid = main_project(hub)
    return pid, [t for t in all_tasks(hub, pid, includeAnswer="true") if "brushDataUrl" in t]


def test_seeded_masks_are_real_pngs_of_the_answer(lenient):
    pid, tasks = masked(lenient)
    assert len(tasks) == 4
    assert all(t["stage"] == "Complete" for t in tasks)
    for t in tasks:
        url = t["brushDataUrl"]
        u = urllib.parse.urlparse(url)
        assert url.startswith(lenient.url + "/storage/brushes/%s/" % pid)
        q = urllib.parse.parse_qs(u.query)
        assert set(q) == {"Expires", "Signature"} and len(q["Signature"][0]) == 64
        st, hdrs, raw = fetch(url)  # no apikey, like a pre-signed URL
        assert st == 200 and hdrs["Content-Type"] == "image/png", raw[:200]
        w, h, px = png_decode(raw)
        assert (w, h) == (1920, 1080)
        shapes = [s for s in t["answer"]["tools"] if "bounding-box" in s or "polygon" in s]
        assert shapes
        last = shapes[-1]  # drawn last: on top
        if "bounding-box" in last:
            b = last["bounding-box"]
            cx, cy = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
            assert px(int(cx), int(cy))[3] == 255
        # a corner outside every shape is transparent
        def inside(x, y):
            for s in shapes:
                if "bounding-box" in s:
                    b = s["bounding-box"]
                    x0, x1 = sorted((b["x"], b["x"] + b["width"]))
                    y0, y1 = sorted((b["y"], b["y"] + b["height"]))
                else:
                    xs, ys = [p[0] for p in s["polygon"]], [p[1] for p in s["polygon"]]
                    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
                if x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1:
                    return True
            return False
        free = [(x, y) for x, y in ((0, 0), (1919, 0), (0, 1079), (1919, 1079), (960, 0))
                if not inside(x, y)]
        assert free and all(px(x, y)[3] == 0 for x, y in free)


def test_task_and_export_show_the_mask(lenient):
    pid, tasks = masked(lenient)
    t = tasks[0]
    st, body = lenient.api("GET", "/task/" + t["_id"])
    assert st == 200 and "brushDataUrl" in body["data"]["task"]
    path = lambda u: urllib.parse.urlparse(u).path
    assert path(body["data"]["task"]["brushDataUrl"]) == path(t["brushDataUrl"])
    recs = {r["task"]["taskId"]: r for r in export_records(lenient, pid, stage=["Complete"])}
    assert sum(1 for r in recs.values() if "brushDataUrl" in r["task"]) == 4
    url = recs[t["_id"]]["task"]["brushDataUrl"]
    assert path(url) == path(t["brushDataUrl"])
    st, _, raw = fetch(url)
    assert st == 200 and raw[:4] == b"\x89PNG"
    # tasks without a mask have no such field
    other = [r for r in recs.values() if r["task"]["taskId"] not in {x["_id"] for x in tasks}]
    assert other and all("brushDataUrl" not in r["task"] for r in other)


def test_private_object_needs_a_valid_signature(lenient):
    _, tasks = masked(lenient)
    url = tasks[0]["brushDataUrl"]
    bare = url.split("?")[0]
    st, _, raw = fetch(bare)
    assert st == 403 and b"AccessDenied" in raw
    sig = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["Signature"][0]
    bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    st, _, raw = fetch(bad)
    assert st == 403 and b"SignatureDoesNotMatch" in raw
    # a signature is bound to its key and its expiry
    other = tasks[1]["brushDataUrl"].split("?")[0] + "?" + url.split("?")[1]
    assert fetch(other)[0] == 403
    exp = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["Expires"][0]
    assert fetch(url.replace("Expires=" + exp, "Expires=%d" % (int(exp) + 1)))[0] == 403
    st, _, raw = fetch(url.split("/storage/")[0] + "/storage/brushes/x/../../hub.db")
    assert st == 403
    st, hdrs, part = fetch(url, headers={"Range": "bytes=0-7"})
    assert st == 206 and part == b"\x89PNG\r\n\x1a\n"
    assert lenient.stats()["counts"]["GET /storage"] >= 1


def test_signed_url_expires(workdir):
    # lenient: task lists show masks signed afresh (strict shows them bare,
    # tests/hub/test_hub_sdk.py)
    hub = Hub(workdir, extra_args=["--signed-url-ttl", "1", "--profile", "lenient"])
    try:
        _, tasks = masked(hub)
        url = tasks[0]["brushDataUrl"]
        st, raw = fetch_until_expired(url)
        assert st == 403 and b"Request has expired" in raw
        # the task shows a freshly signed URL again
        st, body = hub.api("GET", "/task/" + tasks[0]["_id"])
        assert fetch(body["data"]["task"]["brushDataUrl"])[0] == 200
    finally:
        hub.stop()


def annotate(hub, tid, answer, **extra):
    body = dict({"answer": {"objects": answer["tools"],
                            "classifications": answer["classifications"],
                            "relations": answer["relations"]}}, **extra)
    return hub.api("POST", "/annotate/" + tid, body)


def test_lenient_annotate_keeps_an_unmentioned_mask(workdir):
    hub = Hub(workdir, extra_args=["--profile", "lenient"])
    try:
        _, tasks = masked(hub)
        t = tasks[0]
        st, body = annotate(hub, t["_id"], t["answer"])
        assert st == 200 and "brushDataUrl" in body["data"]["label"]
        st, body = hub.api("GET", "/task/" + t["_id"])
        assert "brushDataUrl" in body["data"]["task"]
        st, body = annotate(hub, t["_id"], t["answer"], brushDataUrl=None)
        assert st == 200 and "brushDataUrl" not in body["data"]["label"]
    finally:
        hub.stop()


def test_strict_annotate_clears_an_unmentioned_mask(strict):
    _, tasks = masked(strict)
    t, u = tasks[0], tasks[1]
    # passing the URL back (even a signed one) keeps it
    st, body = annotate(strict, t["_id"], t["answer"], brushDataUrl=t["brushDataUrl"])
    assert st == 200
    path = lambda x: urllib.parse.urlparse(x).path
    assert path(body["data"]["label"]["brushDataUrl"]) == path(t["brushDataUrl"])
    # not mentioning it clears it
    st, body = annotate(strict, t["_id"], t["answer"])
    assert st == 200 and "brushDataUrl" not in body["data"]["label"]
    st, body = strict.api("GET", "/task/" + t["_id"])
    assert "brushDataUrl" not in body["data"]["task"]
    # any stored object can be set; an external URL is kept verbatim
    st, body = annotate(strict, t["_id"], t["answer"], brushDataUrl=u["brushDataUrl"])
    assert st == 200 and path(body["data"]["label"]["brushDataUrl"]) == path(u["brushDataUrl"])
    ext = "https://bucket.example.com/masks/m.png"
    st, body = annotate(strict, t["_id"], t["answer"], brushDataUrl=u["brushDataUrl"],
                        medicalBrushDataUrl=ext)
    assert st == 200 and body["data"]["label"]["medicalBrushDataUrl"] == ext
    st, body = annotate(strict, t["_id"], t["answer"])
    assert st == 200 and "medicalBrushDataUrl" not in body["data"]["label"]


@pytest.mark.parametrize("value,word", [
    ("ftp://x/y.png", "brushDataUrl"), (12, "brushDataUrl"), ("", "brushDataUrl"),
    ("{base}/storage/brushes/{pid}/nothing.png", "nothing.png"),
    ("{base}/storage/brushes/../x", "brushDataUrl"),
])
def test_annotate_rejects_bad_mask_urls(lenient, value, word):
    pid, tasks = masked(lenient)
    t = tasks[2]
    if isinstance(value, str):
        value = value.format(base=lenient.url, pid=pid)
    st, body = annotate(lenient, t["_id"], t["answer"], brushDataUrl=value)
    assert st == 400 and word in body["message"], body
    st, body = lenient.api("GET", "/task/" + t["_id"])
    assert "brushDataUrl" in body["data"]["task"]  # nothing changed


def test_seeded_medical_mask(lenient):
    pid = main_project(lenient)
    med = [t for t in all_tasks(lenient, pid) if "medicalBrushDataUrl" in t]
    assert len(med) == 1 and med[0]["externalId"] == "street_0046.jpg"
    url = med[0]["medicalBrushDataUrl"]
    assert url.startswith(lenient.url + "/storage/medicalBrushes/%s/" % pid)
    assert ".seg.nrrd?" in url
    assert fetch(url.split("?")[0])[0] == 403
    st, _, raw = fetch(url)
    assert st == 200 and raw.startswith(b"NRRD0004\n")
    head, _, voxels = raw.partition(b"\n\n")
    assert b"sizes: 64 64 4" in head and b"encoding: raw" in head
    assert len(voxels) == 64 * 64 * 4 and voxels.count(1) == 2 * 32 * 32
