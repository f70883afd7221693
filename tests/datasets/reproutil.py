"""Helpers of the reproducible-training tests (tests/datasets/test_snapshots.py,
test_grace.py, test_splits.py, test_changes.py, test_training_repro.py;
issue 24): the hub's tasks, answers that move an image to another
ImageFolder class, and a whole directory tree's bytes. Holds no tests."""
import hashlib
import json
import os

from dsutil import PHOTOS  # noqa: F401  (re-exported)
from hubutil import all_tasks, project_by_name  # noqa: F401  (re-exported)

WEATHER = "cWeath01"  # the top-level radio of the demo's street schema (ImageFolder)


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)


def tasks_with_answers(hub, pid):
    return all_tasks(hub, pid, includeAnswer="true", sort="createdAt",
                     fields="_id,project,asset,externalId,answer")


def set_weather(hub, tid, word, tools=None):
    """Replace a task's answer: Weather = word (its ImageFolder class), and
    the given marks (none by default)."""
    st, body = hub.api("POST", "/annotate/" + tid, {"answer": {
        "tools": tools or [], "classifications": [{"schemaId": WEATHER, "answer": word}],
        "relations": []}})
    assert st == 200, body


def sha(data):
    return hashlib.sha256(data).hexdigest()


def tree(root):
    """{relative path: sha256 of the bytes} of every file below root (symlinks
    by their target)."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
                continue
            with open(p, "rb") as fh:
                out[rel] = sha(fh.read())
    return out


def records(data):
    return [json.loads(x) for x in data.splitlines() if x.strip()]
