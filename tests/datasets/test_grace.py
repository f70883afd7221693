"""The grace period of the live views (issue 24 item 1, -o grace): a file a
refresh removes or moves leaves the listings at once but stays readable by
its old path for `grace` seconds, serving the bytes it served before (those
of the generation that listed it), so a DataLoader that listed a view at the
start of an epoch does not crash when the poll sees a change mid-epoch.
Checked on a real mount with the poll running: an image moved to another
ImageFolder class, a label whose marks went away and the image of a task
deleted on the hub; .status names the retired generation and how long it
serves; after the grace period the old paths are gone (open: ENOENT; stat
may answer from the kernel's attributes until attr_timeout). With
grace=0 they are gone at once (tests/fs/test_poll.py, test_consistency.py)."""
import errno
import os
import time

from conftest import Hub, Mount
from harness import errno_of, read, wait_for
from reproutil import PHOTOS, project_by_name, set_weather, status, tasks_with_answers

GRACE = 6


def test_old_paths_serve_their_generation_during_the_grace_period(workdir):
    hub = Hub(workdir)
    pid = project_by_name(hub, PHOTOS)
    tasks = tasks_with_answers(hub, pid)
    mover, victim, keep = tasks[1], tasks[2], tasks[3]
    for t in (mover, victim, keep):
        set_weather(hub, t["_id"], "Rain", t["answer"].get("tools"))
    m = Mount(hub, workdir, opts=["rate_limit=0", "poll=1", "entry_timeout=60",
                                  "attr_timeout=60", "grace=%d" % GRACE])
    try:
        p = os.path.join(m.path, PHOTOS)
        ds = os.path.join(p, "datasets")
        name, gone = os.path.basename(mover["externalId"]), os.path.basename(victim["externalId"])
        stem = os.path.splitext(name)[0]
        old = {"image": read(os.path.join(ds, "imagefolder", "Rain", name)),
               "label": read(os.path.join(ds, "yolo", "labels", stem + ".txt")),
               "victim": read(os.path.join(ds, "imagefolder", "Rain", gone))}
        assert old["label"]  # the mover has marks: its label file has rows
        wait_for(lambda: pid in status(m)["poll"]["projects"], timeout=20, what="a baseline")
        n0 = len(status(m)["poll"]["changes"])
        set_weather(hub, mover["_id"], "Snow")  # another class, and no marks any more
        st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [victim["asset"]]})
        assert st == 200, body
        wait_for(lambda: len(status(m)["poll"]["changes"]) > n0, timeout=20,
                 what="the poll seeing the changes")
        t0 = time.time()
        # listings are current at once ...
        assert wait_for(lambda: name in os.listdir(os.path.join(ds, "imagefolder", "Snow")),
                        timeout=10, what="the moved image in its new class")
        rain = os.listdir(os.path.join(ds, "imagefolder", "Rain"))
        assert name not in rain and gone not in rain and \
            os.path.basename(keep["externalId"]) in rain
        assert gone not in os.listdir(os.path.join(ds, "yolo", "images"))
        assert read(os.path.join(ds, "yolo", "labels", stem + ".txt")) == b""
        # ... and the old paths still serve what they served
        assert read(os.path.join(ds, "imagefolder", "Rain", name)) == old["image"]
        assert read(os.path.join(ds, "imagefolder", "Snow", name)) == old["image"]
        assert read(os.path.join(ds, "imagefolder", "Rain", gone)) == old["victim"]
        assert os.stat(os.path.join(ds, "imagefolder", "Rain", gone)).st_size == \
            len(old["victim"])
        sets = [s for s in status(m)["datasets"]["sets"] if s["project"] == pid]
        ret = [r for s in sets for r in s["retired"]]
        assert ret and all(0 < r["grace_left_s"] <= GRACE for r in ret), sets
        assert status(m)["datasets"]["grace_s"] == GRACE
        assert time.time() - t0 < GRACE - 1, "the machine is too slow for this check"
        # after the grace period the old paths are gone: open asks the daemon
        # (stat may answer from the kernel's attributes until attr_timeout)
        for q in (os.path.join(ds, "imagefolder", "Rain", name),
                  os.path.join(ds, "imagefolder", "Rain", gone)):
            assert wait_for(lambda: errno_of(lambda: read(q)) == errno.ENOENT,
                            timeout=GRACE + 5, what="%s gone after the grace" % q)
        assert time.time() - t0 >= GRACE - 1
        assert read(os.path.join(ds, "imagefolder", "Snow", name)) == old["image"]
    finally:
        m.stop()
        hub.stop()
