"""Changed files are opened through the page cache (src/daemon/ll_files.c):
the first open of a freshly fetched export, and of a small in-memory file,
has the kernel's old attributes dropped by the adapter's side thread (the
open waits for it, bounded; never from inside the request handler) instead
of being served with direct_io. So a shared mmap of the very descriptor whose
open fetched works (direct_io refuses it), and fstat shows the true size, not
the 1-byte placeholder the kernel had before the fetch.

In-memory files (task.json, answer.json, project.json) decide this per file
(src/fs/kcache.c): other files being read meanwhile change nothing, and a
handle of the same file still open (a close whose RELEASE the kernel has not
delivered yet: `cat f; python mmap f` under load) is shared when it holds the
same bytes, and waited for (bounded) when it does not; the mapping never shows
an old answer's bytes."""
import errno
import json
import mmap
import os
import subprocess
import sys
import threading
import time

from test_read_common import direct_export, read, street_dir
from test_write_common import street, wmount  # noqa: F401 (fixture)


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


def test_shared_mmap_while_other_task_files_are_read(hub, mount):
    """Before: any other open in-memory file (another process reading another
    task.json) turned the open into direct_io, and the mapping failed with
    ENODEV (180 of 180 maps here)."""
    _, p = street_dir(mount, hub)
    tdir = os.path.join(p, "tasks")
    tids = sorted(os.listdir(tdir))
    mine = [os.path.join(tdir, t, "task.json") for t in tids[:2]] + [
        os.path.join(p, "project.json")]
    others = [os.path.join(tdir, t, "task.json") for t in tids[3:6]]
    want = {f: read(f) for f in mine}
    stop = threading.Event()
    reads = [0]

    def reader():
        while not stop.is_set():
            for q in others:
                with open(q, "rb") as f:
                    time.sleep(0.001)  # held open a moment, as a slow reader would
                    f.read()
                reads[0] += 1

    ts = [threading.Thread(target=reader) for _ in range(3)]
    for t in ts:
        t.start()
    failed = []
    try:
        for _ in range(40):
            for f in mine:
                try:
                    size, data = mapped(f)
                    assert size == len(want[f]) and data == want[f]
                except OSError as e:
                    failed.append(errno.errorcode.get(e.errno, e.errno))
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert reads[0] > 0
    assert failed == [], "%d of %d shared maps failed: %s" % (
        len(failed), 40 * len(mine), sorted(set(failed)))


def test_shared_mmap_while_the_same_file_is_still_open(hub, mount):
    """A handle of the same file still open with the same bytes (the RELEASE
    of `cat f` not delivered yet when `mmap f` opens) is shared: page cache,
    no wait. Before: direct_io, ENODEV."""
    _, p = street_dir(mount, hub)
    tdir = os.path.join(p, "tasks")
    for f in [os.path.join(tdir, sorted(os.listdir(tdir))[1], "task.json"),
              os.path.join(p, "project.json")]:
        with open(f, "rb") as held:
            first = held.read()
            t0 = time.monotonic()
            size, data = mapped(f)
            took = time.monotonic() - t0
            assert size == len(first) and data == first
            assert held.read() == b"" and os.pread(held.fileno(), 1 << 20, 0) == first
        assert took < 1.5, "the shared open waited %.2fs" % took  # the bound is 2 s


def test_shared_mmap_of_a_changed_file_waits_for_the_old_handle(hub, wmount):
    """The old handle holds the old answer when the next open comes, closed
    but its RELEASE arriving 0.3 s later: the open waits for it and maps the
    new answer; no byte of the old one is shown."""
    _, pdir = street(hub, wmount)
    tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[2]
    path = os.path.join(pdir, "tasks", tid, "answer.json")
    old = read(path)
    a = json.loads(old)
    a["classifications"] = [c for c in a.get("classifications", [])
                            if c.get("schemaId") != "cWeath01"]
    a["classifications"].append({"schemaId": "cWeath01", "answer": "Snow"})
    held = open(path, "rb")
    try:
        assert held.read() == old
        with open(path, "w") as f:
            f.write(json.dumps(a, indent=1))
        new = read(path)  # the daemon's rendering of what it saved
        assert new != old and json.loads(new)["classifications"][-1]["answer"] == "Snow"
        # closed (FLUSH seen), its RELEASE not sent yet: a dup holds the file
        keep = os.dup(held.fileno())
        held.close()
        threading.Timer(0.3, os.close, [keep]).start()
        size, data = mapped(path)
        assert size == len(new) and data == new
    finally:
        held.close()
    assert read(path) == new
    # a handle really open (not closed) with the old bytes is not waited
    # for: that open is direct_io at once, and shows the new bytes
    with open(path, "rb") as other:
        assert other.read() == new
        a["classifications"][-1]["answer"] = "Rain"
        with open(path, "w") as f:
            f.write(json.dumps(a, indent=1))
        t0 = time.monotonic()
        with open(path, "rb") as f:
            took = time.monotonic() - t0
            with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ) as m:
                assert json.loads(m[:])["classifications"][-1]["answer"] == "Rain"
        assert took < 1.5, took


def test_shared_mmap_while_a_drop_waits_behind_a_stalled_read(hub, mount):
    """A drop that waits for a page a READ holds (a private mapping of an
    asset still downloading, faulting past the bytes that came) must not hold
    up an open's drop: with one side thread the task.json open behind it ran
    out its 2 s and fell back to direct_io, and its shared mmap failed with
    ENODEV. Opens' drops have their own lane now (src/daemon/ll_files.c)."""
    from test_assets import PROJECT, project_id, upload_object
    big = os.urandom(1 << 20) * 12  # 12 MiB
    upload_object(hub, project_id(hub, PROJECT), "stall.bin", big)
    asset = os.path.join(mount.path, PROJECT, "assets", "stall.bin")
    assert "stall.bin" in os.listdir(os.path.dirname(asset))
    _, p = street_dir(mount, hub)
    tdir = os.path.join(p, "tasks")
    task = os.path.join(tdir, sorted(os.listdir(tdir))[4], "task.json")
    want = read(task)
    hub.fault(route="GET /storage", stall_after=2 << 20)  # the rest held back
    # a private mapping faulting at 8 MiB: its READ waits for the download
    # with the page locked (a child process: a failed fault is its SIGBUS)
    child = subprocess.Popen([sys.executable, "-c", FAULT, asset, str(len(big))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    opener = threading.Thread(target=lambda: open(asset, "rb").close())
    try:
        assert child.stdout.readline() == b"mapped\n"
        time.sleep(0.5)
        assert child.poll() is None  # stalled in the fault
        # another handle (direct_io): its drop, queued for the side thread,
        # waits for that page (so does the open itself, in the kernel)
        opener.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        size, data = mapped(task)
        took = time.monotonic() - t0
        assert size == len(want) and data == want
        assert took < 1.5, "the open's drop waited %.2fs" % took
    finally:
        hub.clear_faults()
        if opener.ident:
            opener.join(60)
        out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert bytes.fromhex(out.decode().strip()) == big[8 << 20:(8 << 20) + 16]


FAULT = """
import mmap, os, sys, time
path, size = sys.argv[1], int(sys.argv[2])
f = open(path, "rb", buffering=0)
f.read(4096)
deadline = time.monotonic() + 30
while os.fstat(f.fileno()).st_size != size:  # the announced size, once dropped
    assert time.monotonic() < deadline, os.fstat(f.fileno()).st_size
    time.sleep(0.05)
m = mmap.mmap(f.fileno(), size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
print("mapped", flush=True)
print(m[8 << 20:(8 << 20) + 16].hex(), flush=True)
"""


def test_a_hidden_alias_path_is_another_inode(hub, wmount):
    """The project's id is a hidden alias of its directory: another path,
    another kernel inode, with its own cached size and pages. A page-cache
    handle of one path does not vouch for the other: the alias's open drops
    its old size and pages and maps the new answer whole."""
    pid, pdir = street(hub, wmount)
    tid = sorted(os.listdir(os.path.join(pdir, "tasks")))[5]
    a = os.path.join(pdir, "tasks", tid, "answer.json")
    b = os.path.join(wmount.path, pid, "tasks", tid, "answer.json")
    old = read(b)  # the alias's inode now holds the old size and pages
    assert os.stat(b).st_size == len(old)
    ans = json.loads(old)
    ans["classifications"] = [c for c in ans.get("classifications", [])
                              if c.get("schemaId") != "cWeath01"]
    ans["classifications"].append({"schemaId": "cWeath01", "answer": "Snow"})
    with open(a, "w") as f:
        f.write(json.dumps(ans, indent=3))
    new = read(a)
    assert len(new) != len(old)
    with open(a, "rb") as held:  # served through the page cache, its drop done
        assert held.read() == new
        assert mapped(b) == (len(new), new)
