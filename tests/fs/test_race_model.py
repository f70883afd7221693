"""Race model test (issue 20 item 8): random changes made while downloads are
in flight, against the real local hub and two real mounts sharing one cache
directory, with kill -9 of a daemon now and then.

Each round, seeded:
- the hub holds the export downloads back (a stall after K bytes until the
  round ends, or a latency), a view is touched and readers open views of both
  mounts (export/tasks.json, tasks.ndjson, export/stage/Label/tasks.json, the
  datasets/imagefolder listing), so refreshes are in flight;
- meanwhile 1-3 changes: through the hub's API (annotate, import labels,
  submit to the next stage, new assets with POST /cloud, delete an asset),
  through either mount (answer.json, a labels/ drop, cp of a PNG into
  assets/), and now and then a kill -9 of a daemon (restarted on the same
  cache at the round's end);
- some rounds are a spool episode: answer.json written while the hub
  refuses /annotate (the write stays pending), the writing daemon maybe
  killed while it sends or after, the other daemon adopting the entry, and a
  newer answer for the same task written through either mount once the hub
  is back (issue 20 item 2: the newer write must win).

Every write carries a unique comment (cComm001), so what a task holds names
the write it came from. Checked during the run: each reader's descriptor
reads one whole generation, fstat equal to the bytes read (E1); an open of
the writing mount's exports that began after a write through it returned
success holds that write or a later one, and the imagefolder listing puts the
image in that write's class only (E6, D1); no reader hangs.

Checked at each checkpoint (every CHECK rounds and at the end), after
quiescence (faults cleared, daemons up, every spool entry delivered: bounded
wait on MOUNT/.status and the spool directory, then two poll rounds of each
mount): every view of both mounts equals a direct export from the hub (byte
for byte, the signatures of signed storage URLs aside: see unsigned(); the
listing: the ImageFolder rule applied to the direct NDJSON export), and every
task holds its last write, wherever it was made (a write is made when its
call returned, or for a spooled write whose close failed or whose daemon was
killed while it sent, when its content was final; a task with such a write is
not written through another target until the next checkpoint: nothing orders
writes of different targets, e.g. a spooled answer and an API call). Every
asset copied into assets/ exists exactly once.

Seeded and reproducible: the seed is printed; ANGOFS_MODEL_SEED=N (with the
same number of rounds) replays the same operations in the same order (timing
may still change outcomes such as which daemon adopts an entry). ANGOFS_LONG=1 runs 220 rounds;
ANGOFS_MODEL_ROUNDS overrides."""
import json
import os
import random
import re
import shutil
import signal
import struct
import threading
import time
import zlib

import pytest

from conftest import Mount
from dsutil import IMG_EXT, imagefolder
from test_incremental_model import views
from test_read_common import (DOWNLOAD, all_tasks, count, direct_export, main_project, pdir,
                              project_by_name, wait_for)
from test_write_common import write_file

ANNOTATE = "POST /v2/annotate/{id}"
WEATHERS = ("Sunny", "Cloudy", "Rain", "Snow")
LONG = os.environ.get("ANGOFS_LONG") == "1"
ROUNDS = int(os.environ.get("ANGOFS_MODEL_ROUNDS") or (220 if LONG else 40))
CHECK = 25 if LONG else 10  # rounds between checkpoints
OPTS = ["rate_limit=0", "poll=1"]
ITEM2 = ("last write lost (issue 20 item 2): an older spooled write of the task was "
         "delivered after a newer one")

pytestmark = pytest.mark.slow


def status(path):
    with open(os.path.join(path, ".status")) as f:
        return json.load(f)


def answer_doc(weather, wid):
    return {"tools": [], "relations": [], "classifications": [
        {"schemaId": "cWeath01", "answer": weather}, {"schemaId": "cComm001", "answer": wid}]}


def written(rec):
    """(weather, comment) of an export record."""
    w = c = None
    for x in rec["task"].get("classifications", []):
        if x.get("schemaId") == "cWeath01" or x.get("title") == "Weather":
            w = x.get("answer")
        if x.get("schemaId") == "cComm001" or x.get("title") == "Comment":
            c = x.get("answer")
    return w, c


def records(data, fmt):
    if fmt == "ndjson":
        return [json.loads(x) for x in data.splitlines() if x.strip()]
    return json.loads(data)


def folder_of(ndjson):
    """ImageFolder's rule over export records (docs/DATASETS.md): the class is
    the Weather answer, the name the externalId (unique here), no answer:
    skipped; non-empty classes only."""
    out = {}
    for r in records(ndjson, "ndjson"):
        w, _ = written(r)
        if w and r["externalId"].lower().endswith(IMG_EXT):
            out.setdefault(w, []).append(r["externalId"])
    return {k: sorted(v) for k, v in out.items()}


def unsigned(data):
    """The export with the signatures of its signed storage URLs (masks,
    uploaded pictures) blanked. The hub signs them afresh for every export
    (the expiry moves by a step once an hour), and a cached generation keeps
    the signatures of its fetch: records an incremental refresh keeps, or a
    whole export nothing has changed since (docs/DESIGN-NOTES.md, the
    `incremental` bound). Everything else is compared byte for byte."""
    return re.sub(rb"\?Expires=\d+&Signature=[0-9a-f]+", b"?Expires=E&Signature=S", data)


def keydiff(got, want, at=""):
    """Where two JSON values differ: ["task.stage: 'Label' vs 'Review'", ...]."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for k in sorted(set(got) | set(want)):
            if got.get(k, KeyError) != want.get(k, KeyError):
                out += keydiff(got.get(k, "(none)"), want.get(k, "(none)"), at + "." + k)
        return out[:6]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (a, b) in enumerate(zip(got, want))
                for d in keydiff(a, b, "%s[%d]" % (at, i))][:6]
    return ["%s: %.120r vs %.120r" % (at.lstrip("."), got, want)]


def png(n):
    """A small valid PNG, its colour from n."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    w, h = 16, 12
    row = b"\x00" + bytes([n % 256, (n * 7) % 256, (n * 13) % 256]) * w
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * h)) + chunk(b"IEND", b""))


def task_by_ext(hub, pid, ext):
    st, body = hub.api("GET", "/project/%s/tasks" % pid,
                       query={"filter": json.dumps({"externalId": ext}), "limit": 10})
    assert st == 200, body
    return body["data"]["tasks"]


def quiet_sigchld():
    """Block SIGCHLD in this thread. The test's own children (fusermount3,
    killed daemons) exit while readers wait in the mount; CPython's vfork
    window leaves SIGCHLD blocked in the spawning thread, so the kernel
    picks a reader thread, interrupts its FUSE request, and angofs answers
    EINTR (readdir fails: os.scandir does not retry it). A real interrupt,
    not what this test is about (reported apart: a process with a SIGCHLD
    handler, as torch's DataLoader installs, gets EINTR from listing a
    dataset view whose export is being downloaded)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})


OPS = ["api_annotate", "api_labels", "api_move", "api_import", "api_delete", "m_answer",
       "m_labels", "m_asset", "kill"]
WEIGHTS = [3, 2, 1, 1, 1, 5, 2, 1, 1]
FAULTS = ["none", "latency", "stall", "stall"]


def plan(rnd, rounds):
    """Per round, its download fault and its operations (1-3, and a spool
    episode last in about one round in seven); every fault and every kind of
    operation at least once (when rounds allow), in seeded rounds."""
    out = [[rnd.choice(FAULTS), rnd.choices(OPS, WEIGHTS, k=rnd.randint(1, 3))
            + (["episode"] if rnd.random() < 0.15 else [])] for _ in range(rounds)]
    for kind in OPS + ["episode"]:
        if not any(kind in ops for _, ops in out):
            ops = out[rnd.randrange(rounds)][1]
            ops.insert(len(ops) if kind == "episode" else 0, kind)
    for f in FAULTS:
        if not any(f == fault for fault, _ in out):
            out[rnd.randrange(rounds)][0] = f
    return out


class Reader(threading.Thread):
    """Opens one view of one mount: the bytes and the fstat sizes of its
    descriptor (after open and after the read), or the listing, or the
    error. `check` is what the model asks of it (E6/D1), judged at join."""

    def __init__(self, slot, kind, path, epoch, check=None):
        super().__init__(daemon=True)
        self.slot, self.kind, self.path, self.epoch, self.check = slot, kind, path, epoch, check
        self.data = self.err = self.sizes = None
        self.t0, self.t1 = time.time(), None
        self.start()

    def run(self):
        quiet_sigchld()
        try:
            if self.kind == "folder":
                self.data = imagefolder(self.path)
                return
            with open(self.path, "rb") as f:
                s0 = os.fstat(f.fileno()).st_size
                data = f.read()
                self.sizes = (s0, len(data), os.fstat(f.fileno()).st_size)
            self.data = data
        except OSError as e:
            self.err = e
        finally:
            self.t1 = time.time()


class Run:
    def __init__(self, hub, workdir, seed):
        self.hub, self.seed = hub, seed
        self.rnd = random.Random(seed)
        self.pid = main_project(hub)
        st, body = hub.api("GET", "/project/" + self.pid)
        assert st == 200, body
        self.label = [x["id"] for x in body["data"]["project"]["stages"]
                      if x["name"] == "Label"][0]  # the stage view compared
        self.n = 0  # writes and names made so far
        self.order = []  # task ids in the order the model learned them (stable choices)
        self.ext = {}  # task id -> externalId
        self.hist = {}  # task id -> [(write id, weather, how, confirmed)]
        self.deleted = set()
        self.locked = {}  # task id -> "answer": a spooled write not confirmed yet
        self.copied = []  # externalIds copied into assets/
        self.log = []
        self.fails = []
        self.stats = {}
        self.cache = os.path.join(workdir, "shared-cache")
        self.mounts, self.dead, self.epoch, self.paths = {}, set(), {}, {}
        self.workdir = workdir
        self.round = 0
        self.hot = None  # the view whose refresh is held back this round

    # --- bookkeeping ---------------------------------------------------
    def note(self, text):
        self.log.append("r%d %s: %s" % (self.round, time.strftime("%H:%M:%S"), text))
        self.stats[text.split()[0]] = self.stats.get(text.split()[0], 0) + 1

    def fail(self, text, item2=False):
        """A broken rule; item2: what the task holds is an older spooled
        write of it, delivered after a newer one."""
        self.fails.append("round %d: %s%s" % (self.round, ITEM2 + ": " if item2 else "", text))

    def wid(self):
        self.n += 1
        return "s%d-w%d" % (self.seed, self.n)

    def alive(self, free=True):
        """Tasks not deleted (free: none of them with an unconfirmed spooled write)."""
        return [t for t in self.order if t not in self.deleted and
                not (free and t in self.locked)]

    def pick(self, free=True, k=1):
        cands = self.alive(free)
        return self.rnd.sample(cands, min(k, len(cands)))

    def record(self, tid, wid, weather, how, confirmed=True):
        self.hist.setdefault(tid, []).append((wid, weather, how, confirmed))
        return len(self.hist[tid]) - 1

    def live(self):
        return sorted(s for s in self.mounts if s not in self.dead)

    def learn(self, ext):
        """The task of externalId ext (created by this run: one task)."""
        for tid, e in self.ext.items():
            if e == ext:
                return tid
        ts = task_by_ext(self.hub, self.pid, ext)
        assert len(ts) == 1, (ext, ts)
        tid = ts[0]["_id"]
        if tid not in self.ext:
            self.order.append(tid)
            self.ext[tid] = ext
        return tid

    # --- mounts --------------------------------------------------------
    def setup(self):
        hub, pid = self.hub, self.pid
        # externalIds unique (the demo's 240th asset repeats street_0001.jpg):
        # an image's name in the views is then its externalId
        dup = sorted((t for t in all_tasks(hub, pid) if t["externalId"] == "street_0001.jpg"),
                     key=lambda t: (t["createdAt"], t["_id"]))
        st, body = hub.api("DELETE", "/project/%s/assets" % pid, {"assets": [dup[-1]["asset"]]})
        assert st == 200, body
        for t in reversed(all_tasks(hub, pid)):  # creation order
            self.order.append(t["_id"])
            self.ext[t["_id"]] = t["externalId"]
        photos = project_by_name(hub, "Street Photos")
        self.picture = "%s/storage/assets/%s/photo_01.png" % (hub.url, photos)
        self.incremental = self.rnd.random() < 0.75
        opts = OPTS + ([] if self.incremental else ["incremental=0"])
        for slot in ("a", "b"):
            self.mounts[slot] = Mount(self.hub, self.workdir, name=slot, cache=self.cache,
                                      opts=opts)
            self.epoch[slot] = 0
        for slot, m in self.mounts.items():
            p = pdir(m, hub, pid)
            v = {fmt if not stage else "stage": path
                 for path, fmt, stage, _ in views(m, hub, pid, self.label)}
            v["folder"] = os.path.join(p, "datasets", "imagefolder")
            self.paths[slot] = dict(v, p=p)
        for slot, m in self.mounts.items():
            wait_for(lambda: pid in status(m.path)["poll"]["projects"], timeout=30,
                     what="the poll's baseline on " + slot)

    def kill(self, slot):
        self.mounts[slot].kill9()
        self.dead.add(slot)
        self.epoch[slot] += 1
        self.note("kill9 %s" % slot)

    def restart(self):
        for slot in sorted(self.dead):
            self.mounts[slot].start()
            self.dead.discard(slot)

    # --- changes through the API ---------------------------------------
    def api_annotate(self, next_stage=False):
        for tid in self.pick(k=self.rnd.randint(1, 3)):
            wid, w = self.wid(), self.rnd.choice(WEATHERS)
            st, body = self.hub.api("POST", "/annotate/" + tid,
                                    {"answer": answer_doc(w, wid)},
                                    query={"nextStage": "true"} if next_stage else None)
            assert st == 200, body
            self.record(tid, wid, w, "api next stage" if next_stage else "api annotate")
            self.note("%s %s %s" % ("api_move" if next_stage else "api_annotate", tid, wid))

    def api_labels(self):
        items, done = [], []
        for tid in self.pick(k=self.rnd.randint(1, 4)):
            wid, w = self.wid(), self.rnd.choice(WEATHERS)
            items.append(dict(externalId=self.ext[tid], **answer_doc(w, wid)))
            done.append((tid, wid, w))
        st, body = self.hub.api("POST", "/import/labels", {"project": self.pid,
                                                           "jsonContent": items})
        assert st in (200, 201), body
        for tid, wid, w in done:
            self.record(tid, wid, w, "api labels")
        self.note("api_labels %s" % [d[:2] for d in done])

    def api_import(self):
        names = []
        for _ in range(self.rnd.randint(1, 2)):
            self.n += 1
            names.append("s%d-i%d.png" % (self.seed, self.n))
        # a picture the hub serves (a public one of Street Photos): the
        # dataset views read the header of an image whose export record has
        # no size (an unreachable URL costs 4 attempts at every build)
        st, body = self.hub.api("POST", "/project/%s/cloud" % self.pid, {"assets": [
            {"data": self.picture, "externalId": n} for n in names]})
        assert st in (200, 201), body
        for n in names:
            self.learn(n)
        self.note("api_import %s" % names)

    def api_delete(self):
        tid = self.pick()
        if not tid or len(self.alive()) < 100:
            return
        tid = tid[0]
        st, body = self.hub.api("GET", "/task/" + tid, query={"includeAnswer": "false"})
        assert st == 200, body
        st, body = self.hub.api("DELETE", "/project/%s/assets" % self.pid,
                                {"assets": [body["data"]["task"]["asset"]]})
        assert st == 200, body
        self.deleted.add(tid)
        self.note("api_delete %s" % tid)

    # --- changes through a mount ---------------------------------------
    def e6(self, slot, check):
        """A reader of the writing mount's views, begun after its write
        returned: it must hold that write or a later one (E6, D1)."""
        kinds = ["json", "ndjson", "folder"] if check[0] == "task" else ["json", "ndjson"]
        kind = self.rnd.choice(kinds)
        if self.hot in kinds and self.rnd.random() < 0.6:
            kind = self.hot  # the export the other mount is downloading
        self.readers.append(Reader(slot, kind, self.paths[slot][kind], self.epoch[slot], check))

    def m_answer(self, slot):
        tid = self.pick(free=False)[0]
        if self.locked.get(tid, "answer") != "answer":
            return
        wid, w = self.wid(), self.rnd.choice(WEATHERS)
        path = os.path.join(self.paths[slot]["p"], "tasks", tid, "answer.json")
        err = write_file(path, json.dumps(answer_doc(w, wid)))
        self.note("m_answer %s %s %s -> %s" % (slot, tid, wid, err))
        if err is not None:
            self.fail("answer.json of %s through %s failed: %s" % (tid, slot, err))
            return
        k = self.record(tid, wid, w, "answer.json through " + slot)
        if self.rnd.random() < 0.7:
            self.e6(slot, ("task", tid, k, wid))

    def m_labels(self, slot):
        lines, done = [], []
        for tid in self.pick(k=self.rnd.randint(1, 4)):
            wid, w = self.wid(), self.rnd.choice(WEATHERS)
            lines.append(json.dumps(dict(externalId=self.ext[tid], **answer_doc(w, wid))))
            done.append((tid, wid, w))
        if not done:
            return
        self.n += 1
        path = os.path.join(self.paths[slot]["p"], "labels", "s%d-l%d.ndjson" % (self.seed, self.n))
        err = write_file(path, "\n".join(lines) + "\n")
        self.note("m_labels %s %s -> %s" % (slot, [d[:2] for d in done], err))
        if err is not None:
            self.fail("labels drop through %s failed: %s" % (slot, err))
            return
        ks = [(tid, self.record(tid, wid, w, "labels/ through " + slot), wid)
              for tid, wid, w in done]
        if self.rnd.random() < 0.7:
            tid, k, wid = self.rnd.choice(ks)
            self.e6(slot, ("task", tid, k, wid))

    def m_asset(self, slot):
        self.n += 1
        name = "s%d-c%d.png" % (self.seed, self.n)
        err = write_file(os.path.join(self.paths[slot]["p"], "assets", name), png(self.n))
        self.note("m_asset %s %s -> %s" % (slot, name, err))
        if err is not None:
            self.fail("cp %s into assets/ through %s failed: %s" % (name, slot, err))
            return
        self.copied.append(name)
        self.learn(name)
        if self.rnd.random() < 0.7:
            self.e6(slot, ("asset", name))

    # --- the spool episode (issue 20 item 2) ---------------------------
    def episode(self):
        """answer.json of one task written while the hub refuses /annotate:
        the write is spooled (close fails, or the daemon is killed while it
        sends); maybe the daemon is killed after; then, with the hub back, a
        newer answer for the same task through either mount."""
        hub, slot = self.hub, self.rnd.choice(self.live())
        tid = self.pick(free=False)[0]
        variant = self.rnd.choice(["pending", "pending+kill", "kill while sending"])
        newer = self.rnd.random() < 0.75
        wid, w = self.wid(), self.rnd.choice(WEATHERS)
        path = os.path.join(self.paths[slot]["p"], "tasks", tid, "answer.json")
        s0 = max([r["seq"] for r in hub.requests()] or [0])
        hub.fault(route=ANNOTATE, status=500)
        out = {}
        def write():
            quiet_sigchld()
            out["err"] = write_file(path, json.dumps(answer_doc(w, wid)))
        t = threading.Thread(target=write, daemon=True)
        t.start()
        if variant == "kill while sending":
            # its content is final once its /annotate was asked (another
            # spooled answer may be retried meanwhile: this task's)
            wait_for(lambda: any(r["seq"] > s0 and r["path"] == "/v2/annotate/" + tid
                                 for r in hub.requests()), timeout=60, step=0.02,
                     what="the spooled answer's first /annotate")
            self.kill(slot)
        t.join(120)
        assert not t.is_alive(), "close() of a spooled answer.json did not return"
        self.note("episode %s %s %s %s -> %s" % (variant, slot, tid, wid, out.get("err")))
        if out.get("err") is None and variant != "kill while sending":
            self.fail("answer.json closed with success while the hub refused /annotate")
        self.record(tid, wid, w, "spooled answer.json through " + slot, confirmed=False)
        self.locked[tid] = "answer"
        if variant == "pending+kill":
            self.kill(slot)
        if self.rnd.random() < 0.5 or not self.live():
            self.restart()
        # the other daemon adopts a dead daemon's entry within its 3 s scan;
        # give it the time to try once while the hub still refuses
        time.sleep(self.rnd.choice([0, 1.5, 3.5]))
        hub.clear_faults()  # also releases the stalled downloads
        if newer:
            other = self.rnd.choice(self.live())
            wid2, w2 = self.wid(), self.rnd.choice(WEATHERS)
            p2 = os.path.join(self.paths[other]["p"], "tasks", tid, "answer.json")
            err = write_file(p2, json.dumps(answer_doc(w2, wid2)))
            self.note("newer %s %s %s -> %s" % (other, tid, wid2, err))
            if err is not None:
                self.fail("the newer answer.json of %s through %s failed: %s" % (tid, other, err))
                return
            k = self.record(tid, wid2, w2, "newer answer.json through " + other)
            self.e6(other, ("task", tid, k, wid2))

    # --- a round --------------------------------------------------------
    def one_round(self, fault, ops):
        rnd, hub = self.rnd, self.hub
        self.readers = []
        d0 = count(hub, DOWNLOAD)
        if fault == "latency":
            hub.fault(route=DOWNLOAD, latency_ms=rnd.randint(200, 1500))
        elif fault == "stall":
            hub.fault(route=DOWNLOAD, stall_after=rnd.randint(64, 40000))
        # most writes of a round go through one mount while the other one
        # downloads (M3: its generation may predate them)
        home = rnd.choice(self.live())
        away = [s for s in self.live() if s != home] or [home]
        views = [(rnd.choice(away if rnd.random() < 0.7 else self.live()),
                  rnd.choice(["json", "ndjson", "stage", "folder"]))
                 for _ in range(rnd.randint(1, 3))]
        self.hot = None
        if fault != "none":  # the first reader's view is stale: a refresh is due
            slot, kind = views[0]
            self.hot = kind
            os.utime(self.paths[slot]["ndjson" if kind == "folder" else kind])
        for slot, kind in views:
            self.readers.append(Reader(slot, kind, self.paths[slot][kind], self.epoch[slot]))
        self.note("fault %s, readers %s" % (fault, [(r.slot, r.kind) for r in self.readers]))
        if fault != "none":
            try:  # a download in flight (bounded: a fresh view asks none)
                wait_for(lambda: count(hub, DOWNLOAD) > d0, timeout=5, step=0.02)
            except AssertionError:
                pass
        for op in ops:
            if op == "api_move":
                self.api_annotate(next_stage=True)
            elif op.startswith("api_") or op == "episode":
                getattr(self, op)()
            elif op == "kill":
                if len(self.live()) == 2:
                    self.kill(rnd.choice(self.live()))
            else:
                live = self.live()
                getattr(self, op)(home if home in live and rnd.random() < 0.8
                                  else rnd.choice(live))
        hub.clear_faults()
        for r in self.readers:
            r.join(180)
            if r.is_alive():
                self.fail("a reader of %s on %s hangs" % (r.kind, r.slot))
        slow = max((r.t1 - r.t0, r.slot, r.kind) for r in self.readers if r.t1)
        self.restart()
        self.note("end: slowest reader %.1f s (%s %s)" % slow)
        for r in self.readers:
            self.judge(r)

    def judge(self, r):
        if r.epoch != self.epoch[r.slot]:
            return  # its daemon was killed meanwhile
        if r.err is not None:
            self.fail("reading %s on %s: %s" % (r.kind, r.slot, r.err))
            return
        if r.data is None:
            return
        if r.kind != "folder":
            if len(set(r.sizes)) != 1:
                self.fail("E1: %s on %s: fstat %d after open, %d bytes read, fstat %d after"
                          % ((r.kind, r.slot) + r.sizes))
            try:
                recs = records(r.data, "ndjson" if r.kind == "ndjson" else "json")
            except ValueError as e:
                self.fail("E1: %s on %s is not one whole generation: %s" % (r.kind, r.slot, e))
                return
        if not r.check:
            return
        self.stats["e6 checks"] = self.stats.get("e6 checks", 0) + 1
        if r.check[0] == "asset":
            name = r.check[1]
            tid = self.learn(name)
            found = [x for x in recs if x["externalId"] == name]
            if len(found) != 1 and tid not in self.deleted:
                self.fail("E6: %s copied into assets/ through %s: %d records in %s read after"
                          % (name, r.slot, len(found), r.kind))
            return
        _, tid, k, wid = r.check
        later = self.hist[tid][k:]
        ok_w = {h[1] for h in later}
        ok_c = {h[0] for h in later}
        if r.kind == "folder":
            name = self.ext[tid]
            where = [c for c, names in r.data.items() if name in names]
            if tid in self.deleted and not where:
                return
            if len(where) != 1 or where[0] not in ok_w:
                msg = ("E6/D1: after %s (%s) through %s, imagefolder lists %s in %s, "
                       "allowed %s" % (wid, tid, r.slot, name, where, sorted(ok_w)))
                older = {h[1] for h in self.hist[tid][:k] if not h[3]}
                self.fail(msg, item2=len(where) == 1 and where[0] in older)
            return
        got = [written(x)[1] for x in recs if x["task"]["taskId"] == tid]
        if tid in self.deleted and not got:
            return
        if len(got) != 1 or got[0] not in ok_c:
            older = {h[0] for h in self.hist[tid][:k] if not h[3]}
            msg = ("E6: after %s (%s) through %s, %s read after holds %s, allowed %s"
                   % (wid, tid, r.slot, r.kind, got, sorted(ok_c)))
            self.fail(msg, item2=bool(got) and got[0] in older)

    # --- quiescence and the comparison ---------------------------------
    def spool_busy(self):
        """Entries not delivered yet: listed pending by a daemon, or on disk
        pending or being written (a dead daemon's, not adopted yet)."""
        busy = []
        for slot in self.live():
            busy += [(slot, e["path"], e["state"]) for e in
                     status(self.mounts[slot].path)["writes"]["pending"]]
        d = os.path.join(self.cache, "spool")
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            try:
                with open(os.path.join(d, name, "meta.json")) as f:
                    meta = json.load(f)
            except (OSError, ValueError):
                continue  # being created or removed
            if meta.get("state") in ("writing", "pending"):
                busy.append(("disk", name, meta.get("state")))
        return busy

    def quiesce(self):
        self.hub.clear_faults()
        self.restart()
        busy = []
        deadline = time.time() + 180
        while time.time() < deadline:
            busy = self.spool_busy()
            if not busy:
                break
            time.sleep(0.25)
        if busy:
            self.fail("the spool did not empty within 180 s: %s" % busy)
        for slot in self.live():
            w = status(self.mounts[slot].path)["writes"]
            if w["failed"]:
                self.fail("failed writes on %s: %s" % (slot, w["failed"]))
            self.stats["superseded"] = max(self.stats.get("superseded", 0),
                                           w.get("superseded", 0))
        # two whole poll rounds of each daemon after the last change
        r0 = {s: status(self.mounts[s].path)["poll"]["rounds"] for s in self.live()}
        for s in self.live():
            wait_for(lambda: status(self.mounts[s].path)["poll"]["rounds"] >= r0[s] + 2,
                     timeout=60, what="two poll rounds on " + s)

    def compare(self):
        hub, pid = self.hub, self.pid
        want = {"json": direct_export(hub, pid), "ndjson": direct_export(hub, pid,
                                                                          format="ndjson"),
                "stage": direct_export(hub, pid, stage=[self.label])}
        want["folder"] = folder_of(want["ndjson"])
        by_id = {r["task"]["taskId"]: r for r in records(want["json"], "json")}
        for slot in self.live():
            for kind in ("json", "ndjson", "stage", "folder"):
                path = self.paths[slot][kind]
                if kind == "folder":
                    got = imagefolder(path)
                else:
                    with open(path, "rb") as f:
                        got = f.read()
                if got != want[kind] and (kind == "folder" or unsigned(got) !=
                                          unsigned(want[kind])):
                    self.fail("%s on %s differs from a direct export: %s"
                              % (kind, slot, self.diff(kind, got, want[kind])))
        # every task holds its last write
        for tid, hist in sorted(self.hist.items()):
            if tid in self.deleted:
                if tid in by_id:
                    self.fail("deleted task %s is in the hub's export" % tid)
                continue
            rec = by_id.get(tid)
            last = hist[-1]
            got = written(rec) if rec else None
            if got == (last[1], last[0]):
                continue
            msg = ("task %s holds %s, its last write is %s (%s, %s); writes: %s"
                   % (tid, got, last[0], last[1], last[2], [h[:3] for h in hist]))
            self.fail(msg, item2=bool(got) and got[1] in {h[0] for h in hist[:-1] if not h[3]})
        for name in self.copied:
            n = sum(1 for r in by_id.values() if r["externalId"] == name)
            if n != 1 and self.learn(name) not in self.deleted:
                self.fail("%s copied into assets/ once is %d times in the hub" % (name, n))
        self.locked.clear()  # every spooled write is delivered

    def diff(self, kind, got, want):
        if kind == "folder":
            out = []
            for c in sorted(set(got) | set(want)):
                a, b = set(got.get(c, [])), set(want.get(c, []))
                if a != b:
                    out.append("%s: extra %s missing %s" % (c, sorted(a - b)[:5],
                                                             sorted(b - a)[:5]))
            return "; ".join(out)
        fmt = "ndjson" if kind == "ndjson" else "json"
        try:
            g = {r["task"]["taskId"]: r for r in records(got, fmt)}
        except ValueError as e:
            return "not JSON (%s), %d bytes vs %d" % (e, len(got), len(want))
        w = {r["task"]["taskId"]: r for r in records(want, fmt)}
        out = ["%d records vs %d" % (len(g), len(w))]
        out += ["missing %s" % t for t in sorted(set(w) - set(g))[:5]]
        out += ["extra %s" % t for t in sorted(set(g) - set(w))[:5]]
        for t in sorted(set(g) & set(w)):
            if g[t] != w[t]:
                out.append("%s: %s" % (t, "; ".join(keydiff(g[t], w[t]))))
            if len(out) > 8:
                break
        if len(out) == 1:
            out.append("same records, other bytes")
        return "; ".join(out)

    def report(self):
        return ("seed %d (ANGOFS_MODEL_SEED=%d ANGOFS_MODEL_ROUNDS=%d to replay), incremental=%d"
                "\n%s\nlast operations:\n%s"
                % (self.seed, self.seed, ROUNDS, self.incremental, "\n".join(self.fails),
                   "\n".join(self.log[-40:])))


def test_race_model(hub, workdir):
    seed = int(os.environ.get("ANGOFS_MODEL_SEED") or random.randrange(1 << 30))
    print("race model test: seed %d, %d rounds (ANGOFS_MODEL_SEED=%d ANGOFS_MODEL_ROUNDS=%d "
          "to replay)" % (seed, ROUNDS, seed, ROUNDS))
    run = Run(hub, workdir, seed)
    t0 = time.time()
    try:
        run.setup()
        for n, (fault, ops) in enumerate(plan(random.Random(seed + 1), ROUNDS), 1):
            run.round = n
            run.one_round(fault, ops)
            assert not run.fails, run.report()
            if n % CHECK == 0 or n == ROUNDS:
                run.quiesce()
                run.compare()
                assert not run.fails, run.report()
                run.note("checkpoint")
        print("race model test: %d rounds in %.0f s; %s" % (ROUNDS, time.time() - t0,
                                                           sorted(run.stats.items())))
        print("\n".join(run.log))
    finally:
        keep = os.environ.get("ANGOFS_MODEL_LOGS")
        if keep:  # the daemons' and the hub's logs and the hub's wire log, for a post-mortem
            os.makedirs(keep, exist_ok=True)
            for name in ("a.log", "b.log", "hub.log"):
                if os.path.exists(os.path.join(workdir, name)):
                    shutil.copy(os.path.join(workdir, name), keep)
            with open(os.path.join(keep, "requests.json"), "w") as f:
                json.dump(hub.requests(), f, indent=0)
            with open(os.path.join(keep, "model.txt"), "w") as f:
                f.write(run.report() + "\n" + "\n".join(run.log))
        hub.clear_faults()
        for m in run.mounts.values():
            m.stop()
