"""One retry owner, bounded costs, no lock held over the network, bounded waits
(issue 10 items 3-4, issue 12 item 4). docs/RELIABILITY.md ("What a failure
costs") holds the table these tests check.

- A failing write costs a bounded, counted number of requests at the hub: the
  hub client is the only retry owner (4 attempts), the write side makes one
  client call per delivery attempt and the background sender one request per
  turn on a fixed schedule.
- A non-idempotent POST /attachments that failed after the hub may have
  applied it is never resent: its .status says "uncertain" and what to check.
- A hub frozen in the middle of one answer.json's GET /task blocks nothing
  else of the mount.
- A stalled export download fails within the stall timeout (-o stall_timeout)
  instead of 5 attempts x 67 s; a reader interrupted by a signal returns
  promptly (FUSE interrupts).

Timing bounds are generous (shared machine); the proofs are request counts.
"""
import contextlib
import errno
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

from conftest import Hub, Mount
from faultlib import DOWNLOAD, errno_of, main_project, wait_for, write_file
from test_write_common import (ATTACH, IMPORT, label_item, project_by_name, project_dir, read,
                               status_state, street_ext, task_answer, task_by_ext)

WOPTS = ["rate_limit=0"]
MAX_ATTEMPTS = 4  # the client's default (include/angofs/hub.h), the table's figure


def count(hub, route):
    return hub.stats()["counts"].get(route, 0)


@contextlib.contextmanager
def faulted_box(hub, workdir, box, name, **fault):
    """A mount (WOPTS) and the path box/name in the main project's
    directory, with the hub's stats reset and `fault` set; the faults are
    cleared and the mount stopped on the way out, also on failure."""
    m = Mount(hub, workdir, opts=WOPTS)
    try:
        pid = main_project(hub)
        dst = os.path.join(project_dir(m, pid), box, name)
        hub.reset_stats()
        hub.fault(**fault)
        yield pid, dst
    finally:
        hub.clear_faults()
        m.stop()


def attachments_in_hub(hub):
    """Rows in the hub's attachments table: what the hub actually applied."""
    db = sqlite3.connect("file:%s?mode=ro" % hub.db, uri=True, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM attachments").fetchone()[0]
    finally:
        db.close()


def attach_text(ext, value):
    return json.dumps({"externalId": ext, "attachments": [{"type": "TEXT", "value": value}]})


def test_persistent_500_at_close_costs_a_bounded_number_of_requests(hub, workdir):
    """One persistent 500 at close of a labels file: at most MAX_ATTEMPTS
    requests at close (it used to be ~30: the write side looped over the
    client's retries), then one request per background turn (2 s, 4 s, ...);
    delivered exactly once when the fault is gone."""
    with faulted_box(hub, workdir, "labels", "budget.ndjson", route=IMPORT, status=500,
                     message="budget-500") as (pid, dst):
        t0 = time.time()
        e = write_file(dst, json.dumps(label_item(street_ext(7))) + "\n")
        assert e is not None and e.errno == errno.EIO, e
        at_close = count(hub, IMPORT)
        assert at_close == MAX_ATTEMPTS, hub.stats()["log"]
        st = read(dst + ".status")
        assert st.startswith("pending: not delivered yet"), st
        # the background sender: turns 2 s, then 4 s later, then 8 s later ...
        time.sleep(7)
        elapsed = time.time() - t0
        later = count(hub, IMPORT) - at_close
        assert 1 <= later <= 3, (later, elapsed, hub.stats()["log"])
        hub.clear_faults()
        wait_for(lambda: status_state(dst + ".status") == "sent", 90, "background delivery")
        ok = [r for r in hub.stats()["log"] if r["route"] == IMPORT and r["status"] == 200]
        assert len(ok) == 1


def test_attachments_500_after_sending_is_uncertain_never_resent(hub, workdir):
    """POST /attachments is not idempotent: a 500 after the whole body was
    sent may mean it was applied. One request, close() fails with EIO, the
    status says uncertain and names the asset to check; nothing is resent,
    neither at close nor in the background."""
    with faulted_box(hub, workdir, "attachments", "maybe.json", route=ATTACH, status=500,
                     message="uncertain-500") as (pid, dst):
        e = write_file(dst, attach_text(street_ext(9), "note"))
        assert e is not None and e.errno == errno.EIO, e
        assert count(hub, ATTACH) == 1
        st = read(dst + ".status")
        assert st.startswith("uncertain: the hub may have applied this write"), st
        assert street_ext(9) in st and "UNCERTAIN" in st
        assert "not sent again automatically" in st
        hub.clear_faults()
        time.sleep(5)  # two background turns would have come by now
        assert count(hub, ATTACH) == 1
        assert status_state(dst + ".status") == "uncertain"
        # the user checked and sends it again: a plain copy does
        assert write_file(dst, attach_text(street_ext(9), "note")) is None
        assert count(hub, ATTACH) == 2
        assert status_state(dst + ".status") == "sent"


def test_attachments_applied_then_500_is_not_applied_twice(hub, workdir):
    """The hub applies POST /attachments and then answers 500 (a reply lost
    after the commit: the hub's "apply" fault). angofs must not resend: the
    attachment is in the hub's data exactly once, the file is uncertain."""
    before = attachments_in_hub(hub)
    with faulted_box(hub, workdir, "attachments", "applied.json", route=ATTACH, status=500,
                     apply=True, message="applied-then-500") as (pid, dst):
        e = write_file(dst, attach_text(street_ext(12), "once"))
        assert e is not None and e.errno == errno.EIO, e
        assert attachments_in_hub(hub) == before + 1
        assert status_state(dst + ".status") == "uncertain"
        hub.clear_faults()
        time.sleep(5)  # background turns would have resent it by now
        assert count(hub, ATTACH) == 1
        assert attachments_in_hub(hub) == before + 1


def test_labels_applied_then_500_is_resent_and_converges(hub, workdir):
    """POST /import/labels is idempotent by content (docs/WRITES.md): an import
    applied and then answered with 500 twice is resent by the client within
    close(), and the task holds the imported answer once (the same state a
    single import leaves)."""
    with faulted_box(hub, workdir, "labels", "applied.ndjson", route=IMPORT, status=500,
                     apply=True, count=2) as (pid, dst):
        assert write_file(dst, json.dumps(label_item(street_ext(13), "Snow")) + "\n") is None
        assert count(hub, IMPORT) == 3
        assert status_state(dst + ".status") == "sent"
        t = task_by_ext(hub, pid, street_ext(13))
        ans = task_answer(hub, t["_id"])
        assert [c["answer"] for c in ans["classifications"] if c["schemaId"] == "cWeath01"] \
            == ["Snow"]
        assert len(ans["tools"]) == 1  # the one imported box, not three


def test_attachments_refused_connection_is_resent_once_the_hub_is_back(hub, workdir):
    """Connection refused: nothing reached the hub, so resending is safe; the
    attachment is applied exactly once after the hub is back."""
    m = Mount(hub, workdir, opts=WOPTS)
    try:
        pid = main_project(hub)
        pdir = project_dir(m, pid)
        before = attachments_in_hub(hub)
        dst = os.path.join(pdir, "attachments", "later.json")
        hub.stop()
        try:
            e = write_file(dst, attach_text(street_ext(11), "later"))
            assert e is not None and e.errno == errno.ECONNREFUSED, e
            assert status_state(dst + ".status") == "pending"
        finally:
            hub.start()
        wait_for(lambda: status_state(dst + ".status") == "sent", 90, "background delivery")
        assert attachments_in_hub(hub) == before + 1
    finally:
        m.stop()


def _open_rw_in_thread(path, box):
    def run():
        t0 = time.time()
        try:
            fd = os.open(path, os.O_RDWR)
            box["fd"] = fd
        except OSError as e:
            box["err"] = e
        box["took"] = time.time() - t0
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


BIG = 1200  # more tasks than task_page_max (1000): tasks/ is listed from an export


def test_frozen_get_task_blocks_nothing_else(workdir):
    """Opening answer.json read-write without O_TRUNC fetches the current
    answer (GET /task) to start from. With the hub frozen (SIGSTOP) in the
    middle of that request, the rest of the mount goes on: another task's
    answer opens for writing, is written and read back, drop-box files are
    created and written, the mount's .status, the drop-box listing and a
    cached export are read, each within 2 s. (The fetch used to run under the
    write side's global lock: every write of the mount waited for the hub.)

    The setup is that of a large project: its task list comes from the
    (cached) export, so the task is known without asking the hub, while its
    cached copy has expired (meta_ttl): only the seed needs GET /task."""
    hub = Hub(workdir, seeds=("synthetic:%d" % BIG,))
    m = None
    stopped = False
    try:
        m = Mount(hub, workdir, opts=WOPTS + ["stall_timeout=20", "meta_ttl=5",
                                              "attr_timeout=600", "entry_timeout=600"])
        pid = project_by_name(hub, "synthetic-%d" % BIG)
        pdir = project_dir(m, pid)
        tdir = os.path.join(pdir, "tasks")
        export = read(os.path.join(pdir, "export", "tasks.ndjson"))
        tasks = sorted(os.listdir(tdir))
        assert len(tasks) == BIG
        slow, other = tasks[0], tasks[1]
        slow_answer = os.path.join(tdir, slow, "answer.json")
        other_answer = os.path.join(tdir, other, "answer.json")
        # the kernel keeps both answers' names and attributes (600 s)
        os.stat(slow_answer)
        new_answer = read(other_answer).encode()
        time.sleep(5.5)  # the cached tasks and the task list expire
        assert slow in os.listdir(tdir)  # the list again, from the cached export
        box = {}
        hub.reset_stats()
        hub.fault(route="GET /v2/task/{id}", latency_ms=3000)
        t = _open_rw_in_thread(slow_answer, box)
        wait_for(lambda: count(hub, "GET /v2/task/{id}") >= 1, 30, "GET /task to reach the hub")
        os.kill(hub.proc.pid, signal.SIGSTOP)
        stopped = True
        assert "took" not in box  # the open is still waiting for the frozen hub
        timings, fds = {}, []

        def timed(name, fn):
            t0 = time.time()
            r = fn()
            timings[name] = time.time() - t0
            return r

        # another task's answer: opened for writing, written, read back
        afd = timed("open other answer.json", lambda: os.open(
            other_answer, os.O_WRONLY | os.O_TRUNC))
        fds.append(afd)
        timed("write other answer.json", lambda: os.write(afd, new_answer))
        assert timed("read other answer.json", lambda: read(other_answer)) == \
            new_answer.decode()
        # drop-box files, created and written (sent at close, later)
        for box_dir, text in (("labels", json.dumps({"externalId": "synthetic_0000003.jpg",
                                                     "objects": []}) + "\n"),
                              ("attachments", attach_text("synthetic_0000004.jpg", "x"))):
            fp = os.path.join(pdir, box_dir, "during.json")
            fd = timed("create " + box_dir, lambda: os.open(fp, os.O_WRONLY | os.O_CREAT,
                                                            0o644))
            fds.append(fd)
            timed("write " + box_dir, lambda: os.write(fd, text.encode()))
            timed("list " + box_dir, lambda: os.listdir(os.path.join(pdir, box_dir)))
        timed("read the mount's .status", lambda: json.loads(
            read(os.path.join(m.path, ".status"))))
        assert timed("read the cached export", lambda: read(
            os.path.join(pdir, "export", "tasks.ndjson"))) == export
        assert max(timings.values()) < 2.0, timings
        assert "took" not in box, box  # all that while, the first open waited
        os.kill(hub.proc.pid, signal.SIGCONT)
        stopped = False
        hub.clear_faults()
        t.join(60)
        assert "fd" in box, box
        os.close(box["fd"])
        os.close(fds.pop(0))  # the answer: sent
        assert status_state(other_answer + ".status") == "sent"
        for fd in fds:
            os.close(fd)
    finally:
        if stopped:
            os.kill(hub.proc.pid, signal.SIGCONT)
        if m:
            m.stop()
        hub.stop()


def _export_path(m, pid):
    return os.path.join(project_dir(m, pid), "export", "tasks.json")


def test_stalled_export_download_fails_within_the_stall_timeout(hub, workdir):
    """A download that stops sending: -o stall_timeout=3 ends it after one
    stall with ETIMEDOUT (not resumed in the reader's time, although bytes
    had come), instead of 5 attempts x 67 s; nothing is cached, the next read
    is right."""
    m = Mount(hub, workdir, opts=WOPTS + ["stall_timeout=3"])
    try:
        pid = main_project(hub)
        path = _export_path(m, pid)
        hub.reset_stats()
        hub.fault(route=DOWNLOAD, stall_after=4096)
        t0 = time.time()
        e = errno_of(lambda: read(path))
        took = time.time() - t0
        downloads = count(hub, DOWNLOAD)
        hub.clear_faults()
        assert e == errno.ETIMEDOUT, e
        assert downloads == 1, hub.stats()["log"]  # a stall is not resumed
        assert took < 3 + 2 + 3, took  # one stall of 3 s; was 5 x (60 s + backoff)
        assert json.loads(read(path))  # fetched again, complete
    finally:
        hub.clear_faults()
        m.stop()


def test_stalled_refresh_serves_the_cached_copy(hub, workdir):
    """An expired export whose refresh stalls: the cached copy is served after
    the stall timeout."""
    m = Mount(hub, workdir, opts=WOPTS + ["stall_timeout=2", "export_ttl=1"])
    try:
        pid = main_project(hub)
        path = _export_path(m, pid)
        first = read(path)
        time.sleep(1.5)
        hub.reset_stats()
        hub.fault(route=DOWNLOAD, stall_after=0)
        t0 = time.time()
        again = read(path)
        took = time.time() - t0
        assert again == first
        assert count(hub, DOWNLOAD) == 1  # no bytes came: not resumed
        assert took < 30, took
        assert "serving the cached copy" in m.log_text()
    finally:
        hub.clear_faults()
        m.stop()


def test_interrupted_reader_returns_promptly(hub, workdir):
    """`timeout -s INT 5 cat export/tasks.json` on a stalled download returns
    soon after the signal (the daemon honours the FUSE interrupt and aborts
    the download), not after the stall timeout (30 s by default here)."""
    m = Mount(hub, workdir, opts=WOPTS)
    try:
        pid = main_project(hub)
        path = _export_path(m, pid)
        hub.reset_stats()
        hub.fault(route=DOWNLOAD, stall_after=4096)
        t0 = time.time()
        r = subprocess.run(["timeout", "-s", "INT", "5", "cat", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        took = time.time() - t0
        assert r.returncode == 124, (r.returncode, r.stderr)
        assert took < 15, took  # 5 s + a prompt answer; was ~65 s
        assert count(hub, DOWNLOAD) == 1  # not resumed after the interrupt
        assert "interrupted" in m.log_text()
        hub.clear_faults()
        assert json.loads(read(path))  # the next reader downloads it whole
        assert m.proc.poll() is None
    finally:
        hub.clear_faults()
        m.stop()


def test_interrupted_close_stops_between_requests_rest_sent_in_background(hub, workdir):
    """A large labels file is sent in several requests at close(). Ctrl-C on
    the copying program stops the upload between two requests (each one is
    confirmed on disk first): close() returns at once, the file is pending, and
    the background sender delivers the rest, every request exactly once."""
    n = 20
    m = Mount(hub, workdir, opts=WOPTS, env={"ANGOFS_CHUNK_ITEMS": "1"})
    try:
        pid = main_project(hub)
        pdir = project_dir(m, pid)
        src = os.path.join(workdir, "many.ndjson")
        with open(src, "w") as f:
            for i in range(n):
                f.write(json.dumps(label_item(street_ext(40 + i), "Rain")) + "\n")
        dst = os.path.join(pdir, "labels", "many.ndjson")
        hub.reset_stats()
        hub.fault(route=IMPORT, latency_ms=800)  # 20 requests: ~16 s at close
        t0 = time.time()
        r = subprocess.run(["timeout", "-s", "INT", "3", "cp", src, dst],
                           stderr=subprocess.PIPE, timeout=120)
        took = time.time() - t0
        assert r.returncode == 124, (r.returncode, r.stderr)
        assert took < 10, took
        st = read(dst + ".status")
        assert st.startswith("pending: not delivered yet: ") and "interrupted after" in st, st
        sent_at_close = count(hub, IMPORT)
        assert 1 <= sent_at_close < n
        hub.clear_faults()
        wait_for(lambda: status_state(dst + ".status") == "sent", 90, "the rest to be sent")
        ok = [x for x in hub.stats()["log"] if x["route"] == IMPORT and x["status"] == 200]
        assert len(ok) == n  # every request once, none twice
    finally:
        hub.clear_faults()
        m.stop()


def test_interrupted_reader_waiting_for_another_readers_refresh(hub, workdir):
    """One reader refreshes project.json from a slow hub (single flight); a
    second reader of the same file waits for that refresh, and Ctrl-C ends its
    wait at once instead of when the first reader's request ends."""
    m = Mount(hub, workdir, opts=WOPTS + ["meta_ttl=1", "attr_timeout=0", "entry_timeout=60"])
    try:
        pid = main_project(hub)
        pj = os.path.join(project_dir(m, pid), "project.json")
        read(pj)
        time.sleep(1.5)  # the cached project expires
        hub.reset_stats()
        hub.fault(route="GET /v2/project/{id}", latency_ms=15000)
        first = subprocess.Popen(["cat", pj], stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: count(hub, "GET /v2/project/{id}") >= 1, 30, "the first refresh")
            t0 = time.time()
            r = subprocess.run(["timeout", "-s", "INT", "2", "cat", pj],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
            took = time.time() - t0
            assert r.returncode == 124, (r.returncode, r.stderr)
            assert took < 8, took  # 2 s + a prompt answer; the refresh takes 15 s
            assert count(hub, "GET /v2/project/{id}") == 1
        finally:
            first.wait(60)
        assert first.returncode == 0
    finally:
        hub.clear_faults()
        m.stop()
