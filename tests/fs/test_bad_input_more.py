"""More of the bad-input corpus (issue 6 item 3): answer.json inputs from
tests/inputs/answer/ (expectations in its expected.json), and generated inputs
too big for the repo - a huge single line (~6 MB, truncated) and deep nesting -
for labels/, attachments/ and answer.json. The labels/ and attachments/ files
of tests/inputs/ run in test_write_errors.py.

Each input: close() fails with EINVAL, <file>.status says why (line/column
where there is one), nothing reaches the hub (request counters), nothing is
lost (the written bytes stay readable until removed), and removing the draft of
answer.json shows the hub's answer again.
"""
import errno
import json
import os

import pytest

from test_write_common import (ANNOTATE, ATTACH, IMPORT, count, read, street,  # noqa: F401
                               wshared)
from test_write_common import write_file as write_bytes  # open/write/close: None or OSError

INPUTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "inputs",
                      "answer")
with open(os.path.join(INPUTS, "expected.json")) as _f:
    EXPECTED = json.load(_f)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def task_dir(pdir, name):
    """A task per input name (stable), so drafts of different inputs never meet."""
    tids = sorted(os.listdir(os.path.join(pdir, "tasks")))
    return os.path.join(pdir, "tasks", tids[30 + sum(map(ord, name)) % 150])


def check_refused_answer(hub, pdir, name, data, message):
    path = os.path.join(task_dir(pdir, name), "answer.json")
    original = read_bytes(path)
    before = count(hub, ANNOTATE)
    e = write_bytes(path, data)
    assert e is not None and e.errno == errno.EINVAL, (name, e)
    st = read(path + ".status")
    assert st.startswith("failed: answer.json: "), st
    assert message in st, st
    assert count(hub, ANNOTATE) == before  # nothing sent
    assert read_bytes(path) == data  # nothing lost
    os.unlink(path)  # discard the draft: the hub's answer shows again
    assert read_bytes(path) == original


def check_refused_file(hub, pdir, box, name, data, message):
    route = IMPORT if box == "labels" else ATTACH
    dst = os.path.join(pdir, box, name)
    before = count(hub, route)
    e = write_bytes(dst, data)
    assert e is not None and e.errno == errno.EINVAL, (name, e)
    st = read(dst + ".status")
    assert st.startswith("failed: "), st
    assert message in st, st
    assert count(hub, route) == before
    assert read_bytes(dst) == data
    os.unlink(dst)
    assert name not in os.listdir(os.path.join(pdir, box))
    return st


def test_answer_corpus_size():
    assert len(EXPECTED) >= 10
    for name in EXPECTED:
        assert os.path.exists(os.path.join(INPUTS, name)), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_answer_json_is_refused_before_sending(wshared, name):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    exp = EXPECTED[name]
    assert exp["errno"] == "EINVAL"
    check_refused_answer(hub, pdir, name, read_bytes(os.path.join(INPUTS, name)),
                         exp["message"])


def label_item(i):
    return {"externalId": "street_%04d.jpg" % (i % 240),
            "objects": [{"schemaId": "tCar0001",
                         "bounding-box": {"x": 1, "y": 2, "width": 3, "height": 4}}],
            "classifications": [{"schemaId": "cWeath01", "answer": "Rain"}]}


def huge_line(box):
    if box == "labels":
        items = [label_item(i) for i in range(30000)]
    else:
        items = [{"externalId": "street_%04d.jpg" % (i % 240), "type": "IMAGE",
                  "attachmentUrl": "https://example.com/a/%d.png" % i} for i in range(50000)]
    text = json.dumps(items)
    assert "\n" not in text and len(text) > 4000000
    return text[:-3].encode()  # cut inside the last item: truncated upload


@pytest.mark.parametrize("box", ["labels", "attachments"])
def test_huge_single_line_truncated(wshared, box):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    data = huge_line(box)
    st = check_refused_file(hub, pdir, box, "huge-line.json", data, "line 1, column ")
    assert "end of file" in st, st


@pytest.mark.parametrize("box", ["labels", "attachments"])
@pytest.mark.parametrize("depth", [600, 100000])
def test_deeply_nested(wshared, box, depth):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    data = ("[" * depth + "]" * depth).encode()
    check_refused_file(hub, pdir, box, "deep-%d.json" % depth, data, "JSON nested too deeply")
    inner = ('[{"externalId": "street_0001.jpg", "objects": [' + '{"a":' * depth + "1"
             + "}" * depth + "]}]").encode()
    check_refused_file(hub, pdir, box, "deep-item-%d.json" % depth, inner,
                       "JSON nested too deeply")


def test_answer_huge_single_line_and_deep(wshared):
    hub, mount = wshared
    pid, pdir = street(hub, mount)
    big = json.dumps({"tools": [], "classifications": [], "relations": [],
                      "note": "x" * 5000000})[:-2].encode()
    check_refused_answer(hub, pdir, "huge", big, "unexpected end of file inside a string")
    deep = ('{"tools": [' + "[" * 100000 + "]" * 100000 + "]}").encode()
    check_refused_answer(hub, pdir, "deep", deep, "JSON nested too deeply")
