"""The wire-capture test (issue 22, item 4): every request angofs sends has the
shape of the request the official SDK sends, as docs/HUB.md's table
"Requests angofs sends" says, row by row.

One mount on a strict hub (started with --ignore-sort, so the poll's premise
check also switches it to its second form) is driven through everything the
filesystem does on the wire: listings, every export view, assets and masks
(signed on demand, one asset with a storage id), task reads, answer and
mask writes, copied media and asset lists, labels and attachments, polling.
The hub's wire log (GET /_admin/requests: method, path, query pairs in
order, body) is then matched against the table, which this test parses from
docs/HUB.md: each captured request must match a row (method, path pattern,
query names in order with their fixed values, top-level body keys with
their fixed values), and each row must have been matched. A request shape
added to angofs without a row, or a row the code no longer sends, fails
here, naming it."""
import io
import json
import os
import re
import time

import pytest
from PIL import Image

from conftest import ROOT, Hub, Mount
from hubutil import all_tasks, main_project, project_by_name
from test_read_common import pdir, read, wait_for
from test_write_common import write_file

HUB_MD = os.path.join(ROOT, "docs", "HUB.md")


# ---------------------------------------------------------------- the table

def parse_spec(cell, sep):
    """`a&b=1&[c]&d=x` (queries, sep "&") or `a, b=1, [c]` (bodies, sep
    ",") -> [(name, fixed value or None, optional)]; `—` -> []."""
    cell = cell.strip().strip("`").strip()
    if cell in ("", "—", "-"):
        return []
    out = []
    for item in (x.strip() for x in cell.split(sep)):
        opt = item.startswith("[") and item.endswith("]")
        item = item[1:-1] if opt else item
        name, eq, val = item.partition("=")
        out.append((name.strip(), val.strip() if eq else None, opt))
    return out


def load_table():
    """The rows of docs/HUB.md between <!-- wire-table --> and
    <!-- /wire-table -->: dicts with n, method, path (regex), query, body."""
    text = open(HUB_MD, encoding="utf-8").read()
    m = re.search(r"<!-- wire-table -->(.*?)<!-- /wire-table -->", text, re.S)
    assert m, "docs/HUB.md has no wire table"
    rows = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not cells[0].isdigit():
            continue
        method, path = cells[1].strip("`").split(" ", 1)
        rx = "^" + re.sub(r"\\\{[a-z]+\\\}", "[^/]+", re.escape(path.strip())) + "$"
        rows.append({"n": int(cells[0]), "method": method, "path": re.compile(rx),
                     "query": parse_spec(cells[2], "&"), "body": parse_spec(cells[3], ","),
                     "sdk": cells[4], "text": line})
    assert rows
    return rows


def value_ok(want, got):
    """A fixed value of the table: a JSON literal for bodies ("true", 0,
    null) or the exact text for queries."""
    return want is None or got == want


def query_matches(spec, pairs):
    names = [k for k, _ in pairs]
    want = [s for s in spec if not s[2] or s[0] in names]
    if names != [s[0] for s in want]:
        return False
    got = dict(pairs)
    return all(value_ok(v, got[k]) for k, v, _ in want)


def body_matches(spec, body):
    if not spec:
        return body is None
    try:
        obj = json.loads(body)
    except (TypeError, ValueError):
        return False
    if not isinstance(obj, dict):
        return False
    want = [s for s in spec if not s[2] or s[0] in obj]
    if set(obj) != {s[0] for s in want}:
        return False
    return all(v is None or obj[k] == json.loads(v) for k, v, _ in want)


def row_of(rows, req):
    for r in rows:
        if (r["method"] == req["method"] and r["path"].match(req["path"])
                and query_matches(r["query"], req["query"])
                and body_matches(r["body"], req.get("body"))):
            return r
    return None


def shape(req):
    return "%s %s ?%s body %s" % (req["method"], req["path"],
                                  "&".join("%s=%s" % (k, v[:60]) for k, v in req["query"]),
                                  (req.get("body") or "")[:200])


def test_the_table_parses():
    rows = load_table()
    assert [r["n"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert r["sdk"] and r["text"].count("|") >= 7, r["text"]


# ------------------------------------------------------------- the scenario

def png(w, h):
    buf = io.BytesIO()
    Image.new("RGBA", (w, h), (255, 0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


def put_object(hub, pid, name, data, kind="assets"):
    st, body = hub.api("GET", "/getUploadUrl", query={"name": name, "project": pid, "type": kind})
    assert st == 201, body
    up = body["data"]["uploadUrl"]
    st, _, raw = hub.raw("PUT", up[len(hub.url):], data)
    assert st == 200, raw
    return up.split("?")[0]


@pytest.fixture(scope="module")
def wire(module_workdir):
    hub = Hub(module_workdir, extra_args=["--ignore-sort"])
    m = None
    try:
        pid = main_project(hub)
        photos = project_by_name(hub, "Street Photos")
        # an asset of an integrated bucket, as upload_files_cloud(...,
        # storage_id) makes it: an external reference with its storage, a
        # private object whose link needs signing, with storageId
        obj = put_object(hub, photos, "stored_1.png", png(8, 8))
        st, body = hub.api("POST", "/project/%s/cloud" % photos, {
            "assets": [{"data": obj, "externalId": "stored_1.png", "storage": "stor-1"}],
            "uploadLocal": None, "priority": 0})
        assert st == 201, body
        hub.clear_requests()
        m = Mount(hub, module_workdir, opts=["poll=1", "rate_limit=0"])
        yield hub, m, pid, photos, scenario(hub, m, pid, photos)
    finally:
        if m:
            m.stop()
        hub.stop()


def scenario(hub, m, pid, photos):
    p = pdir(m, hub, pid)
    ph = pdir(m, hub, photos)
    read(os.path.join(p, "project.json"))
    # reads: every export view, the task list and a task
    proj = hub.api("GET", "/project/" + pid)[1]["data"]["project"]
    read(os.path.join(p, "export", "tasks.json"))
    read(os.path.join(p, "export", "tasks.ndjson"))
    read(os.path.join(p, "export", "stage", "Review", "tasks.json"))
    read(os.path.join(p, "export", "batch", proj["batches"][0]["name"], "tasks.json"))
    read(os.path.join(p, "export", "issues.json"))
    tids = sorted(os.listdir(os.path.join(p, "tasks")))
    masked = [t for t in all_tasks(hub, pid) if t.get("brushDataUrl")]
    tdir = os.path.join(p, "tasks", masked[0]["_id"])
    read(os.path.join(tdir, "task.json"))
    # media: assets/ of a project with private pictures, a mask (signed on
    # 403), the asset with a storage id
    names = sorted(n for n in os.listdir(os.path.join(ph, "assets")))
    for n in names:
        if n.startswith("photo_0") or n == "stored_1.png":
            read(os.path.join(ph, "assets", n))
    read(os.path.join(tdir, "mask.png"))
    # writes: copied media, an asset list, labels (one item names nothing,
    # one is answer-wrapped), attachments, answer.json, answer.next.json,
    # mask.png
    assert write_file(os.path.join(ph, "assets", "wire_1.png"), png(16, 16)) is None
    assert write_file(os.path.join(ph, "assets", "list.json"), json.dumps(
        [{"data": "https://example.com/x/wire_2.jpg", "externalId": "wire_2.jpg"}])) is None
    snow = [{"schemaId": "cWeath01", "answer": "Snow"}]
    assert write_file(os.path.join(p, "labels", "w.ndjson"), "\n".join(json.dumps(x) for x in [
        {"externalId": "street_0030.jpg", "classifications": snow},
        {"externalId": "street_0031.jpg", "answer": {"classifications": snow}},
        {"externalId": "no_such_asset.jpg", "classifications": snow}]) + "\n") is None
    assert write_file(os.path.join(p, "attachments", "a.json"), json.dumps(
        [{"externalId": "street_0030.jpg",
          "attachments": [{"type": "TEXT", "value": "wire"}]}])) is None
    shown = json.loads(read(os.path.join(tdir, "answer.json")))
    shown["tools"][0]["bounding-box"]["x"] = 3
    assert write_file(os.path.join(tdir, "answer.json"), json.dumps(shown)) is None
    nxt = os.path.join(p, "tasks", [t for t in tids if t != masked[0]["_id"]][0],
                       "answer.next.json")
    assert write_file(nxt, json.dumps({"tools": [], "classifications": snow})) is None
    pt = [t for t in all_tasks(hub, photos) if t["externalId"] == "photo_02.png"][0]
    assert write_file(os.path.join(ph, "tasks", pt["_id"], "mask.png"),
                      png(1920, 1080)) is None
    # the exports again (stale after the writes: incremental refreshes),
    # then the poll's rounds: the hub ignores sort, so its premise check
    # switches it to the updatedAt filter
    read(os.path.join(p, "export", "tasks.json"))
    assert wait_for(lambda: json.load(open(os.path.join(m.path, ".status")))["poll"].get(
        "form") == "updatedAt filter", timeout=30, step=0.3)
    time.sleep(2.5)
    for n in ("w.ndjson", "a.json"):
        st = read(os.path.join(p, ("labels" if n[0] == "w" else "attachments"), n + ".status"))
        assert st.startswith(b"sent"), st
    # angofs's requests (the test's own, through urllib, are not its)
    return [r for r in hub.requests() if r["user_agent"].startswith("angofs/")]


def test_every_request_is_a_row_of_the_table(wire):
    hub, m, pid, photos, log = wire
    rows = load_table()
    unmatched = [shape(r) for r in log if row_of(rows, r) is None]
    assert not unmatched, "requests without a row in docs/HUB.md:\n" + "\n".join(unmatched)


def test_every_row_of_the_table_is_sent(wire):
    hub, m, pid, photos, log = wire
    rows = load_table()
    seen = {row_of(rows, r)["n"] for r in log if row_of(rows, r)}
    missing = [r["text"] for r in rows if r["n"] not in seen]
    assert not missing, "rows of docs/HUB.md angofs never sent:\n" + "\n".join(missing)


def test_what_the_table_cannot_say(wire):
    """Values a shape does not show: bare mask URLs, flat label items, the
    storage id of the asset that has one, the TaskFilter's JSON."""
    hub, m, pid, photos, log = wire
    for r in log:
        q = dict(r["query"])
        body = json.loads(r["body"]) if r.get("body") else None
        if r["path"].startswith("/v2/annotate/"):
            for k in ("brushDataUrl", "medicalBrushDataUrl"):
                assert body[k] is None or "?" not in body[k], body
        if r["path"] == "/v2/import/labels":
            assert all("answer" not in it for it in body["jsonContent"]), body
        if r["path"] == "/v2/getSignedUrl":
            assert q["url"] == q["name"] and "?" not in q["url"], q
            assert ("storageId" in q) == q["url"].endswith("/stored_1.png"), q
        if "filter" in q:
            assert q["filter"] == q["filters"]
            f = json.loads(q["filter"])
            assert set(f) <= {"stage", "batches", "type", "updatedAt"}, f
            for k in ("stage", "batches"):
                assert k not in f or list(f[k]) == ["$in"], f
    assert any(r["path"] == "/v2/getSignedUrl" and "storageId" in dict(r["query"]) for r in log)
