"""angofs-hub admin API: request counters and log, fault injection (status,
Retry-After, latency, stall, drop, corrupt zip) and the per-key rate limit."""
import http.client
import io
import socket
import time
import urllib.parse
import zipfile

import pytest

from conftest import Hub
from hubutil import export, fetch, main_project, stats_with_log, unzip_one


def test_stats_count_routes_and_log(hub):
    pid = main_project(hub)
    hub.reset_stats()
    hub.api("GET", "/listProjects")
    hub.api("GET", "/listProjects", key=None)  # 401 still counts
    hub.api("GET", "/project/" + pid)
    hub.api("GET", "/project/%s/tasks" % pid)
    hub.api("GET", "/project/%s/assets" % pid)
    st, body = hub.api("GET", "/project/%s/tasks" % pid, query={"limit": 1})
    hub.api("GET", "/task/" + body["data"]["tasks"][0]["_id"])
    hub.api("POST", "/annotate/" + body["data"]["tasks"][0]["_id"], {"answer": {}})
    hub.api("POST", "/import/labels", {"project": pid, "jsonContent": []})
    hub.api("POST", "/attachments", {"project": pid, "attachments": []})
    url = export(hub, pid, stage=["Start"])["exportPath"]
    fetch(url)
    s = stats_with_log(hub, 12)
    c = s["counts"]
    assert c["GET /v2/listProjects"] == 2
    assert c["GET /v2/project/{id}"] == 1
    assert c["GET /v2/project/{id}/tasks"] == 2
    assert c["GET /v2/project/{id}/assets"] == 1
    assert c["GET /v2/task/{id}"] == 1
    assert c["POST /v2/annotate/{id}"] == 1
    assert c["POST /v2/import/labels"] == 1
    assert c["POST /v2/attachments"] == 1
    assert c["GET /v2/export"] == 1
    assert c["GET /download"] == 1
    assert s["total"] == sum(c.values()) == 12
    assert not any(k.startswith("GET /_admin") for k in c)  # admin not counted
    log = s["log"]
    assert len(log) == 12
    assert log[1]["status"] == 401 and log[1]["apikey_present"] is False
    assert log[0]["route"] == "GET /v2/listProjects" and log[0]["method"] == "GET"
    assert all(set(e) == {"method", "path", "route", "status", "ms", "bytes", "apikey_present"}
               for e in log)
    hub.reset_stats()
    s = hub.stats()
    assert s["total"] == 0 and s["log"] == [] and s["counts"] == {}


def test_status_fault_with_count(hub):
    pid = main_project(hub)
    r = hub.fault(route="GET /v2/project/{id}", status=503, count=2, message="maintenance")
    assert r["ok"] is True and r["faults"][0]["status"] == 503
    for _ in range(2):
        st, body = hub.api("GET", "/project/" + pid)
        assert st == 503 and body == {"status": "fail", "message": "maintenance"}
    st, _ = hub.api("GET", "/project/" + pid)
    assert st == 200
    assert hub.admin("GET", "/faults")["faults"] == []
    # faults fire before auth: even a keyless request gets the injected status (and counts)
    hub.fault(route="GET /v2/listProjects", status=500, count=1)
    hub.reset_stats()
    st, _ = hub.api("GET", "/listProjects", key=None)
    assert st == 500
    assert hub.stats()["counts"]["GET /v2/listProjects"] == 1


def test_429_retry_after_and_wildcard(hub):
    hub.fault(route="*", status=429, retry_after=7, count=3)
    for path in ("/listProjects", "/export?project=x", "/task/abc"):
        st, hdrs, raw = hub.raw("GET", "/v2" + path, headers={"apikey": hub.key})
        assert st == 429 and hdrs["Retry-After"] == "7"
    st, _ = hub.api("GET", "/listProjects")
    assert st == 200
    hub.fault(route="GET /v2/listProjects", status=500)  # no count: until cleared
    for _ in range(3):
        assert hub.api("GET", "/listProjects")[0] == 500
    r = hub.clear_faults()
    assert r == {"ok": True, "faults": []}
    assert hub.api("GET", "/listProjects")[0] == 200


def test_latency_fault(hub):
    hub.fault(route="GET /v2/listProjects", latency_ms=700, count=1)
    t0 = time.monotonic()
    st, _ = hub.api("GET", "/listProjects")
    took = time.monotonic() - t0
    assert st == 200 and took >= 0.7  # the hub sleeps at least this long
    assert stats_with_log(hub, 1)["log"][-1]["ms"] >= 700


@pytest.mark.parametrize("spec,word", [
    ({"route": "GET /v2/nothing", "status": 500}, "route"),
    ({"route": "GET /v2/export"}, "status"),
    ({"route": "GET /v2/export", "status": 99}, "status"),
    ({"route": "GET /v2/export", "stall_after": 5}, "download"),
    ({"route": "GET /download", "status": 500, "colour": 1}, "colour"),
    ({"rate_limit": -1}, "rate_limit"),
])
def test_bad_fault_specs(hub, spec, word):
    st, _, raw = hub.raw("POST", "/_admin/faults", spec)
    assert st == 400 and word in raw.decode()
    st, _, raw = hub.raw("POST", "/_admin/faults", b"{not json")
    assert st == 400


def _open_download(url):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", u.path)
    return conn, conn.getresponse()


def _raw_get(url):
    """Send a GET on a plain socket; returns (sock, header_bytes, first_body_bytes)."""
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port), timeout=30)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n"
                  % (u.path, u.hostname, u.port)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    return sock, head, body


def test_stall_after_k_bytes(hub):
    pid = main_project(hub)
    url = export(hub, pid)["exportPath"]
    size = len(fetch(url)[2])
    hub.fault(route="GET /download", stall_after=1000)
    sock, head, got = _raw_get(url)
    try:
        assert head.startswith(b"HTTP/1.1 200") and (b"Content-Length: %d" % size) in head
        while len(got) < 1000:
            chunk = sock.recv(65536)
            assert chunk
            got += chunk
        assert len(got) == 1000
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(1)  # nothing more arrives while the stall lasts
        hub.clear_faults()  # ... and the transfer resumes once cleared
        sock.settimeout(30)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        assert len(got) == size
    finally:
        sock.close()
    # other requests are served while a download stalls
    hub.fault(route="GET /download", stall_after=0)
    sock, head, got = _raw_get(url)
    try:
        assert got == b""
        assert hub.api("GET", "/listProjects")[0] == 200
    finally:
        sock.close()
        hub.clear_faults()


def test_drop_after_k_bytes(hub):
    pid = main_project(hub)
    url = export(hub, pid)["exportPath"]
    size = len(fetch(url)[2])
    hub.fault(route="GET /download", drop_after=2048, count=1)
    conn, resp = _open_download(url)
    try:
        with pytest.raises(http.client.IncompleteRead) as ei:
            resp.read()
        assert len(ei.value.partial) == 2048 < size
    finally:
        conn.close()
    st, _, raw = fetch(url)  # count=1: the next download is whole
    assert st == 200 and len(raw) == size


def test_corrupt_zip(hub):
    pid = main_project(hub)
    url = export(hub, pid)["exportPath"]
    good = fetch(url)[2]
    hub.fault(route="GET /download", corrupt=True, count=1)
    st, _, bad = fetch(url)
    assert st == 200 and len(bad) == len(good) and bad != good
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(bad)).read("export.json")
    assert unzip_one(fetch(url)[2])[0] == "export.json"


def test_download_status_fault(hub):
    url = export(hub, main_project(hub))["exportPath"]
    hub.fault(route="GET /download", status=503, retry_after=2, count=1)
    st, hdrs, raw = fetch(url)
    assert st == 503 and hdrs["Retry-After"] == "2" and raw.startswith(b"<?xml")
    assert fetch(url)[0] == 200


def test_rate_limit_runtime(workdir):
    hub = Hub(workdir, extra_args=["--api-key", "second-key"])
    try:
        r = hub.fault(rate_limit=5)
        assert {"rate_limit": 5} in r["faults"]
        for _ in range(5):
            assert hub.api("GET", "/listProjects")[0] == 200
        st, hdrs, raw = hub.raw("GET", "/v2/listProjects", headers={"apikey": hub.key})
        assert st == 429 and 1 <= int(hdrs["Retry-After"]) <= 60
        assert b"rate limit" in raw
        # per key: the other key still has its budget
        assert hub.api("GET", "/listProjects", key="second-key")[0] == 200
        hub.clear_faults()  # back to the command-line value (off)
        for _ in range(10):
            assert hub.api("GET", "/listProjects")[0] == 200
    finally:
        hub.stop()


def test_rate_limit_option(workdir):
    hub = Hub(workdir, extra_args=["--rate-limit", "3"])
    try:
        codes = [hub.api("GET", "/listProjects")[0] for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert hub.stats()["counts"]["GET /v2/listProjects"] == 4
        hub.clear_faults()  # restores --rate-limit 3, with a fresh window
        codes = [hub.api("GET", "/listProjects")[0] for _ in range(4)]
        assert codes == [200, 200, 200, 429]
    finally:
        hub.stop()
