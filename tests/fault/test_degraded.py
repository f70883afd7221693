"""Degraded mode (issue 6, item 2): while the hub is unreachable, what is cached
is still served (exports, project.json, the task list, task.json/answer.json),
also after its TTL ran out (a last good copy beats an error; the log says so);
what is not cached fails fast with ECONNREFUSED; and the mount recovers by
itself when the hub is back: new reads work, stale copies are refreshed and
pending writes are delivered, without a remount. A frozen hub (SIGSTOP: it
accepts connections and never answers) is a stall: metadata requests give up
after the stall timeout (60 s; 3 s here) with ETIMEDOUT, cached copies are
served meanwhile."""
import errno
import json
import os
import signal
import time

import pytest

from conftest import Mount
from faultlib import (EXPORT, STREET, WENV, all_tasks, direct_export, errno_of, main_project,
                      read, status_state, task_answer, wait_for, write_file)

FAST_S = 60  # "fails fast": bounded retries, not minutes of waiting


def warm(m, pid, hub):
    p = os.path.join(m.path, STREET)
    names = os.listdir(m.path)
    exp = read(os.path.join(p, "export", "tasks.ndjson"))
    proj = read(os.path.join(p, "project.json"))
    tasks = sorted(os.listdir(os.path.join(p, "tasks")))
    tid = tasks[5]
    tj = read(os.path.join(p, "tasks", tid, "task.json"))
    aj = read(os.path.join(p, "tasks", tid, "answer.json"))
    return p, {"names": names, "export": exp, "project": proj, "tasks": tasks, "tid": tid,
               "task": tj, "answer": aj}


def check_cached(m, p, w):
    assert os.listdir(m.path) == w["names"]
    assert read(os.path.join(p, "export", "tasks.ndjson")) == w["export"]
    assert read(os.path.join(p, "project.json")) == w["project"]
    assert sorted(os.listdir(os.path.join(p, "tasks"))) == w["tasks"]
    assert read(os.path.join(p, "tasks", w["tid"], "task.json")) == w["task"]
    assert read(os.path.join(p, "tasks", w["tid"], "answer.json")) == w["answer"]


def test_hub_down_cached_served_uncached_fail_fast_then_recovery(hub, workdir):
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0"], env=WENV)
    try:
        p, w = warm(m, pid, hub)
        other = [t["_id"] for t in all_tasks(hub, pid) if t["_id"] not in w["tasks"][:10]][-1]
        hub.stop()
        try:
            check_cached(m, p, w)
            t0 = time.time()
            assert errno_of(lambda: read(os.path.join(p, "export", "issues.json"))) \
                == errno.ECONNREFUSED
            assert errno_of(lambda: read(os.path.join(p, "export", "tasks.json"))) \
                == errno.ECONNREFUSED
            assert time.time() - t0 < 2 * FAST_S
            # a stat of the file that failed does not hang either, and .status tells
            assert os.stat(os.path.join(p, "export", "issues.json")).st_size == 1  # never fetched: placeholder size
            with open(os.path.join(m.path, ".status")) as f:
                st = json.load(f)
            assert any(e["state"] == "failed" for e in st["exports"]["exports"]), st
            # a write while down: kept, pending
            dst = os.path.join(p, "tasks", other, "answer.json")
            ans = {"classifications": [{"schemaId": "cComm001", "answer": "written offline"}]}
            e = write_file(dst, json.dumps(ans))
            assert e is not None and e.errno == errno.ECONNREFUSED
            assert status_state(dst + ".status") == "pending"
        finally:
            hub.start()
        # recovery without a remount
        assert read(os.path.join(p, "export", "issues.json"))[:1] == b"["
        assert read(os.path.join(p, "export", "tasks.json")) == \
            direct_export(hub, pid, format="json")
        wait_for(lambda: status_state(dst + ".status") == "sent", 120, "pending write")
        assert task_answer(hub, other)["classifications"][0]["answer"] == "written offline"
        assert m.proc.poll() is None
    finally:
        m.stop()


@pytest.mark.slow
def test_expired_copies_are_served_while_the_hub_is_down(hub, workdir):
    """export_ttl/meta_ttl of 1 s: everything is expired when the hub goes away;
    the last good copies are served (logged as such), and refreshed once the hub
    is back."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0", "export_ttl=1", "meta_ttl=1"], env=WENV)
    try:
        p, w = warm(m, pid, hub)
        time.sleep(2.5)  # let every TTL run out (the point of this test, not a race)
        hub.stop()
        try:
            t0 = time.time()
            check_cached(m, p, w)
            assert time.time() - t0 < 4 * FAST_S
            assert "serving the cached copy" in m.log_text()
        finally:
            hub.start()
        hub.reset_stats()
        # refreshed from the hub again once the degraded hold (10 s) is over
        def refetched():
            assert read(os.path.join(p, "export", "tasks.ndjson")) == w["export"]
            return hub.stats()["counts"].get(EXPORT, 0) >= 1
        wait_for(refetched, 60, "the export to be refetched", step=1)
        assert hub.stats()["counts"].get(EXPORT, 0) == 1
        # the project list is asked for again too
        wait_for(lambda: os.listdir(m.path) == w["names"] and
                 hub.stats()["counts"].get("GET /v2/listProjects", 0) >= 1, 60,
                 "the project list to be refetched", step=1)
        assert m.proc.poll() is None
    finally:
        m.stop()


@pytest.mark.slow
def test_frozen_hub_is_a_stall_cached_copies_served(hub, workdir):
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0", "meta_ttl=1", "stall_timeout=3"], env=WENV)
    try:
        p, w = warm(m, pid, hub)
        time.sleep(2.5)  # let the metadata TTL run out (the point of this test)
        os.kill(hub.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.time()
            check_cached(m, p, w)  # export within its TTL, metadata expired: stale copies
            assert time.time() - t0 < 4 * FAST_S
            assert "serving the cached copy" in m.log_text()
            t0 = time.time()
            # not cached: the project of another directory times out, bounded
            e = errno_of(lambda: read(os.path.join(m.path, "Cars / Trucks".replace("/", "_"),
                                                   "project.json")))
            assert e in (errno.ETIMEDOUT, errno.ENOENT), e
            assert time.time() - t0 < 2 * FAST_S
        finally:
            os.kill(hub.proc.pid, signal.SIGCONT)
        hub.reset_stats()
        wait_for(lambda: os.listdir(m.path) == w["names"] and
                 hub.stats()["counts"].get("GET /v2/listProjects", 0) >= 1, 60,
                 "the project list to be asked for again", step=1)
        assert m.proc.poll() is None
    finally:
        m.stop()
