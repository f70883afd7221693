"""Consistency under change (issue 20 items 1 and 3), against the real local
hub and real mounts: a change made or noticed while a refresh of an export is
in flight is not lost (the generation that refresh publishes is stale again,
src/exports/cache.c "covers"), with and without incremental refresh, for
a write through the mount (read your writes: the next read of the export and
of a dataset view holds it) and for a change the poll sees (visible at the
next read after the poll noticed it); and a refresh that finds nothing new
makes the export fresh, so opens after it cost no request and a burst of edits
costs one refresh per poll round, not one per open.

The refresh is held in flight by the hub's stall fault on the export's
download (released by the test); the write or the API change is made once
the hub has answered the refresh's GET /export (so the export cannot hold
it)."""
import contextlib
import json
import os
import threading
import time

import pytest

from conftest import Mount
from test_read_common import DOWNLOAD, EXPORT, all_tasks, count, main_project, pdir, read, \
    wait_for

ANNOTATE = "POST /v2/annotate/{id}"


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)


def weather_in(export_bytes, task_id, ndjson=False):
    recs = ([json.loads(x) for x in export_bytes.splitlines() if x.strip()] if ndjson
            else json.loads(export_bytes))
    for r in recs:
        if r["task"]["taskId"] == task_id:
            for c in r["task"].get("classifications", []):
                if c.get("schemaId") == "cWeath01":
                    return c.get("answer")
            return None
    raise AssertionError("task %s not in the export" % task_id)


def annotate(hub, tid, word):
    st, body = hub.api("POST", "/annotate/" + tid, {"answer": {"classifications": [
        {"schemaId": "cWeath01", "answer": word}]}})
    assert st == 200, body


def answer_doc(word):
    return {"tools": [], "classifications": [{"schemaId": "cWeath01", "answer": word}],
            "relations": []}


class InFlight:
    """Read `path` in a thread while the hub holds the export's download back
    (a stall after its first bytes, until release()); `asked()` waits until
    the refresh's GET /export has been answered and its download begun."""

    def __init__(self, hub, path):
        self.hub, self.path = hub, path
        self.n0 = count(hub, EXPORT)
        hub.fault(route=DOWNLOAD, stall_after=64)
        self.out = {}
        self.t = threading.Thread(target=self._run)
        self.t.start()

    def _run(self):
        try:
            self.out["data"] = read(self.path)
        except OSError as e:
            self.out["err"] = e

    def asked(self):
        # the download is asked for once the hub has answered GET /export
        wait_for(lambda: count(self.hub, DOWNLOAD) > 0, timeout=60,
                 what="the refresh's download", step=0.05)
        assert count(self.hub, EXPORT) > self.n0

    def join(self):
        assert self.t.is_alive(), "the refresh ended while its download was held back"
        self.hub.clear_faults()  # the rest of the download follows
        self.t.join(120)
        assert not self.t.is_alive()
        assert "err" not in self.out, self.out
        return self.out["data"]


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
def test_a_write_during_a_refresh_is_in_the_next_read(hub, workdir, incremental):
    """Before: the write's mark found the export stale already (the touch) and
    did nothing; the refresh then published a generation without the write
    as fresh, for export_ttl (1 h)."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0"] + ([] if incremental else ["incremental=0"]))
    try:
        p = pdir(m, hub, pid)
        exp = os.path.join(p, "export", "tasks.json")
        read(exp)
        tasks = all_tasks(hub, pid)
        mine, other = tasks[4]["_id"], tasks[9]["_id"]
        annotate(hub, other, "Rain")  # the refresh has something to bring
        annotate(hub, mine, "Rain")
        os.utime(exp)  # stale
        hub.reset_stats()
        fl = InFlight(hub, exp)
        fl.asked()
        with open(os.path.join(p, "tasks", mine, "answer.json"), "w") as f:
            json.dump(answer_doc("Snow"), f)
        assert count(hub, ANNOTATE) == 1  # close() returned once the hub had it
        old = fl.join()
        assert weather_in(old, other) == "Rain"  # what that refresh asked for
        assert weather_in(old, mine) == "Rain"
        # the mount's own write is in its next read of the export
        data = read(exp)
        assert weather_in(data, mine) == "Snow"
        assert weather_in(data, other) == "Rain"
        lr = [e for e in status(m)["exports"]["exports"] if e.get("project") == pid
              and e.get("format") == "json" and "purpose" not in e][0]["last_refresh"]
        assert lr["mode"] == ("incremental" if incremental else "full"), lr
        # ... and fresh after that: the next open asks nothing
        hub.reset_stats()
        assert read(exp) == data
        assert hub.stats()["total"] == 0, hub.stats()["counts"]
    finally:
        hub.clear_faults()
        m.stop()


def test_a_write_during_a_view_refresh_is_in_the_view(hub, workdir):
    """The dataset views read the project's NDJSON export: a write made while
    a view's refresh is in flight is in the view's next read (imagefolder's
    class directory of the task moves), and the name the kernel held for the
    old class is gone at once (the write drops the names below datasets/;
    entry and attribute timeouts of 60 s here; grace=0: no grace period for
    the old path, tests/datasets/test_grace.py has that)."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0", "entry_timeout=60", "attr_timeout=60",
                                  "grace=0"])
    try:
        p = pdir(m, hub, pid)
        ndj = os.path.join(p, "export", "tasks.ndjson")
        folder = os.path.join(p, "datasets", "imagefolder")
        tasks = all_tasks(hub, pid)
        mine = tasks[6]
        name = os.path.basename(mine["externalId"])
        annotate(hub, mine["_id"], "Rain")
        os.listdir(folder)
        assert os.path.exists(os.path.join(folder, "Rain", name))  # the kernel holds it
        annotate(hub, tasks[11]["_id"], "Rain")
        os.utime(ndj)  # the view's export goes stale
        hub.reset_stats()
        fl = InFlight(hub, os.path.join(folder, "skipped.txt"))
        fl.asked()
        with open(os.path.join(p, "tasks", mine["_id"], "answer.json"), "w") as f:
            json.dump(answer_doc("Snow"), f)
        fl.join()
        assert wait_for(lambda: name in os.listdir(os.path.join(folder, "Snow")), timeout=5,
                        what="the task in imagefolder/Snow")
        assert name not in os.listdir(os.path.join(folder, "Rain"))
        assert not os.path.exists(os.path.join(folder, "Rain", name))
        assert os.path.exists(os.path.join(folder, "Snow", name))
        assert weather_in(read(ndj), mine["_id"], ndjson=True) == "Snow"
    finally:
        hub.clear_faults()
        m.stop()


def test_a_listing_waiting_for_a_view_build_is_not_sent_round_by_a_later_change(hub, workdir):
    """Two listings of a view whose export refresh is in flight: the second
    waits for the first one's build. A change marked after both began (a
    touch) must not make the second build the view again: what the first
    built holds every change marked before the second began (the export
    open's rule, SEMANTICS E9, for views: D5). Before: the second listing
    found the export stale and refreshed it and the view once more (found by
    the race model test: three back-to-back builds in one listing)."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    try:
        p = pdir(m, hub, pid)
        ndj = os.path.join(p, "export", "tasks.ndjson")
        folder = os.path.join(p, "datasets", "imagefolder")
        first = sorted(os.listdir(folder))
        annotate(hub, all_tasks(hub, pid)[3]["_id"], "Snow")
        os.utime(ndj)  # stale: the next listing refreshes the export and the view
        hub.reset_stats()
        fl = InFlight(hub, os.path.join(folder, "skipped.txt"))
        fl.asked()
        second = {}
        t = threading.Thread(target=lambda: second.update(names=sorted(os.listdir(folder))))
        t.start()
        time.sleep(1.0)  # the second listing waits for the first one's build now
        assert t.is_alive()
        os.utime(ndj)  # a change marked after both began
        fl.join()
        t.join(60)
        assert not t.is_alive()
        assert second["names"] == first
        assert count(hub, EXPORT) == 1, "the waiting listing refreshed the export again"
        # the change is seen by the next listing that begins after it
        os.listdir(folder)
        assert count(hub, EXPORT) == 2
    finally:
        hub.clear_faults()
        m.stop()


def test_a_change_polled_during_a_refresh_is_seen(hub, workdir):
    """A change the poll notices while a refresh is in flight makes the
    generation it publishes stale: the next read has it. Before: the poll's
    mark found the export stale already, the refresh's generation counted as
    fresh, and later rounds saw nothing new (lost until export_ttl)."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0", "poll=1"])
    try:
        p = pdir(m, hub, pid)
        exp = os.path.join(p, "export", "tasks.json")
        read(exp)
        wait_for(lambda: pid in status(m)["poll"]["projects"], timeout=20, what="a baseline")
        tasks = all_tasks(hub, pid)
        a, b = tasks[3]["_id"], tasks[8]["_id"]
        n0 = len(status(m)["poll"]["changes"])
        annotate(hub, a, "Rain")
        wait_for(lambda: len(status(m)["poll"]["changes"]) > n0, timeout=20,
                 what="the poll noticing the first change")
        n1 = len(status(m)["poll"]["changes"])
        hub.reset_stats()
        fl = InFlight(hub, exp)
        fl.asked()
        annotate(hub, b, "Snow")
        wait_for(lambda: len(status(m)["poll"]["changes"]) > n1, timeout=20,
                 what="the poll noticing the change made during the refresh")
        old = fl.join()
        assert weather_in(old, a) == "Rain"
        data = read(exp)
        assert weather_in(data, b) == "Snow" and weather_in(data, a) == "Rain"
    finally:
        hub.clear_faults()
        m.stop()


def refreshes(m, pid):
    """The export entry's (generation, last refresh time, mode)."""
    for e in status(m)["exports"]["exports"]:
        if e.get("project") == pid and e.get("format") == "json" and "purpose" not in e:
            lr = e.get("last_refresh") or {}
            return e.get("state"), lr.get("mode"), lr.get("at")
    return None


def test_an_unchanged_refresh_makes_the_export_fresh(hub, workdir):
    """Before: a refresh that found nothing new kept the generation but not
    its freshness (the entry stayed marked stale), so every later open ran
    another refresh (4 requests each)."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    try:
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        data = read(exp)
        os.utime(exp)  # stale, nothing changed on the hub
        hub.reset_stats()
        assert read(exp) == data
        assert refreshes(m, pid)[:2] == ("cached", "unchanged"), refreshes(m, pid)
        n = hub.stats()["total"]
        assert 0 < n <= 4, hub.stats()["counts"]
        for _ in range(5):
            assert read(exp) == data
        assert hub.stats()["total"] == n, hub.stats()["counts"]
        assert refreshes(m, pid)[0] == "cached"
    finally:
        m.stop()


@pytest.mark.slow  # tens of seconds: the full run has it, --quick does not
def test_a_burst_of_edits_costs_one_refresh_per_poll_round(hub, workdir):
    """An edit the export already holds when the poll reports it (the
    refresh ran between the edit and the poll round): the refresh that
    follows finds nothing new, and every open after it is served from the
    cache. Then edits made through the API while a reader opens the export
    again and again: each poll round that sees a change costs at most one
    refresh, the opens between rounds none, and nothing is lost. Before: once
    a refresh had found nothing new, every open ran another one (10 opens,
    10 refreshes)."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["rate_limit=0", "poll=2"])
    try:
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        read(exp)
        wait_for(lambda: pid in status(m)["poll"]["projects"], timeout=20, what="a baseline")
        tasks = all_tasks(hub, pid)
        n0 = len(status(m)["poll"]["changes"])
        annotate(hub, tasks[0]["_id"], "Rain")
        os.utime(exp)
        assert weather_in(read(exp), tasks[0]["_id"]) == "Rain"  # refreshed before the poll
        wait_for(lambda: len(status(m)["poll"]["changes"]) > n0, timeout=20,
                 what="the poll reporting the edit")
        hub.reset_stats()
        for _ in range(10):
            read(exp)
        assert count(hub, EXPORT) <= 1, hub.stats()["counts"]
        assert hub.stats()["total"] <= 4, hub.stats()["counts"]
        # the burst
        hub.reset_stats()
        r0 = status(m)["poll"]["rounds"]
        opens, i = 0, 0
        want = {}
        end = time.time() + 8
        while time.time() < end:
            tid, word = tasks[i % 20]["_id"], ("Rain", "Snow")[i % 2]
            annotate(hub, tid, word)
            want[tid] = word
            i += 1
            read(exp)
            opens += 1
            time.sleep(0.05)
        rounds = status(m)["poll"]["rounds"] - r0
        n = count(hub, EXPORT)
        assert opens > 3 * rounds, (opens, rounds)
        assert n <= rounds + 1, (n, rounds, opens, hub.stats()["counts"])
        # nothing lost: once the poll has seen the last edits, the export
        # holds the last edit of each task
        wait_for(lambda: status(m)["poll"]["rounds"] >= r0 + rounds + 2, timeout=20,
                 what="two more poll rounds")
        data = read(exp)
        for tid, w in want.items():
            assert weather_in(data, tid) == w, tid
    finally:
        m.stop()


@contextlib.contextmanager
def shared_cache_pair(hub, workdir):
    """Mounts a and b sharing one cache directory (what two daemons on one
    machine or a shared volume see); yields (a, b, a's project dir, a's export,
    b's export) and stops both, hub faults cleared, on the way out."""
    pid = main_project(hub)
    cache = os.path.join(workdir, "shared-cache")
    a = Mount(hub, workdir, name="a", cache=cache, opts=["rate_limit=0"])
    b = Mount(hub, workdir, name="b", cache=cache, opts=["rate_limit=0"])
    try:
        pa, pb = pdir(a, hub, pid), pdir(b, hub, pid)
        yield a, b, pa, *(os.path.join(x, "export", "tasks.json") for x in (pa, pb))
    finally:
        hub.clear_faults()
        b.stop()
        a.stop()


def b_refresh_in_flight(hub, ea, eb, written, other):
    """The tasks in written start as Rain and both mounts read the export;
    then another task changes on the hub (the export is stale for both: the
    shared meta) and b's refresh starts, its download held back with byte 0
    of the entry's lock held. Returns the refresh in flight."""
    for t in written:
        annotate(hub, t, "Rain")
    read(ea)
    read(eb)
    annotate(hub, other, "Rain")
    os.utime(eb)
    hub.reset_stats()
    fl = InFlight(hub, eb)
    fl.asked()
    return fl


def write_answer(pa, task, weather):
    with open(os.path.join(pa, "tasks", task, "answer.json"), "w") as f:
        json.dump(answer_doc(weather), f)


def test_a_write_while_another_daemon_refreshes_is_in_the_next_read(hub, workdir):
    """Two mounts share a cache directory. Mount b refreshes the export (its
    download held back, byte 0 of the entry's lock held); mount a writes an
    answer meanwhile. b publishes a generation that lacks a's write; a's next
    read must not take it as fresh (a's mark could not reach the shared meta:
    'unsynced', exports/exports_int.h). Before: a took b's generation and served it
    without its own write until export_ttl."""
    with shared_cache_pair(hub, workdir) as (a, b, pa, ea, eb):
        tasks = all_tasks(hub, main_project(hub))
        mine, other = tasks[12]["_id"], tasks[13]["_id"]
        fl = b_refresh_in_flight(hub, ea, eb, [mine], other)
        write_answer(pa, mine, "Snow")
        old = fl.join()
        assert weather_in(old, mine) == "Rain" and weather_in(old, other) == "Rain"
        data = read(ea)
        assert weather_in(data, mine) == "Snow"
        assert weather_in(data, other) == "Rain"


def test_two_writes_while_another_daemon_refreshes_are_both_in_the_next_read(hub, workdir):
    """Found by the race model test (test_race_model.py, seed 625205718).
    Mount b refreshes the export (download held back, byte 0 held); mount a
    writes answer X (its mark cannot reach the shared meta: unsynced), a
    reader of a then opens the export (its fetch waits for b) and a writes
    answer Y meanwhile. b's generation predates both writes: the read that
    began after X returned must hold X. Before: the mark of Y replaced the
    unsynced mark of X (the entry kept the last one, not the first), so b's
    generation counted as holding X and the reader got it without X."""
    with shared_cache_pair(hub, workdir) as (a, b, pa, ea, eb):
        tasks = all_tasks(hub, main_project(hub))
        x, y, other = tasks[14]["_id"], tasks[15]["_id"], tasks[16]["_id"]
        fl = b_refresh_in_flight(hub, ea, eb, [x, y], other)
        write_answer(pa, x, "Snow")
        fetches = a.log_text().count("export: fetching")
        out = {}
        t = threading.Thread(target=lambda: out.update(data=read(ea)))
        t.start()
        wait_for(lambda: a.log_text().count("export: fetching") > fetches, timeout=30,
                 what="a's reader waiting for b's download", step=0.05)
        write_answer(pa, y, "Snow")
        old = fl.join()
        assert weather_in(old, x) == "Rain"  # b's generation predates both writes
        t.join(120)
        assert not t.is_alive() and "data" in out
        assert weather_in(out["data"], x) == "Snow"
        data = read(ea)
        assert weather_in(data, x) == "Snow" and weather_in(data, y) == "Snow"


def test_a_write_while_another_daemon_fetches_an_export_first_is_in_the_next_read(hub, workdir):
    """Found by the race model test (test_race_model.py). Mount b fetches an
    export no daemon has fetched before (no meta on disk yet, byte 0 held);
    mount a, which never looked at that export, writes an answer meanwhile:
    its mark found no entry to mark. b's generation predates the write; a's
    first read of the export must not take it as fresh. Before: it did (a
    knew nothing of b's download), and served it without a's own write."""
    with shared_cache_pair(hub, workdir) as (a, b, pa, ea, eb):
        mine = all_tasks(hub, main_project(hub))[17]["_id"]
        annotate(hub, mine, "Rain")
        hub.reset_stats()
        fl = InFlight(hub, eb)  # b's first fetch of tasks.json
        fl.asked()
        write_answer(pa, mine, "Snow")
        old = fl.join()
        assert weather_in(old, mine) == "Rain"  # b's generation predates the write
        assert weather_in(read(ea), mine) == "Snow"
