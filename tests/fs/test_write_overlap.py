"""Bytes written through a descriptor that is still open while an earlier
close() of the same file is uploading are never dropped: the spool entry is
removed only when the confirmed bytes are the bytes it still holds, and the
later content is sent next (labels and answer.json)."""
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

from test_write_common import (ANNOTATE, IMPORT, count, label_item, read, status_state, street,
                               street_ext, task_answer, task_by_ext, wait_for, weather_of,
                               wmount)  # noqa: F401 (fixture)


def close_in_thread(fd):
    out = {}

    def run():
        try:
            os.close(fd)
            out["rc"] = 0
        except OSError as e:
            out["rc"] = e
    t = threading.Thread(target=run)
    t.start()
    return t, out


def overlap(hub, path, route, text_a, text_b):
    """fd1 writes A and closes with the hub slowed; while that upload is in
    flight fd2 truncates, writes B and closes."""
    fd1 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    fd2 = os.open(path, os.O_WRONLY)
    before = count(hub, route)
    hub.fault(route=route, latency_ms=3000, count=1)
    try:
        os.write(fd1, text_a.encode())
        t, out = close_in_thread(fd1)
        wait_for(lambda: count(hub, route) > before, 30, "the first upload to start")
        os.ftruncate(fd2, 0)
        os.pwrite(fd2, text_b.encode(), 0)
        os.close(fd2)  # waits for the first upload, then sends B
        t.join(60)
        assert out.get("rc") == 0, out
    finally:
        hub.clear_faults()


def test_labels_written_during_upload_are_sent(hub, wmount):
    pid, pdir = street(hub, wmount)
    ext = street_ext(41)
    path = os.path.join(pdir, "labels", "overlap.ndjson")
    overlap(hub, path, IMPORT, json.dumps(label_item(ext, "Rain")) + "\n",
            json.dumps(label_item(ext, "Snow")) + "\n")
    wait_for(lambda: status_state(path + ".status") == "sent", 60, "B delivered")
    time.sleep(1)
    assert weather_of(task_answer(hub, task_by_ext(hub, pid, ext)["_id"])) == "Snow"
    ok = [r for r in hub.stats()["log"] if r["route"] == IMPORT and r["status"] == 200]
    assert len(ok) >= 2


def test_answer_written_during_upload_is_sent(hub, wmount):
    pid, pdir = street(hub, wmount)
    tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[5]
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    a = json.loads(read(path))

    def with_weather(w):
        cls = [c for c in a.get("classifications", []) if c.get("schemaId") != "cWeath01"]
        return json.dumps(dict(a, classifications=cls + [{"schemaId": "cWeath01",
                                                          "answer": w}]))
    overlap(hub, path, ANNOTATE, with_weather("Rain"), with_weather("Cloudy"))
    wait_for(lambda: status_state(path + ".status") == "sent", 60, "B delivered")
    time.sleep(1)
    assert weather_of(task_answer(hub, tid)) == "Cloudy"
    assert weather_of(json.loads(read(path))) == "Cloudy"


CHILD = r"""
import os, signal, sys
fd2 = os.open(sys.argv[1], os.O_WRONLY)
signal.signal(signal.SIGUSR1, lambda *a: None)
print("open", flush=True)
sys.stdin.readline()
os.ftruncate(fd2, 0)
os.pwrite(fd2, sys.argv[2].encode(), 0)
print("closing", flush=True)
try:
    os.close(fd2)
    print("rc 0", flush=True)
except OSError as e:
    print("rc %d" % e.errno, flush=True)
"""


def test_close_interrupted_while_waiting_is_sent_in_background(hub, wmount):
    pid, pdir = street(hub, wmount)
    ext = street_ext(43)
    path = os.path.join(pdir, "labels", "interrupted.ndjson")
    fd1 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    child = subprocess.Popen([sys.executable, "-c", CHILD, path,
                              json.dumps(label_item(ext, "Snow")) + "\n"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "open"
        before = count(hub, IMPORT)
        hub.fault(route=IMPORT, latency_ms=6000, count=1)
        os.write(fd1, (json.dumps(label_item(ext, "Rain")) + "\n").encode())
        t, out = close_in_thread(fd1)
        wait_for(lambda: count(hub, IMPORT) > before, 30, "the first upload to start")
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closing"
        time.sleep(1)  # the child's close() now waits for the first upload
        while child.poll() is None:
            child.send_signal(signal.SIGUSR1)
            time.sleep(0.3)
        rc = child.stdout.read()
        t.join(60)
        assert out.get("rc") == 0, out
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        hub.clear_faults()
    assert "rc %d" % errno.EINTR in rc, rc  # the interrupt reached the wait
    wait_for(lambda: status_state(path + ".status") == "sent", 60, "B delivered")
    time.sleep(1)
    assert weather_of(task_answer(hub, task_by_ext(hub, pid, ext)["_id"])) == "Snow"


def test_an_open_while_the_earlier_answer_is_sent_waits_and_wins(hub, wmount):
    """A new open for writing of a task's answer while its earlier content
    is being sent (the POST held 3 s by the hub) waits for that send, then
    writes; the newer answer is on the hub. Before: the open failed with
    EBUSY "being sent right now" (seen in the race model test: a write of a
    newer answer right after a restart, while the daemon resent the answer
    its spool held)."""
    pid, pdir = street(hub, wmount)
    tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[6]
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    a = json.loads(read(path))

    def with_weather(w):
        cls = [c for c in a.get("classifications", []) if c.get("schemaId") != "cWeath01"]
        return json.dumps(dict(a, classifications=cls + [{"schemaId": "cWeath01",
                                                          "answer": w}]))
    before = count(hub, ANNOTATE)
    hub.fault(route=ANNOTATE, latency_ms=3000, count=1)
    try:
        fd1 = os.open(path, os.O_WRONLY | os.O_TRUNC)
        os.write(fd1, with_weather("Rain").encode())
        t, out = close_in_thread(fd1)
        wait_for(lambda: count(hub, ANNOTATE) > before, 30, "the first send to start")
        with open(path, "w") as f:  # the send is still held
            f.write(with_weather("Cloudy"))
        t.join(60)
        assert out.get("rc") == 0, out
    finally:
        hub.clear_faults()
    wait_for(lambda: status_state(path + ".status") == "sent", 60, "the newer answer sent")
    assert weather_of(task_answer(hub, tid)) == "Cloudy"
    assert weather_of(json.loads(read(path))) == "Cloudy"
