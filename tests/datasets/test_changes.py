"""Diffs between versions (issue 24 item 2): <project>/changes/<A>..<B>.ndjson
and .summary.json on a real mount of the real local hub. Between two pins,
the hub's changes are known exactly (two tasks moved to another class, one
task's marks removed, one task moved to its next stage, one asset deleted
with its task, three tasks added): the .ndjson lists exactly those tasks,
with what changed, and agrees with an independent comparison of the two
pinned exports written here from the records; the summary's per-class
counts are recomputed from the records too. Reading a diff between two
pins, or a pin and a live export that is cached and fresh, asks the hub
nothing; unknown sides are ENOENT; the listing pairs each pin with the
next and the newest with live."""
import errno
import json
import os

import pytest

from conftest import Hub, Mount
from harness import errno_of, read
from reproutil import PHOTOS, project_by_name, records, set_weather, tasks_with_answers


def classes_of(task, titles):
    """The class counts of docs/DATASETS.md "Changes", written from the rule."""
    out = {}
    for t in task.get("tools", []):
        k = titles.get(t.get("schemaId")) or t.get("title") or t.get("schemaId")
        out[k] = out.get(k, 0) + 1
    for c in task.get("classifications", []):
        a = c.get("answer")
        for v in ([a] if isinstance(a, str) else a if isinstance(a, list) else []):
            if isinstance(v, str):
                k = "%s: %s" % (c.get("title") or c.get("schemaId"), v)
                out[k] = out.get(k, 0) + 1
    return out


def answer(task):
    return json.dumps({k: task.get(k) for k in ("tools", "classifications", "relations")},
                      sort_keys=True)


def independent_diff(ra, rb, titles):
    a = {r["task"]["taskId"]: r for r in ra}
    b = {r["task"]["taskId"]: r for r in rb}
    out = {}
    for tid in set(a) | set(b):
        if tid not in a:
            out[tid] = ("added", None)
        elif tid not in b:
            out[tid] = ("removed", None)
        else:
            x, y = a[tid]["task"], b[tid]["task"]
            what = []
            if x.get("stageId") != y.get("stageId"):
                what.append("stage")
            if answer(x) != answer(y):
                what.append("answer")
            if classes_of(x, titles) != classes_of(y, titles):
                what.append("classes")
            if len(x.get("tools", [])) != len(y.get("tools", [])):
                what.append("objects")
            if what:
                out[tid] = ("changed", what)
    return out


def summary_classes(ra, rb, titles):
    per = {}
    for k, recs in ((0, ra), (1, rb)):
        for r in recs:
            for c, n in classes_of(r["task"], titles).items():
                e = per.setdefault(c, {"from": 0, "to": 0, "added": 0, "removed": 0,
                                       "tasks": 0})
                e["to" if k else "from"] += n
    a = {r["task"]["taskId"]: classes_of(r["task"], titles) for r in ra}
    b = {r["task"]["taskId"]: classes_of(r["task"], titles) for r in rb}
    for tid in set(a) | set(b):
        x, y = a.get(tid, {}), b.get(tid, {})
        for c in set(x) | set(y):
            d = y.get(c, 0) - x.get(c, 0)
            if d:
                per[c]["added" if d > 0 else "removed"] += abs(d)
                per[c]["tasks"] += 1
    return per


@pytest.fixture
def env(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    yield hub, m
    m.stop()
    hub.stop()


def test_a_diff_between_two_pins_lists_exactly_the_changed_tasks(env):
    hub, m = env
    pid = project_by_name(hub, PHOTOS)
    p = os.path.join(m.path, PHOTOS)
    ch = os.path.join(p, "changes")
    os.mkdir(os.path.join(p, "snapshots", "v1"))
    assert sorted(os.listdir(ch)) == ["v1..live.ndjson", "v1..live.summary.json"]
    assert read(os.path.join(ch, "v1..live.ndjson")) == b""  # nothing changed yet

    tasks = tasks_with_answers(hub, pid)
    moved, stripped, staged, deleted = tasks[0], tasks[1], tasks[2], tasks[5]
    set_weather(hub, moved["_id"], "Snow", moved["answer"].get("tools"))
    set_weather(hub, tasks[3]["_id"], "Cloudy", tasks[3]["answer"].get("tools"))
    cls = [c for c in stripped["answer"]["classifications"]]
    st, body = hub.api("POST", "/annotate/" + stripped["_id"], {"answer": {
        "tools": [], "classifications": cls, "relations": []}})
    assert st == 200, body
    st, body = hub.api("POST", "/annotate/%s?nextStage=true" % staged["_id"],
                       {"answer": staged["answer"]})
    assert st == 200, body
    st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [deleted["asset"]]})
    assert st == 200, body
    st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": [
        {"data": "https://example.invalid/add/%d.jpg" % i, "externalId": "added_%d.jpg" % i,
         "metadata": {"width": 64, "height": 48}} for i in range(3)]})
    assert st == 201, body
    os.utime(os.path.join(p, "export"))
    os.mkdir(os.path.join(p, "snapshots", "v2"))
    assert sorted(os.listdir(ch)) == ["v1..v2.ndjson", "v1..v2.summary.json",
                                      "v2..live.ndjson", "v2..live.summary.json"]

    hub.reset_stats()
    lines = [json.loads(x) for x in read(os.path.join(ch, "v1..v2.ndjson")).splitlines()]
    summary = json.loads(read(os.path.join(ch, "v1..v2.summary.json")))
    assert hub.stats()["total"] == 0, hub.stats()["counts"]  # from the pins alone

    got = {ln["taskId"]: (ln["change"], ln.get("what")) for ln in lines}
    added = {ln["taskId"] for ln in lines if ln["change"] == "added"}
    assert len(added) == 3
    assert {k: v[0] for k, v in got.items()} == dict(
        {moved["_id"]: "changed", tasks[3]["_id"]: "changed", stripped["_id"]: "changed",
         staged["_id"]: "changed", deleted["_id"]: "removed"}, **{t: "added" for t in added})
    assert got[staged["_id"]][1] == ["stage"]
    assert set(got[stripped["_id"]][1]) >= {"answer", "objects", "classes"}
    assert "classes" in got[moved["_id"]][1]
    line = [ln for ln in lines if ln["taskId"] == moved["_id"]][0]
    assert line["classes"]["added"] == {"Weather: Snow": 1}
    assert line["externalId"] == moved["externalId"]

    ra = records(read(os.path.join(p, "snapshots", "v1", "export", "tasks.ndjson")))
    rb = records(read(os.path.join(p, "snapshots", "v2", "export", "tasks.ndjson")))
    schema = json.loads(read(os.path.join(p, "project.json")))["categorySchema"]
    titles = {t["schemaId"]: t["title"] for t in schema["tools"]}
    assert got == independent_diff(ra, rb, titles)
    assert summary["tasks"] == {"from": len(ra), "to": len(rb), "added": 3, "removed": 1,
                                "changed": 4, "unchanged": len(ra) - 5}
    assert summary["classes"] == summary_classes(ra, rb, titles)
    with open(os.path.join(p, "snapshots", "v1", "snapshot.json")) as f:
        assert summary["from_generation"] == json.load(f)["generation"]["export"]
    assert os.stat(os.path.join(ch, "v1..v2.ndjson")).st_size == \
        len(read(os.path.join(ch, "v1..v2.ndjson")))

    # against live: nothing until something changes; a cached, fresh live
    # export costs no request
    read(os.path.join(p, "export", "tasks.ndjson"))
    hub.reset_stats()
    assert read(os.path.join(ch, "v2..live.ndjson")) == b""
    assert hub.stats()["total"] == 0, hub.stats()["counts"]
    set_weather(hub, tasks[4]["_id"], "Rain")
    os.utime(os.path.join(p, "export"))
    live = [json.loads(x) for x in read(os.path.join(ch, "v2..live.ndjson")).splitlines()]
    assert [(x["change"], x["taskId"]) for x in live] == [("changed", tasks[4]["_id"])]
    assert errno_of(lambda: read(os.path.join(ch, "v1..v3.ndjson"))) == errno.ENOENT
    assert errno_of(lambda: read(os.path.join(ch, "v1..v1.ndjson"))) == errno.ENOENT
    assert errno_of(lambda: read(os.path.join(ch, "v1..v2.txt"))) == errno.ENOENT
    assert sorted(json.loads(read(os.path.join(ch, "v2..v1.summary.json")))["tasks"].items()) \
        == sorted(dict(summary["tasks"], **{"from": len(rb), "to": len(ra), "added": 1,
                                            "removed": 3}).items())
