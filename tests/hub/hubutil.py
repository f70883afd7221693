"""Helpers for the angofs-hub tests: known demo ids and export download/unzip.

The demo seed is deterministic (docs/HUB.md), so ids can be looked up by name
once and relied on. Downloads go through plain urllib with no apikey header,
the way a client must treat a pre-signed exportPath.
"""
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

STREET = "Street Scenes"
REVIEW_ID = "5f0c2b7e-3a41-4d8e-9c6b-1e2f3a4b5c6d"

# What angofs sends by default (the official SDK's defaults; task exports
# also name their stages and taskTypes explicitly, see direct_export).
MOUNT_DEFAULTS = {"includeMetadata": "true", "includeHistory": "true",
                  "includeOnlyKeyFrames": "false", "includeIdleBlurDurations": "false",
                  "sendEmail": "false", "doNotNotify": "true"}


def projects(hub):
    st, body = hub.api("GET", "/listProjects", query={"limit": 100})
    assert st == 200, body
    return body["data"]["projects"]


def main_project(hub):
    """The 240-task 'Street Scenes' project (the older of the two)."""
    cands = [p for p in projects(hub) if p["name"] == STREET]
    assert len(cands) == 2
    return min(cands, key=lambda p: p["createdAt"])["_id"]


def project_by_name(hub, name):
    for p in projects(hub):
        if p["name"] == name:
            return p["_id"]
    raise AssertionError("no project named %r" % name)


def all_tasks(hub, pid, **query):
    out, page = [], 1
    while True:
        q = dict(query, page=page, limit=100)
        st, body = hub.api("GET", "/project/%s/tasks" % pid, query=q)
        assert st == 200, body
        out += body["data"]["tasks"]
        if len(out) >= body["data"]["total"] or not body["data"]["tasks"]:
            assert len(out) == body["data"]["total"]
            return out
        page += 1


def fetch(url, headers=None, timeout=60):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def fetch_signed(hub, url, project, kind="brushes"):
    """GET a storage object the way the SDK does: as given (no apikey), and
    when the storage says 401/403, signed first (getSignedUrl with url=,
    name=, project, type). Returns the bytes; fails on anything but 200."""
    st, _, raw = fetch(url)
    if st in (401, 403):
        bare = url.split("?")[0]
        st, body = hub.api("GET", "/getSignedUrl", query={"name": bare, "project": project,
                                                          "type": kind, "url": bare})
        assert st == 201, body
        st, _, raw = fetch(body["data"]["signedUrl"])
    assert st == 200, (st, raw[:200])
    return raw


def fetch_until_expired(url, timeout=30):
    """GET url (no apikey) until it answers 403, every answer before that
    being 200; the last (status, body) (still 200 after timeout seconds)."""
    deadline = time.time() + timeout
    while True:
        st, _, raw = fetch(url)
        if st == 403 or time.time() >= deadline:
            return st, raw
        assert st == 200
        time.sleep(0.2)


def stage_ids(hub, pid):
    """Every stage id of project pid: what angofs sends as `stage` for a
    whole-project task export (the strict profile's default is Complete only)."""
    st, body = hub.api("GET", "/project/" + pid)
    assert st == 200, body
    return [s["id"] for s in body["data"]["project"]["stages"]]


def export(hub, pid, **params):
    """GET /export with params (lists/dicts JSON-encoded); returns the data dict."""
    q = {"project": pid}
    for k, v in params.items():
        q[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
    st, body = hub.api("GET", "/export", query=q)
    assert st == 200, body
    assert body["status"] == "success"
    return body["data"]


def direct_export(hub, pid, **params):
    """Bytes of the export member angofs must serve: GET /export with the
    parameters angofs sends by default plus params (lists/dicts JSON-encoded),
    download, first zip member. A task export without a stage names every
    stage of the project, and taskTypes ["default"]."""
    q = dict(MOUNT_DEFAULTS, project=pid)
    if params.get("type", "task") == "task":
        params.setdefault("taskTypes", ["default"])
        params.setdefault("stage", stage_ids(hub, pid))
    for k, v in params.items():
        q[k] = json.dumps(v) if isinstance(v, (list, dict)) else v
    st, body = hub.api("GET", "/export", query=q)
    assert st == 200, body
    st, _, raw = fetch(body["data"]["exportPath"])
    assert st == 200
    zf = zipfile.ZipFile(io.BytesIO(raw))
    return zf.read(zf.namelist()[0])


def unzip_one(raw):
    zf = zipfile.ZipFile(io.BytesIO(raw))
    names = zf.namelist()
    assert len(names) == 1, names
    return names[0], zf.read(names[0])


def export_records(hub, pid, fmt="json", **params):
    data = export(hub, pid, format=fmt, **params)
    st, _, raw = fetch(data["exportPath"])
    assert st == 200, raw[:300]
    name, member = unzip_one(raw)
    if fmt == "json":
        assert name.endswith(".json")
        recs = json.loads(member)
        assert isinstance(recs, list)
    else:
        assert name.endswith(".ndjson")
        recs = [json.loads(line) for line in member.decode().splitlines() if line.strip()]
    return recs


def stats_with_log(hub, n, route=None, timeout=30):
    """GET /_admin/stats once the request log holds n entries (of `route`, if
    given). A log entry is written when the server has finished a request,
    which may be a moment after the client has read the response: poll
    (bounded) instead of racing."""
    import time
    deadline = time.time() + timeout
    while True:
        s = hub.stats()
        log = [e for e in s["log"] if route is None or e["route"] == route]
        if len(log) >= n or time.time() > deadline:
            return s
        time.sleep(0.02)


def qs(**kw):
    return urllib.parse.urlencode(kw)


def png_decode(data):
    """Decode a PNG (8-bit palette, RGB or RGBA; any row filter) with zlib only.
    Returns (width, height, pixel) with pixel(x, y) = (r, g, b, a)."""
    import struct
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    pos, idat, plte, trns = 8, b"", None, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"PLTE":
            plte = [tuple(body[i:i + 3]) for i in range(0, n, 3)]
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 3, 6), (depth, ctype)
    bpp = {2: 3, 3: 1, 6: 4}[ctype]
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride if f else 0):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        rows.append(bytes(line))

    def pixel(x, y):
        if ctype == 3:
            v = rows[y][x]
            return plte[v] + ((trns[v],) if v < len(trns) else (255,))
        px = tuple(rows[y][x * bpp:(x + 1) * bpp])
        return px + (255,) if ctype == 2 else px
    return w, h, pixel
