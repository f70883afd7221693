"""angofs-hub exports: filters and formats checked against the task list, the
download link (no apikey, expiry), issue exports and the record format."""
import collections
import json

import pytest

from conftest import Hub
from hubutil import (REVIEW_ID, all_tasks, export, export_records, fetch, fetch_until_expired,
                     main_project, stats_with_log, unzip_one)
from hub_lenient import module_hub  # noqa: F401 (lenient profile for this module)


@pytest.fixture(scope="module")
def demo(module_hub):
    pid = main_project(module_hub)
    tasks = all_tasks(module_hub, pid, includeAnswer="true")
    st, body = module_hub.api("GET", "/project/" + pid)
    return module_hub, pid, tasks, body["data"]["project"]


def test_export_all_tasks_json_equals_db(demo):
    hub, pid, tasks, proj = demo
    recs = export_records(hub, pid)
    assert len(recs) == len(tasks) == 240  # no stage filter: every task
    by_id = {t["_id"]: t for t in tasks}
    names = {b["_id"]: b["name"] for b in proj["batches"]}
    stage_names = {s["id"]: s["name"] for s in proj["stages"]}
    for r in recs:
        t = by_id[r["task"]["taskId"]]
        assert r["externalId"] == t["externalId"]
        assert r["asset"] == t["data"]
        assert r["batches"] == [names[b] for b in t["batches"]]
        assert r["metadata"] == {"width": 1920, "height": 1080}
        assert r["task"]["stageId"] == t["stage"]
        assert r["task"]["stage"] == stage_names[t["stage"]]
        assert r["task"]["updatedAt"] == t["updatedAt"]
        # includeMetadata defaults to false: no metadata blocks on tools
        strip = [{k: v for k, v in tool.items() if k != "metadata"} for tool in t["answer"]["tools"]]
        assert r["task"]["tools"] == strip
        assert r["task"]["classifications"] == t["answer"]["classifications"]
        assert r["task"]["relations"] == t["answer"]["relations"]
        assert "stageHistory" not in r["task"]
        assert isinstance(r["task"]["totalDuration"], int)


def test_export_ndjson_same_records(demo):
    hub, pid, tasks, _ = demo
    a = export_records(hub, pid, "json")
    b = export_records(hub, pid, "ndjson")
    assert a == b


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_export_stage_filter_counts(demo, fmt):
    hub, pid, tasks, _ = demo
    counts = collections.Counter(t["stage"] for t in tasks)
    for stage, n in counts.items():
        recs = export_records(hub, pid, fmt, stage=[stage])
        assert len(recs) == n
        assert {r["task"]["stageId"] for r in recs} == {stage}
    recs = export_records(hub, pid, fmt, stage=["Complete", REVIEW_ID])
    assert len(recs) == counts["Complete"] + counts[REVIEW_ID]


def test_export_batches_filter(demo):
    hub, pid, tasks, proj = demo
    ids = {b["name"]: b["_id"] for b in proj["batches"]}
    want = sorted(t["_id"] for t in tasks if ids["Night Drive"] in t["batches"])
    for value in (["Night Drive"], [ids["Night Drive"]], "Night Drive"):
        recs = export_records(hub, pid, batches=value)
        assert sorted(r["task"]["taskId"] for r in recs) == want
        assert all("Night Drive" in r["batches"] for r in recs)


def test_export_date_filters(demo):
    hub, pid, tasks, _ = demo
    times = sorted(t["updatedAt"] for t in tasks)
    cut = times[len(times) // 2]
    want = [t for t in tasks if t["updatedAt"] > cut]
    recs = export_records(hub, pid, updatedAt={"$gt": cut.replace("Z", "000Z")})
    assert len(recs) == len(want) > 0
    created = sorted(t["createdAt"] for t in tasks)
    lo, hi = created[10], created[20]
    recs = export_records(hub, pid, createdAt={"$gt": lo, "$lt": hi})
    assert len(recs) == 9


def test_export_include_flags(demo):
    hub, pid, tasks, _ = demo
    recs = export_records(hub, pid, stage=["Complete"], includeMetadata="true",
                          includeHistory="true", includeIdleBlurDurations="true",
                          includeOnlyKeyFrames="true", sendEmail="false", doNotNotify="true",
                          taskTypes=["default"])
    assert recs
    for r in recs:
        assert all("metadata" in tool for tool in r["task"]["tools"])
        hist = r["task"]["stageHistory"]
        assert [h["stage"] for h in hist] == ["Label", "Review"]
        assert hist[1]["stageId"] == REVIEW_ID
        assert "completedAt" in hist[0] and "tools" in hist[0]
        assert "idleDuration" in r["task"]
    assert export_records(hub, pid, taskTypes=["benchmark"]) == []


@pytest.mark.parametrize("param,value,word", [
    ("format", "xml", "xml"), ("type", "everything", "everything"),
    ("stage", '["Nowhere"]', "Nowhere"), ("batches", '["Zzz"]', "Zzz"),
    ("taskTypes", '["odd"]', "odd"), ("includeHistory", "yes", "yes"),
    ("updatedAt", '{"$after": "2025-01-01T00:00:00Z"}', "$after"),
    ("updatedAt", '{"$gt": "yesterday"}', "updatedAt"), ("filters", '{"color": 1}', "color"),
])
def test_export_rejects_unknown_values(demo, param, value, word):
    hub, pid, _, _ = demo
    st, body = hub.api("GET", "/export", query={"project": pid, param: value})
    assert st == 400 and body["status"] == "fail"
    assert word in body["message"]


def test_export_project_errors(demo):
    hub = demo[0]
    st, body = hub.api("GET", "/export")
    assert st == 400 and "project" in body["message"]
    st, body = hub.api("GET", "/export", query={"project": "nope"})
    assert st == 400 and body["message"] == "Invalid project: nope."
    st, body = hub.api("GET", "/export", query={"project": "0123456789abcdef01234567"})
    assert st == 404
    st, body = hub.api("GET", "/export", query={"project": demo[1]}, key=None)
    assert st == 401


def test_export_filters_param(demo):
    hub, pid, tasks, _ = demo
    ids = [t["_id"] for t in tasks[:3]]
    recs = export_records(hub, pid, filters={"_id": {"$in": ids}})
    assert sorted(r["task"]["taskId"] for r in recs) == sorted(ids)
    recs = export_records(hub, pid, filters={"externalId": {"$regex": "^street_000"}})
    assert sorted({r["externalId"] for r in recs}) == ["street_%04d.jpg" % i for i in range(1, 10)]


def test_issue_export(demo):
    hub, pid, tasks, _ = demo
    recs = export_records(hub, pid, type="issue")
    assert len(recs) == 4
    ids = {t["_id"]: t for t in tasks}
    for r in recs:
        assert set(r) >= {"taskId", "externalId", "content", "status", "createdBy", "createdAt"}
        assert ids[r["taskId"]]["externalId"] == r["externalId"]
    assert {r["status"] for r in recs} == {"Open", "Resolved"}


def test_download_link_shape_and_no_key(demo):
    hub, pid, _, _ = demo
    data = export(hub, pid, stage=["Label"])
    url = data["exportPath"]
    assert url.startswith(hub.url + "/download/") and url.endswith(".zip")
    token = url.split("/")[4]
    assert len(token) >= 32 and all(c in "0123456789abcdef" for c in token)
    hub.reset_stats()
    st, hdrs, raw = fetch(url)
    assert st == 200 and hdrs["Content-Type"] == "application/zip"
    name, member = unzip_one(raw)
    assert len(json.loads(member)) == 48
    stats = stats_with_log(hub, 1, route="GET /download")
    assert stats["counts"]["GET /download"] == 1
    seen = stats["download_headers"][-1]
    assert seen["path"] == url[len(hub.url):]
    assert not any(k.lower() == "apikey" for k in seen["headers"])
    entry = [e for e in stats["log"] if e["route"] == "GET /download"][-1]
    assert entry["apikey_present"] is False and entry["status"] == 200
    assert entry["bytes"] == len(raw)
    # tampered or unknown tokens are refused like a storage service would
    for bad in (url.replace(token, "0" * len(token)), url + "x", hub.url + "/download/abc/x.zip"):
        st, _, raw = fetch(bad)
        assert st == 403 and b"AccessDenied" in raw


def test_download_range(demo):
    hub, pid, _, _ = demo
    url = export(hub, pid)["exportPath"]
    st, _, whole = fetch(url)
    st, hdrs, part = fetch(url, headers={"Range": "bytes=100-"})
    assert st == 206 and part == whole[100:]
    assert hdrs["Content-Range"] == "bytes 100-%d/%d" % (len(whole) - 1, len(whole))
    st, _, part = fetch(url, headers={"Range": "bytes=10-19"})
    assert st == 206 and part == whole[10:20]
    st, _, _ = fetch(url, headers={"Range": "bytes=%d-" % (len(whole) + 5)})
    assert st == 416


def test_export_path_expires(workdir):
    hub = Hub(workdir, extra_args=["--export-ttl", "1"])
    try:
        pid = main_project(hub)
        url = export(hub, pid, stage=["Start"])["exportPath"]
        st, _, _ = fetch(url)  # may already be 403 on a very slow machine; then expiry works
        st, raw = fetch_until_expired(url)
        assert st == 403 and b"expired" in raw
    finally:
        hub.stop()


def test_export_files_on_disk(demo):
    hub, pid, _, _ = demo
    import os
    data = export(hub, pid, stage=["Start"])
    token = data["exportPath"].split("/")[4]
    path = os.path.join(hub.db + ".exports", token + ".zip")
    assert os.path.exists(path)
    assert not os.path.exists(path + ".part")
