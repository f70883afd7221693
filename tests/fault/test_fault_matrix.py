"""The fault matrix (issue 6, item 1): every injected fault x every operation.

Faults (the local hub's fault injection, docs/HUB.md):
  500 / 503 / 429      on every /v2 route until cleared       -> clean errno
  500x2 / 503x2 / 429x2 the next two /v2 requests only          -> success after retry
  slow                  1.5 s latency on every /v2 request       -> success
  stall                 the download stops after 4 KiB           -> the read waits, the
                        rest of the mount answers, the read completes when data flows
  drop                  the download connection closes after 5000 bytes (once) -> resumed
  corrupt               the zip is served with flipped bytes     -> EIO, nothing cached
  hubdown               the hub process is stopped              -> ECONNREFUSED
Operations: listing root/project/tasks, first read of an export, read of
answer.json, cp into labels/, write of answer.json. A download-only fault
(stall/drop/corrupt) leaves operations that download nothing untouched: those
cells assert plain success. Every cell asserts: the expected outcome, within
OP_BOUND_S (no hang); the daemon is still alive (no crash); what a failed read
left in the cache is never served (the next read returns the true bytes); a
failed write stays pending and is delivered once the fault is gone (no write
lost). docs/RELIABILITY.md holds the table.

One demo hub for the module (faults are cleared after every cell); a fresh
mount per cell so nothing is cached from an earlier cell.
"""
import errno
import json
import os
import threading
import time

import pytest

from conftest import Mount
from faultlib import (ANNOTATE, DOWNLOAD, IMPORT, OP_BOUND_S, STREET, WENV, WOPTS, all_tasks,
                      comment_of, direct_export, errno_of, export_cache_files, main_project,
                      read, status_state, street_path, task_answer, wait_for, write_file)

# fault name -> (spec for POST /_admin/faults or None, expected errno or 0)
FAULTS = {
    "500": ({"route": "*", "status": 500, "message": "matrix-500"}, errno.EIO),
    "503": ({"route": "*", "status": 503, "message": "matrix-503"}, errno.EAGAIN),
    "429": ({"route": "*", "status": 429, "retry_after": 1}, errno.EAGAIN),
    "500x2": ({"route": "*", "status": 500, "count": 2}, 0),
    "503x2": ({"route": "*", "status": 503, "count": 2}, 0),
    "429x2": ({"route": "*", "status": 429, "retry_after": 1, "count": 2}, 0),
    "slow": ({"route": "*", "latency_ms": 1500}, 0),
    "stall": ({"route": DOWNLOAD, "stall_after": 4096}, 0),
    "drop": ({"route": DOWNLOAD, "drop_after": 5000, "count": 1}, 0),
    "corrupt": ({"route": DOWNLOAD, "corrupt": True}, "corrupt"),
    "hubdown": (None, errno.ECONNREFUSED),
}
OPS = ["list", "export", "answer_read", "labels_cp", "answer_write"]
FAULT_NAMES = list(FAULTS)


def expected(fault, op):
    """0 (success) or the errno the operation must fail with."""
    spec, exp = FAULTS[fault]
    if exp == "corrupt":
        return errno.EIO if op == "export" else 0
    return exp


@pytest.fixture(scope="module")
def ctx(module_hub):
    pid = main_project(module_hub)
    tasks = {t["externalId"]: t["_id"] for t in all_tasks(module_hub, pid)}
    return {"pid": pid, "tasks": tasks}


@pytest.fixture
def cell_mount(module_hub, module_workdir, request):
    name = "m-" + request.node.name.replace("[", "-").replace("]", "")
    m = Mount(module_hub, module_workdir, opts=WOPTS, env=WENV, name=name)
    yield m
    module_hub.clear_faults()
    if module_hub.proc is None or module_hub.proc.poll() is not None:
        module_hub.start()
    m.stop()


def cell_index(fault, op):
    return FAULT_NAMES.index(fault) * len(OPS) + OPS.index(op)


def inject(hub, fault):
    spec, _ = FAULTS[fault]
    if spec is None:
        hub.stop()
    else:
        hub.fault(**spec)


def heal(hub, fault):
    if FAULTS[fault][0] is None:
        hub.start()
    else:
        hub.clear_faults()


# ---- operations: setup (before the fault) and the operation itself ----------

def setup_op(hub, m, ctx, op, idx):
    p = street_path(m)
    if op == "list":
        return {}
    os.listdir(m.path)
    assert os.path.isdir(p)
    if op == "export":
        f = os.path.join(p, "export", "tasks.ndjson")
        os.stat(f)  # lookup only: never downloads
        return {"file": f}
    if op == "answer_read":
        ext = "street_%04d.jpg" % (190 + idx % 45)
        return {"file": os.path.join(p, "tasks", ctx["tasks"][ext], "answer.json"),
                "tid": ctx["tasks"][ext]}
    read(os.path.join(p, "project.json"))  # the categorySchema the checks need
    if op == "labels_cp":
        exts = ["street_%04d.jpg" % (10 + 2 * idx), "street_%04d.jpg" % (11 + 2 * idx)]
        return {"file": os.path.join(p, "labels", "matrix-%d.ndjson" % idx), "exts": exts,
                "text": "\n".join(json.dumps({"externalId": e, "classifications": [
                    {"schemaId": "cComm001", "answer": "matrix-%d" % idx}]}) for e in exts)}
    ext = "street_%04d.jpg" % (130 + idx)
    tdir = os.path.join(p, "tasks", ctx["tasks"][ext])
    os.stat(os.path.join(tdir, "answer.json"))
    return {"file": os.path.join(tdir, "answer.json"), "tid": ctx["tasks"][ext],
            "text": json.dumps({"classifications": [
                {"schemaId": "cComm001", "answer": "matrix-%d" % idx}]})}


def run_op(m, op, st):
    """Returns the operation's result; raises OSError on failure."""
    if op == "list":
        names = os.listdir(m.path)
        p = street_path(m)
        inner = os.listdir(p)
        tasks = os.listdir(os.path.join(p, "tasks"))
        return names, inner, tasks
    if op in ("export", "answer_read"):
        return read(st["file"])
    e = write_file(st["file"], st["text"])
    if e is not None:
        raise e
    return None


def check_success(hub, m, ctx, op, st, res):
    if op == "list":
        names, inner, tasks = res
        assert STREET in names
        assert {"export", "labels", "tasks", "project.json"} <= set(inner)
        assert len(tasks) == 240
    elif op == "export":
        assert res == direct_export(hub, ctx["pid"], format="ndjson")
    elif op == "answer_read":
        assert json.loads(res) == json.loads(json.dumps(task_answer(hub, st["tid"])))
    elif op == "labels_cp":
        assert status_state(st["file"] + ".status") == "sent", read(st["file"] + ".status")
        check_delivered(hub, ctx, op, st)
    else:
        assert status_state(st["file"] + ".status") == "sent"
        check_delivered(hub, ctx, op, st)


def check_delivered(hub, ctx, op, st):
    want = json.loads(st["text"].splitlines()[0])["classifications"][0]["answer"]
    tids = [ctx["tasks"][e] for e in st["exts"]] if op == "labels_cp" else [st["tid"]]
    for tid in tids:
        assert comment_of(task_answer(hub, tid)) == want, tid
    route = IMPORT if op == "labels_cp" else ANNOTATE
    oks = [r for r in hub.stats()["log"] if r["route"] == route and r["status"] == 200]
    assert len(oks) == 1, oks  # delivered exactly once


def check_failure_aftermath(hub, m, ctx, op, st, err):
    """After a failed operation and the fault healed: nothing corrupt is served,
    nothing written is lost."""
    if op == "list":
        check_success(hub, m, ctx, op, st, run_op(m, op, st))
    elif op == "export":
        # a failed fetch left no data file behind and is not served as complete
        assert not [n for n in export_cache_files(m) if n.endswith(".data")]
        assert os.stat(st["file"]).st_size == 1  # never fetched: placeholder size
        check_success(hub, m, ctx, op, st, read(st["file"]))
    elif op == "answer_read":
        check_success(hub, m, ctx, op, st, read(st["file"]))
    else:
        # kept locally while pending, then delivered by the background sender
        wait_for(lambda: status_state(st["file"] + ".status") == "sent", 120,
                 "background delivery of " + st["file"])
        check_delivered(hub, ctx, op, st)


def run_stall_export(hub, m, ctx, st):
    """The stalled download blocks only its reader; the rest answers; the read
    completes once bytes flow again."""
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("data", read(st["file"])))
    t.start()
    try:
        def stalled():
            with open(os.path.join(m.path, ".status")) as s:
                x = json.load(s)
            return any(e["state"] == "downloading" and e["bytes_done"] >= 4096
                       for e in x["exports"]["exports"])
        wait_for(stalled, 60, "the download to stall")
        assert STREET in os.listdir(m.path)
        assert json.loads(read(os.path.join(street_path(m), "project.json")))["name"] == STREET
        assert t.is_alive()
    finally:
        hub.clear_faults()  # the stalled stream goes on
        t.join(OP_BOUND_S)
    assert not t.is_alive()
    check_success(hub, m, ctx, "export", st, box.get("data"))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("fault", FAULT_NAMES)
def test_cell(module_hub, cell_mount, ctx, fault, op):
    hub, m = module_hub, cell_mount
    idx = cell_index(fault, op)
    st = setup_op(hub, m, ctx, op, idx)
    hub.reset_stats()
    if fault == "stall" and op == "export":
        inject(hub, fault)
        run_stall_export(hub, m, ctx, st)
        return
    want = expected(fault, op)
    inject(hub, fault)
    t0 = time.time()
    res, err = None, None
    try:
        res = run_op(m, op, st)
    except OSError as e:
        err = e
    finally:
        took = time.time() - t0
        heal(hub, fault)
    assert took < OP_BOUND_S, "no hang: %s took %.0fs" % (op, took)
    assert m.proc.poll() is None, "the daemon died: " + m.log_text()[-2000:]
    if want == 0:
        assert err is None, "%s under %s: %r\n%s" % (op, fault, err, m.log_text()[-2000:])
        check_success(hub, m, ctx, op, st, res)
        if fault.endswith("x2"):
            codes = [r["status"] for r in hub.stats()["log"]]
            assert codes.count(int(fault[:3])) == 2  # the fault was hit, then retried
    else:
        assert err is not None, "%s under %s succeeded" % (op, fault)
        assert err.errno == want, "%s under %s: %r (want %s)" % (op, fault, err,
                                                                 errno.errorcode[want])
        if op in ("labels_cp", "answer_write"):
            s = read(st["file"] + ".status").decode()
            assert s.startswith("pending: not delivered yet"), s
        check_failure_aftermath(hub, m, ctx, op, st, err)


def test_stall_never_released_is_answered_at_the_stall_timeout(module_hub, module_workdir,
                                                               ctx):
    """A download that stalls for good: the client gives up on it after its
    stall timeout (default 30 s, tests/fault/test_waits.py; 3 s here, -o
    stall_timeout=3) and its reader gets ETIMEDOUT then, not after a resume
    that may stall again; the next read downloads again (the fault hit only
    the first request) and gets the true bytes."""
    hub = module_hub
    m = Mount(hub, module_workdir, opts=WOPTS + ("stall_timeout=3",), env=WENV,
              name="m-stall-forever")
    try:
        st = setup_op(hub, m, ctx, "export", 0)
        hub.reset_stats()
        hub.fault(route=DOWNLOAD, stall_after=4096, count=1)
        t0 = time.time()
        e = errno_of(lambda: read(st["file"]))
        assert e == errno.ETIMEDOUT, e
        assert time.time() - t0 < 3 + 2 + 3  # the promise + a loaded machine
        assert hub.stats()["counts"].get(DOWNLOAD, 0) == 1
        check_success(hub, m, ctx, "export", st, read(st["file"]))
    finally:
        hub.clear_faults()  # lets the hub's stalled sender go
        m.stop()


def test_download_dropped_every_time_after_some_bytes_completes(module_hub, cell_mount, ctx):
    """Every download connection drops after 5000 bytes: each attempt made
    progress, so the client resumes (Range) until the export is whole."""
    hub, m = module_hub, cell_mount
    st = setup_op(hub, m, ctx, "export", 0)
    hub.reset_stats()
    hub.fault(route=DOWNLOAD, drop_after=5000)
    t0 = time.time()
    data = read(st["file"])
    assert time.time() - t0 < OP_BOUND_S
    hub.clear_faults()
    check_success(hub, m, ctx, "export", st, data)
    assert hub.stats()["counts"].get(DOWNLOAD, 0) > 4  # more than one budget's attempts


def test_download_dropped_every_time_fails_cleanly(module_hub, cell_mount, ctx):
    """Every download connection drops before its first byte: the client tries
    a bounded number of times (4), then the read fails with EIO and nothing is
    cached."""
    hub, m = module_hub, cell_mount
    st = setup_op(hub, m, ctx, "export", 0)
    hub.reset_stats()
    hub.fault(route=DOWNLOAD, drop_after=0)
    t0 = time.time()
    e = errno_of(lambda: read(st["file"]))
    assert time.time() - t0 < OP_BOUND_S
    downloads = hub.stats()["counts"].get(DOWNLOAD, 0)
    hub.clear_faults()
    assert e == errno.EIO
    assert downloads == 4
    check_failure_aftermath(hub, m, ctx, "export", st, e)
