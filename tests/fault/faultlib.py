"""Helpers for the fault tests (tests/fault): the five operations of the fault
matrix, each driven through a real angofs mount against the real local hub,
and the checks that tell success, a clean errno and "no write lost" apart.

Holds no tests. Every wait is a bounded poll; nothing depends on timing
thresholds beyond generous upper bounds ("no hang").
"""
import os

from harness.util import errno_of, read, wait_for  # noqa: F401
from hubutil import all_tasks, direct_export, fetch, main_project, stage_ids  # noqa: F401
# open/write/close; returns None or the OSError (close() carries the upload)
from test_write_common import write_file  # noqa: F401

EXPORT = "GET /v2/export"
DOWNLOAD = "GET /download"
IMPORT = "POST /v2/import/labels"
ANNOTATE = "POST /v2/annotate/{id}"
STREET = "Street Scenes"

# Write tests: no client-side rate limit. close() is one bounded client call
# (4 attempts, ~2 s of backoff); the background sender keeps trying afterwards.
WOPTS = ("rate_limit=0",)
WENV = {}

# "no hang": every faulted operation ends within this bound (retries are
# bounded by 4 attempts / a 60 s deadline in the client; see RELIABILITY.md).
OP_BOUND_S = 150


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
