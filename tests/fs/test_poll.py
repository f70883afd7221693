"""Change polling (-o poll=SECONDS, issue 14 item 2), against the real hub and
real mounts: a second mount sees a change made through the first (and one
made through the hub's API) within a few intervals while a mount without
poll keeps serving its cached copy; poll off sends nothing; each round sends
exactly one request per touched project; bad values are refused."""
import json
import os
import subprocess
import time

from conftest import ANGOFS_BIN, Mount
from test_read_common import pdir, project_by_name, read, wait_for
from hubutil import all_tasks, main_project

TASKS = "GET /v2/project/{id}/tasks"


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)


def answer_of(export_bytes, task_id):
    for r in json.loads(export_bytes):
        if r["task"]["taskId"] == task_id:
            return r["task"]
    raise AssertionError("task %s not in the export" % task_id)


def test_second_mount_sees_changes_within_intervals(hub, workdir):
    pid = main_project(hub)
    a = Mount(hub, workdir, name="a", opts=["poll=1"])
    b = Mount(hub, workdir, name="b", opts=["poll=1"])
    c = Mount(hub, workdir, name="c")  # control: no poll
    try:
        exp = {m: os.path.join(pdir(m, hub, pid), "export", "tasks.json") for m in (a, b, c)}
        before = {m: read(exp[m]) for m in (b, c)}
        t = all_tasks(hub, pid, stage="Label")[0]
        # 1) a change written through mount a (answer.json)
        ans = {"tools": [], "classifications": [{"schemaId": "cWeath01", "answer": "Rain"}],
               "relations": []}
        ajson = os.path.join(pdir(a, hub, pid), "tasks", t["_id"], "answer.json")
        with open(ajson, "w") as f:
            json.dump(ans, f)
        st, body = hub.api("GET", "/task/" + t["_id"])
        assert body["data"]["task"]["answer"]["classifications"][0]["answer"] == "Rain"

        def b_sees(word):
            data = read(exp[b])
            cls = answer_of(data, t["_id"]).get("classifications", [])
            return data if cls and cls[0].get("answer") == word else None

        assert wait_for(lambda: b_sees("Rain"), timeout=30, step=0.3), \
            "mount b never saw the change made through mount a"
        sb = status(b)["poll"]
        assert sb["interval_s"] == 1 and sb["changes"], sb
        assert sb["changes"][-1]["project"] == pid
        out = subprocess.run([ANGOFS_BIN, "--status", b.path], capture_output=True, text=True,
                             timeout=30).stdout
        assert "poll:        every 1s, 1 project(s) read" in out, out
        assert "  changed  %s  updatedAt " % pid in out, out
        # 2) a change made through the hub's API
        st, body = hub.api("POST", "/annotate/" + t["_id"], {"answer": {"classifications": [
            {"schemaId": "cWeath01", "answer": "Sunny"}]}})
        assert st == 200, body
        assert wait_for(lambda: b_sees("Sunny"), timeout=30, step=0.3)
        # 3) a deletion (no updatedAt moves; the total does)
        victim = [x for x in all_tasks(hub, pid) if x["_id"] != t["_id"]][0]
        st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [victim["asset"]]})
        assert st == 200, body
        assert wait_for(lambda: victim["_id"] not in read(exp[b]).decode(), timeout=30,
                        step=0.3)
        # the control mount still serves what it cached (export_ttl 3600)
        assert read(exp[c]) == before[c]
        assert status(c)["poll"] == {"interval_s": 0}
        out = subprocess.run([ANGOFS_BIN, "--status", c.path], capture_output=True, text=True,
                             timeout=30).stdout
        assert "poll:        off" in out, out
    finally:
        for m in (c, b, a):
            m.stop()


def test_poll_checks_its_premise_on_a_hub_that_ignores_sort(workdir):
    """The poll asks as the SDK's get_tasks(sort="-updatedAt") does; no SDK
    or docs example sorts by updatedAt (hub-api.md §5.3). On a hub that
    ignores the sort, the "newest" task it answers is just the newest
    created, and an edit of an older task was never noticed. The poll checks
    itself: a cached export holding a task newer than its "newest" makes it
    say so once and switch to an updatedAt filter, which needs no sort; the
    edit is then seen (issue 22)."""
    from conftest import Hub
    hub = Hub(workdir, extra_args=["--ignore-sort"])
    m = Mount(hub, workdir, opts=["poll=1"])
    try:
        pid = main_project(hub)
        tasks = all_tasks(hub, pid)  # newest created first
        old = tasks[-1]
        # an older task is the newest updated before the mount reads anything
        st, body = hub.api("POST", "/annotate/" + old["_id"], {"answer": {"classifications": [
            {"schemaId": "cWeath01", "answer": "Rain"}]}})
        assert st == 200, body
        exp = os.path.join(pdir(m, hub, pid), "export", "tasks.json")
        assert answer_of(read(exp), old["_id"])["classifications"][0]["answer"] == "Rain"
        assert wait_for(lambda: status(m)["poll"].get("form") == "updatedAt filter",
                        timeout=30, step=0.3), status(m)["poll"]
        assert "ignores sort=-updatedAt" in m.log_text()
        # an edit of another older task, through the API: seen
        other = tasks[-2]
        st, body = hub.api("POST", "/annotate/" + other["_id"], {"answer": {"classifications": [
            {"schemaId": "cWeath01", "answer": "Snow"}]}})
        assert st == 200, body

        def sees():
            cls = answer_of(read(exp), other["_id"]).get("classifications", [])
            return cls and cls[0].get("answer") == "Snow"
        assert wait_for(sees, timeout=30, step=0.3), "the edit of an older task was missed"
        # the filter form: two requests a round, the filter as the SDK's
        # TaskFilter under both names
        hub.clear_requests()
        time.sleep(2.5)
        polls = [r for r in hub.requests() if r["path"] == "/v2/project/%s/tasks" % pid]
        names = [[k for k, _ in r["query"]] for r in polls]
        assert ["page", "limit", "fields", "includeAnswer", "filter", "filters"] in names, names
        assert ["page", "limit", "fields", "includeAnswer"] in names, names
        assert all("sort" not in n for n in names), names
        f = [dict(r["query"]) for r in polls if "filter" in dict(r["query"])][0]
        assert f["filter"] == f["filters"] and "$gt" in json.loads(f["filter"])["updatedAt"]
        assert m.log_text().count("it ignores sort=-updatedAt") == 1  # warned once
    finally:
        m.stop()
        hub.stop()


def test_rsync_sees_a_polled_change(hub, workdir):
    """Tools that judge a file by stat alone (rsync's quick check, make, find
    -newer) see a change the poll found: the stale export shows a newer
    mtime before anyone reads it, the copy then made is the fresh export,
    and a second rsync copies nothing."""
    pid = main_project(hub)
    m = Mount(hub, workdir, opts=["poll=1"])
    try:
        d = os.path.join(pdir(m, hub, pid), "export")
        exp = os.path.join(d, "tasks.json")
        read(exp)
        dst = os.path.join(workdir, "copy")
        rsync = ["rsync", "-a", "--out-format=%n", d + "/", dst + "/"]
        subprocess.run(rsync, check=True, capture_output=True, timeout=120)
        assert subprocess.run(rsync, check=True, capture_output=True,
                              timeout=120).stdout == b""
        m0 = os.stat(exp).st_mtime
        t = all_tasks(hub, pid)[2]
        for word in ("Rain", "Snow"):  # a same-size change at least once
            st, body = hub.api("POST", "/annotate/" + t["_id"], {"answer": {"classifications": [
                {"schemaId": "cWeath01", "answer": word}]}})
            assert st == 200, body
        assert wait_for(lambda: os.stat(exp).st_mtime > m0, timeout=30, step=0.3), \
            "the polled change never showed in the export's mtime"
        out = subprocess.run(rsync, check=True, capture_output=True, timeout=120).stdout
        assert b"tasks.json" in out, out
        with open(os.path.join(dst, "tasks.json"), "rb") as f:
            assert f.read() == read(exp)
        assert answer_of(read(exp), t["_id"])["classifications"][0]["answer"] == "Snow"
        assert subprocess.run(rsync, check=True, capture_output=True,
                              timeout=120).stdout == b""
    finally:
        m.stop()


def test_poll_off_sends_nothing(hub, mount):
    pid = main_project(hub)
    read(os.path.join(pdir(mount, hub, pid), "export", "tasks.json"))
    hub.reset_stats()
    time.sleep(4)
    assert hub.stats()["total"] == 0


def test_one_request_per_touched_project_per_round(hub, workdir):
    m = Mount(hub, workdir, opts=["poll=1"])
    try:
        p1 = main_project(hub)
        p2 = project_by_name(hub, "Consensus Review")
        read(os.path.join(pdir(m, hub, p1), "export", "tasks.json"))
        tdir = os.path.join(pdir(m, hub, p2), "tasks")
        tid = sorted(os.listdir(tdir))[0]
        read(os.path.join(tdir, tid, "task.json"))
        # wait for a round that polled both, then measure over whole rounds
        wait_for(lambda: len(status(m)["poll"]["projects"]) == 2, timeout=20, step=0.2)
        r0 = status(m)["poll"]
        hub.reset_stats()
        time.sleep(5)
        r1 = status(m)["poll"]
        stats = hub.stats()
        rounds = r1["rounds"] - r0["rounds"]
        assert rounds >= 2, (r0, r1)
        polled = [e for e in stats["log"] if e["route"] == TASKS]
        # every request the hub saw in the idle window is a poll, for p1 or p2
        assert stats["total"] == len(polled), stats["counts"]
        assert {e["path"].split("/")[3] for e in polled} == {p1, p2}
        # one request per touched project per round (the window may cut one
        # round at each end)
        assert 2 * rounds - 2 <= len(polled) <= 2 * rounds + 2, (rounds, len(polled))
        assert r1["requests"] - r0["requests"] in range(len(polled) - 2, len(polled) + 3)
        assert r1["errors"] == 0
        assert set(r1["projects"]) == {p1, p2}
    finally:
        m.stop()


def test_bad_poll_values_are_refused(hub, workdir):
    mp = os.path.join(workdir, "never")
    os.makedirs(mp)
    env = dict(os.environ, ANGO_API_KEY=hub.key,
               XDG_CONFIG_HOME=os.path.join(workdir, "no-config"))
    for value, needle in (("abc", "poll"), ("-1", "poll"), ("100000", "poll"),
                          ("1,offline", "offline")):
        r = subprocess.run([ANGOFS_BIN, mp, "-f", "-o", "host=" + hub.url, "-o",
                            "cache_dir=" + os.path.join(workdir, "c"), "-o", "poll=" + value],
                           env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, (value, r.stderr)
        assert needle in r.stderr, (value, r.stderr)
        assert not os.path.ismount(mp)


def test_what_was_deleted_is_gone_within_an_interval(hub, workdir):
    """A task deleted on the hub (with its asset) is gone from lookups once
    the poll has seen the change: tasks/<id> and its files, assets/<name>,
    the task's image in the dataset views (and an image that moved to another
    class is gone from its old class). The kernel's attributes and entries
    would otherwise live their timeouts (60 s here; 10 s by default): the
    poll has the adapter's side thread drop the entries below tasks/,
    assets/ and datasets/ (grace=0: the old paths of the views have no grace
    period here; tests/datasets/test_grace.py has that)."""
    pid = main_project(hub)
    tasks = all_tasks(hub, pid)
    victim, mover, keep = tasks[5], tasks[6], tasks[7]
    for t in (victim, mover, keep):
        st, body = hub.api("POST", "/annotate/" + t["_id"], {"answer": {"classifications": [
            {"schemaId": "cWeath01", "answer": "Rain"}]}})
        assert st == 200, body
    m = Mount(hub, workdir, opts=["poll=1", "attr_timeout=60", "entry_timeout=60", "grace=0"])
    home = os.getcwd()
    try:
        p = pdir(m, hub, pid)
        name = victim["externalId"]
        paths = [os.path.join(p, "tasks", victim["_id"]),
                 os.path.join(p, "tasks", victim["_id"], "task.json"),
                 os.path.join(p, "tasks", victim["_id"], "answer.json"),
                 os.path.join(p, "assets", name),
                 os.path.join(p, "datasets", "imagefolder", "Rain", name),
                 os.path.join(p, "datasets", "coco", "images", name),
                 os.path.join(p, "datasets", "yolo", "images", name),
                 os.path.join(p, "datasets", "yolo", "labels", os.path.splitext(name)[0] + ".txt")]
        moved = os.path.join(p, "datasets", "imagefolder", "Rain", mover["externalId"])
        kept = [os.path.join(p, "tasks", keep["_id"], "task.json"),
                os.path.join(p, "assets", keep["externalId"]),
                os.path.join(p, "datasets", "imagefolder", "Rain", keep["externalId"])]
        read(os.path.join(p, "export", "tasks.json"))  # what the poll watches
        for q in paths + kept + [moved]:
            assert os.path.exists(q), q  # looked up: the kernel holds them
        wait_for(lambda: pid in status(m)["poll"]["projects"], timeout=20, step=0.2)
        n0 = len(status(m)["poll"]["changes"])
        # a process whose working directory is tasks/ keeps a working getcwd()
        os.chdir(os.path.join(p, "tasks"))
        st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [victim["asset"]]})
        assert st == 200, body
        st, body = hub.api("POST", "/annotate/" + mover["_id"], {"answer": {"classifications": [
            {"schemaId": "cWeath01", "answer": "Snow"}]}})
        assert st == 200, body
        wait_for(lambda: len(status(m)["poll"]["changes"]) > n0, timeout=20, step=0.1)
        t0 = time.time()
        for q in paths + [moved]:
            assert wait_for(lambda: not os.path.exists(q), timeout=3, step=0.1), q
        assert time.time() - t0 < 3
        assert os.getcwd() == os.path.join(p, "tasks")
        os.chdir(home)
        for q in kept:
            assert os.path.exists(q), q
        assert os.path.exists(os.path.join(p, "datasets", "imagefolder", "Snow",
                                           mover["externalId"]))
    finally:
        os.chdir(home)
        m.stop()


def test_the_look_through_the_mount_holds_no_fuse_descriptor(hub, workdir):
    """After an entry invalidation the daemon looks the entry up again
    through its own mount (getcwd of a process inside keeps working). The
    thread that does it must hold no /dev/fuse descriptor: killed while a
    worker held that LOOKUP, the thread waited in the kernel for an answer
    that never came, and as it shared the process's file table /dev/fuse
    never closed: the daemon stayed a zombie and the mount hung for every
    reader (the race model test's rerun hung 32 min). With no descriptor,
    the kernel aborts the connection once the other threads are gone. Checked
    on the threads' own descriptor tables (/proc/PID/task/TID/fd): before,
    every thread shared one that held /dev/fuse."""
    m = Mount(hub, workdir, opts=["poll=1"])
    try:
        os.listdir(m.path)

        def fuse_fds(tid):
            d = "/proc/%d/task/%d/fd" % (m.proc.pid, tid)
            out = 0
            for fd in os.listdir(d):
                try:
                    out += os.readlink(os.path.join(d, fd)) == "/dev/fuse"
                except OSError:
                    pass
            return out
        tids = [int(t) for t in os.listdir("/proc/%d/task" % m.proc.pid)]
        counts = {t: fuse_fds(t) for t in tids}
        assert counts[m.proc.pid] >= 1, counts  # the request loop's
        assert any(n == 0 for n in counts.values()), counts
    finally:
        m.stop()
