"""Read side: layout and names (issue 3, deliverable 1). One demo hub and one
mount per module; these tests only read."""
import errno
import json
import os
import re

import pytest

from conftest import Mount
from test_read_common import count, main_project, projects, EXPORT, DOWNLOAD
from hubutil import REVIEW_ID


@pytest.fixture(scope="module")
def mnt(module_hub, module_workdir):
    m = Mount(module_hub, module_workdir)
    yield m
    m.stop()


def valid(name):
    return (0 < len(name.encode()) <= 255 and "/" not in name and name not in (".", "..")
            and not re.search(r"[\x00-\x1f\x7f]", name))


def test_root_lists_every_project_with_distinct_valid_names(module_hub, mnt):
    names = os.listdir(mnt.path)
    assert ".status" in names
    dirs = [n for n in names if os.path.isdir(os.path.join(mnt.path, n))]
    hub_projects = projects(module_hub)
    assert len(dirs) == len(hub_projects)
    assert len(set(dirs)) == len(dirs)
    assert all(valid(n) for n in dirs)
    ids = set()
    for n in dirs:
        with open(os.path.join(mnt.path, n, "project.json")) as f:
            ids.add(json.load(f)["_id"])
    assert ids == {p["_id"] for p in hub_projects}


def test_colliding_and_slash_names(module_hub, mnt):
    names = set(os.listdir(mnt.path))
    streets = [p for p in projects(module_hub) if p["name"] == "Street Scenes"]
    older, newer = sorted(streets, key=lambda p: p["createdAt"])
    # the oldest keeps the plain name, the other is told apart by its id
    assert "Street Scenes" in names
    assert "Street Scenes~" + newer["_id"] in names
    with open(os.path.join(mnt.path, "Street Scenes", "project.json")) as f:
        assert json.load(f)["_id"] == older["_id"]
    assert "Cars _ Trucks" in names
    assert not any("/" in n for n in names)


def test_names_are_stable_across_mounts(module_hub, module_workdir, mnt):
    first = sorted(os.listdir(mnt.path))
    other = Mount(module_hub, module_workdir, name="mnt-second")
    try:
        assert sorted(os.listdir(other.path)) == first
    finally:
        other.stop()


def test_project_reachable_by_id_but_not_listed(module_hub, mnt):
    pid = main_project(module_hub)
    alias = os.path.join(mnt.path, pid)
    assert os.path.isdir(alias)
    assert pid not in os.listdir(mnt.path)
    with open(os.path.join(alias, "project.json")) as f:
        assert json.load(f)["_id"] == pid
    assert sorted(os.listdir(alias)) == sorted(os.listdir(os.path.join(mnt.path,
                                                                        "Street Scenes")))


def test_project_dir_layout(mnt):
    p = os.path.join(mnt.path, "Street Scenes")
    assert sorted(os.listdir(p)) == ["assets", "attachments", "changes", "datasets", "export",
                                     "labels", "project.json", "snapshots", "tasks"]
    assert sorted(os.listdir(os.path.join(p, "export"))) == [
        "batch", "issues.json", "stage", "tasks.json", "tasks.ndjson"]


def test_project_json_is_the_hubs_project_pretty_printed(module_hub, mnt):
    pid = main_project(module_hub)
    st, body = module_hub.api("GET", "/project/" + pid)
    assert st == 200
    path = os.path.join(mnt.path, "Street Scenes", "project.json")
    with open(path, "rb") as f:
        raw = f.read()
    assert raw.endswith(b"}\n")
    assert raw.startswith(b"{\n  \"")
    assert json.loads(raw) == body["data"]["project"]
    assert os.stat(path).st_size == len(raw)


def test_stage_and_batch_directories(module_hub, mnt):
    pid = main_project(module_hub)
    proj = module_hub.api("GET", "/project/" + pid)[1]["data"]["project"]
    exp = os.path.join(mnt.path, "Street Scenes", "export")
    stages = os.listdir(os.path.join(exp, "stage"))
    assert sorted(stages) == sorted(s["name"].replace("/", "_") for s in proj["stages"])
    batches = os.listdir(os.path.join(exp, "batch"))
    assert sorted(batches) == sorted(b["name"].replace("/", "_") for b in proj["batches"])
    for d in stages:
        assert sorted(os.listdir(os.path.join(exp, "stage", d))) == ["tasks.json",
                                                                     "tasks.ndjson"]
    # a stage is also reachable by its id (hidden alias)
    assert os.path.isdir(os.path.join(exp, "stage", REVIEW_ID))
    assert REVIEW_ID not in stages


@pytest.mark.parametrize("rel", [
    "no such project",
    "Street Scenes/nope",
    "Street Scenes/export/nope.json",
    "Street Scenes/export/stage/No Such Stage",
    "Street Scenes/export/batch/No Such Batch/tasks.json",
    "Street Scenes/export/stage/Review/issues.json",
    "Street Scenes/tasks/65a0000bffffffffffffffff",
    "Street Scenes/tasks/not-a-task-id",
    "Street Scenes/tasks/not-a-task-id/answer.json",
])
def test_unknown_names_are_enoent(mnt, rel):
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mnt.path, rel))


def test_listing_never_requests_an_export(module_hub, mnt):
    module_hub.reset_stats()
    for root, dirs, files in os.walk(os.path.join(mnt.path, "Street Scenes", "export")):
        for f in files:
            st = os.stat(os.path.join(root, f))
            assert st.st_mode & 0o777 == 0o444
    assert count(module_hub, EXPORT) == 0
    assert count(module_hub, DOWNLOAD) == 0


def test_status_file_is_json(mnt):
    with open(os.path.join(mnt.path, ".status")) as f:
        st = json.load(f)
    assert "exports" in st and "exports" in st["exports"]


def test_long_names_are_refused_cleanly(mnt):
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(mnt.path, "x" * 300))
    assert ei.value.errno in (errno.ENAMETOOLONG, errno.ENOENT)
