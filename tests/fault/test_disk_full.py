"""The cache disk fills up (issue 21, item 4, the write side): a small tmpfs is
the mount's cache_dir, filled to its last byte, at default options.

- a file written into it (a drop box, answer.json) fails at write() with
  ENOSPC, and close() says ENOSPC too (it used to say EINVAL, "empty file:
  nothing to send", or send the part that fit); its .status names the full
  directory and what to do; nothing reaches the hub; once there is room, a
  copy again is sent;
- the request budget still holds: the shared budget file cannot be replaced,
  so the daemon counts its own requests (a budget per daemon) and says so in
  its log, instead of letting every request through.
"""
import errno
import json
import os
import subprocess
import threading
import time

import pytest

from harness.procs import Mount
from harness.util import wait_for
from test_write_common import ANNOTATE, IMPORT, count, label_item, read, street, street_ext

V2 = " /v2/"


@pytest.fixture
def small(workdir):
    d = os.path.join(workdir, "small")
    os.makedirs(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", d], check=True)
    yield d
    subprocess.run(["umount", "-l", d])


def fill(d):
    """Fill the filesystem of d to its last byte; the filler's path."""
    p = os.path.join(d, "filler")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"\0" * (1 << 16)
        while True:
            os.write(fd, chunk)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    try:
        while True:  # the last partial page too
            os.write(fd, b"\0")
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return p


def write_then_close(path, data):
    """(errno of the first failed write or None, errno of close or None)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    werr = cerr = None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        werr = e.errno
    try:
        os.close(fd)
    except OSError as e:
        cerr = e.errno
    return werr, cerr


def api_requests(hub):
    return sum(v for k, v in hub.stats()["counts"].items() if V2 in k)


def test_a_write_into_a_full_cache_says_enospc_at_close_and_sends_nothing(hub, workdir, small):
    m = Mount(hub, workdir, cache=os.path.join(small, "cache"))
    try:
        pid, pdir = street(hub, m)
        box = os.path.join(pdir, "labels")
        tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[2]
        answer = os.path.join(pdir, "tasks", tid, "answer.json")
        os.listdir(box)
        labels = "".join(json.dumps(label_item(street_ext(1 + i % 40))) + "\n"
                         for i in range(900)).encode()  # ~220 KB, one request
        before = hub.stats()["counts"]
        filler = fill(small)
        spool = os.path.join(small, "cache", "spool")
        want = ("failed: no space left on device in %s: nothing was sent; "
                "free space and copy again\n" % spool)
        for path, data in ((os.path.join(box, "full.ndjson"), labels),
                           (answer, json.dumps({"tools": [], "classifications": [],
                                                "relations": []}).encode())):
            werr, cerr = write_then_close(path, data)
            assert werr == errno.ENOSPC, (path, werr)
            assert cerr == errno.ENOSPC, (path, cerr)
            st = read(path + ".status")
            assert st.startswith(want), st
            assert "error: errno %d" % errno.ENOSPC in st, st
        assert "No space left on device" in m.log_text()
        after = hub.stats()["counts"]
        assert after.get(IMPORT, 0) == before.get(IMPORT, 0)
        assert after.get(ANNOTATE, 0) == before.get(ANNOTATE, 0)
        # room again: the same copies are sent
        os.unlink(filler)
        for path, data in ((os.path.join(box, "full.ndjson"), labels),
                           (answer, json.dumps({"tools": [], "classifications": [],
                                                "relations": []}).encode())):
            assert write_then_close(path, data) == (None, None), path
            assert read(path + ".status").startswith("sent: ")
        assert count(hub, IMPORT) == before.get(IMPORT, 0) + 1
        assert count(hub, ANNOTATE) == before.get(ANNOTATE, 0) + 1
    finally:
        m.stop()


def test_the_request_budget_holds_while_the_cache_disk_is_full(hub, workdir, small):
    """Default rate_limit (100 a minute): 150 lookups of task ids the listing
    does not have, each a GET /task, with the budget file unwritable. With the
    mount's own first requests, 100 reach the hub in the first minute (before:
    all of them at once)."""
    t0 = time.time()
    m = Mount(hub, workdir, cache=os.path.join(small, "cache"))
    tasks = os.path.join(m.path, "Street Scenes", "tasks")  # no request of the test's own
    os.listdir(tasks)
    budget = [n for n in os.listdir(m.cache) if n.startswith("budget-") and "." not in n]
    assert budget, os.listdir(m.cache)  # the shared budget exists before the disk fills
    fill(small)

    def lookups():
        for i in range(150):
            try:
                os.stat(os.path.join(tasks, "65a1%020x" % i))
            except OSError:
                pass  # ENOENT; or the daemon was killed while this waited
    th = threading.Thread(target=lookups, daemon=True)
    th.start()
    try:
        wait_for(lambda: api_requests(hub) >= 100, 40, what="100 requests")
        time.sleep(5)  # without a budget the other ones would be out by now
        api = api_requests(hub)
        assert time.time() - t0 < 58  # still within the first minute
        assert api == 100, hub.stats()["counts"]
        assert "counting this daemon's requests alone" in m.log_text(), m.log_text()[-2000:]
        assert th.is_alive()  # the rest waits for budget
    finally:
        m.kill9()  # its lookups wait for budget: no clean unmount
