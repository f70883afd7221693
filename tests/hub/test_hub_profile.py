"""angofs-hub --profile strict|lenient: exports without stage/taskTypes, batch
filters by id only, and the lenient profile staying as it was (docs/HUB.md,
"Profiles"). Each test names its profile explicitly, so the suite-wide default
does not change what is checked here."""
import collections
import subprocess

import pytest

from conftest import HUB_BIN, Hub
from hubutil import all_tasks, export_records, main_project, project_by_name

CONSENSUS = "Consensus Review"


@pytest.fixture(scope="module")
def strict(module_workdir):
    import os
    d = os.path.join(module_workdir, "strict")
    os.makedirs(d)
    h = Hub(d, extra_args=["--profile", "strict"])
    yield h
    h.stop()


@pytest.fixture(scope="module")
def lenient(module_workdir):
    import os
    d = os.path.join(module_workdir, "lenient")
    os.makedirs(d)
    h = Hub(d, extra_args=["--profile", "lenient"])
    yield h
    h.stop()


def proj(hub, pid):
    st, body = hub.api("GET", "/project/" + pid)
    assert st == 200, body
    return body["data"]["project"]


def test_profile_reported_and_option_checked(strict, lenient, workdir):
    assert strict.stats()["profile"] == "strict"
    assert lenient.stats()["profile"] == "lenient"
    r = subprocess.run([HUB_BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "--profile lenient|strict" in r.stdout
    r = subprocess.run([HUB_BIN, "--db", workdir + "/x.db", "--listen", "127.0.0.1:0",
                        "--api-key", "k", "--profile", "picky"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--profile" in r.stderr and "picky" in r.stderr


def test_default_profile_is_lenient(workdir):
    h = Hub(workdir, seeds=(), profile=None)
    try:
        assert h.stats()["profile"] == "lenient"
    finally:
        h.stop()


def test_seed_has_consensus_and_benchmark_tasks(strict):
    pid = project_by_name(strict, CONSENSUS)
    tasks = all_tasks(strict, pid)
    types = collections.Counter(t["taskType"] for t in tasks)
    assert types == {"default": 6, "consensus": 3, "benchmark": 3}
    assert all(t["isBenchmark"] == (t["taskType"] == "benchmark") for t in tasks)
    # some of each kind in Complete, so every export rule shows
    done = collections.Counter(t["taskType"] for t in tasks if t["stage"] == "Complete")
    assert done["default"] and done["consensus"] and done["benchmark"]
    # the task list filters by type with the SDK's filter (both profiles);
    # taskTypes, a parameter of neither the SDK nor the docs, only in lenient
    f = '{"type": {"$in": ["consensus", "benchmark"]}}'
    assert len(all_tasks(strict, pid, filter=f)) == 6
    assert len(all_tasks(strict, pid, taskTypes='["consensus","benchmark"]')) == 12


def test_strict_export_without_stage_or_types_holds_complete_default(strict):
    pid = project_by_name(strict, CONSENSUS)
    tasks = all_tasks(strict, pid)
    want = sorted(t["_id"] for t in tasks
                  if t["stage"] == "Complete" and t["taskType"] == "default")
    recs = export_records(strict, pid)
    assert sorted(r["task"]["taskId"] for r in recs) == want
    assert 0 < len(recs) < len(tasks)
    # only one of the two given: the other default still applies
    recs = export_records(strict, pid, stage=["Start", "Label", "Complete"])
    assert sorted(r["task"]["taskId"] for r in recs) == sorted(
        t["_id"] for t in tasks if t["taskType"] == "default")
    recs = export_records(strict, pid, taskTypes=["default", "consensus", "benchmark"])
    assert sorted(r["task"]["taskId"] for r in recs) == sorted(
        t["_id"] for t in tasks if t["stage"] == "Complete")
    # both explicit: every task
    stages = [s["id"] for s in proj(strict, pid)["stages"]]
    recs = export_records(strict, pid, "ndjson", stage=stages,
                          taskTypes=["default", "consensus", "benchmark"])
    assert sorted(r["task"]["taskId"] for r in recs) == sorted(t["_id"] for t in tasks)


def test_strict_main_project_export_is_complete_only(strict):
    pid = main_project(strict)
    tasks = all_tasks(strict, pid)
    recs = export_records(strict, pid)
    assert len(recs) == sum(1 for t in tasks if t["stage"] == "Complete") == 96
    assert {r["task"]["stage"] for r in recs} == {"Complete"}


def test_lenient_export_without_stage_or_types_holds_every_task(lenient):
    for name in (CONSENSUS,):
        pid = project_by_name(lenient, name)
        tasks = all_tasks(lenient, pid)
        recs = export_records(lenient, pid)
        assert sorted(r["task"]["taskId"] for r in recs) == sorted(t["_id"] for t in tasks)
        assert len(recs) == 12
    assert len(export_records(lenient, main_project(lenient))) == 240


def test_issue_export_has_no_stage_default(strict):
    # the SDK sends stage only for task exports: issues of every stage
    pid = main_project(strict)
    assert len(export_records(strict, pid, type="issue")) == 4


def test_strict_batch_filters_take_ids_only(strict):
    pid = main_project(strict)
    batches = {b["name"]: b["_id"] for b in proj(strict, pid)["batches"]}
    night = batches["Night Drive"]
    for path, q in (("/export", {"project": pid, "batches": '["Night Drive"]'}),
                    ("/export", {"project": pid, "batches": "Night Drive"}),
                    ("/project/%s/tasks" % pid, {"batches": '["Night Drive"]'}),
                    ("/project/%s/assets" % pid, {"filters": '{"batches":["Night Drive"]}'})):
        st, body = strict.api("GET", path, query=q)
        assert st == 400, (path, body)
        assert "Night Drive" in body["message"] and night in body["message"]
        assert "id" in body["message"]
    st, body = strict.api("GET", "/export", query={"project": pid, "batches": '["Nope"]'})
    assert st == 400 and "Nope" in body["message"]
    tasks = all_tasks(strict, pid, batches=night)
    assert tasks and all(night in t["batches"] for t in tasks)
    recs = export_records(strict, pid, batches=[night], stage=["Complete"])
    assert sorted(r["task"]["taskId"] for r in recs) == sorted(
        t["_id"] for t in tasks if t["stage"] == "Complete")
    st, body = strict.api("GET", "/project/%s/assets" % pid,
                          query={"filters": '{"batches":["%s"]}' % night, "limit": 100})
    assert st == 200 and body["data"]["total"] == len(tasks)


def test_lenient_batch_filters_take_names_too(lenient):
    pid = main_project(lenient)
    night = {b["name"]: b["_id"] for b in proj(lenient, pid)["batches"]}["Night Drive"]
    by_name = all_tasks(lenient, pid, batches='["Night Drive"]')
    assert by_name and by_name == all_tasks(lenient, pid, batches=night)
    recs = export_records(lenient, pid, batches=["Night Drive"])
    assert len(recs) == len(by_name)
    st, body = lenient.api("GET", "/project/%s/assets" % pid,
                           query={"filters": '{"batches":["Night Drive"]}'})
    assert st == 200 and body["data"]["total"] == len(by_name)


def test_strict_issue_export_uses_the_documented_issue_model(strict):
    import json
    pid = main_project(strict)
    tasks = {t["_id"]: t for t in all_tasks(strict, pid)}
    for fmt in ("json", "ndjson"):
        recs = export_records(strict, pid, fmt, type="issue")
        assert len(recs) == 4
        for r in recs:
            assert set(r) == {"_id", "content", "project", "asset", "labelTask", "status",
                              "createdBy", "position", "points", "contentMentions",
                              "comments", "errorCodes", "createdAt", "updatedAt"}
            assert len(r["_id"]) == 24 and r["project"] == pid
            t = tasks[r["labelTask"]]
            assert r["asset"] == t["asset"]
            assert isinstance(r["position"], str)
            assert set(json.loads(r["position"])) == {"x", "y", "page"}
            assert r["status"] in ("Open", "Resolved")
            for c in r["errorCodes"]:
                assert set(c) == {"category", "name", "key"}
        codes = {r["content"]: [c["key"] for c in r["errorCodes"]] for r in recs}
        assert codes["Box is too loose around the car"] == ["loose_box"]
        assert codes["Missing pedestrian"] == ["missing_object", "wrong_class"]
        assert codes["Wrong weather class"] == []


def test_lenient_issue_export_keeps_its_record_fields(lenient):
    recs = export_records(lenient, main_project(lenient), type="issue")
    assert len(recs) == 4
    for r in recs:
        assert {"issueId", "taskId", "externalId", "asset", "stage", "stageId"} <= set(r)
        assert isinstance(r["position"], dict)
