"""Read side: explicit export filters and the completeness check (issue 10,
item 1). angofs never relies on the hub's defaults (an export without `stage`
may hold only Complete tasks, one without `taskTypes` only default tasks):
the requests are read back from the daemon's log (one line per request, with
its query; the hub's /_admin/stats counts them), and an export shorter than
GET /project/{id}/tasks `total` shows in .status."""
import json
import os
import subprocess
import urllib.parse

from conftest import ANGOFS_BIN, Hub, Mount
from hubutil import project_by_name
from test_read_common import EXPORT, all_tasks, count, read, stage_ids, street_dir, wait_for

TASKS = "GET /v2/project/{id}/tasks"


def requests(mount, prefix):
    """Paths with query of the daemon's requests that start with prefix, from
    its log ("GET /v2/export?project=... 200 12ms 345B")."""
    out = []
    for line in mount.log_text().splitlines():
        i = line.find(" GET " + prefix)
        if i >= 0:
            out.append(line[i + 5:].split(" ")[0])
    return out


def export_queries(mount):
    """Query dicts (JSON values decoded) of every GET /v2/export in the log."""
    out = []
    for path in requests(mount, "/v2/export?"):
        q = dict(urllib.parse.parse_qsl(path.split("?", 1)[1]))
        for k in ("stage", "batches", "taskTypes"):
            if k in q:
                q[k] = json.loads(q[k])
        out.append(q)
    return out


def task_counts(mount):
    return [p for p in requests(mount, "/v2/project/") if "/tasks?" in p and "limit=1&" in p]


def count_filter(path):
    """The TaskFilter of a count request; it is sent as `filter` (the SDK's
    name) and as `filters` (the docs'), the same, and never taskTypes."""
    q = urllib.parse.parse_qs(path.split("?", 1)[1])
    assert q["filter"] == q["filters"] and len(q["filter"]) == 1, q
    assert "taskTypes" not in q and q["includeAnswer"] == ["false"], q
    return json.loads(q["filter"][0])


def status(mount):
    with open(os.path.join(mount.path, ".status")) as f:
        return json.load(f)


def test_every_export_names_its_stages_and_task_types(hub, mount):
    pid, p = street_dir(mount, hub)
    stages = stage_ids(hub, pid)
    assert len(stages) == 4
    proj = hub.api("GET", "/project/" + pid)[1]["data"]["project"]
    batch = proj["batches"][0]
    hub.reset_stats()
    whole = json.loads(read(os.path.join(p, "export", "tasks.json")))
    nd = read(os.path.join(p, "export", "tasks.ndjson")).splitlines()
    review = read(os.path.join(p, "export", "stage", "Review", "tasks.ndjson")).splitlines()
    bt = json.loads(read(os.path.join(p, "export", "batch", batch["name"], "tasks.json")))
    issues = json.loads(read(os.path.join(p, "export", "issues.json")))
    qs = export_queries(mount)
    assert len(qs) == 5 and count(hub, EXPORT) == 5, qs
    by = {(q["type"], q["format"], json.dumps(q.get("stage")), json.dumps(q.get("batches"))): q
          for q in qs}
    # whole project, both formats: every stage id of the project, default tasks
    for fmt in ("json", "ndjson"):
        q = by[("task", fmt, json.dumps(stages), "null")]
        assert q["taskTypes"] == ["default"]
    # a stage view: that stage's id only
    review_id = [s["id"] for s in proj["stages"] if s["name"] == "Review"][0]
    q = by[("task", "ndjson", json.dumps([review_id]), "null")]
    assert q["taskTypes"] == ["default"]
    # a batch view: the batch id as a JSON array (as the SDK), every stage
    q = by[("task", "json", json.dumps(stages), json.dumps([batch["_id"]]))]
    assert q["taskTypes"] == ["default"]
    # issues: the SDK sends stage for task exports only, taskTypes always
    q = [q for q in qs if q["type"] == "issue"][0]
    assert "stage" not in q and q["taskTypes"] == ["default"]
    # and the contents hold every task of their filter
    ntasks = len(all_tasks(hub, pid))
    assert len(whole) == ntasks == len([line for line in nd if line.strip()])
    assert len([line for line in review if line.strip()]) == len(
        all_tasks(hub, pid, stage=review_id))
    assert bt and all(batch["name"] in r["batches"] for r in bt)
    assert isinstance(issues, list)


def test_completeness_is_checked_and_shown(hub, mount):
    pid, p = street_dir(mount, hub)
    hub.reset_stats()
    read(os.path.join(p, "export", "tasks.json"))
    read(os.path.join(p, "export", "stage", "Review", "tasks.json"))
    # one cheap count per export, with the export's own filter
    counts = task_counts(mount)
    assert len(counts) == 2 and count(hub, TASKS) == 2, counts
    fs = [count_filter(c) for c in counts]
    assert all(f["type"] == {"$eq": "default"} for f in fs), fs
    review_id = [s for s in stage_ids(hub, pid) if s not in ("Start", "Label", "Complete")][0]
    assert sorted(json.dumps(f.get("stage")) for f in fs) == sorted([
        json.dumps({"$in": [review_id]}), "null"]), fs
    comp = status(mount)["completeness"]
    whole = [c for c in comp if c["export"] == "tasks.json" and "stage" not in c][0]
    assert whole["state"] == "complete" and whole["project"] == pid
    assert whole["records"] == whole["hub_total"] == len(all_tasks(hub, pid))
    staged = [c for c in comp if c.get("stage")][0]
    assert staged["state"] == "complete" and staged["records"] == staged["hub_total"] == 48


def test_a_short_export_is_reported_not_silent(hub, workdir):
    # the hub counts more tasks than its export holds (as a hub that applies
    # a default stage filter would): the log and .status say so
    m = Mount(hub, workdir)
    try:
        pid, p = street_dir(m, hub)
        ntasks = len(all_tasks(hub, pid))
        body = json.dumps({"status": "success", "data": {"tasks": [], "total": ntasks + 7}})
        hub.fault(route=TASKS, body=body, count=1)
        data = json.loads(read(os.path.join(p, "export", "tasks.json")))
        assert len(data) == ntasks  # served, but not silently
        comp = status(m)["completeness"]
        c = [c for c in comp if c["export"] == "tasks.json"][0]
        assert c["state"] == "short"
        assert c["records"] == ntasks and c["hub_total"] == ntasks + 7
        assert "short" in c["message"] and "Troubleshooting" in c["message"]
        assert wait_for(lambda: "the export is short" in m.log_text(), timeout=10)
        # angofs --status shows it too
        out = subprocess.run([ANGOFS_BIN, "--status", m.path], capture_output=True, text=True,
                             timeout=60)
        assert "short" in out.stdout, out.stdout
    finally:
        m.stop()


def test_a_batch_view_without_records_is_flagged(hub, workdir):
    """A batch view is counted like the others (filter batches = the batch
    id, as the SDK sends it). One that holds no record while the hub counts
    tasks in its batch is "short", as a short whole export is (a hub reading
    the batch filter another way gives an empty export, silently); other
    differences are shown but not judged (issue 22)."""
    m = Mount(hub, workdir)
    try:
        pid, p = street_dir(m, hub)
        proj = hub.api("GET", "/project/" + pid)[1]["data"]["project"]
        batch = [b for b in proj["batches"] if b["name"] == "Night Drive"][0]
        intask = [t for t in all_tasks(hub, pid) if batch["_id"] in t["batches"]]
        # what a hub that matched nothing would answer: an empty export
        empty = hub.api("GET", "/export", query={
            "project": project_by_name(hub, "Empty Project"),
            "stage": '["Start","Label","Complete"]'})[1]["data"]
        hub.fault(route=EXPORT, body=json.dumps({"status": "success", "data": empty}),
                  count=1)
        bdir = os.path.join(p, "export", "batch", "Night Drive")
        assert json.loads(read(os.path.join(bdir, "tasks.json"))) == []
        comp = [c for c in status(m)["completeness"] if c.get("batch") == batch["_id"]]
        assert len(comp) == 1, status(m)["completeness"]
        c = comp[0]
        assert c["state"] == "short" and c["records"] == 0 and c["hub_total"] == len(intask)
        assert wait_for(lambda: "the export is short" in m.log_text(), timeout=10)
        (f,) = [count_filter(x) for x in task_counts(m) if "batches" in count_filter(x)]
        assert f == {"batches": {"$in": [batch["_id"]]}, "type": {"$eq": "default"}}
        # the real export of the batch: complete
        os.utime(os.path.join(bdir, "tasks.json"))  # touch: refetch
        assert len(json.loads(read(os.path.join(bdir, "tasks.json")))) == len(intask)
        c = [c for c in status(m)["completeness"] if c.get("batch") == batch["_id"]][0]
        assert c["state"] == "complete", c
    finally:
        m.stop()


def test_task_types_option_widens_the_filter(hub, workdir):
    m = Mount(hub, workdir, opts=["task_types=default:consensus:benchmark"])
    try:
        pid, p = street_dir(m, hub)
        hub.reset_stats()
        read(os.path.join(p, "export", "tasks.ndjson"))
        (q,) = export_queries(m)
        assert q["taskTypes"] == ["default", "consensus", "benchmark"]
        assert q["stage"] == stage_ids(hub, pid)
        counts = task_counts(m)
        assert counts and all(count_filter(c)["type"] == {
            "$in": ["default", "consensus", "benchmark"]} for c in counts), counts
    finally:
        m.stop()


def test_large_task_listing_sends_explicit_filters(workdir):
    # tasks/ of a project above task_page_max comes from a (lean) export:
    # the same explicit stage and taskTypes, and the same check
    hub = Hub(workdir, seeds=("synthetic:1500",))
    m = None
    try:
        m = Mount(hub, workdir)
        p = os.path.join(m.path, "synthetic-1500")
        with open(os.path.join(p, "project.json")) as f:
            pid = json.load(f)["_id"]
        hub.reset_stats()
        ids = os.listdir(os.path.join(p, "tasks"))
        assert len(ids) == 1500
        (q,) = export_queries(m)
        assert q["stage"] == stage_ids(hub, pid) and q["taskTypes"] == ["default"]
        assert q["includeMetadata"] == "false"  # the lean listing export
        comp = status(m)["completeness"]
        assert [c for c in comp if c["export"] == "tasks/"][0]["state"] == "complete"
    finally:
        if m:
            m.stop()
        hub.stop()


def test_strict_hub_exports_hold_every_task_of_every_stage(workdir):
    # the strict hub answers an export without stage with Complete tasks only
    # and without taskTypes with default tasks only: angofs's explicit filters
    # still get every task of every stage
    hub = Hub(workdir, extra_args=["--profile", "strict"])
    m = wide = None
    try:
        assert hub.stats()["profile"] == "strict"
        m = Mount(hub, workdir)
        pid, p = street_dir(m, hub)
        recs = json.loads(read(os.path.join(p, "export", "tasks.json")))
        ids = {r["task"]["taskId"] for r in recs}
        assert ids == {t["_id"] for t in all_tasks(hub, pid)} and len(ids) == 240
        assert {r["task"]["stage"] for r in recs} == {"Start", "Label", "Review", "Complete"}
        nd = [json.loads(x) for x in read(os.path.join(p, "export", "tasks.ndjson")).splitlines()
              if x.strip()]
        assert {r["task"]["taskId"] for r in nd} == ids
        # issues.json is served as the hub wrote it: the documented Issue model
        issues = json.loads(read(os.path.join(p, "export", "issues.json")))
        assert issues and all(i["labelTask"] in ids and isinstance(i["position"], str)
                              and "_id" in i and "content" in i for i in issues)
        # a mixed project: the default tasks of every stage; wider with task_types
        cr = os.path.join(m.path, "Consensus Review")
        with open(os.path.join(cr, "project.json")) as f:
            cid = json.load(f)["_id"]
        every = all_tasks(hub, cid)
        assert len(every) == 12
        default = json.loads(read(os.path.join(cr, "export", "tasks.json")))
        assert len(default) == 6
        # counted with the SDK's filter {"type": ...}: the strict hub ignores
        # a taskTypes parameter on the task list (neither SDK nor docs have
        # one), which would count all 12 and call a whole export "more"
        comp = [c for c in status(m)["completeness"] if c["project"] == cid]
        assert comp and comp[0]["state"] == "complete" and comp[0]["hub_total"] == 6
        wide = Mount(hub, workdir, opts=["task_types=default:consensus:benchmark"], name="wide")
        allrecs = json.loads(read(os.path.join(wide.path, "Consensus Review", "export",
                                               "tasks.json")))
        assert {r["task"]["taskId"] for r in allrecs} == {t["_id"] for t in every}
    finally:
        for x in (wide, m):
            if x:
                x.stop()
        hub.stop()


def test_lenient_hub_same_tasks_and_tolerant_issue_records(workdir):
    # tolerant parsing: the lenient hub (every stage without a filter, its own
    # issue record names) gives the same tasks for the same explicit filters,
    # and issues.json is served whatever names its records use
    hub = Hub(workdir, extra_args=["--profile", "lenient"])
    m = None
    try:
        assert hub.stats()["profile"] == "lenient"
        m = Mount(hub, workdir)
        pid, p = street_dir(m, hub)
        recs = json.loads(read(os.path.join(p, "export", "tasks.json")))
        assert {r["task"]["taskId"] for r in recs} == {t["_id"] for t in all_tasks(hub, pid)}
        (q,) = [q for q in export_queries(m) if q["type"] == "task"]
        assert q["stage"] == stage_ids(hub, pid) and q["taskTypes"] == ["default"]
        issues = json.loads(read(os.path.join(p, "export", "issues.json")))
        assert issues and all("issueId" in i and "taskId" in i for i in issues)
        comp = status(m)["completeness"]
        assert [c["state"] for c in comp] == ["complete"]
    finally:
        if m:
            m.stop()
        hub.stop()
