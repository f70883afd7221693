"""Training reproducibly (issue 24, "done when"): a training run (torchvision
ImageFolder, DataLoader(num_workers=4), two epochs, tests/datasets/
train_repro.py in a child process) over a pinned snapshot and one over the
live view, on a real mount with -o poll running, while tasks keep moving to
other classes on the hub: after both runs listed their trees, 20 tasks move
and the poll and the live view see it; then both train, and a task moves
every few tenths of a second until they end. The snapshot's run loads every
listed image in both epochs (0 missing files) and its listing is the pin's,
unchanged; the live run does not crash (the old paths it listed are served
during the grace period) although the live listing moved on under it."""
import json
import os
import subprocess
import sys
import threading
import time

from conftest import Hub, Mount
from harness import wait_for
from reproutil import set_weather, status, tasks_with_answers, project_by_name

HERE = os.path.dirname(os.path.abspath(__file__))
N = 48
WORDS = ("Sunny", "Cloudy", "Rain", "Snow")


def weather(t):
    for c in (t.get("answer") or {}).get("classifications", []):
        if c.get("schemaId") == "cWeath01":
            return c.get("answer")
    return None


def listing(root):
    return sorted(os.path.join(c, n) for c in os.listdir(root)
                  if os.path.isdir(os.path.join(root, c)) for n in os.listdir(os.path.join(root, c)))


def test_training_on_a_snapshot_and_the_live_view_while_tasks_change(workdir, tmp_path):
    hub = Hub(workdir, seeds=("synthetic:%d" % N,))
    m = Mount(hub, workdir, opts=["rate_limit=0", "poll=1"])
    procs, stop = [], threading.Event()
    try:
        name = "synthetic-%d" % N
        pid = project_by_name(hub, name)
        p = os.path.join(m.path, name)
        tasks = [t for t in tasks_with_answers(hub, pid) if weather(t)]
        assert len(tasks) > 30
        os.mkdir(os.path.join(p, "snapshots", "train"))
        snap = os.path.join(p, "snapshots", "train", "datasets", "imagefolder")
        live = os.path.join(p, "datasets", "imagefolder")
        pinned = listing(snap)
        assert pinned == listing(live) and len(pinned) == len(tasks)
        go = str(tmp_path / "go")
        for root in (snap, live):
            procs.append(subprocess.Popen([sys.executable, os.path.join(HERE, "train_repro.py"),
                                           root, go], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        for pr in procs:
            assert pr.stdout.readline().strip() == "listed", pr.stderr.read()[-3000:]
        with open(os.path.join(p, "export", "tasks.ndjson"), "rb") as f:
            f.read()  # what the poll watches: projects read through the mount
        wait_for(lambda: pid in status(m)["poll"]["projects"], timeout=30, what="a baseline")
        n0 = len(status(m)["poll"]["changes"])

        def move(t):
            w = WORDS[(WORDS.index(weather(t)) + 1) % len(WORDS)]
            set_weather(hub, t["_id"], w, t["answer"].get("tools"))
            t["answer"]["classifications"] = [{"schemaId": "cWeath01", "answer": w}]

        for t in tasks[:20]:
            move(t)
        wait_for(lambda: len(status(m)["poll"]["changes"]) > n0, timeout=30,
                 what="the poll seeing the moves")
        moved = wait_for(lambda: len(set(pinned) - set(listing(live))) >= 20, timeout=30,
                         what="the live view showing the moves")
        assert moved

        def keep_moving():
            i = 20
            while not stop.is_set():
                move(tasks[i % len(tasks)])
                i += 1
                stop.wait(0.3)

        mover = threading.Thread(target=keep_moving)
        mover.start()
        open(go, "w").close()
        outs = []
        for pr in procs:
            out, err = pr.communicate(timeout=900)
            assert pr.returncode == 0, err[-3000:]  # no worker raised (no missing file)
            outs.append(json.loads(out.strip().splitlines()[-1]))
        stop.set()
        mover.join()
        snap_run, live_run = outs
        for run in outs:
            assert [e["loaded"] for e in run["epochs"]] == [run["len"], run["len"]], run["epochs"]
        assert sorted(s for s, _ in snap_run["samples"]) == pinned
        assert listing(snap) == pinned  # the snapshot did not change meanwhile
        gone = set(s for s, _ in live_run["samples"]) - set(listing(live))
        assert len(gone) >= 20, "the live run read no path that had moved"
        print("\nlive run: %d of %d listed paths had moved and were served by their old path"
              % (len(gone), live_run["len"]))
    finally:
        stop.set()
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        m.stop()
        hub.stop()
