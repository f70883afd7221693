"""Visible progress and the status command (issue 7, items 5 and 6): while an
export downloads (held mid-way by the hub's stall fault), MOUNT/.status and
`angofs --status MOUNT` show how far it is; afterwards they show the cached
export with its age, the cache use and limit, the host, and pending and failed
writes with their messages."""
import json
import os
import re
import threading

from conftest import Mount
from ecoutil import (DOWNLOAD, isolated_env, main_project, read, status, status_cli,
                     wait_for)
from test_write_common import label_item, street_ext, write_file

STALL = 20000


def test_download_progress_then_cached_with_age(hub, workdir):
    m = Mount(hub, workdir, opts=["cache_size=64M", "rate_limit=0"],
              env=isolated_env(workdir))
    try:
        pid = main_project(hub)
        f = os.path.join(m.path, pid, "export", "tasks.json")
        hub.fault(route=DOWNLOAD, stall_after=STALL, count=1)
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("data", read(f)))
        t.start()
        try:
            def mid_way():
                xs = [e for e in status(m.path)["exports"]["exports"]
                      if e["state"] == "downloading" and e["bytes_done"] >= STALL]
                return xs or None
            xs = wait_for(mid_way, timeout=60)
            assert xs, status(m.path)
            e = xs[0]
            assert e["project"] == pid and e["format"] == "json"
            assert e["bytes_total"] > e["bytes_done"] == STALL
            r = status_cli(m.path)
            assert r.returncode == 0, r.stderr
            pct = e["bytes_done"] * 100 // e["bytes_total"]
            line = [ln for ln in r.stdout.splitlines() if "downloading " in ln]
            assert len(line) == 1, r.stdout
            # the path users see (the project's directory name), not the internal id
            assert e["path"] == "Street Scenes/export/tasks.json", e
            assert "  Street Scenes/export/tasks.json  " in line[0], line
            assert pid not in line[0] and "%d%%" % pct in line[0], line
            assert re.search(r"exports: +0 cached, 0 stale, 1 downloading, 0 failed",
                             r.stdout), r.stdout
        finally:
            hub.clear_faults()  # the rest of the download follows
            t.join(180)
        assert box.get("data", b"")[:1] == b"["
        st = status(m.path)
        x = [e for e in st["exports"]["exports"] if e["state"] == "cached"]
        assert len(x) == 1 and x[0]["size"] == len(box["data"])
        assert st["exports"]["cache_bytes"] == len(box["data"])
        assert st["host"] == hub.url and st["cache_dir"] == m.cache
        assert st["mountpoint"] == m.path and st["pid"] == m.proc.pid
        r = status_cli(m.path)
        out = r.stdout
        assert r.returncode == 0
        assert re.search(r"^host: +%s$" % re.escape(hub.url), out, re.M), out
        assert re.search(r"^cache dir: +%s$" % re.escape(m.cache), out, re.M), out
        assert re.search(r"^cache: +[\d.]+ [KM]iB of 64\.0 MiB used", out, re.M), out
        assert re.search(r"^  cached +Street Scenes/export/tasks\.json  [\d.]+ [KM]iB, age \d+s, "
                         r"last refresh full \(0 changed, \d+ req\)$", out, re.M), out
        # --json is the file as is
        j = status_cli(m.path, "--json")
        assert json.loads(j.stdout)["host"] == hub.url
    finally:
        m.stop()


def test_status_lists_pending_and_failed_writes_with_messages(hub, workdir):
    m = Mount(hub, workdir, opts=["rate_limit=0"],
              env=isolated_env(workdir))
    try:
        pid = main_project(hub)
        labels = os.path.join(m.path, pid, "labels")
        bad = os.path.join(labels, "bad.ndjson")
        e = write_file(bad, '{"externalId": "x", "objects": [}\n')
        assert e is not None
        hub.stop()
        try:
            pend = os.path.join(labels, "later.ndjson")
            e = write_file(pend, json.dumps(label_item(street_ext(1))) + "\n")
            assert e is not None  # hub down: close fails, the data stays pending
            w = status(m.path)["writes"]
            assert [x["path"] for x in w["failed"]] == ["labels/bad.ndjson"]
            assert w["failed"][0]["message"]
            assert [x["path"] for x in w["pending"]] == ["labels/later.ndjson"]
            out = status_cli(m.path).stdout
            assert re.search(r"^writes: +1 pending, 1 failed, 0 sent$", out, re.M), out
            assert re.search(r"^  pending  %s/labels/later\.ndjson  " % pid, out, re.M), out
            fl = [ln for ln in out.splitlines() if ln.startswith("  failed   ")]
            assert len(fl) == 1 and "labels/bad.ndjson" in fl[0]
            assert w["failed"][0]["message"][:40] in fl[0]
        finally:
            hub.start()
        # the background sender delivers it; status shows it sent
        assert wait_for(lambda: status(m.path)["writes"]["sent"] == 1, timeout=120)
        out = status_cli(m.path).stdout
        assert re.search(r"^writes: +0 pending, 1 failed, 1 sent$", out, re.M), out
    finally:
        m.stop()


def test_status_of_something_that_is_not_a_mount(workdir):
    r = status_cli(workdir)
    assert r.returncode == 1 and "is not an angofs mount" in r.stderr
    r = status_cli(workdir, "--bogus")
    assert r.returncode == 2 and "unknown option" in r.stderr


def test_status_of_a_dead_mount(hub, workdir):
    m = Mount(hub, workdir, env=isolated_env(workdir))
    m.proc.kill()
    m.proc.wait()
    try:
        r = status_cli(m.path)
        assert r.returncode == 1 and "daemon of" in r.stderr and "fusermount3 -u" in r.stderr
    finally:
        m.stop()
