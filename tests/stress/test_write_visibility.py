"""Write-side visibility bugs found by the stress test, as plain regression tests.

1. Read-your-writes after a label import: answer.json of a task that was read
   (and so cached) before a label file changed it shows the imported answer at
   once, not after the metadata TTL (fix: src/read/tasks.c tasks_drop_project and
   the write generation that keeps replies overlapping a write out of the cache).
2. Copying a file of the same name into labels/ again after it was sent: the
   kernel still holds the sent file's dentry and sends OPEN instead of CREATE;
   that used to fail with ENOENT (fix: src/write/writes.c ao_writes_open).
3. An export held open across a refetch (see the test).
"""
import json
import os
import shutil
import subprocess

from test_write_common import (IMPORT, count, label_item, read, street, street_ext,
                               task_by_ext, weather_of, wmount, write_file)  # noqa: F401


def test_answer_after_label_import_is_fresh(hub, wmount):
    pid, pdir = street(hub, wmount)
    ext = street_ext(7)
    tid = task_by_ext(hub, pid, ext)["_id"]
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    for weather in ("Snow", "Sunny"):
        json.loads(read(path))  # cached by the daemon now
        json.loads(read(os.path.join(pdir, "tasks", tid, "task.json")))
        before = count(hub, IMPORT)
        assert write_file(os.path.join(pdir, "labels", "one.json"),
                          json.dumps([label_item(ext, weather)])) is None
        assert count(hub, IMPORT) == before + 1
        assert weather_of(json.loads(read(path))) == weather
        task = json.loads(read(os.path.join(pdir, "tasks", tid, "task.json")))
        assert weather_of(task["answer"]) == weather


def test_same_name_copied_again_is_sent_again(hub, wmount, workdir):
    pid, pdir = street(hub, wmount)
    ext = street_ext(8)
    tid = task_by_ext(hub, pid, ext)["_id"]
    dst = os.path.join(pdir, "labels", "again.json")
    for i, weather in enumerate(("Snow", "Sunny", "Rain", "Cloudy")):
        src = os.path.join(workdir, "src-%d.json" % i)
        with open(src, "w") as f:
            json.dump([label_item(ext, weather)], f)
        before = count(hub, IMPORT)
        if i % 2:
            subprocess.run(["cp", src, dst], check=True, timeout=60)
        else:
            shutil.copyfile(src, dst)
        assert count(hub, IMPORT) == before + 1
        assert read(dst + ".status").startswith("sent: ")
        assert weather_of(json.loads(read(os.path.join(pdir, "tasks", tid, "answer.json")))) \
            == weather


def test_export_open_across_a_refetch_stays_one_generation(hub, wmount):
    """3. A reader holding export/tasks.json open while a write makes it stale
    and another reader fetches the new generation (and stats it) reads the
    generation it opened to the end: no zero padding, no cut (the kernel's size
    of the file used to jump to the new generation's under it; stat stays
    pinned to the generation the path's page cache holds: src/fs/kcache.c,
    export rule). The second reader, opening while the first holds the older
    generation, waits the bound and reads the new one with direct_io (the
    remaining case)."""
    pid, pdir = street(hub, wmount)
    f = os.path.join(pdir, "export", "tasks.json")
    for k, weather in enumerate(("Snow", "Sunny", "Cloudy")):
        with open(f, "rb") as a:
            head = a.read(4096)
            long_ext = street_ext(20 + k)
            assert write_file(os.path.join(pdir, "labels", "gen%d.json" % k),
                              json.dumps([label_item(long_ext, weather)])) is None
            with open(f, "rb") as b:
                new = b.read()
            os.stat(f)
            old = head + a.read()
        assert b"\x00" not in old
        assert isinstance(json.loads(old), list)
        assert isinstance(json.loads(new), list)
        assert old != new  # the second reader saw the write
