"""Incremental export refresh (issue 14 item 1), against the real local hub and
a real mount: after changes made through the hub's API, a refreshed
export/tasks.json (and tasks.ndjson, a stage view) equals a fresh full export
byte for byte, the hub sees only what proves and fetches the change (project,
count, one incremental export and its download), and the fallbacks to a full
export are taken when the merge cannot prove its result (a deletion, a task
that entered a stage view, a schema change, -o incremental=0). .status tells
what the last refresh did. The randomized model test is
test_incremental_model.py."""
import errno
import json
import os
import re
import subprocess
import time

import pytest

from conftest import Hub, Mount
from test_read_common import (DOWNLOAD, EXPORT, all_tasks, direct_export, main_project, pdir,
                              read, stage_ids)


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)


def last_refresh(m, pid, fmt="json", stage=None):
    """The entry's last refresh, once it is over: a merged generation is
    served while written ("writing" in .status) and says how it went after."""
    deadline = time.time() + 60
    while True:
        for e in status(m)["exports"]["exports"]:
            if (e.get("project") == pid and e.get("format") == fmt and e.get("stage") == stage
                    and "purpose" not in e and e.get("type") == "task"):
                break
        else:
            raise AssertionError("no export entry for %s %s %s" % (pid, fmt, stage))
        if not e.get("writing") or time.time() > deadline:
            return e.get("last_refresh")
        time.sleep(0.05)


def annotate(hub, tid, word, next_stage=False):
    st, body = hub.api("POST", "/annotate/" + tid,
                       {"answer": {"classifications": [{"schemaId": "cWeath01",
                                                        "answer": word}]}},
                       query={"nextStage": "true"} if next_stage else None)
    assert st == 200, body


def refresh(path):
    os.utime(path)  # touch: the export goes stale
    return read(path)


def test_annotations_refresh_incrementally(hub, mount):
    pid = main_project(hub)
    exp = os.path.join(pdir(mount, hub, pid), "export", "tasks.json")
    read(exp)
    first = last_refresh(mount, pid)
    assert first["mode"] == "full", first
    tasks = all_tasks(hub, pid)
    for i, t in enumerate(tasks[:10]):
        annotate(hub, t["_id"], "Rain" if i % 2 else "Snow")
    hub.reset_stats()
    data = refresh(exp)
    counts = hub.stats()["counts"]
    assert data == direct_export(hub, pid)
    lr = last_refresh(mount, pid)
    assert lr["mode"] == "incremental", lr
    assert lr["changed"] == 10 and lr["replaced"] == 10 and lr["records"] == len(tasks), lr
    assert lr["indexed"], lr  # unchanged runs copied through the record index
    assert lr["streamed"], lr  # read while written (src/exports/stream.c)
    # the project (schema fingerprint), the count, the export and its download
    assert counts.get(EXPORT) == 1 and counts.get(DOWNLOAD) == 1, counts
    assert sum(counts.values()) <= 4, counts
    assert lr["requests"] == 4, lr
    # nothing changed since: the generation stays, nothing is downloaded again
    hub.reset_stats()
    assert refresh(exp) == data
    assert last_refresh(mount, pid)["mode"] == "unchanged"


def test_ndjson_and_new_tasks_appended(hub, mount):
    pid = main_project(hub)
    exp = os.path.join(pdir(mount, hub, pid), "export", "tasks.ndjson")
    read(exp)
    st, body = hub.api("POST", "/project/%s/cloud" % pid, {"assets": [
        {"data": "https://example.com/new-%d.jpg" % i, "externalId": "new-%d.jpg" % i}
        for i in range(3)]})
    assert st in (200, 201), body
    annotate(hub, all_tasks(hub, pid)[5]["_id"], "Rain")
    data = refresh(exp)
    assert data == direct_export(hub, pid, format="ndjson")
    lr = last_refresh(mount, pid, "ndjson")
    # replaced: the annotated task, plus tasks re-sent within the safety margin
    assert lr["mode"] == "incremental" and lr["added"] == 3 and lr["replaced"] >= 1, lr
    assert lr["changed"] == lr["added"] + lr["replaced"], lr


def test_fallbacks(hub, workdir):
    pid = main_project(hub)
    m = Mount(hub, workdir)
    off = Mount(hub, workdir, name="off", opts=["incremental=0"])
    try:
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        read(exp)
        tasks = all_tasks(hub, pid)
        # a deletion: the merged count exceeds the hub's total
        st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [tasks[3]["asset"]]})
        assert st == 200, body
        annotate(hub, tasks[4]["_id"], "Rain")
        assert refresh(exp) == direct_export(hub, pid)
        lr = last_refresh(m, pid)
        assert lr["mode"] == "full" and "deleted" in lr["full_because"], lr
        # a stage view: a task that moves out of it is removed incrementally;
        # one that moves in has no known place: a full export
        label = stage_ids(hub, pid)[0]
        svexp = None
        sv = os.path.join(pdir(m, hub, pid), "export", "stage")
        for n in sorted(os.listdir(sv)):
            recs = json.loads(read(os.path.join(sv, n, "tasks.json")))
            if recs and recs[0]["task"]["stageId"] == label:
                svexp = os.path.join(sv, n, "tasks.json")
        assert svexp
        inlabel = [t for t in all_tasks(hub, pid) if t["stage"] == label]
        annotate(hub, inlabel[0]["_id"], "Rain", next_stage=True)
        assert refresh(svexp) == direct_export(hub, pid, stage=[label])
        lr = last_refresh(m, pid, stage=label)
        assert lr["mode"] == "incremental" and lr["removed"] == 1, lr
        # the next stage's view gains it: its place there is unknown
        nxt = [t for t in all_tasks(hub, pid) if t["_id"] == inlabel[0]["_id"]][0]["stage"]
        nexp = os.path.join(os.path.dirname(os.path.dirname(svexp)),
                            [n for n in os.listdir(sv)
                             if json.loads(read(os.path.join(sv, n, "tasks.json")))
                             and json.loads(read(os.path.join(sv, n, "tasks.json")))[0]
                             ["task"]["stageId"] == nxt][0], "tasks.json")
        annotate(hub, inlabel[1]["_id"], "Rain", next_stage=True)
        assert refresh(nexp) == direct_export(hub, pid, stage=[nxt])
        lr = last_refresh(m, pid, stage=nxt)
        assert lr["mode"] == "full" and "entered the view" in lr["full_because"], lr
        # -o incremental=0: always full
        oexp = os.path.join(pdir(off, hub, pid), "export", "tasks.json")
        read(oexp)
        annotate(hub, tasks[6]["_id"], "Snow")
        assert refresh(oexp) == direct_export(hub, pid)
        assert last_refresh(off, pid)["mode"] == "full"
    finally:
        off.stop()
        m.stop()


def test_shared_cache_directory(hub, workdir):
    """Two mounts on one cache directory: a generation one of them merged is
    served by the other without a download, and the other refreshes
    incrementally from it (the incremental state lives in the shared meta)."""
    pid = main_project(hub)
    cache = os.path.join(workdir, "shared-cache")
    a = Mount(hub, workdir, name="a", cache=cache)
    b = Mount(hub, workdir, name="b", cache=cache)
    try:
        ea = os.path.join(pdir(a, hub, pid), "export", "tasks.json")
        eb = os.path.join(pdir(b, hub, pid), "export", "tasks.json")
        assert read(ea) == read(eb)
        tasks = all_tasks(hub, pid)
        annotate(hub, tasks[7]["_id"], "Rain")
        data = refresh(ea)
        assert last_refresh(a, pid)["mode"] == "incremental"
        assert data == direct_export(hub, pid)
        hub.reset_stats()
        assert read(eb) == data  # b adopts a's generation (its meta changed)
        assert hub.stats()["counts"].get(DOWNLOAD, 0) == 0
        annotate(hub, tasks[8]["_id"], "Snow")
        assert refresh(eb) == direct_export(hub, pid)
        assert last_refresh(b, pid)["mode"] == "incremental", last_refresh(b, pid)
        assert read(ea) == read(eb)
    finally:
        b.stop()
        a.stop()


def test_ignored_filter_and_changed_schema_fall_back(hub, mount):
    """A hub that ignores the updatedAt filter (its incremental export holds
    records not newer than the bound) and a project whose stages changed
    (fingerprint) both make the refresh a full export, still equal to a full
    export."""
    pid = main_project(hub)
    exp = os.path.join(pdir(mount, hub, pid), "export", "tasks.json")
    read(exp)
    tasks = all_tasks(hub, pid)
    # the next GET /export answers the link of an export without the filter
    q = {"project": pid, "taskTypes": '["default"]', "stage": json.dumps(stage_ids(hub, pid))}
    st, body = hub.api("GET", "/export", query=q)
    assert st == 200, body
    annotate(hub, tasks[9]["_id"], "Rain")
    hub.fault(route=EXPORT, body=json.dumps({"status": "success", "data": body["data"]}),
              count=1)
    assert refresh(exp) == direct_export(hub, pid)
    lr = last_refresh(mount, pid)
    assert lr["mode"] == "full" and "ignored the filter" in lr["full_because"], lr
    # the project as the hub answers it next: a stage renamed
    st, body = hub.api("GET", "/project/" + pid)
    doc = body["data"]["project"]
    doc["stages"][0]["name"] = doc["stages"][0]["name"] + " (renamed)"
    hub.fault(route="GET /v2/project/{id}",
              body=json.dumps({"status": "success", "data": {"project": doc}}), count=1)
    annotate(hub, tasks[10]["_id"], "Snow")
    assert refresh(exp) == direct_export(hub, pid)
    lr = last_refresh(mount, pid)
    assert lr["mode"] == "full" and "project changed" in lr["full_because"], lr


def test_mtime_follows_content(hub, workdir):
    """A refresh that changed the export gives it a new mtime, later than the
    old one even within the same second (rsync's quick check compares size and
    whole-second mtime, and a label change can keep the size); a refresh that
    changed nothing keeps it (make and rsync redo nothing), unless the file
    was touched (touch's contract)."""
    m = Mount(hub, workdir, opts=["export_ttl=2"])
    try:
        pid = main_project(hub)
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        read(exp)
        m0 = os.stat(exp).st_mtime
        time.sleep(3)  # the TTL runs out: nothing changed
        assert read(exp) == direct_export(hub, pid)
        assert last_refresh(m, pid)["mode"] == "unchanged"
        assert os.stat(exp).st_mtime == m0
        refresh(exp)  # touch, nothing changed: a new mtime all the same
        assert last_refresh(m, pid)["mode"] == "unchanged"
        m1 = os.stat(exp).st_mtime
        assert m1 > m0
        t = all_tasks(hub, pid)[0]
        for word in ("Rain", "Snow"):  # same size, likely the same second
            annotate(hub, t["_id"], word)
            assert refresh(exp) == direct_export(hub, pid)
            assert last_refresh(m, pid)["mode"] == "incremental"
            m2 = os.stat(exp).st_mtime
            assert m2 > m1
            m1 = m2
    finally:
        m.stop()


def test_disk_full_while_written(workdir):
    """A merged generation is served while it is written (src/exports/stream.c).
    If the disk fills up meanwhile, its reader gets EIO for the bytes that
    never came, never a short or mixed file; a reader of the old generation
    keeps it whole; once there is room the next read equals a full export."""
    hub = Hub(workdir, seeds=("synthetic:2000",))
    small = os.path.join(workdir, "small")
    os.makedirs(small)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", small], check=True)
    m = None
    try:
        st, body = hub.api("GET", "/listProjects", query={"limit": 100})
        assert st == 200, body
        pid = [p["_id"] for p in body["data"]["projects"] if p["name"] == "synthetic-2000"][0]
        m = Mount(hub, workdir, cache=os.path.join(small, "cache"))
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        old = read(exp)
        assert len(old) > 4 << 20, len(old)  # a merge of several 8 MiB-or-less chunks
        held = open(exp, "rb")
        assert held.read(10) == old[:10]
        tasks = all_tasks(hub, pid)
        for t in tasks[:3]:
            annotate(hub, t["_id"], "Rain")
        # leave room for the small incremental download, not for a new copy
        vfs = os.statvfs(small)
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:
            f.truncate(0)
            left = vfs.f_bavail * vfs.f_frsize - len(old) // 2
            while left > 0:
                n = min(left, 1 << 20)
                f.write(b"\0" * n)
                left -= n
        os.utime(exp)
        with pytest.raises(OSError) as ei:
            read(exp)
        # EIO mid-read (the merge failed after the open), or ENOSPC at the
        # open (it failed before): never retried in a loop, never short
        assert ei.value.errno in (errno.EIO, errno.ENOSPC), ei.value
        time.sleep(1)
        # one merge, one failure (an open that shares the failure, when it came
        # before the open returned, repeats its message in its own warning)
        assert len(re.findall(r"export: writing \S+ generation \d+ failed after",
                              m.log_text())) == 1, m.log_text()[-3000:]
        assert held.read() == old[10:]  # the old generation, whole
        held.close()
        assert "No space left" in m.log_text() or "ENOSPC" in m.log_text(), m.log_text()[-2000:]
        os.unlink(filler)
        os.utime(exp)
        assert read(exp) == direct_export(hub, pid)
        lr = last_refresh(m, pid)
        assert lr["mode"] == "incremental" and lr["streamed"], lr
    finally:
        if m:
            m.stop()
        subprocess.run(["umount", "-l", small])
        hub.stop()
