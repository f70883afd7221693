"""Read side, speed paths (issue 5) checked for what they do, never for how
long they take: an export is inflated while its zip is still downloading (the
cache's temp data file grows while the download is stalled half way), the
streamed bytes are exactly the export's, and nothing falls back to reading the
zip file afterwards for the hub's zips."""
import glob
import json
import os
import threading

from conftest import Mount
from test_read_common import DOWNLOAD, direct_export, read, street_dir, wait_for


def test_export_is_unzipped_while_it_downloads(hub, workdir):
    m = Mount(hub, workdir, opts=["debug"])
    try:
        pid, p = street_dir(m, hub)
        want = direct_export(hub, pid)
        assert len(want) > 200000  # its zip is far larger than what we let through
        hub.fault(route=DOWNLOAD, stall_after=4096, count=1)
        box = {}
        t = threading.Thread(target=lambda: box.setdefault(
            "data", read(os.path.join(p, "export", "tasks.json"))))
        t.start()
        try:
            def inflated_while_stalled():
                tmp = glob.glob(os.path.join(m.cache, "exports", "*.data.tmp-*"))
                return [f for f in tmp if os.path.getsize(f) > 0] or None
            # the download is stalled: whatever is in the data file was
            # inflated from the part of the zip received so far
            assert wait_for(inflated_while_stalled, timeout=60)
            assert t.is_alive()
            with open(os.path.join(m.path, ".status")) as s:
                st = json.load(s)
            assert any(e["state"] == "downloading" for e in st["exports"]["exports"])
        finally:
            hub.clear_faults()  # releases the stall
            t.join(180)
        assert box.get("data") == want
        for name, kw in (("tasks.ndjson", {"format": "ndjson"}),
                         ("issues.json", {"type": "issue"})):
            assert read(os.path.join(p, "export", name)) == direct_export(hub, pid, **kw)
        log = m.log_text()
        assert "export: cached" in log
        assert "streamed unzip failed" not in log, log[-3000:]
    finally:
        m.stop()


def test_a_download_cut_short_is_never_served(hub, workdir):
    m = Mount(hub, workdir)
    try:
        pid, p = street_dir(m, hub)
        f = os.path.join(p, "export", "tasks.json")
        # the first attempt drops the connection after a part (inflated into
        # the temp file), every resume before its first byte: the fetch fails
        # (a resume that gains bytes starts the retry budget again, so a
        # download dropped after some bytes every time finishes:
        # tests/fault/test_waits.py), and nothing half-inflated becomes the
        # cached export
        hub.fault(route=DOWNLOAD, drop_after=5000, count=1)
        hub.fault(route=DOWNLOAD, drop_after=0)
        try:
            try:
                data = read(f)
            except OSError:
                data = None
            assert data is None
            assert not glob.glob(os.path.join(m.cache, "exports", "*.data"))
            assert not glob.glob(os.path.join(m.cache, "exports", "*.data.tmp-*"))
        finally:
            hub.clear_faults()
        assert read(f) == direct_export(hub, pid)
    finally:
        m.stop()
