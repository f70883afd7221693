"""Refusals where the writer looks: every file of the bad-input corpus
(tests/inputs/, expectations in expected.json) fails close() with EINVAL, its
<file>.status names the problem, nothing reaches the hub, and nothing is lost
(the bytes stay readable in the drop box until fixed or removed). Hub refusals
map to fitting errnos, with the hub's own message readable."""
import errno
import json
import os
import shutil
import subprocess

import pytest

from test_write_common import (ATTACH, IMPORT, count, label_item, read, street, street_ext,
                               wmount, write_file, wshared)  # noqa: F401 (fixtures)

INPUTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs")
with open(os.path.join(INPUTS, "expected.json")) as _f:
    EXPECTED = json.load(_f)


def test_corpus_is_big_enough():
    assert len(EXPECTED) >= 25
    for name in EXPECTED:
        assert os.path.exists(os.path.join(INPUTS, name)), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input_is_refused_before_sending(wshared, name):
    hub, mount = wshared
    exp = EXPECTED[name]
    pid, pdir = street(hub, mount)
    route = IMPORT if exp["box"] == "labels" else ATTACH
    before = count(hub, route)
    src = os.path.join(INPUTS, name)
    dst = os.path.join(pdir, exp["box"], name)
    with pytest.raises(OSError) as ei:
        shutil.copyfile(src, dst)
    assert ei.value.errno == getattr(errno, exp["errno"]), ei.value
    status = read(dst + ".status")
    assert status.startswith("failed: "), status
    assert exp["message"] in status, status
    assert count(hub, route) == before  # nothing sent
    # nothing lost: the bytes are still there, listed, readable
    assert name in os.listdir(os.path.join(pdir, exp["box"]))
    with open(dst, "rb") as f, open(src, "rb") as g:
        assert f.read() == g.read()
    # the mount's log names the problem too
    assert exp["message"].split("'")[0][:20] in mount.log_text()
    os.unlink(dst)
    assert name not in os.listdir(os.path.join(pdir, exp["box"]))


def test_error_names_line_and_column_through_cp(wshared, workdir):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    src = os.path.join(workdir, "bad.ndjson")
    with open(src, "w") as f:
        f.write(json.dumps(label_item(street_ext(1))) + "\n")
        f.write('{"externalId": "street_0002.jpg", "objects": [}\n')
    r = subprocess.run(["cp", src, os.path.join(pdir, "labels/")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert "Invalid argument" in r.stderr
    st = read(os.path.join(pdir, "labels", "bad.ndjson.status"))
    assert "line 2, column 47" in st, st
    os.unlink(os.path.join(pdir, "labels", "bad.ndjson"))


def test_fixed_file_recopied_replaces_the_failed_one(wshared):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    dst = os.path.join(pdir, "labels", "fixme.json")
    bad = [label_item(street_ext(2)), dict(label_item(street_ext(3)), classifications=[
        {"schemaId": "cWeath01", "answer": "Hail"}])]
    e = write_file(dst, json.dumps(bad))
    assert e is not None and e.errno == errno.EINVAL
    assert "line 1 (item 2)" in read(dst + ".status")
    before = count(hub, IMPORT)
    bad[1]["classifications"][0]["answer"] = "Snow"
    assert write_file(dst, json.dumps(bad)) is None
    assert read(dst + ".status").startswith("sent: ")
    assert count(hub, IMPORT) == before + 1
    assert "fixme.json" not in os.listdir(os.path.join(pdir, "labels"))


@pytest.mark.parametrize("status,err", [(400, errno.EINVAL), (401, errno.EACCES),
                                        (403, errno.EACCES), (404, errno.ENOENT),
                                        (413, errno.EFBIG)])
def test_hub_refusal_errno_and_message(hub, wmount, status, err):
    mount = wmount
    pid, pdir = street(hub, mount)
    msg = "refused for the test (%d)" % status
    hub.fault(route="POST /v2/import/labels", status=status, message=msg, count=1)
    dst = os.path.join(pdir, "labels", "r%d.json" % status)
    e = write_file(dst, json.dumps([label_item(street_ext(7))]))
    assert e is not None and e.errno == err, e
    st = read(dst + ".status")
    assert st.startswith("failed: refused by the hub (HTTP %d): " % status), st
    assert msg in st
    assert msg in mount.log_text()
    # still there; re-copy once the hub accepts sends it
    assert write_file(dst, json.dumps([label_item(street_ext(7))])) is None
    assert read(dst + ".status").startswith("sent: ")


def test_answer_refusal_errno_and_message(hub, wmount):
    pid, pdir = street(hub, wmount)
    tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[0]
    hub.fault(route="POST /v2/annotate/{id}", status=403, message="not your task", count=1)
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    e = write_file(path, json.dumps({"tools": [], "classifications": [], "relations": []}))
    assert e is not None and e.errno == errno.EACCES
    assert "not your task" in read(path + ".status")


def test_status_files_are_read_only(wshared):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    dst = os.path.join(pdir, "labels", "ro.json")
    write_file(dst, "[1]")
    with pytest.raises(OSError) as ei:
        open(dst + ".status", "w")
    assert ei.value.errno in (errno.EACCES, errno.EPERM)
    with pytest.raises(OSError) as ei:
        os.unlink(dst + ".status")
    assert ei.value.errno == errno.EPERM
    os.unlink(dst)
