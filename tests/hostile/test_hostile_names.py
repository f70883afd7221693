"""Hostile server data, part 1 (issue 6, item 4): names and documents from
`angofs-hub --seed hostile` (docs/HUB.md). Project, stage and batch names with
'/', '..', '.', '', control characters, an embedded NUL, 10,000 characters,
collisions after sanitizing and the reserved '.status' all become valid,
distinct, stable directory names; each project stays reachable by its id; its
project.json shows the server's true name; a 1 MiB description and a
1,000-deep nested value are served intact."""
import json
import os
import sys

import pytest

from conftest import Hub, Mount

sys.setrecursionlimit(20000)  # the 1,000-deep document

HOSTILE = ["slash/in/name", "..", ".", "", "tab\there\nnewline\x01\x1b[31mred\x7f",
           "nul\x00byte", "L" * 10000, "L" * 9999 + "M", "a/b", "a_b", ".status",
           "\u00dcn\u00efc\u00f8d\u00e9 \U0001f697", "Hostile Stages", "Hostile Deep"]


@pytest.fixture(scope="module")
def hmount(module_workdir):
    hub = Hub(module_workdir, seeds=("hostile",))
    m = Mount(hub, module_workdir, opts=["rate_limit=0"])
    yield hub, m
    m.stop()
    hub.stop()


def valid_entry(name):
    b = name.encode("utf-8", "surrogateescape")
    return (0 < len(b) <= 255 and "/" not in name and name not in (".", "..")
            and not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in name))


def projects_by_dir(m):
    out = {}
    for name in os.listdir(m.path):
        if name == ".status":
            continue
        with open(os.path.join(m.path, name, "project.json")) as f:
            out[name] = json.load(f)
    return out


def test_every_hostile_project_gets_a_valid_distinct_name(hmount):
    hub, m = hmount
    names = os.listdir(m.path)
    assert all(valid_entry(n) for n in names), [n for n in names if not valid_entry(n)]
    assert len(names) == len(set(names))
    docs = projects_by_dir(m)
    assert sorted(d["name"] for d in docs.values()) == sorted(HOSTILE)
    assert len({d["_id"] for d in docs.values()}) == len(HOSTILE)
    # '.status' at the root stays the status file, the project got another name
    with open(os.path.join(m.path, ".status")) as f:
        assert "exports" in json.load(f)
    assert any(d["name"] == ".status" for n, d in docs.items() if n != ".status")
    # the two 10k names: cut to <= 255 bytes and still told apart
    longs = [n for n, d in docs.items() if d["name"].startswith("LLLL")]
    assert len(longs) == 2 and all(len(n.encode()) <= 255 for n in longs)
    # names that collide once sanitized are both there
    assert sum(1 for d in docs.values() if d["name"] in ("a/b", "a_b")) == 2


def test_names_are_stable_across_remounts_and_ids_work(hmount, module_workdir):
    hub, m = hmount
    first = {d["_id"]: n for n, d in projects_by_dir(m).items()}
    m2 = Mount(hub, module_workdir, opts=["rate_limit=0"], name="mnt2")
    try:
        again = {d["_id"]: n for n, d in projects_by_dir(m2).items()}
    finally:
        m2.stop()
    assert first == again
    for pid, dname in first.items():
        with open(os.path.join(m.path, pid, "project.json")) as f:
            assert json.load(f)["_id"] == pid  # reachable by id as well


def test_tasks_and_exports_of_hostile_projects_work(hmount):
    hub, m = hmount
    for dname, doc in projects_by_dir(m).items():
        p = os.path.join(m.path, dname)
        tasks = os.listdir(os.path.join(p, "tasks"))
        assert len(tasks) == 2, dname
        for t in tasks:
            with open(os.path.join(p, "tasks", t, "task.json")) as f:
                assert json.load(f)["_id"] == t
        if doc["name"] in ("..", "nul\x00byte", "Hostile Stages"):
            with open(os.path.join(p, "export", "tasks.ndjson")) as f:
                recs = [json.loads(x) for x in f if x.strip()]
            assert sorted(r["externalId"] for r in recs) == ["../../etc/passwd",
                                                            "plain_0001.jpg"]


def test_hostile_stage_and_batch_names(hmount):
    hub, m = hmount
    docs = projects_by_dir(m)
    dname = [n for n, d in docs.items() if d["name"] == "Hostile Stages"][0]
    p = os.path.join(m.path, dname, "export")
    for kind in ("stage", "batch"):
        subs = os.listdir(os.path.join(p, kind))
        assert subs and all(valid_entry(s) for s in subs), subs
        assert len(subs) == len(set(subs))
        for s in subs:
            assert sorted(os.listdir(os.path.join(p, kind, s))) == ["tasks.json",
                                                                  "tasks.ndjson"]
    stages = os.listdir(os.path.join(p, "stage"))
    assert len(stages) == len(docs[dname]["stages"])
    # the stage holding the tasks ('Label' id, hostile name '..') exports them
    label = [s for s in stages if s.startswith("_")]
    got = 0
    for s in stages:
        with open(os.path.join(p, "stage", s, "tasks.ndjson")) as f:
            got += sum(1 for x in f if x.strip())
    assert got == 2, (stages, label)


def test_big_and_deep_project_document(hmount):
    hub, m = hmount
    docs = projects_by_dir(m)
    dname = [n for n, d in docs.items() if d["name"] == "Hostile Deep"][0]
    d = docs[dname]
    assert len(d["description"]) == 1 << 20
    depth, v = 0, d["deep"]
    while isinstance(v, list) and v and isinstance(v[0], list):
        v = v[0]
        depth += 1
    assert depth == 999 and v == ["bottom"]
    assert os.stat(os.path.join(m.path, dname, "project.json")).st_size > 1 << 20


def test_hostile_seed_is_idempotent_and_listed_by_the_hub(hmount):
    hub, m = hmount
    st, body = hub.api("GET", "/listProjects", query={"limit": 100})
    assert st == 200 and body["data"]["total"] == len(HOSTILE)
    assert sorted(p["name"] for p in body["data"]["projects"]) == sorted(HOSTILE)
    hub.stop()
    hub.start()  # seeds again: nothing is added twice
    st, again = hub.api("GET", "/listProjects", query={"limit": 100})
    assert again["data"]["total"] == len(HOSTILE)
    assert {p["_id"] for p in again["data"]["projects"]} == \
        {p["_id"] for p in body["data"]["projects"]}
