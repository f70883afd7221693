"""tasks/<id>/answer.json: every way people write files (echo >, cp, jq >,
Python open('w'), truncate-then-write, temp file + rename as editors and
sed -i do, vim), read-your-writes, what cat shows written back unchanged
(tools -> objects), exports stale after a write, nextStage."""
import errno
import json
import os
import shutil
import subprocess

import pytest

from test_write_common import (ANNOTATE, count, read, street, task_answer, weather_of, wmount,
                               write_file)  # noqa: F401 (fixture)


def pick_task(pdir, n=0):
    return sorted(os.listdir(os.path.join(pdir, "tasks")))[n]


def answer_with_weather(pdir, tid, weather):
    a = json.loads(read(os.path.join(pdir, "tasks", tid, "answer.json")))
    cls = [c for c in a.get("classifications", []) if c.get("schemaId") != "cWeath01"]
    cls.append({"schemaId": "cWeath01", "answer": weather})
    a["classifications"] = cls
    return a


def check_written(hub, pdir, tid, weather, before):
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    assert count(hub, ANNOTATE) == before + 1
    assert read(path + ".status").startswith("sent: answer saved")
    shown = json.loads(read(path))
    assert weather_of(shown) == weather  # read-your-writes through the mount
    assert "tools" in shown and "objects" not in shown
    assert weather_of(task_answer(hub, tid)) == weather


@pytest.mark.parametrize("how", ["echo", "cp", "jq", "python", "truncate_then_write",
                                 "temp_and_rename", "sed_i", "dd_notrunc_after_truncate"])
def test_ways_of_writing(hub, wmount, workdir, how):
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 3)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    new = answer_with_weather(pdir, tid, "Snow")
    text = json.dumps(new, indent=2)
    before = count(hub, ANNOTATE)
    if how == "echo":
        r = subprocess.run(["bash", "-c", 'echo "$1" > "$2"', "x", text, path], timeout=60)
        assert r.returncode == 0
    elif how == "cp":
        src = os.path.join(workdir, "a.json")
        open(src, "w").write(text)
        r = subprocess.run(["cp", src, path], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    elif how == "jq":
        r = subprocess.run(["bash", "-c", 'jq "$1" <<<"$2" > "$3"', "x",
                            '.classifications |= map(if .schemaId == "cWeath01" '
                            'then .answer = "Snow" else . end)', json.dumps(new), path],
                           timeout=60)
        assert r.returncode == 0
    elif how == "python":
        with open(path, "w") as f:
            json.dump(new, f)
    elif how == "truncate_then_write":
        os.truncate(path, 0)
        with open(path, "r+") as f:
            f.write(text)
    elif how == "temp_and_rename":
        tmp = os.path.join(pdir, "tasks", tid, ".answer.json.tmp123")
        with open(tmp, "w") as f:
            f.write(text)
        assert count(hub, ANNOTATE) == before  # temp files are not sent
        os.rename(tmp, path)
        assert not os.path.exists(tmp)
    elif how == "sed_i":
        old = weather_of(json.loads(read(path)))
        cur = json.loads(read(path))
        if old is None:  # give sed something to replace
            cur["classifications"] = cur.get("classifications", []) + [
                {"schemaId": "cWeath01", "answer": "Sunny"}]
            assert write_file(path, json.dumps(cur, indent=2)) is None
            before = count(hub, ANNOTATE)
            old = "Sunny"
        r = subprocess.run(["sed", "-i", 's/"%s"/"Snow"/' % old, path], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    else:
        os.truncate(path, 0)
        r = subprocess.run(["dd", "of=" + path, "conv=notrunc", "status=none"],
                           input=text.encode(), timeout=60)
        assert r.returncode == 0
    check_written(hub, pdir, tid, "Snow", before)
    # nothing left behind in the task directory
    assert sorted(os.listdir(os.path.join(pdir, "tasks", tid))) == [
        "answer.json", "answer.json.status", "task.json"]


def test_python_shutil_copy_keeps_working(hub, wmount, workdir):
    """shutil.copy (and cp -p) also copy the mode bits: chmod on a write-side file
    must not fail the copy."""
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 2)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    src = os.path.join(workdir, "a.json")
    with open(src, "w") as f:
        json.dump(answer_with_weather(pdir, tid, "Cloudy"), f)
    before = count(hub, ANNOTATE)
    shutil.copy(src, path)
    check_written(hub, pdir, tid, "Cloudy", before)


def test_vim_edit(hub, wmount):
    if not shutil.which("vim"):
        pytest.skip("vim not installed")
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 4)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    cur = answer_with_weather(pdir, tid, "Cloudy")
    assert write_file(path, json.dumps(cur, indent=2)) is None
    before = count(hub, ANNOTATE)
    r = subprocess.run(["vim", "-u", "NONE", "-N", "-es", "-c", '%s/"Cloudy"/"Rain"/', "-c", "wq",
                        path], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    check_written(hub, pdir, tid, "Rain", before)


def test_cat_output_written_back_unchanged(hub, wmount):
    pid, pdir = street(hub, wmount)
    for n in range(0, 40, 7):
        tid = pick_task(pdir, n)
        path = os.path.join(pdir, "tasks", tid, "answer.json")
        shown = read(path)
        before = task_answer(hub, tid)
        assert write_file(path, shown) is None, read(path + ".status")
        assert task_answer(hub, tid) == before


def test_answer_wrapper_and_objects_key(hub, wmount):
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 5)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    body = {"answer": {"objects": [{"schemaId": "tRoad001", "polygon": [[0, 0], [9, 0], [9, 9]]}],
                       "classifications": [{"schemaId": "cWeath01", "answer": "Cloudy"}]}}
    assert write_file(path, json.dumps(body)) is None
    shown = json.loads(read(path))
    assert [t["schemaId"] for t in shown["tools"]] == ["tRoad001"]
    assert weather_of(shown) == "Cloudy"


def test_export_is_stale_after_a_write(hub, wmount):
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 6)
    recs = json.load(open(os.path.join(pdir, "export", "tasks.json")))
    rec = [r for r in recs if r["task"]["taskId"] == tid][0]
    new = "Rain" if weather_of(rec["task"]) != "Rain" else "Sunny"
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    assert write_file(path, json.dumps(answer_with_weather(pdir, tid, new))) is None
    recs = json.load(open(os.path.join(pdir, "export", "tasks.json")))
    rec = [r for r in recs if r["task"]["taskId"] == tid][0]
    assert weather_of(rec["task"]) == new


def test_next_stage_file(hub, wmount):
    pid, pdir = street(hub, wmount)
    st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"stage": "Label", "limit": 1})
    tid = body["data"]["tasks"][0]["_id"]
    path = os.path.join(pdir, "tasks", tid, "answer.next.json")
    ans = {"tools": [], "classifications": [{"schemaId": "cWeath01", "answer": "Sunny"}],
           "relations": []}
    assert write_file(path, json.dumps(ans)) is None
    assert "submitted to its next stage" in read(path + ".status")
    st, body = hub.api("GET", "/task/" + tid)
    assert body["data"]["task"]["stage"] != "Label"
    assert not os.path.exists(path)  # sent: only its status stays


def test_next_stage_mount_option(hub, workdir):
    from conftest import Mount
    from test_write_common import WENV
    m = Mount(hub, workdir, opts=("rate_limit=0", "next_stage=1"), env=WENV)
    try:
        pid, pdir = street(hub, m)
        st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"stage": "Label", "limit": 1})
        tid = body["data"]["tasks"][0]["_id"]
        path = os.path.join(pdir, "tasks", tid, "answer.json")
        assert write_file(path, json.dumps({"classifications": [
            {"schemaId": "cWeath01", "answer": "Rain"}]})) is None
        assert hub.api("GET", "/task/" + tid)[1]["data"]["task"]["stage"] != "Label"
    finally:
        m.stop()


def test_refused_answer_is_kept_and_can_be_discarded(hub, wmount):
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 8)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    original = read(path)
    before = count(hub, ANNOTATE)
    bad = '{"tools": [{"schemaId": "nope", "point": [1, 2]}]}'
    e = write_file(path, bad)
    assert e is not None and e.errno == errno.EINVAL
    assert count(hub, ANNOTATE) == before
    assert "unknown schemaId 'nope'" in read(path + ".status")
    assert read(path) == bad  # what was written is not lost
    os.unlink(path)  # discard the draft: the hub's answer shows again
    assert read(path) == original


def test_bad_answer_inputs(hub, wmount):
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 9)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    before = count(hub, ANNOTATE)
    for text, msg in [("", "empty"), ("{\"tools\": [", "line 1, column"),
                      ("[]", "one JSON object (the answer), not a JSON array"),
                      ("{} {}", "one JSON object"), ("\x00\x01", "binary"),
                      ('{"tools": [], "objects": []}', "both"),
                      ('{"classifications": [{"schemaId": "cWeath01", "answer": 3}]}',
                       "must be a string")]:
        e = write_file(path, text)
        assert e is not None and e.errno == errno.EINVAL, text
        assert msg in read(path + ".status"), (text, read(path + ".status"))
    assert count(hub, ANNOTATE) == before
    os.unlink(path)


def test_dup_descriptors_upload_once_and_report_twice(hub, wmount):
    """Every close() of a dup'ed descriptor flushes: the first uploads, later
    ones upload nothing new and report the same outcome."""
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 10)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    before = count(hub, ANNOTATE)
    text = json.dumps(answer_with_weather(pdir, tid, "Rain")).encode()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    fd2 = os.dup(fd)
    os.write(fd, text)
    os.close(fd2)
    os.close(fd)
    assert count(hub, ANNOTATE) == before + 1
    # a refused write: both closes say so, nothing is sent
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    fd2 = os.dup(fd)
    os.write(fd, b'{"tools": [{"schemaId": "nope", "point": [1, 2]}]}')
    for d in (fd2, fd):
        with pytest.raises(OSError) as ei:
            os.close(d)
        assert ei.value.errno == errno.EINVAL
    assert count(hub, ANNOTATE) == before + 1
    os.unlink(path)


def test_rename_of_a_closed_temp_file_sends_it_before_rename_returns(hub, wmount):
    """sed -i and perl -pi close their temp file and rename it over answer.json
    at once; the kernel sends the temp file's RELEASE after close() returned,
    so the rename may arrive first. The rename still sends the answer and
    returns the outcome (the tools matrix counted right after the tool and
    sometimes saw nothing yet). A process that still holds the temp file's
    descriptor without writing (here: a child that inherited it, so no RELEASE
    comes at all) and a reader of it change nothing either; a writer still at
    work defers the upload to its close()."""
    pid, pdir = street(hub, wmount)
    tid = pick_task(pdir, 11)
    tdir = os.path.join(pdir, "tasks", tid)
    path = os.path.join(tdir, "answer.json")
    for i, weather in enumerate(("Snow", "Rain")):
        before = count(hub, ANNOTATE)
        tmp = os.path.join(tdir, "sedAb%d9Zq" % i)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.write(fd, json.dumps(answer_with_weather(pdir, tid, weather)).encode())
        holder = subprocess.Popen(["sleep", "60"], pass_fds=(fd,))
        reader = os.open(tmp, os.O_RDONLY)
        try:
            os.close(fd)  # FLUSH; the child keeps the open file: no RELEASE
            os.rename(tmp, path)
            assert count(hub, ANNOTATE) == before + 1
            assert read(path + ".status").startswith("sent: answer saved")
            assert weather_of(task_answer(hub, tid)) == weather
        finally:
            os.close(reader)
            holder.kill()
            holder.wait()
    # a writer still at work: the rename does not send half a file, its close does
    before = count(hub, ANNOTATE)
    tmp = os.path.join(tdir, "sedAb29Zq")
    with open(tmp, "w") as f:
        f.write(json.dumps(answer_with_weather(pdir, tid, "Cloudy")))
        f.flush()
        os.rename(tmp, path)
        assert count(hub, ANNOTATE) == before
    assert count(hub, ANNOTATE) == before + 1
    assert weather_of(task_answer(hub, tid)) == "Cloudy"
