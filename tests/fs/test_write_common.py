"""Helpers shared by the write-side integration tests (tests/fs/test_write_*.py).

Kept in a test_write_* module so it sits with the tests that use it; it holds
no tests itself. Everything here talks to the real local hub and the real
mount: project directories are found by the id in their project.json, hub
request counters come from /_admin/stats, waits are bounded polls.
"""
import json
import os

import pytest

from harness.util import wait_for  # noqa: F401
from hubutil import all_tasks, main_project, project_by_name  # noqa: F401

BOX = {"x": 10, "y": 20, "width": 30, "height": 40}
IMPORT = "POST /v2/import/labels"
ATTACH = "POST /v2/attachments"
ANNOTATE = "POST /v2/annotate/{id}"


def project_dir(mount, pid):
    for name in sorted(os.listdir(mount.path)):
        try:
            with open(os.path.join(mount.path, name, "project.json")) as f:
                if json.load(f)["_id"] == pid:
                    return os.path.join(mount.path, name)
        except (OSError, ValueError, KeyError):
            continue
    raise AssertionError("no directory for project %s in %s" % (pid, os.listdir(mount.path)))


def street(hub, mount):
    pid = main_project(hub)
    return pid, project_dir(mount, pid)


def count(hub, route):
    return hub.stats()["counts"].get(route, 0)


def label_item(ext, weather="Rain"):
    return {"externalId": ext,
            "objects": [{"schemaId": "tCar0001", "bounding-box": BOX,
                         "classifications": [{"schemaId": "cOccl001", "answer": "Yes"}]}],
            "classifications": [{"schemaId": "cWeath01", "answer": weather}]}


def street_ext(i):
    return "street_%04d.jpg" % i


def write_file(path, data):
    """Write bytes/str to path with open/write/close; returns None or the OSError."""
    if isinstance(data, str):
        data = data.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        return e
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        os.close(fd)
        return e
    try:
        os.close(fd)
    except OSError as e:
        return e
    return None


def read(path):
    with open(path) as f:
        return f.read()


def status_state(path):
    try:
        return read(path).split(":", 1)[0]
    except OSError:
        return None


def task_by_ext(hub, pid, ext):
    for t in all_tasks(hub, pid):
        if t.get("externalId") == ext:
            return t
    raise AssertionError("no task with externalId " + ext)


def task_answer(hub, tid):
    st, body = hub.api("GET", "/task/" + tid, query={"includeAnswer": "true"})
    assert st == 200, body
    return body["data"]["task"]["answer"]


def weather_of(answer):
    for c in answer.get("classifications", []):
        if c.get("schemaId") == "cWeath01":
            return c.get("answer")
    return None


# Mount options for write tests: no client-side rate limit (the tests make
# hundreds of requests a minute against the local hub). "Hub down" cases report
# at close within seconds: close() is one bounded client call.
WOPTS = ("rate_limit=0",)
WENV = {}


@pytest.fixture
def wmount(hub, workdir):
    from conftest import Mount
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    yield m
    m.stop()


@pytest.fixture
def strict(workdir):
    """A hub run with the strict profile (it clears a mask or answer a client
    leaves out of /annotate) and a mount on it: what the mask tests use."""
    from conftest import Hub, Mount
    hub = Hub(workdir, extra_args=["--profile", "strict"])
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    yield hub, m
    m.stop()
    hub.stop()


def hub_task(hub, tid):
    """The task as the hub has it, answer included (GET /task/<id>)."""
    st, body = hub.api("GET", "/task/" + tid, query={"includeAnswer": "true"})
    assert st == 200, body
    return body["data"]["task"]


@pytest.fixture(scope="module")
def wshared(module_hub, module_workdir):
    from conftest import Mount
    m = Mount(module_hub, module_workdir, opts=WOPTS, env=WENV)
    yield module_hub, m
    m.stop()
