"""Read side: lazily fetched exports and their cache (issue 3, deliverables 2
and 3). Each test gets its own hub and mount unless it only reads."""
import json
import os
import stat
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import Mount
from test_read_common import (EXPORT, DOWNLOAD, all_tasks, count, direct_export, main_project,
                              read, stage_ids, street_dir, wait_for)
from hubutil import REVIEW_ID

BOX = {"x": 10, "y": 20, "width": 30, "height": 40}


def test_ls_stat_find_never_request_an_export(hub, mount):
    # datasets/ is left out: listing a view's images is reading its data set,
    # which fetches the view's export (tests/datasets checks what stays free)
    hub.reset_stats()
    subprocess.run(["ls", "-lR", "--ignore=datasets", mount.path], check=True,
                   stdout=subprocess.DEVNULL, timeout=300)
    out = subprocess.run(["find", mount.path, "-name", "datasets", "-prune", "-o", "-type", "f",
                          "-print"], check=True, timeout=300,
                         capture_output=True, text=True).stdout.split("\n")
    assert any(p.endswith("/export/tasks.json") for p in out)
    for p in out:
        if "/export/" in p:
            os.stat(p)
    assert count(hub, EXPORT) == 0
    assert count(hub, DOWNLOAD) == 0


def test_first_read_works_for_common_tools(hub, mount, workdir):
    pid, p = street_dir(mount, hub)
    ntasks = len(all_tasks(hub, pid))
    exp = os.path.join(p, "export")
    wc = subprocess.run(["wc", "-l", os.path.join(exp, "tasks.ndjson")], check=True,
                        capture_output=True, text=True, timeout=120).stdout
    assert int(wc.split()[0]) == ntasks
    head = subprocess.run(["head", "-c", "1", os.path.join(exp, "tasks.json")], check=True,
                          capture_output=True, timeout=120).stdout
    assert head == b"["
    dst = os.path.join(workdir, "copy.json")
    subprocess.run(["cp", os.path.join(exp, "tasks.json"), dst], check=True, timeout=120)
    with open(dst) as f:
        recs = json.load(f)
    assert len(recs) == ntasks
    with open(os.path.join(exp, "tasks.json")) as f:
        assert json.load(f) == recs
    with open(os.path.join(exp, "tasks.ndjson")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    assert {r["task"]["taskId"] for r in lines} == {r["task"]["taskId"] for r in recs}
    cat = subprocess.run(["cat", os.path.join(exp, "issues.json")], check=True,
                         capture_output=True, timeout=120).stdout
    assert isinstance(json.loads(cat), list)


def test_bytes_equal_a_direct_download(hub, mount):
    pid, p = street_dir(mount, hub)
    exp = os.path.join(p, "export")
    assert read(os.path.join(exp, "tasks.json")) == direct_export(hub, pid, format="json",
                                                                 type="task")
    assert read(os.path.join(exp, "tasks.ndjson")) == direct_export(hub, pid, format="ndjson",
                                                                   type="task")
    assert read(os.path.join(exp, "issues.json")) == direct_export(hub, pid, format="json",
                                                                  type="issue")
    staged = read(os.path.join(exp, "stage", "Review", "tasks.ndjson"))
    assert staged == direct_export(hub, pid, format="ndjson", type="task", stage=[REVIEW_ID])
    recs = [json.loads(line) for line in staged.splitlines() if line.strip()]
    assert recs and all(r["task"]["stageId"] == REVIEW_ID for r in recs)
    # the whole-project export names every stage of the project, the stage
    # one its own (the daemon logs each API request with its query; the
    # explicit filters are checked in detail by test_read_filters.py)
    queries = [line.split(" GET ")[1].split(" ")[0] for line in mount.log_text().splitlines()
               if " GET /v2/export?" in line]
    every = "stage=" + urllib.parse.quote(json.dumps(stage_ids(hub, pid),
                                                     separators=(",", ":")), safe="")
    assert any(every in q and "format=json" in q and "type=task" in q for q in queries)
    assert any("stage=%5B%22" + REVIEW_ID + "%22%5D" in q for q in queries)


def test_batch_export_filters_by_batch(hub, mount):
    pid, p = street_dir(mount, hub)
    proj = hub.api("GET", "/project/" + pid)[1]["data"]["project"]
    b = proj["batches"][0]
    raw = read(os.path.join(p, "export", "batch", b["name"], "tasks.json"))
    assert raw == direct_export(hub, pid, format="json", type="task", batches=[b["_id"]])
    recs = json.loads(raw)
    assert recs and all(b["name"] in r["batches"] for r in recs)


def test_true_size_after_fetch(hub, mount):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.ndjson")
    assert os.stat(f).st_size == 1  # unknown before the first read: a 1-byte placeholder
    data = read(f)
    assert len(data) > 1000
    assert os.stat(f).st_size == len(data)
    assert read(f) == data


def test_concurrent_first_reads_fetch_once(hub, mount):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.json")
    hub.reset_stats()
    # slow the export request so that every reader arrives while it runs
    hub.fault(route=EXPORT, latency_ms=1500, count=1)
    results, errors = [], []

    def reader():
        try:
            results.append(read(f))
        except OSError as e:
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert count(hub, EXPORT) == 1
    assert count(hub, DOWNLOAD) == 1


def test_ttl_expiry_refetches(hub, workdir):
    m = Mount(hub, workdir, opts=["export_ttl=1"])
    try:
        _, p = street_dir(m, hub)
        f = os.path.join(p, "export", "issues.json")
        hub.reset_stats()
        read(f)
        assert count(hub, EXPORT) == 1
        time.sleep(2.5)  # past the 1 s TTL (a lower bound only)
        read(f)
        assert count(hub, EXPORT) == 2
    finally:
        m.stop()


def test_warm_reads_within_ttl_and_touch_refresh(hub, mount):
    pid, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.ndjson")
    before = read(f)
    hub.reset_stats()
    assert read(f) == before
    assert count(hub, EXPORT) == 0
    # change a task on the hub: the cache keeps serving its copy until touched
    t = all_tasks(hub, pid, stage="Label")[0]
    answer = {"objects": [{"schemaId": "tCar0001", "objectId": "touch-test-car",
                           "bounding-box": BOX}], "classifications": [], "relations": []}
    st, body = hub.api("POST", "/annotate/" + t["_id"], {"answer": answer})
    assert st == 200, body
    assert read(f) == before
    assert count(hub, EXPORT) == 0
    subprocess.run(["touch", f], check=True, timeout=60)
    after = read(f)
    assert count(hub, EXPORT) == 1
    assert b"touch-test-car" in after and b"touch-test-car" not in before
    assert os.stat(f).st_size == len(after)


def test_warm_cache_survives_remount(hub, mount):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.json")
    data = read(f)
    mount.stop()
    mount.start()
    hub.reset_stats()
    assert os.stat(f).st_size == len(data)
    assert read(f) == data
    assert count(hub, EXPORT) == 0
    assert count(hub, DOWNLOAD) == 0


def test_cache_is_private_and_holds_no_key(hub, mount):
    _, p = street_dir(mount, hub)
    read(os.path.join(p, "export", "tasks.json"))
    read(os.path.join(p, "export", "issues.json"))
    assert stat.S_IMODE(os.stat(mount.cache).st_mode) == 0o700
    nfiles = 0
    for root, dirs, files in os.walk(mount.cache):
        for d in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) == 0o700
        for name in files:
            path = os.path.join(root, name)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
            assert hub.key.encode() not in read(path), path
            nfiles += 1
    assert nfiles >= 4  # two exports, data + meta each
    assert hub.key not in mount.log_text()


def test_download_never_carries_the_key(hub, mount):
    _, p = street_dir(mount, hub)
    read(os.path.join(p, "export", "tasks.json"))
    st = hub.stats()
    assert st["download_headers"]
    for d in st["download_headers"]:
        assert not any(k.lower() == "apikey" for k in d["headers"])
    assert all(not e["apikey_present"] for e in st["log"] if e["route"] == DOWNLOAD)


def test_cache_size_cap_evicts_least_recently_used(hub, workdir):
    m = Mount(hub, workdir, opts=["cache_size=1600K"])
    try:
        _, p = street_dir(m, hub)
        exp = os.path.join(p, "export")
        a = read(os.path.join(exp, "tasks.json"))
        b = read(os.path.join(exp, "tasks.ndjson"))
        assert len(a) + len(b) > 1600 * 1024 > max(len(a), len(b))
        datas = wait_for(lambda: [n for n in os.listdir(os.path.join(m.cache, "exports"))
                                  if n.endswith(".data")] if len(
            [n for n in os.listdir(os.path.join(m.cache, "exports"))
             if n.endswith(".data")]) == 1 else None, timeout=10)
        assert datas and len(datas) == 1
        hub.reset_stats()
        assert read(os.path.join(exp, "tasks.ndjson")) == b  # the newest is kept
        assert count(hub, EXPORT) == 0
        assert read(os.path.join(exp, "tasks.json")) == a  # the evicted one is refetched
        assert count(hub, EXPORT) == 1
    finally:
        m.stop()


def test_progress_is_visible_while_downloading(hub, mount):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.json")
    hub.fault(route=DOWNLOAD, stall_after=20000, count=1)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("data", read(f)))
    t.start()
    try:
        def downloading():
            with open(os.path.join(mount.path, ".status")) as s:
                st = json.load(s)
            return [e for e in st["exports"]["exports"]
                    if e["state"] == "downloading" and e["bytes_done"] >= 20000] or None
        assert wait_for(downloading, timeout=60)
    finally:
        hub.clear_faults()  # releases the stall
        t.join(180)
    assert box.get("data") and len(box["data"]) > 20000


def test_a_write_through_the_mount_makes_exports_stale(hub, mount):
    pid, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.ndjson")
    before = read(f)
    t = all_tasks(hub, pid, stage="Label")[0]
    answer = {"tools": [{"schemaId": "tCar0001", "objectId": "stale-test-car",
                         "bounding-box": BOX}], "classifications": [], "relations": []}
    hub.reset_stats()
    with open(os.path.join(p, "tasks", t["_id"], "answer.json"), "w") as w:
        json.dump(answer, w)
    assert count(hub, "POST /v2/annotate/{id}") == 1
    after = read(f)
    assert count(hub, EXPORT) == 1
    assert b"stale-test-car" in after and b"stale-test-car" not in before
    # and the task's answer.json shows the new answer
    got = json.loads(read(os.path.join(p, "tasks", t["_id"], "answer.json")))
    assert [o["objectId"] for o in got["tools"]] == ["stale-test-car"]


def test_a_stalled_download_does_not_block_other_operations(hub, mount):
    _, p = street_dir(mount, hub)
    hub.fault(route=DOWNLOAD, stall_after=10000, count=1)
    box = {}
    t = threading.Thread(target=lambda: box.setdefault(
        "data", read(os.path.join(p, "export", "tasks.json"))))
    t.start()
    try:
        def stalled():
            with open(os.path.join(mount.path, ".status")) as s:
                st = json.load(s)
            return any(e["state"] == "downloading" for e in st["exports"]["exports"])
        assert wait_for(stalled, timeout=60)
        # while that download hangs, the rest of the mount answers
        assert "Street Scenes" in os.listdir(mount.path)
        assert json.loads(read(os.path.join(p, "project.json")))["name"] == "Street Scenes"
        assert read(os.path.join(p, "export", "issues.json"))[:1] == b"["
        assert os.stat(os.path.join(p, "export", "tasks.json")).st_size == 1  # still downloading: placeholder size
        assert t.is_alive()
    finally:
        hub.clear_faults()
        t.join(180)
    assert box.get("data", b"")[:1] == b"["


def test_export_options_are_mount_options(hub, workdir):
    m = Mount(hub, workdir, opts=["include_history=false", "include_metadata=no",
                                  "include_only_key_frames=true",
                                  "include_idle_blur_durations=1", "task_types=default"])
    try:
        pid, p = street_dir(m, hub)
        got = read(os.path.join(p, "export", "tasks.json"))
        q = [line for line in m.log_text().splitlines() if " GET /v2/export?" in line][-1]
        for part in ("includeMetadata=false", "includeHistory=false",
                     "includeOnlyKeyFrames=true", "includeIdleBlurDurations=true",
                     "taskTypes=%5B%22default%22%5D"):
            assert part in q, q
        assert got == direct_export(hub, pid, format="json", type="task",
                                    includeMetadata="false", includeHistory="false",
                                    includeOnlyKeyFrames="true",
                                    includeIdleBlurDurations="true", taskTypes=["default"])
        recs = json.loads(got)
        assert recs and all(not r["task"].get("stageHistory") for r in recs)
    finally:
        m.stop()


def test_a_cache_file_removed_behind_the_daemons_back_is_refetched(hub, mount):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "issues.json")
    data = read(f)
    exports = os.path.join(mount.cache, "exports")
    for n in os.listdir(exports):
        if n.endswith(".data"):
            os.unlink(os.path.join(exports, n))
    hub.reset_stats()
    assert read(f) == data
    assert count(hub, EXPORT) == 1
