"""angofs-hub command line, lifecycle and seeding: idempotent re-seeding,
deterministic ids, synthetic projects, bad options, clean SIGTERM."""
import os
import signal
import sqlite3
import subprocess

import pytest

from conftest import HUB_BIN, Hub
from hubutil import all_tasks, export_records, main_project, project_by_name, projects


def db_counts(path):
    db = sqlite3.connect(path)
    try:
        return {t: db.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                for t in ("projects", "assets", "tasks", "issues", "attachments", "stage_history")}
    finally:
        db.close()


def test_synthetic_seed_and_idempotent_reseed(workdir):
    hub = Hub(workdir, seeds=("demo", "synthetic:500"))
    try:
        pid = project_by_name(hub, "synthetic-500")
        tasks = all_tasks(hub, pid, includeAnswer="true")
        assert len(tasks) == 500
        answered = [t for t in tasks if t["answer"]["tools"]]
        assert len(answered) >= 250
        recs = export_records(hub, pid, "ndjson", stage=["Complete"])
        assert len(recs) == sum(1 for t in tasks if t["stage"] == "Complete") == 200
        first = db_counts(hub.db)
        hub.stop()
        hub.seeds = ["demo", "synthetic:500", "demo"]
        hub.start()
        assert db_counts(hub.db) == first
        assert len([p for p in projects(hub) if p["name"] == "synthetic-500"]) == 1
        hub.stop()
        hub.seeds = ["synthetic:20"]  # a different N is a new project
        hub.start()
        assert len(all_tasks(hub, project_by_name(hub, "synthetic-20"))) == 20
    finally:
        hub.stop()


def test_demo_seed_is_deterministic(workdir):
    a = Hub(os.path.join(workdir), seeds=("demo",))
    os.makedirs(os.path.join(workdir, "b"))
    b = Hub(os.path.join(workdir, "b"), seeds=("demo",))
    try:
        pa, pb = main_project(a), main_project(b)
        assert pa == pb
        ta = all_tasks(a, pa, includeAnswer="true")
        tb = all_tasks(b, pb, includeAnswer="true")
        assert [t["_id"] for t in ta] == [t["_id"] for t in tb]
        assert [t["answer"] for t in ta] == [t["answer"] for t in tb]
        assert sorted(p["_id"] for p in projects(a)) == sorted(p["_id"] for p in projects(b))
    finally:
        a.stop()
        b.stop()


def run_hub(args, timeout=30):
    return subprocess.run([HUB_BIN] + args, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,word", [
    ([], "required"),
    (["--db", "x.db", "--listen", "0.0.0.0:1", "--api-key", "k"], "non-loopback"),
    (["--db", "x.db", "--listen", "127.0.0.1", "--api-key", "k"], "HOST:PORT"),
    (["--db", "x.db", "--listen", "127.0.0.1:99999", "--api-key", "k"], "port"),
    (["--db", "x.db", "--listen", "127.0.0.1:0", "--api-key", "k", "--rate-limit", "x"],
     "rate-limit"),
    (["--db", "x.db", "--listen", "127.0.0.1:0", "--api-key", "k", "--bogus"], "--bogus"),
    (["--db", "x.db", "--listen", "127.0.0.1:0", "--api-key", "k", "--seed", "nonsense"],
     "nonsense"),
    (["--db", "x.db", "--listen", "127.0.0.1:0", "--api-key", "k", "--seed", "synthetic:0"],
     "synthetic"),
])
def test_bad_options(workdir, args, word):
    r = subprocess.run([HUB_BIN] + args, capture_output=True, text=True, timeout=30, cwd=workdir)
    assert r.returncode != 0
    assert word in r.stderr


def test_help():
    r = run_hub(["--help"])
    assert r.returncode == 0
    for opt in ("--db", "--listen", "--api-key", "--seed", "--rate-limit", "--export-ttl"):
        assert opt in r.stdout


def test_port_zero_prints_bound_port_and_sigterm(workdir):
    db = os.path.join(workdir, "p0.db")
    p = subprocess.Popen([HUB_BIN, "--db", db, "--listen", "127.0.0.1:0", "--api-key", "k"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("angofs-hub: listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        assert port > 0
        import urllib.request
        req = urllib.request.Request("http://127.0.0.1:%d/v2/listProjects" % port,
                                     headers={"apikey": "k"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()


def test_port_in_use_is_an_error(workdir):
    hub = Hub(workdir, seeds=())
    try:
        r = run_hub(["--db", os.path.join(workdir, "other.db"), "--listen",
                     "127.0.0.1:%d" % hub.port, "--api-key", "k"])
        assert r.returncode != 0 and "cannot listen" in r.stderr
    finally:
        hub.stop()


def test_multiple_keys(workdir):
    hub = Hub(workdir, extra_args=["--api-key", "key-two"])
    try:
        assert hub.api("GET", "/listProjects", key="key-two")[0] == 200
        assert hub.api("GET", "/listProjects", key="key-three")[0] == 401
    finally:
        hub.stop()
