"""First bytes of a cold export before its download ends (src/exports/grow.c,
docs/SEMANTICS.md E13). The hub holds the export's zip back half way (a stall
fault, released only when the test clears it), so the order of events is
certain, not timed: `head -c 100` returns while the hub has not finished
sending the zip (no completed download in its request log), and a reader of
the whole file gets every byte once the zip flows again, with fstat equal to
the bytes it read. A download that fails half way gives its readers EIO for
the bytes that never came and publishes nothing."""
import errno
import glob
import json
import os
import subprocess
import threading

import pytest

from conftest import Mount
from test_read_common import DOWNLOAD, direct_export, read, street_dir, wait_for

OPTS = ["first_bytes=1024"]  # the test project's zip is far larger


def completed_downloads(hub):
    """Downloads the hub has finished (its log is written at completion)."""
    return [r for r in hub.stats()["log"] if r["route"] == DOWNLOAD]


def read_fd(fd):
    parts = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            return b"".join(parts)
        parts.append(b)


def test_head_returns_while_the_download_is_held_back(hub, workdir):
    m = Mount(hub, workdir, opts=OPTS)
    try:
        pid, p = street_dir(m, hub)
        want = direct_export(hub, pid)
        f = os.path.join(p, "export", "tasks.json")
        hub.reset_stats()
        hub.fault(route=DOWNLOAD, stall_after=16384, count=1)
        box = {}

        def whole():  # open + fstat + read, as Python's read() does
            with open(f, "rb") as h:
                box["fstat"] = os.fstat(h.fileno()).st_size
                box["data"] = h.read()
                box["fstat2"] = os.fstat(h.fileno()).st_size

        t = threading.Thread(target=whole)
        try:
            out = subprocess.run(["head", "-c", "100", f], capture_output=True, timeout=90)
            assert out.returncode == 0, out.stderr
            assert out.stdout == want[:100]
            # the zip is still held back: the hub has not finished sending it
            assert completed_downloads(hub) == []
            fd = os.open(f, os.O_RDONLY)
            try:
                assert os.read(fd, 1000) == want[:1000]
                with open(os.path.join(m.path, ".status")) as h:
                    st = [e for e in json.load(h)["exports"]["exports"]
                          if e["state"] == "downloading"]
                assert len(st) == 1 and st[0]["readers_following"] == 1
                assert st[0]["bytes_unzipped"] >= 1000
                t.start()
                assert completed_downloads(hub) == []
            finally:
                hub.clear_faults()  # the zip flows again
            rest = read_fd(fd)
            assert want[:1000] + rest == want  # byte for byte
            assert os.fstat(fd).st_size == len(want)
            os.close(fd)
        finally:
            hub.clear_faults()
            if t.ident:
                t.join(120)
        # fstat, before and after the read, is the number of bytes read
        assert box.get("data") == want
        assert box["fstat"] == box["fstat2"] == len(want)
        assert len(completed_downloads(hub)) == 1
        assert os.stat(f).st_size == len(want)
        assert read(f) == want
        assert "export: cached" in m.log_text()
    finally:
        m.stop()


def test_fstat_at_the_first_open_is_the_true_size(hub, workdir):
    """Python's open() calls fstat before it returns: with the download held
    back it does not return (the size is not known yet), and then gives the
    true size, not the 1-byte placeholder the kernel had from stat (the drop
    of the kernel's old size is done before the open returns). Two cold
    exports, each first opened that way."""
    m = Mount(hub, workdir, opts=OPTS)
    try:
        pid, p = street_dir(m, hub)
        for name, kw in (("tasks.json", {}), ("tasks.ndjson", {"format": "ndjson"})):
            f = os.path.join(p, "export", name)
            want = direct_export(hub, pid, **kw)
            assert os.stat(f).st_size == 1  # never fetched: the kernel holds 1 byte
            hub.fault(route=DOWNLOAD, stall_after=4096, count=1)
            box = {}

            def whole():
                with open(f, "rb") as h:
                    box["fstat"] = os.fstat(h.fileno()).st_size
                    box["data"] = h.read()

            t = threading.Thread(target=whole)
            t.start()
            try:
                # the download is held back and a data file is being written
                assert wait_for(lambda: glob.glob(os.path.join(
                    m.cache, "exports", "*.data.tmp-*")), timeout=60)
                t.join(1)
                assert t.is_alive() and "fstat" not in box
            finally:
                hub.clear_faults()
                t.join(120)
            assert box.get("data") == want and box["fstat"] == len(want), name
    finally:
        m.stop()


def test_a_download_failing_half_way_gives_eio_and_publishes_nothing(hub, workdir):
    m = Mount(hub, workdir, opts=OPTS + ["stall_timeout=2"])
    try:
        pid, p = street_dir(m, hub)
        want = direct_export(hub, pid)
        f = os.path.join(p, "export", "tasks.json")
        hub.fault(route=DOWNLOAD, stall_after=16384, count=1)
        fd = os.open(f, os.O_RDONLY)
        try:
            assert os.read(fd, 100) == want[:100]
            # from now on every resume of the held-back download is cut at
            # once; the held-back one stalls out (stall_timeout): it fails
            hub.fault(route=DOWNLOAD, drop_after=0)
            with pytest.raises(OSError) as ei:
                read_fd(fd)
            assert ei.value.errno == errno.EIO
        finally:
            os.close(fd)
            hub.clear_faults()
        exports = os.path.join(m.cache, "exports")
        assert not glob.glob(os.path.join(exports, "*.data"))
        assert not glob.glob(os.path.join(exports, "*.data.tmp-*"))
        assert read(f) == want  # the next open downloads it again, whole
    finally:
        m.stop()


def test_small_exports_keep_the_whole_file_open(hub, workdir):
    """With the zip not larger than first_bytes the open waits for the whole
    file, as before: the read is complete and a shared mmap works."""
    import mmap
    m = Mount(hub, workdir, opts=["first_bytes=1G"])
    try:
        pid, p = street_dir(m, hub)
        want = direct_export(hub, pid)
        f = os.path.join(p, "export", "tasks.json")
        with open(f, "rb") as h:
            assert os.fstat(h.fileno()).st_size == len(want)
            with mmap.mmap(h.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
                assert mm[:] == want
    finally:
        m.stop()
