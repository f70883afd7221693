"""Cells of the tool conformance pack: the registry (`cell` decorator, table
order) and the helpers the cells share (targets, what the hub must have got).
The cells themselves are in cells_read.py (reading, and writes refused on
read-only files) and cells_write.py (answer.json and the drop boxes)."""
import json
import os

from toolpack import (ANNOTATE, ATTACH, IMPORT, answer_doc, answer_width,
                      attach_doc, label_doc, run, works)

CELLS = []  # [(tool, kind)] in table order
FUNCS = {}


def cell(tool, kinds):
    def deco(fn):
        for k in kinds:
            assert (tool, k) not in FUNCS, "two cells for %s on %s" % (tool, k)
            CELLS.append((tool, k))
            FUNCS[(tool, k)] = fn
        return fn
    return deco


def canon(path):
    with open(path, "rb") as f:
        return f.read()


def ro_target(env, kind):
    p = env.path(kind)
    canon(p)  # read once: exports are materialized, sizes are true
    return p


def answer_target(env):
    tid, tdir = env.fresh_task()
    return tid, os.path.join(tdir, "answer.json")


def check_answer(env, before, tid, width, note=""):
    sent = env.sent_since(before)
    assert sent == {ANNOTATE: 1}, "expected exactly one annotate, got %s" % sent
    assert answer_width(env.hub_answer(tid)) == width
    return works(note)


def local_answer(env, width):
    p = env.lpath(env.uniq("answer") + ".json")
    with open(p, "w") as f:
        json.dump(answer_doc(width), f)
    return p


def box_doc(kind, i, weather="Rain"):
    return label_doc(i, weather) if kind == "labels/" else attach_doc(i)


def box_route(kind):
    return IMPORT if kind == "labels/" else ATTACH


def local_box_file(env, kind, weather="Rain"):
    name = env.uniq("drop") + ".json"
    p = env.lpath(name)
    with open(p, "w") as f:
        json.dump(box_doc(kind, env.n % 200 + 1, weather), f)
    return name, p


def check_box(env, before, kind, name, n=1, note=""):
    sent = env.sent_since(before)
    assert sent == {box_route(kind): n}, "expected %d upload(s), got %s" % (n, sent)
    status = canon(os.path.join(env.pdir, kind, name + ".status")).decode()
    assert status.startswith("sent"), status
    return works(note)


# A refused drop-box file holds BAD[kind]; replacing it with GOOD[kind] fixes it.
BAD = {"labels/": "Foggy", "attachments/": "attachmentUrx"}
GOOD = {"labels/": "Rain", "attachments/": "attachmentUrl"}
JQ_FIX = {"labels/": '.[0].classifications[0].answer = "Rain"',
          "attachments/": '.[0].attachmentUrl = .[0].attachmentUrx | del(.[0].attachmentUrx)'}


def failed_box_file(env, kind):
    """A drop-box file refused by the local checks, kept there to be fixed in place."""
    name, p = local_box_file(env, kind, weather="Foggy")
    if kind == "attachments/":
        with open(p, "w") as f:
            json.dump([{"externalId": "street_0003.jpg",
                        "attachmentUrx": "https://files.example/3.pdf", "type": "PDF"}], f)
    dst = os.path.join(env.pdir, kind, name)
    r = run(["cp", p, dst])
    assert r.returncode != 0 and b"Invalid argument" in r.stderr
    return name, dst
