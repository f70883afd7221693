"""angofs-hub storage API (issue 13 item 5, hub side): demo pictures in the
storage (public and private), GET /getSignedUrl, GET /getUploadUrl + PUT,
POST /project/{id}/cloud creating assets and tasks, and generated images."""
import os

import pytest

from conftest import Hub
from hubutil import all_tasks, export_records, fetch, png_decode, project_by_name

PHOTOS = "Street Photos"
BG, STREET = (0x30, 0x38, 0x40, 255), (0x4a, 0x4a, 0x4a, 255)


@pytest.fixture(scope="module")
def hub(module_workdir):
    d = os.path.join(module_workdir, "cloud")
    os.makedirs(d)
    h = Hub(d, extra_args=["--profile", "lenient"])
    yield h
    h.stop()


def assets(hub, pid):
    st, body = hub.api("GET", "/project/%s/assets" % pid, query={"limit": 100})
    assert st == 200, body
    return body["data"]["assets"]


def test_demo_pictures_public_and_private(hub):
    pid = project_by_name(hub, PHOTOS)
    got = {a["externalId"]: a for a in assets(hub, pid)}
    assert sorted(got) == ["photo_%02d.png" % i for i in range(1, 9)]
    for i in range(1, 9):
        url = got["photo_%02d.png" % i]["data"]
        assert url.startswith(hub.url + "/storage/assets/%s/" % pid)
        if i % 2:  # public: the plain object URL works without a key
            assert "?" not in url
        else:  # private: signed; the bare object URL is refused
            assert "Signature=" in url
            assert fetch(url.split("?")[0])[0] == 403
        st, hdrs, raw = fetch(url)
        assert st == 200 and hdrs["Content-Type"] == "image/png"
        assert png_decode(raw)[:2] == (1920, 1080)


def test_demo_boxes_land_on_visible_shapes(hub):
    pid = project_by_name(hub, PHOTOS)
    urls = {a["externalId"]: a["data"] for a in assets(hub, pid)}
    checked = 0
    for t in all_tasks(hub, pid, includeAnswer="true"):
        boxes = [s["bounding-box"] for s in t["answer"]["tools"] if "bounding-box" in s]
        if not boxes:
            continue
        w, h, px = png_decode(fetch(urls[t["externalId"]])[2])
        for b in boxes:
            x, y = int(b["x"] + b["width"] / 2), int(b["y"] + b["height"] / 2)
            assert px(x, y) not in (BG, STREET), (t["externalId"], b)
            checked += 1
        # and the picture is not one colour: a corner far from the boxes is background
        assert px(0, 0) in (BG, STREET) or checked == 0
    assert checked >= 3


def test_get_signed_url(hub):
    pid = project_by_name(hub, PHOTOS)
    private = [a["data"] for a in assets(hub, pid) if "?" in a["data"]][0].split("?")[0]
    for q in ({"url": private}, {"name": private, "project": pid, "type": "assets"}):
        st, body = hub.api("GET", "/getSignedUrl", query=q)
        assert st == 201, body
        assert fetch(body["data"]["signedUrl"])[0] == 200
    st, body = hub.api("GET", "/getSignedUrl", query={"url": "https://cdn.example.com/a.jpg"})
    assert st == 201 and body["data"]["signedUrl"] == "https://cdn.example.com/a.jpg"
    for q, word in (({}, "url"), ({"url": private, "type": "pictures"}, "pictures"),
                    ({"url": hub.url + "/storage/assets/nope"}, "storage")):
        st, body = hub.api("GET", "/getSignedUrl", query=q)
        assert st == 400 and word in body["message"], body
    assert hub.api("GET", "/getSignedUrl", query={"url": private}, key=None)[0] == 401


def upload(hub, pid, name, data, ctype="image/png"):
    st, body = hub.api("GET", "/getUploadUrl",
                       query={"name": name, "project": pid, "type": "assets"})
    assert st == 201, body
    url = body["data"]["uploadUrl"]
    st, _, raw = hub.raw("PUT", url[len(hub.url):], data, {"Content-Type": ctype})
    assert st == 200, raw
    return url


def test_upload_then_cloud_creates_assets_and_tasks(hub):
    pid = project_by_name(hub, PHOTOS)
    photo = fetch([a["data"] for a in assets(hub, pid)][0])[2]
    before = len(all_tasks(hub, pid))
    up = upload(hub, pid, "upload_01.png", photo)
    obj = up.split("?")[0]
    st, body = hub.api("GET", "/project/" + pid)
    day = [b["_id"] for b in body["data"]["project"]["batches"] if b["name"] == "Day"][0]
    items = [{"data": obj, "externalId": "upload_01.png", "batches": [day]},
             {"data": "https://cdn.example.com/ext_01.jpg", "externalId": "ext_01.jpg",
              "metadata": {"width": 10, "height": 20}}]
    st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": items, "priority": 5})
    assert st == 201, body
    assert body["data"]["assets"] == {"assetsCreated": 2, "tasksCreated": 2,
                                      "preLabelsCount": 0, "validPreLabelsCount": 0}
    tasks = {t["externalId"]: t for t in all_tasks(hub, pid)}
    assert len(tasks) == before + 2
    new = tasks["upload_01.png"]
    assert new["stage"] == "Label" and new["status"] == "TODO" and new["priority"] == 5
    assert new["batches"] == [day]
    assert fetch(new["data"])[2] == photo  # signed, private, the uploaded bytes
    assert tasks["ext_01.jpg"]["data"] == "https://cdn.example.com/ext_01.jpg"
    got = {a["externalId"]: a for a in assets(hub, pid)}
    assert got["upload_01.png"]["metadata"] == {"width": 1920, "height": 1080}  # from the PNG
    assert got["ext_01.jpg"]["metadata"] == {"width": 10, "height": 20}
    recs = {r["externalId"]: r for r in export_records(hub, pid)}
    assert fetch(recs["upload_01.png"]["asset"])[2] == photo
    # labels can name the new asset by its storage URL, signed or not
    item = {"data": new["data"], "classifications": [{"schemaId": "cComm001",
                                                      "answer": "uploaded"}]}
    st, body = hub.api("POST", "/import/labels", {"project": pid, "jsonContent": [item]})
    assert st == 200 and body["data"]["project"] == "1 / 1 tasks are labeled.", body


def test_upload_url_rules(hub):
    pid = project_by_name(hub, PHOTOS)
    for q, word in (({"name": "../x.png", "type": "assets"}, "name"),
                    ({"name": "a.png", "type": "pictures"}, "pictures"),
                    ({"name": "a.png"}, "type")):
        st, body = hub.api("GET", "/getUploadUrl", query=dict(q, project=pid))
        assert st == 400 and word in body["message"], body
    st, body = hub.api("GET", "/getUploadUrl",
                       query={"name": "a.png", "type": "assets", "project": "0" * 24})
    assert st == 404
    st, body = hub.api("GET", "/getUploadUrl",
                       query={"name": "a.png", "type": "brushes", "project": pid})
    url = body["data"]["uploadUrl"]
    path = url[len(hub.url):]
    # a PUT needs the PUT signature: a GET one, a tampered one or none is refused
    st, body = hub.api("GET", "/getSignedUrl", query={"url": url.split("?")[0]})
    get_signed = body["data"]["signedUrl"][len(hub.url):]
    for p in (get_signed, path.split("?")[0], path[:-1] + ("0" if path[-1] != "0" else "1")):
        st, _, raw = hub.raw("PUT", p, b"\x89PNG", {"Content-Type": "image/png"})
        assert st == 403, (p, raw)
    # nothing was stored by the refused PUTs
    assert fetch(body["data"]["signedUrl"])[0] == 404


def test_cloud_validates_every_item_first(hub):
    pid = project_by_name(hub, PHOTOS)
    before = len(all_tasks(hub, pid))
    good = {"data": "https://cdn.example.com/ok.jpg", "externalId": "ok.jpg"}
    for bad, word in (({"data": "https://cdn.example.com/x.jpg"}, "assets[1]"),
                      ({"data": "ftp://x/y.jpg", "externalId": "y"}, "assets[1].data"),
                      ({"data": hub.url + "/storage/assets/%s/missing.png" % pid,
                        "externalId": "m"}, "missing.png"),
                      ({"data": "https://cdn.example.com/x.jpg", "externalId": "x",
                        "batches": ["Nope"]}, "Nope")):
        st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": [good, bad]})
        assert st == 400 and word in body["message"], body
    st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": [good], "priority": 5000})
    assert st == 400 and "priority" in body["message"]
    assert len(all_tasks(hub, pid)) == before


def test_strict_cloud_batches_by_id_only(workdir):
    h = Hub(workdir, extra_args=["--profile", "strict"])
    try:
        pid = project_by_name(h, PHOTOS)
        item = {"data": "https://cdn.example.com/x.jpg", "externalId": "x.jpg"}
        st, body = h.api("POST", "/project/%s/cloud" % pid,
                         {"assets": [dict(item, batches=["Day"])]})
        assert st == 400 and "Day" in body["message"]
        st, body = h.api("POST", "/project/%s/cloud?batches=%%5B%%22Dusk%%22%%5D" % pid,
                         {"assets": [item]})
        assert st == 400 and "Dusk" in body["message"]
    finally:
        h.stop()


def test_synthetic_pictures_generated_on_request(workdir):
    import sqlite3
    h = Hub(workdir, seeds=("synthetic:40",))
    try:
        pid = project_by_name(h, "synthetic-40")
        tasks = all_tasks(h, pid, includeAnswer="true")
        assert len(tasks) == 40
        t = [x for x in tasks if any("bounding-box" in s for s in x["answer"]["tools"])][0]
        url = t["data"]
        assert url == "%s/storage/assets/%s/%s" % (h.url, pid, t["externalId"])  # public
        st, hdrs, raw = fetch(url)
        assert st == 200 and hdrs["Content-Type"] == "image/png"
        assert fetch(url)[2] == raw  # deterministic
        w, hh, px = png_decode(raw)
        assert (w, hh) == (1920, 1080)
        for s in t["answer"]["tools"]:
            if "bounding-box" in s:
                b = s["bounding-box"]
                assert px(int(b["x"] + b["width"] / 2), int(b["y"] + b["height"] / 2)) \
                    not in (BG, STREET)
        # one storage row stands for all 40 pictures; none beyond N exists
        db = sqlite3.connect(h.db)
        try:
            assert db.execute("SELECT count(*) FROM objects").fetchone()[0] == 1
        finally:
            db.close()
        assert fetch(url.replace(t["externalId"], "synthetic_0000041.jpg"))[0] == 403
        assert fetch(url.replace(t["externalId"], "synthetic_0000000.jpg"))[0] == 403
    finally:
        h.stop()
