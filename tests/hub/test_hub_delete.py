"""angofs-hub asset deletion (DELETE /v2/project/{id}/assets, the SDK's body
{"project", "assets": [ids]}): the assets and their tasks leave task lists,
totals, GET /task (404) and later exports; bad bodies are a 400 naming the
problem and delete nothing. Also: updatedAt/createdAt export filters are exact
at the millisecond boundary ($gt/$gte/$lt/$lte), which incremental export
refresh relies on."""
import time
import pytest

from hubutil import all_tasks, export_records, main_project, stage_ids


def _delete(hub, pid, body):
    return hub.api("DELETE", "/project/%s/assets" % pid, body)


def test_delete_assets_removes_tasks_everywhere(hub):
    pid = main_project(hub)
    stages = stage_ids(hub, pid)
    before = all_tasks(hub, pid)
    victims = before[:3]
    asset_ids = [t["asset"] for t in victims]
    st, body = _delete(hub, pid, {"project": pid, "assets": asset_ids})
    assert st == 200, body
    assert body["status"] == "success"
    assert body["data"]["deletedAssets"] == 3
    assert body["data"]["deletedTasks"] == 3
    after = all_tasks(hub, pid)
    assert len(after) == len(before) - 3
    gone = {t["_id"] for t in victims}
    assert not gone & {t["_id"] for t in after}
    st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 1})
    assert body["data"]["total"] == len(before) - 3
    for t in victims:
        st, body = hub.api("GET", "/task/" + t["_id"])
        assert st == 404, body
    recs = export_records(hub, pid, stage=stages)
    assert len(recs) == len(before) - 3
    assert not gone & {r["task"]["taskId"] for r in recs}
    left, page = set(), 1
    while True:
        st, body = hub.api("GET", "/project/%s/assets" % pid, query={"limit": 100, "page": page})
        assert st == 200, body
        left |= {a["_id"] for a in body["data"]["assets"]}
        if not body["data"]["assets"]:
            break
        page += 1
    assert len(left) == len(before) - 3
    assert not set(asset_ids) & left
    # deleting again: the ids are no longer assets of the project
    st, body = _delete(hub, pid, {"project": pid, "assets": asset_ids[:1]})
    assert st == 400 and asset_ids[0] in body["message"], body


def test_delete_without_project_key_is_accepted(hub):
    pid = main_project(hub)
    t = all_tasks(hub, pid)[0]
    st, body = _delete(hub, pid, {"assets": [t["asset"]]})
    assert st == 200, body
    assert hub.api("GET", "/task/" + t["_id"])[0] == 404


@pytest.mark.parametrize("body,needle", [
    (None, "empty"),
    ("[1, 2]", "JSON object"),
    ({"project": "000000000000000000000000", "assets": []}, "does not match"),
    ({"assetIds": ["x"]}, "\"assets\""),
    ({"assets": []}, "empty"),
    ({"assets": "abc"}, "\"assets\""),
    ({"assets": ["not-an-id"]}, "assets[0]"),
    ({"assets": [12]}, "assets[0]"),
])
def test_delete_bad_bodies_are_400_and_change_nothing(hub, body, needle):
    pid = main_project(hub)
    before = all_tasks(hub, pid)
    if body == "[1, 2]":
        body = [1, 2]
    st, reply = _delete(hub, pid, body)
    assert st == 400, reply
    assert needle in reply["message"], reply
    assert len(all_tasks(hub, pid)) == len(before)


def test_delete_is_all_or_nothing(hub):
    pid = main_project(hub)
    before = all_tasks(hub, pid)
    foreign = "0123456789abcdef01234567"
    st, body = _delete(hub, pid, {"assets": [before[0]["asset"], foreign]})
    assert st == 400 and foreign in body["message"] and "nothing" in body["message"], body
    assert len(all_tasks(hub, pid)) == len(before)
    assert hub.api("GET", "/task/" + before[0]["_id"])[0] == 200


def test_delete_unknown_project_and_bad_key(hub):
    st, body = _delete(hub, "0123456789abcdef01234567", {"assets": ["0123456789abcdef01234567"]})
    assert st == 404, body
    pid = main_project(hub)
    st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": []}, key="wrong")
    assert st == 401, body


def test_date_filters_are_exact_at_the_boundary(hub):
    """Every task gets its own updatedAt; each operator at an exact task time
    selects exactly the expected set (the millisecond itself in or out)."""
    pid = main_project(hub)
    stages = stage_ids(hub, pid)
    tasks = all_tasks(hub, pid)
    # make a few distinct, recent updatedAt values: the hub's clock has
    # millisecond resolution (as the real Hub's ISO times), so two annotates in
    # one millisecond share a time; 2 ms apart they cannot
    for t in tasks[:5]:
        st, body = hub.api("POST", "/annotate/" + t["_id"],
                           {"answer": {"classifications": []}})
        assert st == 200, body
        time.sleep(0.002)
    tasks = all_tasks(hub, pid)
    by_id = {t["_id"]: t for t in tasks}
    newest = sorted(t["updatedAt"] for t in tasks)[-5:]
    assert len(set(newest)) == 5, newest
    cut = newest[-3]

    def ids(**flt):
        return sorted(r["task"]["taskId"] for r in export_records(hub, pid, stage=stages, **flt))

    for op, keep in (("$gt", lambda v: v > cut), ("$gte", lambda v: v >= cut),
                     ("$lt", lambda v: v < cut), ("$lte", lambda v: v <= cut)):
        want = sorted(i for i, t in by_id.items() if keep(t["updatedAt"]))
        assert ids(updatedAt={op: cut}) == want, op
    assert len(ids(updatedAt={"$gt": cut})) == 2
    created = sorted(t["createdAt"] for t in tasks)
    lo = created[10]
    want = sorted(i for i, t in by_id.items() if t["createdAt"] >= lo)
    assert ids(createdAt={"$gte": lo}) == want
    want = sorted(i for i, t in by_id.items() if t["createdAt"] > lo)
    assert ids(createdAt={"$gt": lo}) == want
