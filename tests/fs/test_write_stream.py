"""A labels/ file is sent while it is checked (docs/WRITES.md, "Checks before
anything is sent"): an NDJSON file of label items goes out chunk by chunk as
its chunks are checked, so request 1 reaches the hub before the daemon has
read the end of the file; a problem found later stops the sending at once and
the status names it and the requests that went before. Other forms (a JSON
array, attachments/) send nothing unless the whole file is good. A delivery
that stops half-way (kill -9) resumes from the spool: the chunks recorded as
sent are cut the same way again and never sent twice, even when the daemon
restarts with another chunk size. Order is shown with the hub's own counters
and request log (and the spool's meta.json), never with timings."""
import errno
import glob
import json
import os
import re
import subprocess
import time

from conftest import Mount
from test_write_common import (ATTACH, IMPORT, WENV, WOPTS, read, status_state, street,
                               street_ext, wait_for)

OBJ = {"schemaId": "tCar0001", "bounding-box": {"x": 10, "y": 20, "width": 30, "height": 40},
       "classifications": [{"schemaId": "cOccl001", "answer": "Yes"}]}


def item(i, schema="tCar0001", nobj=8):
    """Label item i (1-based), about 1 KB: its objects carry "o<i>-<k>" ids,
    so a request body names its first item."""
    objs = [dict(OBJ, schemaId=schema if k == 0 else "tCar0001", objectId="o%d-%d" % (i, k))
            for k in range(nobj)]
    return {"externalId": street_ext(1 + (i - 1) % 40), "objects": objs,
            "classifications": [{"schemaId": "cWeath01", "answer": "Snow"}]}


def make_file(path, n, bad_last=False, form="ndjson", nobj=8):
    items = [item(i, "tTruck99" if bad_last and i == n else "tCar0001", nobj)
             for i in range(1, n + 1)]
    with open(path, "w") as f:
        if form == "ndjson":
            f.write("".join(json.dumps(it) + "\n" for it in items))
        else:
            f.write("[\n" + ",\n".join(json.dumps(it) for it in items) + "\n]\n")
    with open(path, "rb") as f:
        return f.read()


def import_firsts(hub):
    """The first item (its number) of each import request the hub answered 200, in order."""
    out = []
    for r in hub.requests():
        if r["method"] == "POST" and r["path"] == "/v2/import/labels" and r["status"] == 200:
            m = re.search(r'"objectId":\s*"o(\d+)-0"', r.get("body") or "")
            out.append(int(m.group(1)) if m else None)
    return out


def meta_of(mount, relpath):
    for p in glob.glob(os.path.join(mount.cache, "spool", "*", "meta.json")):
        try:
            with open(p) as f:
                j = json.load(f)
        except (OSError, ValueError):
            continue
        if j.get("relpath") == relpath:
            return j
    return None


def test_request_one_reaches_the_hub_before_the_file_is_checked_to_its_end(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        pid, pdir = street(hub, m)
        n = 25000  # about 25 MB, 25 requests of 1000 items
        src = os.path.join(workdir, "big.ndjson")
        make_file(src, n)
        dst = os.path.join(pdir, "labels", "big.ndjson")
        hub.reset_stats()
        hub.clear_requests()
        # request 1 is held at the hub a while: the daemon goes on meanwhile
        hub.fault(route=IMPORT, latency_ms=3000, count=1)
        p = subprocess.Popen(["cp", src, dst], stderr=subprocess.PIPE, text=True)
        try:
            seen = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and p.poll() is None:
                if hub.stats()["counts"].get(IMPORT, 0) >= 1:
                    # request 1 has arrived: the daemon records the file as
                    # prepared once all of it is checked and planned (before
                    # any request, when a file was checked whole first); the
                    # next test shows the order against the check itself
                    seen = meta_of(m, "labels/big.ndjson")
                    break
                time.sleep(0.005)
            assert seen is not None, "request 1 never reached the hub while cp ran"
            assert not seen["prepared"], \
                "the whole file was prepared before request 1 reached the hub"
        finally:
            _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        st = read(dst + ".status")
        assert st.startswith("sent: %d items sent in 25 requests" % n), st[:600]
        assert "items: %d (NDJSON) in 25 requests" % n in st
        # each chunk once, in order
        assert import_firsts(hub) == [1 + 1000 * k for k in range(25)]
    finally:
        m.stop()


def test_a_problem_in_the_last_chunk_stops_the_sending_and_says_what_went(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        pid, pdir = street(hub, m)
        n = 25000
        src = os.path.join(workdir, "bad.ndjson")
        data = make_file(src, n, bad_last=True)
        dst = os.path.join(pdir, "labels", "bad.ndjson")
        hub.reset_stats()
        hub.clear_requests()
        hub.fault(route=IMPORT, latency_ms=3000, count=1)
        r = subprocess.run(["cp", src, dst], capture_output=True, text=True, timeout=600)
        assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
        st = read(dst + ".status")
        first = st.splitlines()[0]
        assert first.startswith("failed: line %d (item %d): objects[0]: unknown schemaId "
                                "'tTruck99'" % (n, n)), first
        got = re.search(r"sent before this was found: (\d+) requests? \(items 1-(\d+), "
                        r"lines 1-(\d+)\), nothing after them", first)
        assert got, first
        k = int(got.group(1))
        # request 1 reached the hub although the file's last chunk is bad: it
        # went before that chunk was checked (nothing goes once a problem is known)
        assert 1 <= k < 25 and int(got.group(2)) == 1000 * k == int(got.group(3))
        assert hub.stats()["counts"].get(IMPORT, 0) == k
        assert import_firsts(hub) == [1 + 1000 * j for j in range(k)]
        assert "problems:\nline %d (item %d)" % (n, n) in st
        assert "nothing was lost: the file is kept here" in st
        # the bytes stay, listed, as written
        assert "bad.ndjson" in os.listdir(os.path.join(pdir, "labels"))
        with open(dst, "rb") as f:
            assert f.read() == data
        # fixed and copied again: every item goes (the sent ones again)
        make_file(src, n)
        hub.reset_stats()
        r = subprocess.run(["cp", src, dst], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert read(dst + ".status").startswith("sent: %d items sent in 25 requests" % n)
        assert hub.stats()["counts"].get(IMPORT, 0) == 25
    finally:
        m.stop()


def test_a_json_array_or_attachments_with_a_bad_last_chunk_send_nothing(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=dict(WENV, ANGOFS_CHUNK_ITEMS="100"))
    try:
        pid, pdir = street(hub, m)
        n = 1000
        src = os.path.join(workdir, "bad.json")
        make_file(src, n, bad_last=True, form="json", nobj=1)
        hub.reset_stats()
        dst = os.path.join(pdir, "labels", "bad.json")
        r = subprocess.run(["cp", src, dst], capture_output=True, text=True, timeout=600)
        assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
        st = read(dst + ".status")
        assert st.startswith("failed: line %d (item %d): objects[0]: unknown schemaId "
                             "'tTruck99'" % (n + 1, n)), st[:400]
        assert "sent before" not in st
        assert hub.stats()["counts"].get(IMPORT, 0) == 0
        # attachments/ (an NDJSON file too): not idempotent, so never in part
        att = os.path.join(workdir, "att.ndjson")
        with open(att, "w") as f:
            for i in range(1, n + 1):
                f.write(json.dumps({"externalId": street_ext(1 + i % 40),
                                    "attachmentUrl": "https://example.com/%d.png" % i,
                                    "attachmentType": "IMAGE" if i < n else 5}) + "\n")
        dst = os.path.join(pdir, "attachments", "att.ndjson")
        r = subprocess.run(["cp", att, dst], capture_output=True, text=True, timeout=600)
        assert r.returncode != 0 and "Invalid argument" in r.stderr, r.stderr
        st = read(dst + ".status")
        assert st.startswith("failed: line %d (item %d): \"attachmentType\" must be a string"
                             % (n, n)), st[:400]
        assert hub.stats()["counts"].get(ATTACH, 0) == 0
    finally:
        m.stop()


def test_kill9_mid_stream_resumes_without_sending_a_chunk_twice(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=dict(WENV, ANGOFS_CHUNK_ITEMS="100"))
    try:
        pid, pdir = street(hub, m)
        n = 2000  # 20 requests of 100
        src = os.path.join(workdir, "crash.ndjson")
        make_file(src, n, nobj=1)
        dst = os.path.join(pdir, "labels", "crash.ndjson")
        hub.reset_stats()
        hub.clear_requests()
        hub.fault(route=IMPORT, latency_ms=2000)
        p = subprocess.Popen(["cp", src, dst], stderr=subprocess.DEVNULL)
        # request 3 arrived: 1 and 2 were answered and recorded before it went
        wait_for(lambda: hub.stats()["counts"].get(IMPORT, 0) >= 3, 120, "request 3")
        meta = meta_of(m, "labels/crash.ndjson")
        m.kill9()
        p.wait(timeout=60)
        assert not meta["prepared"]  # the plan was still being made
        assert [c["state"] for c in meta["chunks"]] == ["sent", "sent"], meta["chunks"]
        hub.clear_faults()
        # the held request 3 is answered (and applied) by the hub all the same
        wait_for(lambda: len(import_firsts(hub)) >= 3, 60, "request 3 logged")
        before = import_firsts(hub)
        assert before[:2] == [1, 101], before
        # another chunk size after the restart: the recorded chunks keep theirs
        m.env["ANGOFS_CHUNK_ITEMS"] = "70"
        m.start()
        pid, pdir = street(hub, m)
        dst = os.path.join(pdir, "labels", "crash.ndjson")
        wait_for(lambda: status_state(dst + ".status") == "sent", 180, "resumed delivery")
        st = read(dst + ".status")
        firsts = import_firsts(hub)
        after = firsts[len(before):]
        # chunks 1 and 2 never again; the items of request 3 (held when the
        # daemon died, no reply recorded) are sent again, idempotent; then the
        # rest once each, cut at the new size
        assert 1 not in after and 101 not in after, firsts
        assert after[0] == 201, firsts
        assert after == sorted(set(after)), firsts
        ranges = re.findall(r"^  \d+: items (\d+)-(\d+) \(lines \d+-\d+\): sent", st, re.M)
        ranges = [(int(a), int(b)) for a, b in ranges]
        assert ranges[:2] == [(1, 100), (101, 200)], st[:800]
        assert all(b - a + 1 == 70 for a, b in ranges[2:-1]), ranges
        assert ranges[-1][1] == n and all(ranges[i][1] + 1 == ranges[i + 1][0]
                                          for i in range(len(ranges) - 1)), ranges
        assert after == [a for a, b in ranges[2:]], (after, ranges)
        assert "items: %d (NDJSON) in %d requests" % (n, len(ranges)) in st
    finally:
        m.stop()


def test_a_refused_stream_is_not_resent_by_the_background_sender(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=dict(WENV, ANGOFS_CHUNK_ITEMS="100"))
    try:
        pid, pdir = street(hub, m)
        src = os.path.join(workdir, "bad.ndjson")
        make_file(src, 3000, bad_last=True, nobj=1)
        dst = os.path.join(pdir, "labels", "bad.ndjson")
        hub.reset_stats()
        hub.fault(route=IMPORT, latency_ms=1000, count=1)
        r = subprocess.run(["cp", src, dst], capture_output=True, text=True, timeout=600)
        assert r.returncode != 0
        assert status_state(dst + ".status") == "failed"
        k = hub.stats()["counts"].get(IMPORT, 0)
        assert k >= 1
        time.sleep(4)  # the background sender's turns
        assert hub.stats()["counts"].get(IMPORT, 0) == k
        assert status_state(dst + ".status") == "failed"
        e = None
        try:
            os.unlink(dst)
        except OSError as x:
            e = x
        assert e is None or e.errno == errno.ENOENT
    finally:
        m.stop()
