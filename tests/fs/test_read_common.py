"""Helpers shared by the read-side integration tests (tests/fs/test_read_*.py).

Holds no tests. Everything talks to the real local hub (tests/conftest.py's
Hub) and a real angofs mount; hub request counts come from /_admin/stats and
every wait is a bounded poll.
"""
import json
import os

from harness.util import read, wait_for  # noqa: F401
from hubutil import (MOUNT_DEFAULTS, all_tasks, direct_export, fetch, main_project,  # noqa: F401
                     project_by_name, projects, stage_ids)

EXPORT = "GET /v2/export"
DOWNLOAD = "GET /download"


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
