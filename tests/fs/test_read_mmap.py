"""Changed files are opened through the page cache (src/daemon/fuse_ops.c):
the first open of a freshly fetched export, and of a small in-memory file,
has the kernel's old attributes dropped by the adapter's side thread (the
open waits for it, bounded; never from inside the request handler) instead
of being served with direct_io. So a shared mmap of the very descriptor whose
open fetched works (direct_io refuses it), and fstat shows the true size, not
the 1-byte placeholder the kernel had before the fetch."""
import json
import mmap
import os

from test_read_common import direct_export, read, street_dir


def mapped(path):
    """(fstat size, bytes of a shared read-only mapping of the whole file)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m:
            return size, m[:]


def test_first_open_of_an_export_maps_shared_with_its_true_size(hub, mount):
    pid, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.json")
    assert os.stat(f).st_size == 1  # never fetched: the size is not known yet
    want = direct_export(hub, pid)
    size, data = mapped(f)  # this open fetches
    assert size == len(want) and data == want
    assert os.stat(f).st_size == len(want)
    assert mapped(f) == (len(want), want)  # unchanged: kept page cache


def test_first_open_of_a_task_file_maps_shared(hub, mount):
    _, p = street_dir(mount, hub)
    tdir = os.path.join(p, "tasks")
    tid = sorted(os.listdir(tdir))[3]
    f = os.path.join(tdir, tid, "task.json")
    size, data = mapped(f)
    assert size == len(data) and json.loads(data)["_id"] == tid
    assert read(f) == data
