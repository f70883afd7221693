"""angofs-hub --profile strict: the readings that make a client which does not
send what the official SDK sends fail a test (docs/HUB.md, "Profiles", the
rows marked issue 22), and the wire log GET /_admin/requests that the
wire-capture test (tests/fs/test_wire.py) compares with docs/HUB.md's table.

Each reading is checked on both profiles where they differ, so a test here
fails if the strict profile stops catching the mistake it was made for."""
import json
import os
import time
import urllib.parse

import pytest

from conftest import Hub
from hubutil import all_tasks, export_records, fetch, main_project, project_by_name, stage_ids

PHOTOS = "Street Photos"
CONSENSUS = "Consensus Review"


def start(module_workdir, name, *args):
    d = os.path.join(module_workdir, name)
    os.makedirs(d)
    return Hub(d, extra_args=list(args))


@pytest.fixture(scope="module")
def strict(module_workdir):
    h = start(module_workdir, "strict", "--profile", "strict")
    yield h
    h.stop()


@pytest.fixture(scope="module")
def lenient(module_workdir):
    h = start(module_workdir, "lenient", "--profile", "lenient")
    yield h
    h.stop()


def put_object(hub, pid, name, data=b"\x89PNG\r\n\x1a\nnot-really", kind="brushes"):
    """getUploadUrl + PUT; the bare object URL (what the SDK keeps)."""
    st, body = hub.api("GET", "/getUploadUrl",
                       query={"name": name, "project": pid, "type": kind})
    assert st == 201, body
    up = body["data"]["uploadUrl"]
    st, _, raw = hub.raw("PUT", up[len(hub.url):], data)
    assert st == 200, raw
    return up.split("?")[0]


def masked_task(hub):
    pid = main_project(hub)
    tasks = [t for t in all_tasks(hub, pid, includeAnswer="true") if "brushDataUrl" in t]
    return pid, tasks[0]


def annotate(hub, tid, **extra):
    return hub.api("POST", "/annotate/" + tid, dict({"answer": {}, "duration": 0}, **extra))


def export_task(hub, pid, tid):
    recs = export_records(hub, pid, stage=stage_ids(hub, pid), taskTypes=["default"])
    return [r for r in recs if r["task"]["taskId"] == tid][0]


def test_strict_get_task_shows_masks_bare_exports_sign_them(strict, lenient):
    pid, t = masked_task(strict)
    u = t["brushDataUrl"]
    assert "?" not in u and u.startswith(strict.url + "/storage/brushes/")
    assert fetch(u)[0] == 403  # private: the SDK signs what get_task returns
    st, body = strict.api("GET", "/getSignedUrl",
                          query={"url": u, "name": u, "project": pid, "type": "brushes"})
    assert st == 201 and fetch(body["data"]["signedUrl"])[0] == 200
    rec = export_task(strict, pid, t["_id"])
    assert "Signature=" in rec["task"]["brushDataUrl"]
    assert fetch(rec["task"]["brushDataUrl"])[0] == 200
    # lenient: signed everywhere
    pid, t = masked_task(lenient)
    assert "Signature=" in t["brushDataUrl"]


def test_strict_stores_a_written_back_signed_mask_url_verbatim(workdir):
    """A signed URL written back stays signed: after the signing TTL the
    task's and the export's mask links are dead. The bare URL stays good."""
    hub = Hub(workdir, extra_args=["--profile", "strict", "--signed-url-ttl", "2"])
    try:
        pid, t = masked_task(hub)
        signed = export_task(hub, pid, t["_id"])["task"]["brushDataUrl"]
        assert "Signature=" in signed
        st, body = annotate(hub, t["_id"], brushDataUrl=signed, medicalBrushDataUrl=None)
        assert st == 200 and body["data"]["label"]["brushDataUrl"] == signed
        other = [x for x in all_tasks(hub, pid, includeAnswer="true")
                 if "brushDataUrl" in x and x["_id"] != t["_id"]][0]
        bare = other["brushDataUrl"]
        st, body = annotate(hub, other["_id"], brushDataUrl=bare, medicalBrushDataUrl=None)
        assert st == 200 and body["data"]["label"]["brushDataUrl"] == bare
        deadline = time.time() + 30
        while fetch(signed)[0] == 200 and time.time() < deadline:
            time.sleep(0.2)
        st, body = hub.api("GET", "/task/" + t["_id"])
        assert body["data"]["task"]["brushDataUrl"] == signed  # verbatim, now dead
        assert fetch(signed)[0] == 403
        assert fetch(export_task(hub, pid, t["_id"])["task"]["brushDataUrl"])[0] == 403
        # the bare one: the export signs it afresh
        assert fetch(export_task(hub, pid, other["_id"])["task"]["brushDataUrl"])[0] == 200
    finally:
        hub.stop()


def test_lenient_normalizes_a_signed_mask_url(lenient):
    pid, t = masked_task(lenient)
    st, body = annotate(lenient, t["_id"], brushDataUrl=t["brushDataUrl"],
                        medicalBrushDataUrl=None)
    assert st == 200
    st, body = lenient.api("GET", "/task/" + t["_id"])
    u = body["data"]["task"]["brushDataUrl"]  # signed afresh from the stored key
    assert "Signature=" in u and fetch(u)[0] == 200


@pytest.mark.parametrize("upload_local,readable", [
    (None, False), ("false", False), ("true", True), (True, True)])
def test_strict_upload_local_decides_whose_object_it_is(strict, upload_local, readable):
    pid = project_by_name(strict, PHOTOS)
    name = "ul_%s.png" % str(upload_local).lower()
    obj = put_object(strict, pid, name, kind="assets")
    body = {"assets": [{"data": obj, "externalId": name}], "priority": 0}
    if upload_local is not None:
        body["uploadLocal"] = upload_local
    st, reply = strict.api("POST", "/project/%s/cloud" % pid, body)
    assert st == 201, reply
    st, got = strict.api("GET", "/project/%s/assets" % pid,
                         query={"filters": json.dumps({"externalId": name})})
    data = got["data"]["assets"][0]["data"]
    # uploadLocal "true": the hub's object, shown signed; else an external
    # reference, kept as sent (the private object is unreadable)
    assert (fetch(data)[0] == 200) == readable, data
    assert ("Signature=" in data) == readable


def test_lenient_reads_storage_urls_as_its_own(lenient):
    pid = project_by_name(lenient, PHOTOS)
    obj = put_object(lenient, pid, "lenient_ul.png", kind="assets")
    st, _ = lenient.api("POST", "/project/%s/cloud" % pid,
                        {"assets": [{"data": obj, "externalId": "lenient_ul.png"}]})
    assert st == 201
    st, got = lenient.api("GET", "/project/%s/assets" % pid,
                          query={"filters": '{"externalId": "lenient_ul.png"}'})
    assert fetch(got["data"]["assets"][0]["data"])[0] == 200


def test_strict_tasks_ignore_task_types_and_honour_filter_type(strict, lenient):
    for hub in (strict, lenient):
        pid = project_by_name(hub, CONSENSUS)
        f = json.dumps({"type": {"$eq": "default"}})
        for q in ("filter", "filters"):
            st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 1, q: f})
            assert st == 200 and body["data"]["total"] == 6, (q, body)
        st, body = hub.api("GET", "/project/%s/tasks" % pid,
                           query={"limit": 1, "taskTypes": '["default"]'})
        assert body["data"]["total"] == (12 if hub is strict else 6)


def test_task_filter_takes_the_sdk_forms(strict):
    pid = main_project(strict)
    tasks = all_tasks(strict, pid)
    batch = [b for b in strict.api("GET", "/project/" + pid)[1]["data"]["project"]["batches"]
             if b["name"] == "Night Drive"][0]["_id"]

    def total(f):
        st, body = strict.api("GET", "/project/%s/tasks" % pid,
                              query={"limit": 1, "filter": json.dumps(f)})
        assert st == 200, (f, body)
        return body["data"]["total"]

    assert total({"stage": {"$in": ["Complete"]}}) == sum(t["stage"] == "Complete" for t in tasks)
    assert total({"stage": "Complete", "type": {"$eq": "default"}}) == 96
    assert total({"batches": {"$in": [batch]}}) == sum(batch in t["batches"] for t in tasks)
    assert total({"status": {"$eq": "Completed"}}) == sum(t["status"] == "Completed"
                                                        for t in tasks)
    newest = sorted(t["updatedAt"] for t in tasks)[-1]
    assert total({"updatedAt": {"$gt": newest}}) == 0
    assert total({"updatedAt": {"$gte": newest}}) >= 1
    st, body = strict.api("GET", "/project/%s/tasks" % pid,
                          query={"filter": json.dumps({"batches": {"$in": ["Night Drive"]}})})
    assert st == 400 and "batch name" in body["message"]  # strict: ids only
    st, body = strict.api("GET", "/project/%s/tasks" % pid,
                          query={"filter": json.dumps({"type": {"$eq": "gold"}})})
    assert st == 400 and "gold" in body["message"]


def test_strict_fields_as_the_sdk_sends_them(strict, lenient):
    pid = main_project(strict)
    st, body = strict.api("GET", "/project/%s/tasks" % pid,
                          query={"limit": 1, "fields": "updatedAt"})
    assert st == 400 and "_id" in body["message"]
    st, body = strict.api("GET", "/project/%s/tasks" % pid,
                          query={"limit": 1, "fields": "updatedAt,_id,project,asset"})
    assert st == 400 and "includeAnswer=true" in body["message"]
    st, body = strict.api("GET", "/project/%s/tasks" % pid,
                          query={"limit": 1, "fields": "asset,updatedAt,project,_id",
                                 "includeAnswer": "true"})
    assert st == 200 and set(body["data"]["tasks"][0]) == {"_id", "project", "asset",
                                                           "updatedAt"}
    pid = main_project(lenient)
    st, body = lenient.api("GET", "/project/%s/tasks" % pid,
                           query={"limit": 1, "fields": "updatedAt"})
    assert st == 200


def test_ignore_sort(module_workdir):
    hub = start(module_workdir, "nosort", "--ignore-sort")
    try:
        pid = main_project(hub)
        t = all_tasks(hub, pid)[-1]  # the oldest (default order -createdAt)
        st, _ = annotate(hub, t["_id"], brushDataUrl=None, medicalBrushDataUrl=None)
        assert st == 200
        st, body = hub.api("GET", "/project/%s/tasks" % pid,
                           query={"limit": 1, "sort": "-updatedAt"})
        assert body["data"]["tasks"][0]["_id"] != t["_id"]  # the sort was ignored
        st, body = hub.api("GET", "/project/%s/tasks" % pid,
                           query={"limit": 1, "filter": json.dumps(
                               {"updatedAt": {"$gte": body["data"]["tasks"][0]["updatedAt"]}})})
        assert body["data"]["total"] >= 1
    finally:
        hub.stop()


def test_strict_get_signed_url_needs_url(strict, lenient):
    pid = main_project(strict)
    obj = strict.url + "/storage/brushes/%s/x.png" % pid
    st, body = strict.api("GET", "/getSignedUrl",
                          query={"name": obj, "project": pid, "type": "brushes"})
    assert st == 400 and "url" in body["message"]
    st, body = strict.api("GET", "/getSignedUrl", query={"url": obj, "storageId": "s1"})
    assert st == 201 and "Signature=" in body["data"]["signedUrl"]
    obj = lenient.url + "/storage/brushes/%s/x.png" % main_project(lenient)
    st, body = lenient.api("GET", "/getSignedUrl", query={"name": obj, "type": "brushes"})
    assert st == 201


def test_strict_reads_only_flat_items_under_json_content(strict):
    pid = main_project(strict)
    snow = [{"schemaId": "cWeath01", "answer": "Snow"}]
    items = [{"externalId": "street_0020.jpg", "answer": {"classifications": snow}},
             {"externalId": "street_0021.jpg", "classifications": snow}]
    st, body = strict.api("POST", "/import/labels", {"project": pid, "jsonContent": items})
    assert st == 200 and body["data"] == {"project": "2 / 2 tasks are labeled."}
    by_ext = {t["externalId"]: t for t in all_tasks(strict, pid, includeAnswer="true")}
    assert by_ext["street_0020.jpg"]["answer"]["classifications"] == []  # wrapper unread
    assert by_ext["street_0021.jpg"]["answer"]["classifications"][0]["answer"] == "Snow"
    # under the docs' "labels" key the wrapper is the documented shape
    st, body = strict.api("POST", "/import/labels",
                          {"project": pid, "labels": [items[0]]})
    assert st == 200
    t = [x for x in all_tasks(strict, pid, includeAnswer="true")
         if x["externalId"] == "street_0020.jpg"][0]
    assert t["answer"]["classifications"][0]["answer"] == "Snow"


def test_page_cap(module_workdir):
    hub = start(module_workdir, "cap", "--page-cap", "50")
    try:
        pid = main_project(hub)
        seen = []
        for page in (1, 2, 3, 4, 5):
            st, body = hub.api("GET", "/project/%s/tasks" % pid,
                               query={"page": page, "limit": 100})
            assert st == 200 and body["data"]["total"] == 240
            seen += [t["_id"] for t in body["data"]["tasks"]]
        assert len(seen) == 240 and len(set(seen)) == 240
        st, body = hub.api("GET", "/project/%s/assets" % pid, query={"limit": 100})
        assert len(body["data"]["assets"]) == 50 and body["data"]["total"] == 240
    finally:
        hub.stop()


def test_wire_log_keeps_queries_and_bodies(strict):
    pid = main_project(strict)
    strict.clear_requests()
    f = json.dumps({"type": {"$eq": "default"}})
    strict.api("GET", "/project/%s/tasks" % pid, query={"page": 1, "limit": 1, "filter": f})
    strict.api("POST", "/import/labels", {"project": pid, "jsonContent": []})
    log = strict.requests()
    assert [(r["method"], r["path"]) for r in log] == [
        ("GET", "/v2/project/%s/tasks" % pid), ("POST", "/v2/import/labels")]
    assert log[0]["query"] == [["page", "1"], ["limit", "1"], ["filter", f]]
    assert json.loads(log[1]["body"]) == {"project": pid, "jsonContent": []}
    assert log[1]["apikey_present"] and log[0]["status"] == 200
    strict.clear_requests()
    assert strict.requests() == []
