"""Read side: tasks/ (issue 3, deliverable 4): listing, task.json and
answer.json, reads without listing, unknown tasks."""
import errno
import json
import os
import subprocess

import pytest

from test_read_common import all_tasks, count, main_project, project_by_name, read, street_dir

TASKS = "GET /v2/project/{id}/tasks"
TASK = "GET /v2/task/{id}"


def test_answer_and_task_read_without_listing(hub, mount):
    pid, p = street_dir(mount, hub)
    t = all_tasks(hub, pid, stage="Complete")[0]
    hub.reset_stats()
    raw = read(os.path.join(p, "tasks", t["_id"], "answer.json"))
    task_raw = read(os.path.join(p, "tasks", t["_id"], "task.json"))
    # no listing of tasks/ was needed, and one GET /task served both files
    assert count(hub, TASKS) == 0
    assert count(hub, TASK) == 1
    st, body = hub.api("GET", "/task/%s" % t["_id"], query={"includeAnswer": "true"})
    assert st == 200
    stored = body["data"]["task"]
    assert json.loads(raw) == stored["answer"]
    assert raw.endswith(b"\n") and raw.startswith(b"{\n  \"")
    assert "tools" in json.loads(raw)
    assert json.loads(task_raw) == stored
    st_ = os.stat(os.path.join(p, "tasks", t["_id"], "answer.json"))
    assert st_.st_size == len(raw)


def test_tasks_listing_matches_the_hub(hub, mount):
    pid, p = street_dir(mount, hub)
    ids = {t["_id"] for t in all_tasks(hub, pid)}
    hub.reset_stats()
    out = subprocess.run(["ls", "-l", os.path.join(p, "tasks")], check=True, timeout=120,
                         capture_output=True, text=True).stdout
    names = set(os.listdir(os.path.join(p, "tasks")))
    assert names == ids
    assert sum(1 for line in out.splitlines() if line.startswith("d")) == len(ids)
    # a small project is paged (3 pages of 100), and nothing per task
    assert count(hub, TASKS) == (len(ids) + 99) // 100
    assert count(hub, TASK) == 0
    assert count(hub, "GET /v2/export") == 0
    # the pages also filled the task cache: reading answers costs nothing more
    for tid in sorted(ids)[:20]:
        json.loads(read(os.path.join(p, "tasks", tid, "answer.json")))
    assert count(hub, TASK) == 0
    assert sorted(os.listdir(os.path.join(p, "tasks", sorted(ids)[0]))) == [
        "answer.json", "task.json"]


@pytest.mark.parametrize("tid", ["65a0000bffffffffffffffff", "nonsense", ".hidden"])
def test_unknown_tasks_are_enoent(hub, mount, tid):
    _, p = street_dir(mount, hub)
    for rel in (tid, tid + "/task.json", tid + "/answer.json"):
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(p, "tasks", rel))
    with pytest.raises(FileNotFoundError):
        read(os.path.join(p, "tasks", tid, "answer.json"))


def test_task_of_another_project_is_enoent(hub, mount):
    other = project_by_name(hub, "Cars / Trucks")
    ts = all_tasks(hub, other)
    assert ts
    _, p = street_dir(mount, hub)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(p, "tasks", ts[0]["_id"]))
    # ... but it is there under its own project
    assert os.path.isdir(os.path.join(mount.path, "Cars _ Trucks", "tasks", ts[0]["_id"]))


def test_task_files_are_read_only_except_answer(hub, mount):
    pid, p = street_dir(mount, hub)
    t = all_tasks(hub, pid)[0]
    d = os.path.join(p, "tasks", t["_id"])
    assert os.stat(os.path.join(d, "task.json")).st_mode & 0o777 == 0o444
    assert os.stat(os.path.join(d, "answer.json")).st_mode & 0o777 == 0o644
    with pytest.raises(PermissionError) as ei:
        open(os.path.join(d, "task.json"), "w")
    assert ei.value.errno == errno.EACCES


def test_chmod_is_a_no_op_on_answer_json_only(hub, mount):
    pid, p = street_dir(mount, hub)
    t = all_tasks(hub, pid)[0]
    d = os.path.join(p, "tasks", t["_id"])
    os.chmod(os.path.join(d, "answer.json"), 0o600)  # cp -p / shutil.copy do this
    assert os.stat(os.path.join(d, "answer.json")).st_mode & 0o777 == 0o644
    with pytest.raises(PermissionError) as ei:
        os.chmod(os.path.join(d, "task.json"), 0o600)
    assert ei.value.errno == errno.EPERM
