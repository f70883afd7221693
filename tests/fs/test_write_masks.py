"""Write side: segmentation masks survive every answer write (issue 10, item 2).

The hub keeps brush masks on the task (brushDataUrl / medicalBrushDataUrl),
not in its answer. The strict hub profile clears a mask when /annotate omits
its URL (the less convenient reading of an undocumented behaviour), so these
tests run against it: a client that dropped the URL would lose the mask here.
The demo seed gives a few Complete tasks of the main project a real PNG mask
in the hub's storage."""
import errno
import json
import os
import subprocess
import urllib.parse

import time

from hubutil import export_records, fetch, fetch_signed, stage_ids
from test_write_common import (ANNOTATE, WENV, WOPTS, count, hub_task, main_project,  # noqa: F401
                               project_dir, read, status_state, strict, task_answer, write_file)


def requests_since(m, start):
    """("GET task" | "POST annotate") of the daemon's requests logged after
    offset start of its log, in order."""
    out = []
    for line in m.log_text()[start:].splitlines():
        if " GET /v2/task/" in line:
            out.append("GET task")
        elif " POST /v2/annotate/" in line:
            out.append("POST annotate")
    return out


def mask_key(url):
    """The storage object a (signed, expiring) mask URL points to."""
    return urllib.parse.urlsplit(url).path if url else None


def masked_task(hub, pid):
    st, body = hub.api("GET", "/project/%s/tasks" % pid,
                       query={"limit": 100, "stage": "Complete", "page": 1})
    assert st == 200, body
    for t in body["data"]["tasks"]:
        full = hub_task(hub, t["_id"])
        if full.get("brushDataUrl"):
            return full
    raise AssertionError("the demo seed has no task with a brush mask")


def masked_answer(hub, m):
    pid = main_project(hub)
    t = masked_task(hub, pid)
    path = os.path.join(project_dir(m, pid), "tasks", t["_id"], "answer.json")
    return t, path


def test_answer_json_shows_the_mask_next_to_the_answer(strict):
    hub, m = strict
    t, path = masked_answer(hub, m)
    shown = json.loads(read(path))
    assert mask_key(shown["brushDataUrl"]) == mask_key(t["brushDataUrl"])
    assert "medicalBrushDataUrl" not in shown  # the task has none
    assert shown["tools"] == t["answer"]["tools"]
    # the mask URL really is the task's PNG (signed first when private, as
    # the SDK does: the strict hub's GET /task shows it bare)
    png = fetch_signed(hub, shown["brushDataUrl"], t["project"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_jq_then_cp_keeps_the_mask(strict, workdir):
    hub, m = strict
    t, path = masked_answer(hub, m)
    a = os.path.join(workdir, "a.json")
    with open(a, "w") as out:
        subprocess.run(["jq", '.tools[0]["bounding-box"].x = 7', path], stdout=out,
                       check=True, timeout=60)
    subprocess.run(["cp", a, path], check=True, timeout=60)
    after = hub_task(hub, t["_id"])
    assert after["answer"]["tools"][0]["bounding-box"]["x"] == 7
    assert mask_key(after.get("brushDataUrl")) == mask_key(t["brushDataUrl"])


def test_a_write_that_leaves_the_mask_out_carries_it_over(strict):
    hub, m = strict
    t, path = masked_answer(hub, m)
    answer = json.loads(json.dumps(t["answer"]))
    answer["tools"][0]["bounding-box"]["x"] = 9
    assert read(path)  # answer.json is cached: a lookup asks nothing more
    start = len(m.log_text())
    assert write_file(path, json.dumps(answer)) is None  # no brushDataUrl key
    # the current mask was read (not taken from the cache) just before the annotate
    seq = requests_since(m, start)
    assert seq[:seq.index("POST annotate") + 1] == ["GET task", "POST annotate"], seq
    after = hub_task(hub, t["_id"])
    assert after["answer"]["tools"][0]["bounding-box"]["x"] == 9
    assert mask_key(after.get("brushDataUrl")) == mask_key(t["brushDataUrl"])
    assert mask_key(json.loads(read(path))["brushDataUrl"]) == mask_key(t["brushDataUrl"])


def test_a_signed_mask_url_is_written_back_bare(workdir):
    """An export shows a task's mask URL signed; written back in answer.json
    as is, what goes to /annotate is the bare object URL (the SDK's; issue
    22), so the mask outlives the signature on a hub that stores what it
    gets (the strict profile does): after the signing TTL the task's and a
    new export's mask links still work."""
    from conftest import Hub, Mount
    hub = Hub(workdir, extra_args=["--profile", "strict", "--signed-url-ttl", "3"])
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        t, path = masked_answer(hub, m)
        pid = t["project"]
        recs = json.loads(read(os.path.join(project_dir(m, pid), "export", "tasks.json")))
        signed = [r for r in recs if r["task"]["taskId"] == t["_id"]][0]["task"]["brushDataUrl"]
        assert "Signature=" in signed
        shown = json.loads(read(path))
        shown["brushDataUrl"] = signed
        shown["tools"][0]["bounding-box"]["x"] = 11
        hub.clear_requests()
        assert write_file(path, json.dumps(shown)) is None
        sent = [json.loads(r["body"]) for r in hub.requests()
                if r["method"] == "POST" and r["path"].startswith("/v2/annotate/")]
        assert sent and sent[-1]["brushDataUrl"] == signed.split("?")[0], sent
        assert "medicalBrushDataUrl" in sent[-1] and sent[-1]["duration"] == 0
        after = hub_task(hub, t["_id"])
        assert after["answer"]["tools"][0]["bounding-box"]["x"] == 11
        assert "?" not in after["brushDataUrl"]
        deadline = time.time() + 60
        while fetch(signed)[0] == 200 and time.time() < deadline:
            time.sleep(0.2)
        assert fetch(signed)[0] == 403  # the signature shown in the export died
        rec = [r for r in export_records(hub, pid, stage=stage_ids(hub, pid),
                                         taskTypes=["default"])
               if r["task"]["taskId"] == t["_id"]][0]
        assert fetch(rec["task"]["brushDataUrl"])[0] == 200  # the mask did not
        assert fetch_signed(hub, after["brushDataUrl"], pid)[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        m.stop()
        hub.stop()


def test_null_clears_the_mask(strict):
    hub, m = strict
    t, path = masked_answer(hub, m)
    shown = json.loads(read(path))
    shown["brushDataUrl"] = None
    assert write_file(path, json.dumps(shown)) is None
    after = hub_task(hub, t["_id"])
    assert not after.get("brushDataUrl")
    assert "brushDataUrl" not in json.loads(read(path))
    assert after["answer"]["tools"] == t["answer"]["tools"]


def test_a_bad_mask_value_is_refused_before_sending(strict):
    hub, m = strict
    t, path = masked_answer(hub, m)
    hub.reset_stats()
    e = write_file(path, json.dumps({"tools": [], "brushDataUrl": 42}))
    assert e is not None and e.errno == errno.EINVAL
    assert count(hub, ANNOTATE) == 0
    assert "must be the mask's URL" in read(path + ".status")
    assert status_state(path + ".status") == "failed"
    assert mask_key(hub_task(hub, t["_id"]).get("brushDataUrl")) == mask_key(t["brushDataUrl"])


def test_unmasked_task_gets_no_mask_key(strict):
    hub, m = strict
    pid = main_project(hub)
    st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 5, "stage": "Label"})
    tid = [t["_id"] for t in body["data"]["tasks"] if not t.get("brushDataUrl")][0]
    path = os.path.join(project_dir(m, pid), "tasks", tid, "answer.json")
    shown = json.loads(read(path))
    assert "brushDataUrl" not in shown and "medicalBrushDataUrl" not in shown
    assert write_file(path, json.dumps(shown)) is None
    assert not hub_task(hub, tid).get("brushDataUrl")
    assert task_answer(hub, tid)["tools"] == shown["tools"]


def test_medical_mask_is_read_only_refused_not_kept_as_scratch(strict, tmp_path):
    """mask.seg.nrrd is the hub's medical mask, read-only through the mount:
    writing it (cp of an edited copy) fails at once like task.json, instead of
    being kept as a local scratch file that shadows the hub's mask and is never
    sent."""
    hub, m = strict
    pid = main_project(hub)
    tasks = []
    for page in (1, 2, 3):
        st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 100, "page": page})
        assert st == 200, body
        tasks += body["data"]["tasks"]
    t = next(t for t in tasks if t.get("medicalBrushDataUrl"))
    tdir = os.path.join(project_dir(m, pid), "tasks", t["_id"])
    path = os.path.join(tdir, "mask.seg.nrrd")
    orig = open(path, "rb").read()
    assert orig.startswith(b"NRRD")
    e = write_file(path, orig + b"\0")
    assert isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM), e
    assert open(path, "rb").read() == orig
    assert "mask.seg.nrrd.status" not in os.listdir(tdir)
    # a task without one: the name cannot be made either
    plain = next(x for x in tasks if not x.get("medicalBrushDataUrl"))
    e = write_file(os.path.join(project_dir(m, pid), "tasks", plain["_id"], "mask.seg.nrrd"),
                   orig)
    assert isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM), e
