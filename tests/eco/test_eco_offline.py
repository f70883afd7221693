"""-o offline (issue 7, item 1): after one online session, an offline mount of
the same cache sends nothing to the hub and still shows the projects,
project.json, tasks/ and every export that was cached (whatever its age);
what was never fetched fails with ENETUNREACH; a write fails at close at once,
stays pending in the spool, and the next online mount delivers it."""
import errno
import json
import os
import time

from conftest import Mount
from ecoutil import isolated_env, main_project, read, status, status_cli, wait_for
from test_write_common import IMPORT, label_item, street_ext, write_file


def snapshot(m, pid):
    p = os.path.join(m.path, pid)
    tasks = sorted(os.listdir(os.path.join(p, "tasks")))
    return {"root": sorted(os.listdir(m.path)),
            "project": read(os.path.join(p, "project.json")),
            "export": read(os.path.join(p, "export", "tasks.ndjson")),
            "stages": sorted(os.listdir(os.path.join(p, "export", "stage"))),
            "tasks": tasks,
            "answer": read(os.path.join(p, "tasks", tasks[0], "answer.json"))}


def test_offline_mount_serves_what_was_seen_and_sends_nothing(hub, workdir):
    env = isolated_env(workdir)
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0", "export_ttl=1"], env=env)
    try:
        online = snapshot(m, pid)
    finally:
        m.stop()
    assert online["root"] and online["tasks"] and online["export"]
    time.sleep(1.1)  # the export is now older than export_ttl=1
    hub.reset_stats()
    m = Mount(hub, workdir, opts=["rate_limit=0", "export_ttl=1", "offline"], env=env)
    try:
        assert snapshot(m, pid) == online
        p = os.path.join(m.path, pid)
        try:
            read(os.path.join(p, "export", "issues.json"))  # never fetched
            raise AssertionError("an export never fetched cannot be read offline")
        except OSError as e:
            assert e.errno == errno.ENETUNREACH, e
        t0 = time.time()
        dst = os.path.join(p, "labels", "offline.ndjson")
        e = write_file(dst, json.dumps(label_item(street_ext(2), "Snow")) + "\n")
        assert e is not None and e.errno == errno.ENETUNREACH, e
        assert time.time() - t0 < 30  # fails at once, no retry wait offline
        st = status(m.path)
        assert st["offline"] is True
        assert [w["path"] for w in st["writes"]["pending"]] == ["labels/offline.ndjson"]
        assert "(offline" in status_cli(m.path).stdout
        assert hub.stats()["total"] == 0  # nothing reached the hub
    finally:
        m.stop()
    assert "offline" in m.log_text()
    # online again: the spooled write is delivered
    m = Mount(hub, workdir, opts=["rate_limit=0"], env=env)
    try:
        assert wait_for(lambda: hub.stats()["counts"].get(IMPORT, 0) >= 1, timeout=120)
        assert wait_for(lambda: status(m.path)["writes"]["sent"] >= 1, timeout=120)
    finally:
        m.stop()


def test_offline_without_any_online_session(hub, workdir):
    m = Mount(hub, workdir, opts=["offline"], env=isolated_env(workdir))
    try:
        try:
            os.listdir(m.path)
            listed = True
        except OSError as e:
            listed = False
            assert e.errno == errno.ENETUNREACH, e
        assert not listed or os.listdir(m.path) in ([], [".status"])
        assert status(m.path)["offline"] is True
        assert hub.stats()["total"] == 0
    finally:
        m.stop()
