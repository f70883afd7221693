"""Dataset views (issue 13 items 4 and 6): <project>/datasets/ on a real mount
of the real local hub, read the way consumers read them, and compared with
the export records they come from. Request counts prove that a view costs
the export of its filter (shared with export/tasks.ndjson) and nothing per
task. The image bytes and the torchvision/PIL/OpenCV consumers are in
test_consumers.py."""
import errno
import json
import mmap
import os
import stat
import subprocess
import threading

import pytest

from conftest import Hub, Mount
from harness import sanitized
from dsutil import (EXPORT, PHOTOS, area_marks, check_coco, check_yolo, count, imagefolder,
                    records, ultralytics_resolve)


@pytest.fixture(scope="module")
def env(module_hub, module_workdir):
    m = Mount(module_hub, module_workdir)
    yield module_hub, m
    m.stop()


def schema_of(pdir):
    with open(os.path.join(pdir, "project.json")) as f:
        return json.load(f)["categorySchema"]


def area_classes(schema):
    return [t for t in schema["tools"] if t["tool"] in
            ("bounding-box", "rotated-bounding-box", "polygon", "segmentation")]


def weather(rec):
    for c in rec["task"].get("classifications", []):
        if c.get("title") == "Weather":
            return c.get("answer")
    return None


def expected_box(t, w, h):
    """The YOLO row of a bounding box: corners ordered, clipped, normalised."""
    b = t["bounding-box"]
    x0, x1 = sorted((b["x"], b["x"] + b["width"]))
    y0, y1 = sorted((b["y"], b["y"] + b["height"]))
    x0, x1, y0, y1 = max(0, x0), min(w, x1), max(0, y0), min(h, y1)
    return [(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]


def test_views_match_the_export_and_cost_one_export(env):
    hub, m = env
    p = os.path.join(m.path, PHOTOS)
    ds = os.path.join(p, "datasets")
    hub.reset_stats()
    assert sorted(os.listdir(ds)) == ["batch", "coco", "imagefolder", "masks", "splits", "stage",
                                      "voc", "webdataset", "yolo", "yolo-detect", "yolo-seg"]
    # stat and the views' own listings are free: no export before data is read
    subprocess.run(["ls", "-l", ds + "/yolo", ds + "/coco", ds + "/yolo-seg"], check=True,
                   stdout=subprocess.DEVNULL, timeout=60)
    st = os.stat(os.path.join(ds, "yolo", "data.yaml"))
    assert stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222
    assert count(hub, EXPORT) == 0

    schema = schema_of(p)
    classes = area_classes(schema)
    data, rows = check_yolo(os.path.join(ds, "yolo"))
    assert data["names"] == [t["title"] for t in classes]
    recs = records(os.path.join(p, "export", "tasks.ndjson"))
    by_name = {r["externalId"]: r for r in recs}
    assert sorted(rows) == sorted(by_name)
    ids = {t["schemaId"]: i for i, t in enumerate(classes)}
    nmarks = 0
    for name, got in rows.items():
        rec = by_name[name]
        w, h = rec["metadata"]["width"], rec["metadata"]["height"]
        marks = area_marks(rec, ids)
        nmarks += len(marks)
        assert [c for c, _ in got] == [ids[t["schemaId"]] for t in marks], name
        for t, (_, nums) in zip(marks, got):
            if "bounding-box" in t:
                assert nums == pytest.approx(expected_box(t, w, h), abs=2e-6), name
            else:
                assert len(nums) >= 6
    assert nmarks > 0
    # the Ultralytics modes: one kind of row per file
    _, det = check_yolo(os.path.join(ds, "yolo-detect"))
    _, seg = check_yolo(os.path.join(ds, "yolo-seg"))
    assert {k: len(v) for k, v in det.items()} == {k: len(v) for k, v in rows.items()}
    assert all(len(n) == 4 for v in det.values() for _, n in v)
    assert all(len(n) >= 6 for v in seg.values() for _, n in v)

    doc = check_coco(os.path.join(ds, "coco"))
    assert [c["name"] for c in doc["categories"]] == data["names"]
    assert len(doc["annotations"]) == nmarks

    folders = imagefolder(os.path.join(ds, "imagefolder"))
    want = {}
    for r in recs:
        if weather(r):
            want.setdefault(weather(r), []).append(r["externalId"])
    assert folders == {k: sorted(v) for k, v in want.items()}
    with open(os.path.join(ds, "imagefolder", "skipped.txt")) as f:
        text = f.read()
    nans = sum(1 for r in recs if not weather(r))
    assert ("skipped.no_answer %d" % nans in text) if nans else "no_answer" not in text

    # one export for everything above (shared with export/tasks.ndjson), no
    # request per task
    counts = hub.stats()["counts"]
    assert counts.get(EXPORT) == 1, counts
    assert not any("/task/" in k for k in counts), counts


def test_stage_and_batch_views_hold_their_tasks_only(env):
    hub, m = env
    p = os.path.join(m.path, PHOTOS)
    ds = os.path.join(p, "datasets")
    recs = records(os.path.join(p, "export", "tasks.ndjson"))
    before = count(hub, EXPORT)
    assert sorted(os.listdir(os.path.join(ds, "stage"))) == sorted(
        os.listdir(os.path.join(p, "export", "stage")))
    done = sorted(r["externalId"] for r in recs if r["task"]["stage"] == "Complete")
    assert 0 < len(done) < len(recs)
    view = os.path.join(ds, "stage", "Complete")
    _, rows = check_yolo(os.path.join(view, "yolo"))
    assert sorted(rows) == done
    assert sorted(i["file_name"] for i in check_coco(os.path.join(view, "coco"))["images"]) == done
    got = sorted(n for v in imagefolder(os.path.join(view, "imagefolder")).values() for n in v)
    assert got == sorted(r["externalId"] for r in recs
                         if r["task"]["stage"] == "Complete" and weather(r))
    batch = sorted(os.listdir(os.path.join(ds, "batch")))[0]
    _, rows = check_yolo(os.path.join(ds, "batch", batch, "yolo"))
    assert sorted(rows) == sorted(r["externalId"] for r in recs if batch in r.get("batches", []))
    # one export per filter: the stage's and the batch's
    assert count(hub, EXPORT) == before + 2
    # the stage view's export is export/stage/Complete/tasks.ndjson's
    with open(os.path.join(p, "export", "stage", "Complete", "tasks.ndjson")) as f:
        assert sorted(json.loads(line)["externalId"] for line in f if line.strip()) == done
    assert count(hub, EXPORT) == before + 2


def test_data_yaml_resolves_as_ultralytics_from_any_cwd(env, tmp_path):
    """`yolo train data=<mount>/<p>/datasets/yolo/data.yaml` finds the images
    and their labels from any working directory, the yaml named by a
    relative or an absolute path, with DATASETS_DIR elsewhere (Ultralytics'
    check_det_dataset, reproduced in dsutil.ultralytics_resolve). Before:
    `path: .` made every version look in DATASETS_DIR/. instead."""
    hub, m = env
    ds = os.path.join(m.path, PHOTOS, "datasets")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    old = os.getcwd()
    os.chdir(str(cwd))
    try:
        for view in ("yolo", "yolo-detect", "yolo-seg", os.path.join("stage", "Complete", "yolo")):
            vdir = os.path.join(ds, view)
            want = sorted(os.listdir(os.path.join(vdir, "images")))
            assert want
            for arg in (os.path.join(vdir, "data.yaml"),
                        os.path.relpath(os.path.join(vdir, "data.yaml"), str(cwd))):
                for dsdir in (str(cwd / "datasets"), "/nonexistent/datasets"):
                    got = ultralytics_resolve(arg, dsdir)
                    for k in ("train", "val"):
                        assert [os.path.basename(i) for i, _ in got[k]] == want, (view, arg)
                        for img, lab in got[k]:
                            assert os.path.dirname(img) == os.path.join(vdir, "images")
                            assert os.path.isfile(lab), lab  # every image's label
            with open(os.path.join(vdir, "data.yaml")) as f:
                assert yaml_path(f.read()) == vdir
    finally:
        os.chdir(old)


def yaml_path(text):
    import yaml
    return yaml.safe_load(text)["path"]


def test_unknown_names_and_writes_are_refused(env):
    hub, m = env
    ds = os.path.join(m.path, PHOTOS, "datasets")
    for bad in ("nope", "yolo/nope", "yolo/images/nope.png", "yolo/labels/nope.txt",
                "coco/labels", "imagefolder/NoSuchClass", "stage/NoStage/yolo"):
        assert not os.path.exists(os.path.join(ds, bad)), bad
    with pytest.raises(OSError):
        open(os.path.join(ds, "yolo", "data.yaml"), "w")
    with pytest.raises(OSError):
        open(os.path.join(ds, "yolo", "labels", "new.txt"), "w")
    with pytest.raises(OSError):
        os.mkdir(os.path.join(ds, "yolo", "extra"))


def test_new_generation_rebuilds_and_daemons_share_files(workdir):
    hub = Hub(workdir)
    m = Mount(hub, workdir)
    m2 = None
    try:
        p = os.path.join(m.path, PHOTOS)
        view = os.path.join(p, "datasets", "yolo")
        _, rows = check_yolo(view)
        name = sorted(n for n, r in rows.items() if len(r) > 1)[0]
        rec = [r for r in records(os.path.join(p, "export", "tasks.ndjson"))
               if r["externalId"] == name][0]
        box = [t for t in rec["task"]["tools"] if "bounding-box" in t][0]
        w, h = rec["metadata"]["width"], rec["metadata"]["height"]
        st, body = hub.api("POST", "/annotate/" + rec["task"]["taskId"],
                           {"answer": {"tools": [box], "classifications": [],
                                       "relations": []}})
        assert st == 200, body
        before = count(hub, EXPORT)
        os.utime(os.path.join(p, "export"))  # every export of the project is stale
        _, rows = check_yolo(view)
        assert [n for _, n in rows[name]] == [pytest.approx(expected_box(box, w, h), abs=2e-6)]
        assert count(hub, EXPORT) == before + 1
        assert m.log_text().count("datasets: indexed") == 2
        files = os.listdir(os.path.join(m.cache, "datasets"))
        assert files and not [f for f in files if ".tmp-" in f]
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(m.cache, "datasets", f)).st_mode) == 0o600
        # a second daemon on the same cache directory uses the published files
        m2 = Mount(hub, workdir, name="mnt2", cache=m.cache)
        _, rows2 = check_yolo(os.path.join(m2.path, PHOTOS, "datasets", "yolo"))
        assert rows2 == rows
        assert "datasets: indexed" in m2.log_text()
        assert "datasets: built" not in m2.log_text()
    finally:
        if m2:
            m2.stop()
        m.stop()
        hub.stop()


def classification(rec, title):
    for c in rec["task"].get("classifications", []):
        if c.get("title") == title:
            return c.get("answer")
    return None


def test_imagefolder_class_option(module_hub, workdir):
    """-o imagefolder_class picks another single-choice classification (by
    title or schemaId); one this project lacks leaves imagefolder/ empty with
    the reason in skipped.txt, and YOLO untouched."""
    m = Mount(module_hub, workdir, opts=("imagefolder_class=Quality",))
    bad = Mount(module_hub, workdir, name="bad", opts=("imagefolder_class=No Such",))
    try:
        p = os.path.join(m.path, PHOTOS)
        recs = records(os.path.join(p, "export", "tasks.ndjson"))
        want = {}
        for r in recs:
            if classification(r, "Quality"):
                want.setdefault(classification(r, "Quality"), []).append(r["externalId"])
        assert want
        assert imagefolder(os.path.join(p, "datasets", "imagefolder")) == {
            k: sorted(v) for k, v in want.items()}
        q = os.path.join(bad.path, PHOTOS, "datasets")
        assert imagefolder(os.path.join(q, "imagefolder")) == {}
        with open(os.path.join(q, "imagefolder", "skipped.txt")) as f:
            assert "imagefolder_class=No Such" in f.read()
        _, rows = check_yolo(os.path.join(q, "yolo"))
        assert sorted(rows) == sorted(r["externalId"] for r in recs)
    finally:
        bad.stop()
        m.stop()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_larger_project_costs_one_export_and_bounded_memory(workdir):
    """synthetic:3000 (the hub's generated project): every view complete from
    one export, no request per task; the daemon's memory stays small."""
    hub = Hub(workdir, seeds=("synthetic:3000",))
    m = Mount(hub, workdir)
    try:
        p = os.path.join(m.path, "synthetic-3000")
        hub.reset_stats()
        data, rows = check_yolo(os.path.join(p, "datasets", "yolo"))
        assert len(rows) == 3000
        assert sum(len(r) for r in rows.values()) > 3000
        doc = check_coco(os.path.join(p, "datasets", "coco"))
        assert len(doc["images"]) == 3000
        assert len(doc["annotations"]) == sum(len(r) for r in rows.values())
        n = sum(len(v) for v in imagefolder(os.path.join(p, "datasets", "imagefolder")).values())
        assert 0 < n <= 3000
        counts = hub.stats()["counts"]
        assert counts.get(EXPORT) == 1, counts
        assert not any("/task/" in k for k in counts), counts
        assert counts.get("GET /storage", 0) == 0  # no image was read
        if not sanitized(m.proc.pid):  # scripts/sanitize.sh: the shadow memory's
            assert rss_kb(m.proc.pid) < 150 * 1024
    finally:
        m.stop()
        hub.stop()


def test_derived_files_map_shared_while_others_are_read(env):
    """data.yaml, annotations.json and a label file map shared (page cache)
    while other dataset files are being read and while another handle of the
    same file is open. Before: any other open dataset file made the open
    direct_io, and shared mmap failed with ENODEV."""
    hub, m = env
    ds = os.path.join(m.path, PHOTOS, "datasets")
    labels = os.path.join(ds, "yolo", "labels")
    lnames = sorted(os.listdir(labels))
    mine = [os.path.join(ds, "yolo", "data.yaml"), os.path.join(ds, "coco", "annotations.json"),
            os.path.join(labels, lnames[0])]
    others = [os.path.join(labels, n) for n in lnames[1:4]] + [
        os.path.join(ds, "yolo-seg", "data.yaml")]
    want = {}
    for f in mine:
        with open(f, "rb") as h:
            want[f] = h.read()

    def mapped(path):
        with open(path, "rb") as f:
            if not want[path]:
                return b""  # an empty file cannot be mapped
            with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as mm:
                return mm[:]

    stop = threading.Event()

    def reader():
        while not stop.is_set():
            for q in others:
                with open(q, "rb") as f:
                    f.read()

    failed = []
    ts = [threading.Thread(target=reader) for _ in range(2)]
    for t in ts:
        t.start()
    try:
        for _ in range(15):
            for f in mine:
                try:
                    assert mapped(f) == want[f]
                    with open(f, "rb") as held:  # the same file open meanwhile
                        held.read(10)
                        assert mapped(f) == want[f]
                except OSError as e:
                    failed.append((os.path.basename(f), errno.errorcode.get(e.errno)))
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert failed == [], failed[:4]
