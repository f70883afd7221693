"""Hostile server data, part 2 (issue 6, item 4): hostile replies and export
zips, injected with the hub's "body", "zip" and "redirect" fault switches
(docs/HUB.md). Each case is contained: a clean errno within a bounded time,
the hub's problem named in the daemon's log, the daemon alive, nothing
written outside the cache, nothing half-made served, and the mount fine again
once the fault is gone. Also the hub side of those switches."""
import errno
import glob
import io
import json
import os
import time
import zipfile

import pytest

from conftest import Mount

from faultlib import (DOWNLOAD, EXPORT, STREET, direct_export, errno_of, export_cache_files,
                      fetch, main_project, read)

BOUND_S = 120
LIST = "GET /v2/listProjects"


@pytest.fixture
def hm(module_hub, module_workdir, request):
    name = "m-" + request.node.name.replace("[", "-").replace("]", "")[:60]
    m = Mount(module_hub, module_workdir, opts=["rate_limit=0", "meta_ttl=2"], name=name)
    yield module_hub, m
    module_hub.clear_faults()
    m.stop()


def timed_errno(fn):
    t0 = time.time()
    e = errno_of(fn)
    assert time.time() - t0 < BOUND_S, "no hang"
    return e


# ---- hostile API replies ----------------------------------------------------

DEEP = "[" * 100000 + "]" * 100000
LIST_REPLIES = {
    "not-json": ("<html>Gateway</html>", (errno.EPROTO, errno.EIO)),
    "too-deep": ('{"status":"success","data":{"projects":' + DEEP + ',"total":1}}',
                 (errno.EPROTO, errno.EIO)),
    "truncated": ('{"status":"success","data":{"projects":[{"_id":"65a0', (errno.EPROTO,
                                                                          errno.EIO)),
    "projects-not-a-list": ('{"status":"success","data":{"projects":"nope","total":3}}',
                            None),
    "items-not-objects": ('{"status":"success","data":{"projects":[1,"x",null,[]],'
                          '"total":4}}', None),
    "ids-missing-or-bad": ('{"status":"success","data":{"projects":[{"name":"no id"},'
                           '{"_id":12,"name":"num"},{"_id":"../..","name":"dots"},'
                           '{"_id":"a/b","name":"slash id"}],"total":4}}', None),
    "huge-total": ('{"status":"success","data":{"projects":[{"_id":"65a000010000000000000'
                   '001","name":"one"}],"total":1000000000000}}', None),
    "wrong-envelope": ('{"status":"success","data":null}', None),
    "success-false": ('{"status":"fail"}', (errno.EIO,)),
}


@pytest.mark.parametrize("case", list(LIST_REPLIES))
def test_hostile_project_list_replies_are_contained(hm, case):
    hub, m = hm
    body, errs = LIST_REPLIES[case]
    hub.fault(route=LIST, body=body)
    e = timed_errno(lambda: os.listdir(m.path))
    if errs:
        assert e in errs, (case, e)
    else:
        # no sane project in it: an error, or a listing of valid names only
        if e == 0:
            names = os.listdir(m.path)
            assert all("/" not in n and n not in (".", "..") for n in names), names
            assert STREET not in names
    assert m.proc.poll() is None, m.log_text()[-2000:]
    hub.clear_faults()
    # recovers: the real list (after the negative-lookup refresh at most)
    deadline = time.time() + 90
    while STREET not in os.listdir(m.path) and time.time() < deadline:
        time.sleep(1)
    assert STREET in os.listdir(m.path)


def test_hostile_task_and_project_replies(hm):
    hub, m = hm
    pid = main_project(hub)
    p = os.path.join(m.path, STREET)
    os.listdir(m.path)
    hub.fault(route="GET /v2/project/{id}", body='{"status":"success","data":{"project":' +
              DEEP + '}}')
    assert timed_errno(lambda: read(os.path.join(p, "project.json"))) in (errno.EPROTO,
                                                                          errno.EIO)
    hub.clear_faults()
    assert json.loads(read(os.path.join(p, "project.json")))["_id"] == pid
    st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 1})
    tid = body["data"]["tasks"][0]["_id"]
    hub.fault(route="GET /v2/task/{id}", body='{"status":"success","data":{"task":' + DEEP
              + '}}')
    assert timed_errno(lambda: read(os.path.join(p, "tasks", tid, "answer.json"))) in (
        errno.EPROTO, errno.EIO, errno.ENOENT)
    hub.clear_faults()
    hub.fault(route="GET /v2/task/{id}", body='{"status":"success","data":{"task":'
              '{"_id":"%s","project":"65a0000100000000000000ff","answer":{}}}}' % tid)
    # a task that claims another project is not shown here
    assert timed_errno(lambda: read(os.path.join(p, "tasks", tid, "task.json"))) == \
        errno.ENOENT
    hub.clear_faults()
    # (that ENOENT may stay in the kernel's negative entry cache for a while)
    st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 2})
    other = body["data"]["tasks"][1]["_id"]
    assert json.loads(read(os.path.join(p, "tasks", other, "task.json")))["_id"] == other
    assert "too deep" in m.log_text() or "not JSON" in m.log_text() or "not JSON" in m.log_text()
    assert m.proc.poll() is None


EXPORT_PATHS = {
    "missing": '{"status":"success","data":{}}',
    "not-a-string": '{"status":"success","data":{"exportPath":42}}',
    "file-url": '{"status":"success","data":{"exportPath":"file:///etc/passwd"}}',
    "gopher-url": '{"status":"success","data":{"exportPath":"gopher://127.0.0.1/x"}}',
    "closed-port": '{"status":"success","data":{"exportPath":"http://127.0.0.1:1/x.zip"}}',
    "not-a-zip": None,  # exportPath fine, the download is an HTML page with 200
}


@pytest.mark.parametrize("case", list(EXPORT_PATHS))
def test_hostile_export_paths_are_refused(hm, case):
    hub, m = hm
    pid = main_project(hub)
    f = os.path.join(m.path, STREET, "export", "tasks.ndjson")
    os.stat(f)
    if EXPORT_PATHS[case] is None:
        hub.fault(route=DOWNLOAD, body="<html><body>Sign in to continue</body></html>")
    else:
        hub.fault(route=EXPORT, body=EXPORT_PATHS[case])
    e = timed_errno(lambda: read(f))
    assert e in (errno.EPROTO, errno.EIO, errno.ECONNREFUSED, errno.EINVAL), e
    assert os.stat(f).st_size == 1  # never fetched: placeholder size
    assert not [n for n in export_cache_files(m) if n.endswith(".data")]
    assert b"root:" not in b"".join(read(os.path.join(m.cache, "exports", n))
                                    for n in export_cache_files(m)
                                    if os.path.isfile(os.path.join(m.cache, "exports", n)))
    hub.clear_faults()
    assert read(f) == direct_export(hub, pid, format="ndjson")


# ---- hostile zips -----------------------------------------------------------

@pytest.mark.parametrize("kind,want", [("traversal", errno.EIO), ("absolute", errno.EIO),
                                       ("empty", errno.EIO), ("bomb", errno.EFBIG),
                                       ("multi", 0), ("dironly", 0)])
def test_hostile_zips(hm, kind, want):
    hub, m = hm
    pid = main_project(hub)
    f = os.path.join(m.path, STREET, "export", "tasks.ndjson")
    os.stat(f)
    before = set(glob.glob("/tmp/angofs-escape*")) | set(glob.glob(os.path.join(
        os.path.dirname(m.cache), "..", "angofs-escape*")))
    hub.fault(route=DOWNLOAD, zip=kind)
    t0 = time.time()
    try:
        data, e = read(f), 0
    except OSError as x:
        data, e = None, x.errno
    assert time.time() - t0 < BOUND_S
    assert e == want, (kind, e, m.log_text()[-1500:])
    after = set(glob.glob("/tmp/angofs-escape*")) | set(glob.glob(os.path.join(
        os.path.dirname(m.cache), "..", "angofs-escape*")))
    assert after == before  # nothing written outside the cache
    for root, dirs, files in os.walk(m.cache):
        for n in files:  # no bomb remains on disk
            assert os.path.getsize(os.path.join(root, n)) < 32 << 20, n
    hub.clear_faults()
    if want:
        assert os.stat(f).st_size == 1  # never fetched: placeholder size
        assert read(f) == direct_export(hub, pid, format="ndjson")
    else:
        # the first regular member is the export, as the SDK reads namelist()[0]
        assert data == direct_export(hub, pid, format="ndjson")
    assert m.proc.poll() is None


def test_redirected_download_never_carries_the_key(hm):
    hub, m = hm
    pid = main_project(hub)
    f = os.path.join(m.path, STREET, "export", "tasks.json")
    os.stat(f)
    hub.reset_stats()
    # the pre-signed URL sends us to another host name (same server underneath)
    hub.fault(route=DOWNLOAD, redirect="http://localhost:%d" % hub.port, count=1)
    assert read(f) == direct_export(hub, pid, format="json")
    st = hub.stats()
    dls = [d for d in st["download_headers"]]
    assert len(dls) >= 2  # the redirect and the followed request
    for d in dls:
        assert not any(k.lower() == "apikey" or hub.key in str(v)
                       for k, v in d["headers"].items()), d
    codes = [r["status"] for r in st["log"] if r["route"] == DOWNLOAD]
    assert 302 in codes and (200 in codes or 206 in codes)


def test_redirect_to_a_file_url_is_refused(hm):
    hub, m = hm
    f = os.path.join(m.path, STREET, "export", "issues.json")
    os.stat(f)
    hub.fault(route=DOWNLOAD, redirect="file:///etc/passwd#")
    assert timed_errno(lambda: read(f)) in (errno.EIO, errno.EPROTO, errno.EINVAL)
    assert os.stat(f).st_size == 1  # never fetched: placeholder size
    hub.clear_faults()
    assert read(f)[:1] == b"["


# ---- the hub side of the switches --------------------------------------------

def test_hub_fault_switches(module_hub):
    hub = module_hub
    pid = main_project(hub)
    try:
        hub.fault(route=LIST, body="plain", status=202, count=1)
        st, _, raw = hub.raw("GET", "/v2/listProjects", headers={"apikey": hub.key})
        assert (st, raw) == (202, b"plain")
        st, body = hub.api("GET", "/listProjects")
        assert st == 200 and body["status"] == "success"
        st, body = hub.api("GET", "/export", query={"project": pid})
        url = body["data"]["exportPath"]
        real = zipfile.ZipFile(io.BytesIO(fetch(url)[2]))
        member = real.namelist()[0]
        for kind, names in (("traversal", ["../../../angofs-escape/" + member]),
                            ("absolute", ["/tmp/angofs-escape-" + member]),
                            ("multi", [member, "README.txt", "extra/second.json"]),
                            ("dironly", ["export/", member]),
                            ("empty", [])):
            hub.fault(route=DOWNLOAD, zip=kind, count=1)
            z = zipfile.ZipFile(io.BytesIO(fetch(url)[2]))
            assert z.namelist() == names, kind
            if names and kind != "dironly":
                assert z.read(names[0]) == real.read(member)
        hub.fault(route=DOWNLOAD, zip="bomb", count=1)
        st, _, raw = fetch(url)
        z = zipfile.ZipFile(io.BytesIO(raw))
        assert z.infolist()[0].file_size == 96 << 20 and len(raw) < 1 << 20
        hub.fault(route=DOWNLOAD, redirect="http://localhost:1", count=1)
        import urllib.request

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        op = urllib.request.build_opener(NoRedirect)
        try:
            op.open(url, timeout=30)
            assert False, "no redirect"
        except urllib.error.HTTPError as e:
            assert e.code == 302
            assert e.headers["Location"] == "http://localhost:1" + url[len(hub.url):]
        for bad in ({"route": DOWNLOAD, "zip": "nope"}, {"route": LIST, "zip": "bomb"},
                    {"route": DOWNLOAD, "redirect": "javascript:x"},
                    {"route": LIST, "body": 5}, {"route": LIST, "body": "x", "status": 100}):
            st, _, raw = hub.raw("POST", "/_admin/faults", bad)
            assert st == 400, (bad, raw)
    finally:
        hub.clear_faults()
