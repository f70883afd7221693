"""Helpers shared by the read-side integration tests (tests/fs/test_read_*.py).

Holds no tests. Everything talks to the real local hub (tests/conftest.py's
Hub) and a real angofs mount; hub request counts come from /_admin/stats and
every wait is a bounded poll.
"""
import json
import os
import time

from hubutil import all_tasks, fetch, main_project, project_by_name, projects  # noqa: F401

EXPORT = "GET /v2/export"
DOWNLOAD = "GET /download"

# What angofs sends by default (the official SDK's defaults; task exports
# also name their stages and taskTypes explicitly, see direct_export).
MOUNT_DEFAULTS = {"includeMetadata": "true", "includeHistory": "true",
                  "includeOnlyKeyFrames": "false", "includeIdleBlurDurations": "false",
                  "sendEmail": "false", "doNotNotify": "true"}


def count(hub, route):
    return hub.stats()["counts"].get(route, 0)


def pdir(mount, hub, pid):
    """The directory of project pid (found through its project.json)."""
    for name in sorted(os.listdir(mount.path)):
        path = os.path.join(mount.path, name)
        if not os.path.isdir(path):
            continue
        with open(os.path.join(path, "project.json")) as f:
            if json.load(f)["_id"] == pid:
                return path
    raise AssertionError("no directory for %s" % pid)


def street_dir(mount, hub):
    pid = main_project(hub)
    return pid, os.path.join(mount.path, "Street Scenes")


def stage_ids(hub, pid):
    """Every stage id of project pid, in the project's order."""
    st, body = hub.api("GET", "/project/" + pid)
    assert st == 200, body
    return [s["id"] for s in body["data"]["project"]["stages"]]


def direct_export(hub, pid, **params):
    """Bytes of the export member via GET /export + download + unzip, with the
    parameters angofs sends by default plus params: a task export without a
    stage names every stage of the project, and taskTypes ["default"]."""
    import io
    import zipfile
    q = dict(MOUNT_DEFAULTS, project=pid)
    if params.get("type", "task") == "task":
        params.setdefault("taskTypes", ["default"])
        params.setdefault("stage", stage_ids(hub, pid))
    for k, v in params.items():
        q[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
    st, body = hub.api("GET", "/export", query=q)
    assert st == 200, body
    st, _, raw = fetch(body["data"]["exportPath"])
    assert st == 200
    zf = zipfile.ZipFile(io.BytesIO(raw))
    return zf.read(zf.namelist()[0])


def read(path):
    with open(path, "rb") as f:
        return f.read()


def wait_for(pred, timeout=30, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
