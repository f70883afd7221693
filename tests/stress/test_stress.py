"""Concurrency stress: parallel readers and writers on one mount for a bounded
time (ANGOFS_STRESS_S seconds, default 15), against the real local hub.

Readers walk the tree (ls of root, project, tasks/, stage and batch dirs), read
project.json, task.json, answer.json, .status and whole export files, and now
and then touch an export so it is refetched while others read it. Writers drop
label files into labels/ and rewrite answer.json of tasks only they own. At
the end every write that close() accepted must have reached the hub exactly as
written (request counters and the tasks' answers), no reader saw an error, the
mount still answers, and the daemon stops cleanly (conftest fails the test on
any sanitizer report in its log). scripts/sanitize.sh runs this file against
a TSan build; the normal suite runs it against the plain build.
"""
import json
import os
import random
import threading
import time

import pytest

from conftest import Mount
from test_write_common import (ANNOTATE, IMPORT, WENV, WOPTS, count, label_item,
                               project_dir, street, street_ext, task_answer, task_by_ext,
                               weather_of, write_file)

DURATION = float(os.environ.get("ANGOFS_STRESS_S", "15"))
READERS = 4
WRITERS = 2
WEATHERS = ["Rain", "Snow", "Sunny", "Cloudy"]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def reader(pdir, tids, stop, errors, stats, seed):
    rnd = random.Random(seed)
    root = os.path.dirname(pdir)
    while not stop.is_set():
        try:
            op = rnd.randrange(8)
            if op == 0:
                os.listdir(root)
                os.listdir(pdir)
            elif op == 1:
                json.loads(read_bytes(os.path.join(pdir, "project.json")))
            elif op == 2:
                names = os.listdir(os.path.join(pdir, "tasks"))
                assert set(tids) <= set(names), len(names)
            elif op == 3:
                tid = rnd.choice(tids)
                json.loads(read_bytes(os.path.join(pdir, "tasks", tid, "task.json")))
                json.loads(read_bytes(os.path.join(pdir, "tasks", tid, "answer.json")))
            elif op == 4:
                data = read_bytes(os.path.join(pdir, "export", "tasks.json"))
                assert isinstance(json.loads(data), list)
            elif op == 5:
                data = read_bytes(os.path.join(pdir, "export", "tasks.ndjson"))
                for line in data.splitlines():
                    if line.strip():
                        json.loads(line)
            elif op == 6:
                json.loads(read_bytes(os.path.join(root, ".status")))
                for sub in ("stage", "batch"):
                    d = os.path.join(pdir, "export", sub)
                    for n in os.listdir(d)[:2]:
                        os.listdir(os.path.join(d, n))
            else:
                os.utime(os.path.join(pdir, "export", "tasks.ndjson"))
            stats[op] = stats.get(op, 0) + 1
        except Exception as e:  # noqa: BLE001 - every failure is reported
            errors.append("reader op %d: %r" % (op, e))
            return


def writer(wid, pdir, exts, tids, stop, errors, done):
    """Alternate a label file (one item, one of this writer's assets) and an
    answer.json rewrite (one of this writer's tasks); remember what close() accepted."""
    n = 0
    while not stop.is_set():
        weather = WEATHERS[n % len(WEATHERS)]
        try:
            if n % 2 == 0:
                ext = exts[(n // 2) % len(exts)]
                path = os.path.join(pdir, "labels", "w%d-%d.json" % (wid, n))
                e = write_file(path, json.dumps([label_item(ext, weather)]))
                if e is not None:
                    raise e
                done["labels"].append((ext, weather))
            else:
                tid = tids[(n // 2) % len(tids)]
                path = os.path.join(pdir, "tasks", tid, "answer.json")
                a = json.loads(read_bytes(path))
                cls = [c for c in a.get("classifications", []) if c.get("schemaId") != "cWeath01"]
                a["classifications"] = cls + [{"schemaId": "cWeath01", "answer": weather}]
                e = write_file(path, json.dumps(a))
                if e is not None:
                    raise e
                done["answers"].append((tid, weather))
        except Exception as e:  # noqa: BLE001
            try:
                st = read_bytes(path + ".status").decode("utf-8", "replace")
            except OSError as e2:
                st = "(no status: %r)" % e2
            errors.append("writer %d step %d: %r; %s: %s" % (wid, n, e, path, st))
            return
        n += 1


@pytest.mark.slow
def test_parallel_readers_and_writers(hub, workdir):
    m = Mount(hub, workdir, opts=WOPTS, env=WENV)
    try:
        pid, pdir = street(hub, m)
        tids_all = sorted(os.listdir(os.path.join(pdir, "tasks")))
        assert len(tids_all) >= 40
        # writer w owns label assets street_{w}0..{w}4 and answer tasks distinct from those
        exts = [[street_ext(100 + 10 * w + i) for i in range(5)] for w in range(WRITERS)]
        ext_tids = {task_by_ext(hub, pid, e)["_id"] for es in exts for e in es}
        free = [t for t in tids_all if t not in ext_tids]
        owned = [free[w * 5:(w + 1) * 5] for w in range(WRITERS)]
        imports0, annotates0 = count(hub, IMPORT), count(hub, ANNOTATE)

        stop = threading.Event()
        errors, rstats = [], [{} for _ in range(READERS)]
        done = [{"labels": [], "answers": []} for _ in range(WRITERS)]
        # answer.json being rewritten is empty between open(O_TRUNC) and the write,
        # as on any file system: readers leave the writers' tasks alone
        readable = [t for t in tids_all if t not in {x for o in owned for x in o}]
        threads = [threading.Thread(target=reader, args=(pdir, readable, stop, errors,
                                                         rstats[i], i)) for i in range(READERS)]
        threads += [threading.Thread(target=writer, args=(w, pdir, exts[w], owned[w], stop,
                                                          errors, done[w]))
                    for w in range(WRITERS)]
        for t in threads:
            t.daemon = True
            t.start()
        deadline = time.time() + DURATION
        while time.time() < deadline and not errors:
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(timeout=300)
            assert not t.is_alive(), "a stress thread is stuck in the mount"
        for e in errors:
            print("STRESS ERROR:", e)
        assert not errors, errors

        nlabels = sum(len(d["labels"]) for d in done)
        nanswers = sum(len(d["answers"]) for d in done)
        nreads = sum(sum(s.values()) for s in rstats)
        print("stress: %.0f s, %d reads, %d label files, %d answer writes"
              % (DURATION, nreads, nlabels, nanswers))
        assert nlabels >= WRITERS and nanswers >= WRITERS and nreads >= READERS
        # every accepted write was delivered once, and the last one wins
        assert count(hub, IMPORT) - imports0 == nlabels
        assert count(hub, ANNOTATE) - annotates0 == nanswers
        last, how = {}, {}
        for d in done:
            for key, weather in d["labels"]:
                tid = task_by_ext(hub, pid, key)["_id"]
                last[tid], how[tid] = weather, "label file"
            for key, weather in d["answers"]:
                last[key], how[key] = weather, "answer.json"
        for tid, weather in last.items():
            assert weather_of(task_answer(hub, tid)) == weather, (tid, how[tid])
        # the mount still answers, with the written answers
        assert project_dir(m, pid) == pdir
        for tid, weather in last.items():
            a = json.loads(read_bytes(os.path.join(pdir, "tasks", tid, "answer.json")))
            assert weather_of(a) == weather, (tid, how[tid], weather_of(a), weather)
    finally:
        m.stop()
