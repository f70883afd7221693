"""Nothing is lost: writes stay in the spool (<cache>/spool, 0700/0600) until the
hub confirmed them. Transient failures (429 with Retry-After, 5xx) are retried
to success within close(); a hub that stays down makes close() fail with the
connection error while the file stays listed as pending and is delivered by the
background sender once the hub is back, also across kill -9 of the daemon,
exactly once. Partial refusals name the failed items and lines. -o ro refuses."""
import errno
import json
import os
import stat

from conftest import Mount
from test_write_common import (ANNOTATE, IMPORT, WENV, WOPTS, label_item, read, status_state,
                               street, street_ext, task_answer, task_by_ext, wait_for, weather_of, wmount,
                               write_file)  # noqa: F401 (fixture)


def ok_posts(hub, route):
    return [r for r in hub.stats()["log"] if r["route"] == route and r["status"] == 200]


def items_text(n, start=1, weather="Snow"):
    return "\n".join(json.dumps(label_item(street_ext(start + i), weather)) for i in range(n))


def spool_files(mount):
    root = os.path.join(mount.cache, "spool")
    out = []
    for d, dirs, files in os.walk(root):
        out.append((d, stat.S_IMODE(os.stat(d).st_mode)))
        for f in files:
            p = os.path.join(d, f)
            out.append((p, stat.S_IMODE(os.stat(p).st_mode)))
    return out


def test_429_and_5xx_are_retried_to_success(hub, wmount):
    pid, pdir = street(hub, wmount)
    for i, status in enumerate((429, 503, 500)):
        hub.reset_stats()
        hub.fault(route="POST /v2/import/labels", status=status, retry_after=1, count=2)
        dst = os.path.join(pdir, "labels", "retry%d.ndjson" % status)
        assert write_file(dst, items_text(3, 20 + 3 * i)) is None, read(dst + ".status")
        codes = [r["status"] for r in hub.stats()["log"] if r["route"] == IMPORT]
        assert codes == [status, status, 200]
        assert read(dst + ".status").startswith("sent: ")


def test_hub_down_close_fails_data_kept_delivered_later(hub, wmount):
    pid, pdir = street(hub, wmount)
    dst = os.path.join(pdir, "labels", "offline.ndjson")
    text = items_text(5, 30)
    hub.stop()
    try:
        e = write_file(dst, text)
        assert e is not None and e.errno in (errno.ECONNREFUSED, errno.EAGAIN, errno.EIO,
                                             errno.ETIMEDOUT), e
        st = read(dst + ".status")
        assert st.startswith("pending: not delivered yet"), st
        assert "retried in the background" in st
        # kept: listed, readable, on disk in the spool with private modes
        assert "offline.ndjson" in os.listdir(os.path.join(pdir, "labels"))
        assert read(dst) == text
        modes = spool_files(wmount)
        assert modes and all(m == 0o700 for p, m in modes if os.path.isdir(p))
        assert all(m == 0o600 for p, m in modes if os.path.isfile(p))
        assert any(open(p).read() == text for p, m in modes
                   if os.path.isfile(p) and p.endswith("/data"))
    finally:
        hub.start()
    wait_for(lambda: status_state(dst + ".status") == "sent", 120, "background delivery")
    assert len(ok_posts(hub, IMPORT)) == 1
    assert "offline.ndjson" not in os.listdir(os.path.join(pdir, "labels"))
    t = task_by_ext(hub, pid, street_ext(30))
    assert weather_of(task_answer(hub, t["_id"])) == "Snow"


def test_kill9_and_restart_delivers_once(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=dict(WENV, ANGOFS_CHUNK_ITEMS="4"))
    try:
        pid, pdir = street(hub, m)
        lab = os.path.join(pdir, "labels", "crash.ndjson")
        tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[1]
        ans = os.path.join(pdir, "tasks", tid, "answer.json")
        hub.stop()
        assert write_file(lab, items_text(10, 40, "Cloudy")) is not None
        assert write_file(ans, json.dumps({"classifications": [
            {"schemaId": "cWeath01", "answer": "Cloudy"}]})) is not None
        assert status_state(lab + ".status") == "pending"
        m.kill9()
        hub.start()
        hub.reset_stats()
        m.start()
        pid, pdir = street(hub, m)
        lab = os.path.join(pdir, "labels", "crash.ndjson")
        ans = os.path.join(pdir, "tasks", tid, "answer.json")
        wait_for(lambda: status_state(lab + ".status") == "sent", 120, "labels after restart")
        wait_for(lambda: status_state(ans + ".status") == "sent", 120, "answer after restart")
        assert len(ok_posts(hub, IMPORT)) == 3  # 10 items in chunks of 4, each once
        assert len(ok_posts(hub, ANNOTATE)) == 1
        assert weather_of(task_answer(hub, tid)) == "Cloudy"
        assert "items: 10 (NDJSON) in 3 requests" in read(lab + ".status")
        # a later restart sends nothing again
        m.stop()
        m.start()
        pid, pdir = street(hub, m)
        assert read(os.path.join(pdir, "labels", "crash.ndjson.status")).startswith("sent: ")
        assert len(ok_posts(hub, IMPORT)) == 3 and len(ok_posts(hub, ANNOTATE)) == 1
    finally:
        m.stop()


def test_kill9_while_writing_keeps_bytes_and_says_so(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        pid, pdir = street(hub, m)
        dst = os.path.join(pdir, "labels", "half.ndjson")
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.write(fd, items_text(2).encode())
        m.kill9()
        try:
            os.close(fd)
        except OSError:
            pass
        before = len(ok_posts(hub, IMPORT))
        m.start()
        pid, pdir = street(hub, m)
        dst = os.path.join(pdir, "labels", "half.ndjson")
        st = read(dst + ".status")
        assert st.startswith("failed: the daemon stopped before this file was closed"), st
        assert read(dst) == items_text(2)
        assert len(ok_posts(hub, IMPORT)) == before
    finally:
        m.stop()


def test_partial_refusal_names_items_and_lines(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=dict(WENV, ANGOFS_CHUNK_ITEMS="3"))
    try:
        pid, pdir = street(hub, m)
        items = [label_item(street_ext(50 + i)) for i in range(9)]
        # the hub refuses the first request only; the other two go through
        hub.fault(route="POST /v2/import/labels", status=400, count=1,
                  message="jsonContent[1]: refused for the test")
        dst = os.path.join(pdir, "labels", "partial.ndjson")
        e = write_file(dst, "\n".join(json.dumps(i) for i in items) + "\n")
        assert e is not None and e.errno == errno.EINVAL
        st = read(dst + ".status")
        assert st.startswith("failed: 1 of 3 requests refused by the hub, 2 sent"), st
        assert "1: items 1-3 (lines 1-3): REFUSED" in st
        assert "jsonContent[1]: refused for the test (the hub's jsonContent[1] is item 2 " \
            "of the file, line 2)" in st
        assert "2: items 4-6 (lines 4-6): sent" in st
        assert "3: items 7-9 (lines 7-9): sent" in st
        assert len(ok_posts(hub, IMPORT)) == 2
    finally:
        m.stop()


def test_read_only_mount_refuses_writes(hub, workdir):
    m = Mount(hub, workdir, opts=("ro",) + WOPTS, env=WENV)
    try:
        pid, pdir = street(hub, m)
        e = write_file(os.path.join(pdir, "labels", "x.json"), "[]")
        assert e is not None and e.errno == errno.EROFS
        tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[0]
        e = write_file(os.path.join(pdir, "tasks", tid, "answer.json"), "{}")
        assert e is not None and e.errno == errno.EROFS
        assert json.loads(read(os.path.join(pdir, "tasks", tid, "answer.json"))) is not None
    finally:
        m.stop()


def test_a_pending_answer_never_overwrites_a_newer_one(hub, wmount):
    """answer.json v1 is pending (hub 500); answer.next.json v2 of the same
    task is then written and sent: the background sender drops v1 (its status
    says it was superseded) instead of sending it over v2 (issue 20 item 2,
    within one daemon; across daemons: tests/scale/test_shared_cache.py)."""
    pid, pdir = street(hub, wmount)
    tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[6]
    tdir = os.path.join(pdir, "tasks", tid)
    doc = {"tools": [], "relations": [],
           "classifications": [{"schemaId": "cWeath01", "answer": "Snow"}]}
    hub.fault(route=ANNOTATE, status=500)
    e = write_file(os.path.join(tdir, "answer.json"), json.dumps(doc))
    assert e is not None and e.errno == errno.EIO, e
    # its background turns back off: 2 s, 4 s, then 8 s after the 3rd attempt
    wait_for(lambda: "attempts: 3" in read(os.path.join(tdir, "answer.json.status")), 60,
             "two background turns")
    hub.clear_faults()
    doc["classifications"][0]["answer"] = "Rain"
    assert write_file(os.path.join(tdir, "answer.next.json"), json.dumps(doc)) is None
    wait_for(lambda: status_state(os.path.join(tdir, "answer.json.status")) != "pending", 60,
             "the next turn of answer.json")
    st = read(os.path.join(tdir, "answer.json.status"))
    assert st.startswith("superseded: not sent: a newer answer of task %s" % tid), st
    assert len(ok_posts(hub, ANNOTATE)) == 1
    assert weather_of(task_answer(hub, tid)) == "Rain"
    assert read(os.path.join(tdir, "answer.next.json.status")).startswith("sent: ")
    assert weather_of(json.loads(read(os.path.join(tdir, "answer.json")))) == "Rain"
