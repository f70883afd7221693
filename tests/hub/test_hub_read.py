"""angofs-hub read API over HTTP: auth, envelopes, paging, filters, error codes."""
import collections

import pytest

from hubutil import REVIEW_ID, STREET, all_tasks, main_project, project_by_name, projects
from hub_lenient import module_hub  # noqa: F401 (lenient profile for this module)


def test_list_projects_requires_key(module_hub):
    for key in (None, "wrong-key"):
        st, body = module_hub.api("GET", "/listProjects", key=key)
        assert st == 401
        assert body == {"status": "fail", "message": "Invalid API KEY"}


def test_list_projects_demo_workspace(module_hub):
    st, body = module_hub.api("GET", "/listProjects")
    assert st == 200 and body["status"] == "success"
    ps = projects(module_hub)
    names = collections.Counter(p["name"] for p in ps)
    assert names[STREET] == 2
    assert names["Cars / Trucks"] == 1
    assert "Restricted Medical" not in names  # no configured key may see it
    assert body["data"]["total"] == len(ps)
    for p in ps:
        assert set(p) >= {"_id", "name", "description", "organization", "createdAt"}
        assert len(p["_id"]) == 24


def test_list_projects_paging_and_sort(module_hub):
    total = len(projects(module_hub))
    seen = []
    for page in range(1, total + 2):
        st, body = module_hub.api("GET", "/listProjects",
                                  query={"page": page, "limit": 1, "sort": "name"})
        assert st == 200
        assert body["data"]["total"] == total
        seen += [p["name"] for p in body["data"]["projects"]]
    assert seen == sorted(seen) and len(seen) == total
    st, body = module_hub.api("GET", "/listProjects", query={"sort": "-createdAt", "limit": 100})
    created = [p["createdAt"] for p in body["data"]["projects"]]
    assert created == sorted(created, reverse=True)
    default = module_hub.api("GET", "/listProjects")[1]["data"]["projects"]
    assert len(default) == min(10, total)


@pytest.mark.parametrize("query,word", [({"limit": 101}, "101"), ({"limit": 0}, "0"),
                                        ({"page": 0}, "page"), ({"limit": "x"}, "x"),
                                        ({"sort": "color"}, "color")])
def test_list_projects_bad_paging(module_hub, query, word):
    st, body = module_hub.api("GET", "/listProjects", query=query)
    assert st == 400
    assert body["status"] == "fail" and word in body["message"]


def test_project_document(module_hub):
    pid = main_project(module_hub)
    st, body = module_hub.api("GET", "/project/" + pid)
    assert st == 200
    p = body["data"]["project"]
    assert p["_id"] == pid and p["name"] == STREET
    assert [s["name"] for s in p["stages"]] == ["Start", "Label", "Review", "Complete"]
    ids = {s["name"]: s["id"] for s in p["stages"]}
    assert ids["Start"] == "Start" and ids["Complete"] == "Complete" and ids["Review"] == REVIEW_ID
    assert ids["Review"] in [n for s in p["stages"] for n in s["next"]]
    tools = {t["tool"] for t in p["categorySchema"]["tools"]}
    assert {"bounding-box", "polygon", "polyline", "point"} <= tools
    cls = {c["tool"] for c in p["categorySchema"]["classifications"]}
    assert {"radio", "checkbox", "text"} <= cls
    assert any(c["classifications"] for c in p["categorySchema"]["classifications"])
    assert p["categorySchema"]["relations"][0]["tool"] == "one-to-one"
    assert {b["name"] for b in p["batches"]} == {"Batch A", "Batch B", "Night Drive"}
    assert p["assetCount"] == 240


def test_project_errors(module_hub):
    st, body = module_hub.api("GET", "/project/not-an-id")
    assert (st, body["message"]) == (400, "Invalid project: not-an-id.")
    st, body = module_hub.api("GET", "/project/0123456789abcdef01234567")
    assert st == 404 and "0123456789abcdef01234567" in body["message"]
    st, body = module_hub.api("GET", "/project/" + main_project(module_hub), key=None)
    assert st == 401


def hidden_project_id(hub):
    # The restricted project is the demo's 5th project; its id is deterministic
    # but unlisted, so read it from the database.
    import sqlite3
    db = sqlite3.connect(hub.db)
    try:
        return db.execute("SELECT id FROM projects WHERE name = 'Restricted Medical'").fetchone()[0]
    finally:
        db.close()


def test_hidden_project_403(module_hub):
    hid = hidden_project_id(module_hub)
    for path in ("/project/%s" % hid, "/project/%s/tasks" % hid, "/project/%s/assets" % hid):
        st, body = module_hub.api("GET", path)
        assert st == 403, path
        assert body["status"] == "fail"
    st, _ = module_hub.api("GET", "/export", query={"project": hid})
    assert st == 403


def test_tasks_paging_total_and_limit(module_hub):
    pid = main_project(module_hub)
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid)
    assert st == 200
    assert body["data"]["total"] == 240 and len(body["data"]["tasks"]) == 10
    assert "answer" not in body["data"]["tasks"][0]
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 101})
    assert st == 400 and "101" in body["message"]
    tasks = all_tasks(module_hub, pid)
    assert len({t["_id"] for t in tasks}) == 240
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid, query={"page": 3, "limit": 100})
    assert len(body["data"]["tasks"]) == 40
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid, query={"page": 4, "limit": 100})
    assert body["data"]["tasks"] == [] and body["data"]["total"] == 240


def test_tasks_filters(module_hub):
    pid = main_project(module_hub)
    tasks = all_tasks(module_hub, pid)
    by_stage = collections.Counter(t["stage"] for t in tasks)
    assert set(by_stage) == {"Start", "Label", REVIEW_ID, "Complete"}
    for stage, n in by_stage.items():
        assert len(all_tasks(module_hub, pid, stage=stage)) == n
    # a stage may also be named
    assert len(all_tasks(module_hub, pid, stage="Review")) == by_stage[REVIEW_ID]
    st, proj = module_hub.api("GET", "/project/" + pid)
    batches = {b["name"]: b["_id"] for b in proj["data"]["project"]["batches"]}
    night = [t for t in tasks if batches["Night Drive"] in t["batches"]]
    assert night
    assert len(all_tasks(module_hub, pid, batches='["Night Drive"]')) == len(night)
    assert len(all_tasks(module_hub, pid, batches=batches["Night Drive"])) == len(night)
    a_or_n = [t for t in tasks if {batches["Batch A"], batches["Night Drive"]} & set(t["batches"])]
    assert len(all_tasks(module_hub, pid, batches="Batch A,Night Drive")) == len(a_or_n)
    done = [t for t in tasks if t["status"] == "Completed"]
    assert len(all_tasks(module_hub, pid, status="Completed")) == len(done) == by_stage["Complete"]
    for bad, word in (({"stage": "Nowhere"}, "Nowhere"), ({"batches": '["Zzz"]'}, "Zzz"),
                      ({"batches": "[1"}, "batches"), ({"includeAnswer": "maybe"}, "maybe")):
        st, body = module_hub.api("GET", "/project/%s/tasks" % pid, query=bad)
        assert st == 400 and word in body["message"], body


def test_tasks_answer_fields_and_sort(module_hub):
    pid = main_project(module_hub)
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid,
                              query={"stage": "Complete", "includeAnswer": "true", "limit": 5})
    for t in body["data"]["tasks"]:
        assert set(t["answer"]) == {"tools", "classifications", "relations"}
        assert t["answer"]["tools"]
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid,
                              query={"fields": "stage,externalId", "limit": 3})
    for t in body["data"]["tasks"]:
        assert set(t) == {"_id", "project", "asset", "stage", "externalId"}
    st, body = module_hub.api("GET", "/project/%s/tasks" % pid,
                              query={"sort": "createdAt", "limit": 100})
    created = [t["createdAt"] for t in body["data"]["tasks"]]
    assert created == sorted(created)


def test_task_read(module_hub):
    pid = main_project(module_hub)
    t = all_tasks(module_hub, pid, stage="Complete")[0]
    st, body = module_hub.api("GET", "/task/" + t["_id"])
    assert st == 200
    task = body["data"]["task"]
    assert task["_id"] == t["_id"] and task["project"] == pid
    assert task["answer"]["tools"]
    st, body = module_hub.api("GET", "/task/" + t["_id"], query={"includeAnswer": "false"})
    assert "answer" not in body["data"]["task"]
    st, body = module_hub.api("GET", "/task/xyz")
    assert (st, body["message"]) == (400, "Invalid task: xyz.")
    st, body = module_hub.api("GET", "/task/0123456789abcdef01234567")
    assert st == 404
    st, body = module_hub.api("GET", "/task/" + t["_id"], key="nope")
    assert st == 401


def test_assets(module_hub):
    pid = main_project(module_hub)
    st, body = module_hub.api("GET", "/project/%s/assets" % pid, query={"limit": 100})
    assert st == 200 and body["data"]["total"] == 240
    a = body["data"]["assets"][0]
    assert set(a) >= {"_id", "externalId", "data", "batches", "metadata"}
    st, body = module_hub.api("GET", "/project/%s/assets" % pid,
                              query={"filters": '{"externalId": "street_0001.jpg"}'})
    assert body["data"]["total"] == 2  # two assets share this externalId
    st, body = module_hub.api("GET", "/project/%s/assets" % pid,
                              query={"filters": '{"externalId": "street_0003.jpg"}'})
    assert body["data"]["assets"][0]["attachments"][0]["type"] == "VIDEO"
    st, body = module_hub.api("GET", "/project/%s/assets" % pid,
                              query={"filters": '{"batches": ["Night Drive"]}', "limit": 100})
    night = body["data"]["total"]
    assert 0 < night < 240
    st, body = module_hub.api("GET", "/project/%s/assets" % pid,
                              query={"filters": '{"batches": ["Night Drive", "Batch A"]}'})
    assert 0 < body["data"]["total"] < night
    st, body = module_hub.api("GET", "/project/%s/assets" % pid,
                              query={"filters": '{"isPreLabeled": true}'})
    assert body["data"]["total"] == 0
    st, body = module_hub.api("GET", "/project/%s/assets" % pid, query={"filters": '{"color": 1}'})
    assert st == 400 and "color" in body["message"]


def test_unknown_route_and_other_projects(module_hub):
    st, body = module_hub.api("GET", "/nothing/here")
    assert st == 404 and body["status"] == "fail"
    cars = project_by_name(module_hub, "Cars / Trucks")
    st, body = module_hub.api("GET", "/project/" + cars)
    assert [s["id"] for s in body["data"]["project"]["stages"]] == ["Start", "Label", "Complete"]
    assert len(all_tasks(module_hub, cars)) == 30
    empty = project_by_name(module_hub, "Empty Project")
    st, body = module_hub.api("GET", "/project/%s/tasks" % empty)
    assert st == 200 and body["data"] == {"tasks": [], "total": 0}


def test_tasks_filter_object(module_hub):
    pid = main_project(module_hub)
    tasks = all_tasks(module_hub, pid)
    ids = [t["_id"] for t in tasks[5:8]]
    got = all_tasks(module_hub, pid, filter='{"_id": {"$in": %s}}' % str(ids).replace("'", '"'))
    assert sorted(t["_id"] for t in got) == sorted(ids)
    got = all_tasks(module_hub, pid, filter='{"externalId": {"$regex": "^street_001"}}')
    assert sorted(t["externalId"] for t in got) == ["street_%04d.jpg" % i for i in range(10, 20)]
    who = next(t["assignee"] for t in tasks if t["assignee"])
    got = all_tasks(module_hub, pid, filters='{"assignee": "%s"}' % who)
    assert len(got) == sum(1 for t in tasks if t["assignee"] == who)
    got = all_tasks(module_hub, pid, filter='{"externalId": "street_0001.jpg"}', stage="Start")
    assert [t["externalId"] for t in got] == ["street_0001.jpg"] * len(got) and got
    for bad, word in (('{"_id": {"$in": [1]}}', "_id: element 0"), ('{"color": "red"}', "color"),
                      ('{"externalId": {"$regex": "a.*b"}}', "externalId"), ("[1]", "filter")):
        st, body = module_hub.api("GET", "/project/%s/tasks" % pid, query={"filter": bad})
        assert st == 400 and word in body["message"], body
