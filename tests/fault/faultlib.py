"""Helpers for the fault tests (tests/fault): the five operations of the fault
matrix, each driven through a real angofs mount against the real local hub,
and the checks that tell success, a clean errno and "no write lost" apart.

Holds no tests. Every wait is a bounded poll; nothing depends on timing
thresholds beyond generous upper bounds ("no hang").
"""
import errno
import json
import os
import time

from hubutil import all_tasks, fetch, main_project, stage_ids  # noqa: F401
# open/write/close; returns None or the OSError (close() carries the upload)
from test_write_common import write_file  # noqa: F401

EXPORT = "GET /v2/export"
DOWNLOAD = "GET /download"
IMPORT = "POST /v2/import/labels"
ANNOTATE = "POST /v2/annotate/{id}"
STREET = "Street Scenes"

# What angofs sends by default for a whole-project export (test_read_common.py).
MOUNT_DEFAULTS = {"includeMetadata": "true", "includeHistory": "true",
                  "includeOnlyKeyFrames": "false", "includeIdleBlurDurations": "false",
                  "sendEmail": "false", "doNotNotify": "true"}

# Write tests: no client-side rate limit. close() is one bounded client call
# (4 attempts, ~2 s of backoff); the background sender keeps trying afterwards.
WOPTS = ("rate_limit=0",)
WENV = {}

# "no hang": every faulted operation ends within this bound (retries are
# bounded by 4 attempts / a 60 s deadline in the client; see RELIABILITY.md).
OP_BOUND_S = 150


def read(path):
    with open(path, "rb") as f:
        return f.read()


def errno_of(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


def wait_for(pred, timeout=60, what="condition", step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    v = pred()
    if not v:
        raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
    return v


def direct_export(hub, pid, **params):
    """The bytes angofs must serve for export/tasks.<fmt>: GET /export with its
    default parameters (every stage, default tasks), download, first zip member."""
    import io
    import zipfile
    q = dict(MOUNT_DEFAULTS, project=pid, **params)
    if q.get("type", "task") == "task":  # angofs's explicit filters
        q.setdefault("stage", json.dumps(stage_ids(hub, pid), separators=(",", ":")))
        q.setdefault("taskTypes", '["default"]')
    st, body = hub.api("GET", "/export", query=q)
    assert st == 200, body
    st, _, raw = fetch(body["data"]["exportPath"])
    assert st == 200
    zf = zipfile.ZipFile(io.BytesIO(raw))
    return zf.read(zf.namelist()[0])


def street_path(mount):
    return os.path.join(mount.path, STREET)


def task_answer(hub, tid):
    st, body = hub.api("GET", "/task/" + tid, query={"includeAnswer": "true"})
    assert st == 200, body
    return body["data"]["task"]["answer"]


def comment_of(answer):
    for c in (answer or {}).get("classifications", []):
        if c.get("schemaId") == "cComm001":
            return c.get("answer")
    return None


def status_state(path):
    try:
        with open(path) as f:
            return f.read().split(":", 1)[0]
    except OSError:
        return None


def export_cache_files(mount):
    d = os.path.join(mount.cache, "exports")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []
