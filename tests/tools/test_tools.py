"""Tool conformance pack: the real programs people use, on every kind of file of a
mount (exports, project.json, task.json, answer.json, the labels/ and attachments/
drop boxes), one table-driven suite. Each cell either works (the hub got exactly
what was meant, once) or fails with a clear errno and message with nothing sent;
the run writes docs/TOOLS.md (see toolpack.py). One hub and one mount per module.
"""
import errno
import json
import mmap
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from toolpack import (ANNOTATE, ATTACH, IMPORT, RESULTS, RO_KINDS, Env, answer_doc,
                      answer_width, attach_doc, fails_clearly, first_line, label_doc, out,
                      run, sh, wait_for, works, write_tools_md)

CELLS = []  # [(tool, kind)] in table order
FUNCS = {}


def cell(tool, kinds):
    def deco(fn):
        for k in kinds:
            CELLS.append((tool, k))
            FUNCS[(tool, k)] = fn
        return fn
    return deco


@pytest.fixture(scope="module")
def env(module_workdir):
    from conftest import Hub, Mount
    hub = Hub(module_workdir)
    mount = Mount(hub, module_workdir, opts=("rate_limit=0",),
                  env={"ANGOFS_FLUSH_RETRY_MS": "1500"})
    try:
        yield Env(hub, mount, module_workdir)
    finally:
        mount.stop()
        hub.stop()
        if all(c in RESULTS for c in CELLS) and os.environ.get("ANGOFS_TOOLS_MD", "1") != "0":
            write_tools_md(CELLS)


# ---------------------------------------------------------------- helpers ----

def canon(path):
    with open(path, "rb") as f:
        return f.read()


def ro_target(env, kind):
    p = env.path(kind)
    canon(p)  # read once: exports are materialized, sizes are true
    return p


def answer_target(env):
    tid, tdir = env.fresh_task()
    return tid, os.path.join(tdir, "answer.json")


def check_answer(env, before, tid, width, note=""):
    sent = env.sent_since(before)
    assert sent == {ANNOTATE: 1}, "expected exactly one annotate, got %s" % sent
    assert answer_width(env.hub_answer(tid)) == width
    return works(note)


def local_answer(env, width):
    p = env.lpath(env.uniq("answer") + ".json")
    with open(p, "w") as f:
        json.dump(answer_doc(width), f)
    return p


def box_doc(kind, i, weather="Rain"):
    return label_doc(i, weather) if kind == "labels/" else attach_doc(i)


def box_route(kind):
    return IMPORT if kind == "labels/" else ATTACH


def local_box_file(env, kind, weather="Rain"):
    name = env.uniq("drop") + ".json"
    p = env.lpath(name)
    with open(p, "w") as f:
        json.dump(box_doc(kind, env.n % 200 + 1, weather), f)
    return name, p


def check_box(env, before, kind, name, n=1, note=""):
    sent = env.sent_since(before)
    assert sent == {box_route(kind): n}, "expected %d upload(s), got %s" % (n, sent)
    status = canon(os.path.join(env.pdir, kind, name + ".status")).decode()
    assert status.startswith("sent"), status
    return works(note)


def failed_box_file(env, kind):
    """A drop-box file the hub refused (to be fixed in place), labels only."""
    name, p = local_box_file(env, kind, weather="Foggy")
    dst = os.path.join(env.pdir, kind, name)
    r = run(["cp", p, dst])
    assert r.returncode != 0 and b"Invalid argument" in r.stderr
    return name, dst


# ------------------------------------------------------------- read cells ----

@cell("cp", RO_KINDS)
def c_cp_read(env, kind):
    src = env.path(kind)
    dst = env.lpath(env.uniq("cp"))
    r = run(["cp", src, dst])
    assert r.returncode == 0, out(r)
    assert canon(dst) == canon(src) and len(canon(dst)) > 0
    return works("copies the whole file out (also an export never read before)")


@cell("cp -a", RO_KINDS)
def c_cp_a_read(env, kind):
    src = ro_target(env, kind)
    dst = env.lpath(env.uniq("cpa"))
    r = run(["cp", "-a", src, dst])
    assert r.returncode == 0, out(r)
    assert canon(dst) == canon(src)
    assert int(os.stat(dst).st_mtime) == int(os.stat(src).st_mtime)
    return works("keeps the mtime")


@cell("mv", RO_KINDS)
def c_mv_out(env, kind):
    before = env.posts()
    src = ro_target(env, kind)
    r = run(["mv", src, env.lpath(env.uniq("mv"))])
    text = fails_clearly(env, before, r)
    assert os.path.exists(src)
    return text


@cell("rsync -a (twice)", RO_KINDS)
def c_rsync_read(env, kind):
    src = ro_target(env, kind)
    dst = env.lpath(env.uniq("rs"))
    r = run(["rsync", "-a", "--stats", src, dst])
    assert r.returncode == 0, out(r)
    assert canon(dst) == canon(src)
    r = run(["rsync", "-a", "--stats", src, dst])
    assert r.returncode == 0, out(r)
    assert b"Number of regular files transferred: 0" in r.stdout, out(r)
    return works("the second run copies nothing")


@cell("rsync --checksum", RO_KINDS)
def c_rsync_c_read(env, kind):
    src = ro_target(env, kind)
    dst = env.lpath(env.uniq("rsc"))
    for i in range(2):
        r = run(["rsync", "-a", "--checksum", "--stats", src, dst])
        assert r.returncode == 0, out(r)
    assert b"Number of regular files transferred: 0" in r.stdout, out(r)
    assert canon(dst) == canon(src)
    return works()


@cell("tar -c/-x", RO_KINDS)
def c_tar_read(env, kind):
    src = ro_target(env, kind)
    tarf = env.lpath(env.uniq("t") + ".tar")
    xdir = env.lpath(env.uniq("x"))
    os.makedirs(xdir)
    r = run(["tar", "-cf", tarf, "-C", os.path.dirname(src), os.path.basename(src)])
    assert r.returncode == 0, out(r)
    r = run(["tar", "-xf", tarf, "-C", xdir])
    assert r.returncode == 0, out(r)
    assert canon(os.path.join(xdir, os.path.basename(src))) == canon(src)
    return works("byte-complete once the file was read or prefetched (see README)")


@cell("tar -c (never read)", ["export"])
def c_tar_never_read(env, kind):
    src = env.never_read()
    tarf = env.lpath(env.uniq("t") + ".tar")
    xdir = env.lpath(env.uniq("x"))
    os.makedirs(xdir)
    r = run(["tar", "-cf", tarf, "-C", os.path.dirname(src), os.path.basename(src)])
    assert r.returncode == 0, out(r)
    assert run(["tar", "-xf", tarf, "-C", xdir]).returncode == 0
    data = canon(os.path.join(xdir, os.path.basename(src)))
    assert data == canon(src) and len(data) > 1000
    return works("a never-read export shows 1 byte, so tar opens it, which downloads it, "
                 "and archives the size fstat then shows: byte-complete")


@cell("angofs --prefetch, then tar and rsync -a (twice)", ["export"])
def c_prefetch(env, kind):
    from conftest import ANGOFS_BIN
    src = env.never_read()
    exp = os.path.dirname(src)  # export/stage/<stage> or export/batch/<batch>
    env.unread = [u for u in env.unread if os.path.dirname(u) != exp]
    r = run([ANGOFS_BIN, "--prefetch", exp])
    assert r.returncode == 0, out(r)
    assert b"exports prefetched" in r.stdout
    data = canon(src)
    assert os.stat(src).st_size == len(data) > 1000
    dst = env.lpath(env.uniq("pf"))
    for i in range(2):
        r = run(["rsync", "-a", "--stats", exp + "/", dst + "/"])
        assert r.returncode == 0, out(r)
    assert b"Number of regular files transferred: 0" in r.stdout, out(r)
    tarf = env.lpath(env.uniq("pf") + ".tar")
    assert run(["tar", "-cf", tarf, "-C", env.pdir, os.path.relpath(exp, env.pdir)]).returncode == 0
    xdir = env.lpath(env.uniq("pfx"))
    os.makedirs(xdir)
    assert run(["tar", "-xf", tarf, "-C", xdir]).returncode == 0
    rel = os.path.relpath(src, env.pdir)
    assert canon(os.path.join(xdir, rel)) == data
    return works("sizes and mtimes are true and stable: a second rsync copies nothing, "
                 "tar is byte-complete")


@cell("rsync -a (never read)", ["export"])
def c_rsync_never_read(env, kind):
    src = env.never_read()
    dst = env.lpath(env.uniq("rsn"))
    r = run(["rsync", "-a", src, dst])
    assert r.returncode == 0, out(r)
    assert canon(dst) == canon(src)
    r = run(["rsync", "-a", "--stats", src, dst])
    again = b"Number of regular files transferred: 0" not in r.stdout
    r = run(["rsync", "-a", "--stats", src, dst])
    assert r.returncode == 0 and b"Number of regular files transferred: 0" in r.stdout
    return works("complete copy" + ("; the second run copies it once more (the mtime before "
                                    "the first read is the mount time): prefetch first"
                                    if again else ""))


@cell("du (never read)", ["export"])
def c_du_never_read(env, kind):
    before = env.hub.stats()["counts"].get("GET /v2/export", 0)
    src = env.never_read()
    r = run(["du", "-b", src])
    assert r.returncode == 0 and r.stdout.split()[0] == b"1", out(r)
    r = run(["du", "-k", src])
    assert r.returncode == 0 and r.stdout.split()[0] == b"0", out(r)
    assert env.hub.stats()["counts"].get("GET /v2/export", 0) == before
    return works("downloads nothing; counts 0 blocks until the export is read or prefetched")


@cell("zip", RO_KINDS)
def c_zip_read(env, kind):
    import zipfile
    src = ro_target(env, kind)
    z = env.lpath(env.uniq("z") + ".zip")
    r = run(["zip", "-j", "-q", z, src])
    assert r.returncode == 0, out(r)
    with zipfile.ZipFile(z) as zf:
        assert zf.read(os.path.basename(src)) == canon(src)
    return works()


@cell("dd", RO_KINDS)
def c_dd_read(env, kind):
    src = env.path(kind)
    dst = env.lpath(env.uniq("dd"))
    r = run(["dd", "if=" + src, "of=" + dst, "bs=64k", "status=none"])
    assert r.returncode == 0, out(r)
    assert canon(dst) == canon(src)
    return works()


@cell("tail -f", RO_KINDS + ["answer.json"])
def c_tail_f(env, kind):
    src = ro_target(env, kind) if kind != "answer.json" else answer_target(env)[1]
    want = canon(src).rstrip(b"\n").split(b"\n")[-1]
    p = subprocess.Popen(["tail", "-n", "1", "-f", src], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    assert line.rstrip(b"\n") == want
    return works("shows the end; stops on a signal")


@cell("file", RO_KINDS)
def c_file(env, kind):
    src = env.path(kind)
    r = run(["file", "-b", src])
    assert r.returncode == 0 and b"empty" not in r.stdout, out(r)
    assert b"JSON" in r.stdout or b"text" in r.stdout, out(r)
    return works(first_line(out(r), 40))


@cell("stat", RO_KINDS + ["answer.json"])
def c_stat(env, kind):
    src = env.path(kind) if kind != "answer.json" else answer_target(env)[1]
    before = env.hub.stats()["counts"]
    r = run(["stat", "-c", "%s %Y %A", src])
    assert r.returncode == 0, out(r)
    if kind == "export":
        # stat never downloads
        assert env.hub.stats()["counts"].get("GET /v2/export", 0) == \
            before.get("GET /v2/export", 0)
    return works()


@cell("ls -l", RO_KINDS + ["answer.json", "labels/", "attachments/"])
def c_ls_l(env, kind):
    if kind in ("labels/", "attachments/"):
        # a file with a long name leaves a .status that ls must show
        name = "n" * 250
        src = os.path.join(env.pdir, kind, name)
        with open(src, "w") as f:
            json.dump(box_doc(kind, 11), f)
        target = os.path.join(env.pdir, kind)
    else:
        target = env.path(kind) if kind != "answer.json" else answer_target(env)[1]
    r = run(["ls", "-l", target])
    assert r.returncode == 0 and b"?" not in r.stdout, out(r)
    return works()


@cell("du", RO_KINDS)
def c_du(env, kind):
    src = ro_target(env, kind)
    r = run(["du", "-b", src])
    assert r.returncode == 0, out(r)
    assert int(r.stdout.split()[0]) == len(canon(src))
    return works("true size once read")


@cell("find -newer", ["task.json", "answer.json"])
def c_find_newer(env, kind):
    tid, tdir = env.fresh_task()
    ref = env.lpath(env.uniq("ref"))
    with open(ref, "w") as f:
        f.write("x")
    os.utime(ref, (time.time() - 1, time.time() - 1))
    r = run(["find", tdir, "-name", kind, "-newer", ref])
    assert r.returncode == 0 and r.stdout == b"", out(r)  # unchanged for months
    time.sleep(1.1)
    local = local_answer(env, 77)
    assert run(["cp", local, os.path.join(tdir, "answer.json")]).returncode == 0
    r = run(["find", tdir, "-name", kind, "-newer", ref])
    assert r.returncode == 0 and kind.encode() in r.stdout, out(r)
    return works("the mtime is the hub's updatedAt")


@cell("find -newer", ["export"])
def c_find_newer_export(env, kind):
    src = ro_target(env, kind)
    m0 = os.stat(src).st_mtime
    ref = env.lpath(env.uniq("ref"))
    with open(ref, "w") as f:
        f.write("x")
    t = time.time()
    os.utime(ref, (t, t))
    assert os.stat(src).st_mtime == m0  # stable across reads of one generation
    canon(src)
    r = run(["find", src, "-newer", ref])
    assert r.returncode == 0 and r.stdout == b"", out(r)
    time.sleep(1.1)
    os.utime(src)  # touch: refresh, a new generation
    canon(src)
    r = run(["find", src, "-newer", ref])
    assert r.returncode == 0 and src.encode() in r.stdout, out(r)
    return works("the mtime is the time of the generation (stable across reads)")


@cell("find -mmin", ["export", "task.json"])
def c_find_mmin(env, kind):
    src = ro_target(env, kind)
    r = run(["find", src, "-mmin", "-100000000"])
    assert r.returncode == 0 and src.encode() in r.stdout, out(r)
    return works()


@cell("Python open().read()", RO_KINDS)
def c_py_read(env, kind):
    with open(env.path(kind)) as f:
        json.loads(f.read()) if kind != "export" else json.load(f)
    return works()


@cell("Python mmap (shared)", RO_KINDS + ["answer.json"])
def c_mmap_shared(env, kind):
    src = ro_target(env, kind) if kind != "answer.json" else answer_target(env)[1]
    with open(src, "rb") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m:
            assert m[:] == canon(src)
    return works("read-only mapping")


@cell("Python mmap (private)", RO_KINDS + ["answer.json"])
def c_mmap_private(env, kind):
    src = ro_target(env, kind) if kind != "answer.json" else answer_target(env)[1]
    with open(src, "rb") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ) as m:
            assert m[:] == canon(src)
    return works()


@cell("pandas read_json", ["export"])
def c_pandas_read(env, kind):
    import pandas as pd
    df = pd.read_json(env.path(kind))
    assert len(df) == len(json.loads(canon(env.path(kind))))
    dfl = pd.read_json(os.path.join(env.pdir, "export", "tasks.ndjson"), lines=True)
    assert len(dfl) == len(df)
    return works("json and ndjson (lines=True)")


# ------------------------------------------ writes refused on read-only files ----

def refused(env, kind, fn, exit0_ok=False):
    before = env.posts()
    src = ro_target(env, kind)
    old = canon(src)
    res = fn(src)
    text = fails_clearly(env, before, res, exit0_ok=exit0_ok)
    assert canon(src) == old
    return text


def try_os(fn):
    try:
        fn()
    except OSError as e:
        return e
    raise AssertionError("the write was not refused")


@cell("cp (onto)", RO_KINDS)
def c_cp_onto_ro(env, kind):
    local = env.lpath(env.uniq("x"))
    with open(local, "w") as f:
        f.write("{}")
    return refused(env, kind, lambda s: run(["cp", local, s]))


@cell("sed -i", RO_KINDS)
def c_sed_ro(env, kind):
    return refused(env, kind, lambda s: run(["sed", "-i", "s/a/b/", s]))


@cell("vim -es (write)", RO_KINDS)
def c_vim_ro(env, kind):
    # -V1: vim -es shows its error messages only when verbose
    return refused(env, kind, lambda s: run(["vim", "-es", "-V1", "-u", "NONE", "-i", "NONE",
                                             "-n", "+1s/{/{ /", "+w", "+q!", s]))


@cell("vim -es (:w!)", RO_KINDS)
def c_vim_bang_ro(env, kind):
    return refused(env, kind, lambda s: run(["vim", "-es", "-V1", "-u", "NONE", "-i", "NONE",
                                             "-n", "+1s/{/{ /", "+w!", "+q!", s]))


@cell("perl -pi", RO_KINDS)
def c_perl_ro(env, kind):
    # perl reports the file it cannot edit and goes on (exit 0 by design)
    return refused(env, kind, lambda s: run(["perl", "-pi", "-e", "s/a/b/", s]),
                   exit0_ok=True)


@cell("ed", RO_KINDS)
def c_ed_ro(env, kind):
    return refused(env, kind, lambda s: run(["ed", "-v", "-s", s], input=b"1s/{/{ /\nw\nq\n"))


@cell("tee", RO_KINDS)
def c_tee_ro(env, kind):
    return refused(env, kind, lambda s: run(["tee", s], input=b"{}"))


@cell("truncate", RO_KINDS)
def c_truncate_ro(env, kind):
    return refused(env, kind, lambda s: run(["truncate", "-s", "0", s]))


@cell("Python open('w')", RO_KINDS)
def c_py_w_ro(env, kind):
    return refused(env, kind, lambda s: try_os(lambda: open(s, "w").close()))


# -------------------------------------------------------- answer.json cells ----

@cell("cp", ["answer.json"])
def c_cp_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["cp", local_answer(env, 11), dst])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 11)


@cell("cp -a", ["answer.json"])
def c_cp_a_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["cp", "-a", local_answer(env, 12), dst])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 12)


@cell("mv (same file system)", ["answer.json"])
def c_mv_same_answer(env, kind):
    tid, dst = answer_target(env)
    draft = os.path.join(os.path.dirname(dst), "draft.json")
    shutil.copyfile(local_answer(env, 13), draft)
    before = env.posts()
    assert env.sent_since(before) == {}
    r = run(["mv", draft, dst])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 13, "from a scratch file beside it")


@cell("mv (other file system)", ["answer.json"])
def c_mv_cross_answer(env, kind):
    tid, dst = answer_target(env)
    src = local_answer(env, 14)
    before = env.posts()
    r = run(["mv", src, dst])
    assert r.returncode == 0, out(r)
    assert not os.path.exists(src)
    return check_answer(env, before, tid, 14)


@cell("install", ["answer.json"])
def c_install_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["install", "-m", "644", local_answer(env, 15), dst])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 15)


@cell("rsync -a (twice)", ["answer.json"])
def c_rsync_answer(env, kind):
    tid, dst = answer_target(env)
    src = local_answer(env, 16)
    before = env.posts()
    r = run(["rsync", "-a", src, dst])
    assert r.returncode == 0, out(r)
    text = check_answer(env, before, tid, 16)
    return text + " — a second run sends the answer again (the hub rewrites the file)"


@cell("rsync --checksum", ["answer.json"])
def c_rsync_c_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["rsync", "--checksum", local_answer(env, 17), dst])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 17)


@cell("tar -c/-x", ["answer.json"])
def c_tar_answer(env, kind):
    tid, dst = answer_target(env)
    src = local_answer(env, 18)
    stage = env.lpath(env.uniq("tx"))
    os.makedirs(stage)
    shutil.copyfile(src, os.path.join(stage, "answer.json"))
    tarf = stage + ".tar"
    assert run(["tar", "-cf", tarf, "-C", stage, "answer.json"]).returncode == 0
    before = env.posts()
    r = run(["tar", "-xf", tarf, "-C", os.path.dirname(dst)])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 18, "tar -x into the task directory")


@cell("zip", ["answer.json"])
def c_zip_answer(env, kind):
    import zipfile
    tid, src = answer_target(env)
    before = env.posts()
    z = env.lpath(env.uniq("za") + ".zip")
    r = run(["zip", "-j", "-q", z, src])
    assert r.returncode == 0, out(r)
    with zipfile.ZipFile(z) as zf:
        assert zf.read("answer.json") == canon(src)
    assert env.sent_since(before) == {}
    return works("reads it, sends nothing")


def edit_answer(env, width, cmd):
    tid, dst = answer_target(env)
    shutil.copyfile(local_answer(env, 1000), dst)  # a known answer to edit
    assert answer_width(env.hub_answer(tid)) == 1000
    before = env.posts()
    r = cmd(dst)
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, width)


@cell("sed -i", ["answer.json"])
def c_sed_answer(env, kind):
    return edit_answer(env, 21, lambda d: run(["sed", "-i", "s/1000/21/", d]))


@cell("vim -es (write)", ["answer.json"])
def c_vim_answer(env, kind):
    return edit_answer(env, 22, lambda d: run(["vim", "-es", "-u", "NONE", "-i", "NONE", "-n",
                                               "+%s/1000/22/", "+w", "+q!", d]))


@cell("vim -es (:w!)", ["answer.json"])
def c_vim_bang_answer(env, kind):
    return edit_answer(env, 23, lambda d: run(["vim", "-es", "-u", "NONE", "-i", "NONE", "-n",
                                               "+%s/1000/23/", "+w!", "+q!", d]))


@cell("ed", ["answer.json"])
def c_ed_answer(env, kind):
    return edit_answer(env, 24, lambda d: run(["ed", "-s", d], input=b",s/1000/24/\nw\nq\n"))


@cell("perl -pi", ["answer.json"])
def c_perl_answer(env, kind):
    return edit_answer(env, 25, lambda d: run(["perl", "-pi", "-e", "s/1000/25/", d]))


@cell("jq > tmp && mv", ["answer.json"])
def c_jq_answer(env, kind):
    return edit_answer(env, 26, lambda d: sh(
        "cd '%s' && jq '.tools[0][\"bounding-box\"].width = 26' answer.json > answer.tmp"
        " && mv answer.tmp answer.json" % os.path.dirname(d)))


@cell("tee", ["answer.json"])
def c_tee_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["tee", dst], input=json.dumps(answer_doc(27)).encode())
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 27)


@cell("dd", ["answer.json"])
def c_dd_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["dd", "if=" + local_answer(env, 28), "of=" + dst, "status=none"])
    assert r.returncode == 0, out(r)
    return check_answer(env, before, tid, 28)


@cell("truncate", ["answer.json"])
def c_truncate_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    r = run(["truncate", "-s", "0", dst])
    text = fails_clearly(env, before, r, allowed=(errno.EINVAL,))
    os.unlink(dst)  # drop the refused empty draft
    return text


@cell("Python open('w')", ["answer.json"])
def c_py_w_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    with open(dst, "w") as f:
        json.dump(answer_doc(29), f)
    return check_answer(env, before, tid, 29)


@cell("Python open('r+') unchanged", ["answer.json"])
def c_py_rplus_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    with open(dst, "r+") as f:
        f.read()
    fd = os.open(dst, os.O_RDWR)
    os.close(fd)
    assert env.sent_since(before) == {}
    return works("nothing is sent: only a write or O_TRUNC sends")


@cell("pathlib.write_text", ["answer.json"])
def c_pathlib_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    pathlib.Path(dst).write_text(json.dumps(answer_doc(30)))
    return check_answer(env, before, tid, 30)


@cell("shutil.copy", ["answer.json"])
def c_shutil_copy_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    shutil.copy(local_answer(env, 31), dst)
    return check_answer(env, before, tid, 31)


@cell("shutil.copy2", ["answer.json"])
def c_shutil_copy2_answer(env, kind):
    tid, dst = answer_target(env)
    before = env.posts()
    shutil.copy2(local_answer(env, 32), dst)
    return check_answer(env, before, tid, 32)


@cell("shutil.move", ["answer.json"])
def c_shutil_move_answer(env, kind):
    tid, dst = answer_target(env)
    src = local_answer(env, 33)
    before = env.posts()
    shutil.move(src, dst)
    assert not os.path.exists(src)
    return check_answer(env, before, tid, 33)


@cell("stat after answer.next.json", ["answer.json"])
def c_stat_after_next(env, kind):
    tid, dst = answer_target(env)
    old = os.stat(dst).st_size
    doc = answer_doc(34)
    doc["classifications"][0]["answer"] = "Cloudy Cloudy Cloudy"[:6]
    before = env.posts()
    with open(os.path.join(os.path.dirname(dst), "answer.next.json"), "w") as f:
        json.dump(doc, f)
    assert env.sent_since(before) == {ANNOTATE: 1}
    assert os.stat(dst).st_size == len(canon(dst)) != old
    return works("the size is fresh at once")


# --------------------------------------------------------- drop-box cells ----

BOXES = ["labels/", "attachments/"]


def copy_in(env, kind, argv, note=""):
    name, src = local_box_file(env, kind)
    before = env.posts()
    r = run(argv(src, os.path.join(env.pdir, kind, name)))
    assert r.returncode == 0, out(r)
    return check_box(env, before, kind, name, note=note)


@cell("cp", BOXES)
def c_cp_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["cp", s, d])


@cell("cp -a", BOXES)
def c_cp_a_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["cp", "-a", s, d])


@cell("mv (other file system)", BOXES)
def c_mv_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["mv", s, d])


@cell("mv (same file system)", BOXES)
def c_mv_same_box(env, kind):
    name, src = local_box_file(env, kind)
    tmp = os.path.join(env.pdir, kind, "." + name + ".part")
    shutil.copyfile(src, tmp)
    before = env.posts()
    r = run(["mv", tmp, os.path.join(env.pdir, kind, name)])
    assert r.returncode == 0, out(r)
    return check_box(env, before, kind, name, note="from a dot-name scratch file beside it")


@cell("install", BOXES)
def c_install_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["install", "-m", "644", s, d])


@cell("rsync -a (twice)", BOXES)
def c_rsync_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["rsync", "-a", s, d],
                   note="a second run sends the file again (a sent file leaves the drop box)")


@cell("rsync --checksum", BOXES)
def c_rsync_c_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["rsync", "--checksum", s, d])


@cell("tar -c/-x", BOXES)
def c_tar_box(env, kind):
    name, src = local_box_file(env, kind)
    tarf = src + ".tar"
    assert run(["tar", "-cf", tarf, "-C", env.local, name]).returncode == 0
    before = env.posts()
    r = run(["tar", "-xf", tarf, "-C", os.path.join(env.pdir, kind)])
    assert r.returncode == 0, out(r)
    return check_box(env, before, kind, name, note="tar -x into the drop box")


@cell("tee", BOXES)
def c_tee_box(env, kind):
    name, src = local_box_file(env, kind)
    before = env.posts()
    r = run(["tee", os.path.join(env.pdir, kind, name)], input=canon(src))
    assert r.returncode == 0, out(r)
    return check_box(env, before, kind, name)


@cell("dd", BOXES)
def c_dd_box(env, kind):
    return copy_in(env, kind, lambda s, d: ["dd", "if=" + s, "of=" + d, "status=none"])


@cell("truncate", BOXES)
def c_truncate_box(env, kind):
    before = env.posts()
    dst = os.path.join(env.pdir, kind, env.uniq("empty") + ".json")
    r = run(["truncate", "-s", "0", dst])
    text = fails_clearly(env, before, r, allowed=(errno.EINVAL,))
    os.unlink(dst)
    return text


def fix_in_place(env, kind, cmd):
    name, dst = failed_box_file(env, kind)
    before = env.posts()
    r = cmd(dst)
    assert r.returncode == 0, out(r)
    assert sorted(n for n in os.listdir(os.path.join(env.pdir, kind))
                  if n.startswith(("sed", "XX"))) == []
    return check_box(env, before, kind, name, note="fixing a refused file in place")


@cell("sed -i", ["labels/"])
def c_sed_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["sed", "-i", "s/Foggy/Rain/", d]))


@cell("perl -pi", ["labels/"])
def c_perl_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["perl", "-pi", "-e", "s/Foggy/Rain/", d]))


@cell("vim -es (write)", ["labels/"])
def c_vim_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["vim", "-es", "-u", "NONE", "-i", "NONE",
                                                  "-n", "+%s/Foggy/Rain/", "+w", "+q!", d]))


@cell("vim -es (:w!)", ["labels/"])
def c_vim_bang_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["vim", "-es", "-u", "NONE", "-i", "NONE",
                                                  "-n", "+%s/Foggy/Rain/", "+w!", "+q!", d]))


@cell("ed", ["labels/"])
def c_ed_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["ed", "-s", d],
                                                 input=b",s/Foggy/Rain/\nw\nq\n"))


@cell("jq > tmp && mv", ["labels/"])
def c_jq_box(env, kind):
    return fix_in_place(env, kind, lambda d: sh(
        "cd '%s' && jq '.[0].classifications[0].answer = \"Rain\"' '%s' > .fix.tmp"
        " && mv .fix.tmp '%s'" % (os.path.dirname(d), os.path.basename(d),
                                  os.path.basename(d))))


@cell("Python open('w')", BOXES)
def c_py_w_box(env, kind):
    name = env.uniq("py") + ".json"
    before = env.posts()
    with open(os.path.join(env.pdir, kind, name), "w") as f:
        json.dump(box_doc(kind, 5), f)
    return check_box(env, before, kind, name)


@cell("pathlib.write_text", BOXES)
def c_pathlib_box(env, kind):
    name = env.uniq("pl") + ".json"
    before = env.posts()
    pathlib.Path(env.pdir, kind, name).write_text(json.dumps(box_doc(kind, 6)))
    return check_box(env, before, kind, name)


@cell("shutil.copy", BOXES)
def c_shutil_copy_box(env, kind):
    name, src = local_box_file(env, kind)
    before = env.posts()
    shutil.copy(src, os.path.join(env.pdir, kind, name))
    return check_box(env, before, kind, name)


@cell("shutil.copy2", BOXES)
def c_shutil_copy2_box(env, kind):
    name, src = local_box_file(env, kind)
    before = env.posts()
    shutil.copy2(src, os.path.join(env.pdir, kind, name))
    return check_box(env, before, kind, name)


@cell("shutil.move", BOXES)
def c_shutil_move_box(env, kind):
    name, src = local_box_file(env, kind)
    before = env.posts()
    shutil.move(src, os.path.join(env.pdir, kind, name))
    assert not os.path.exists(src)
    return check_box(env, before, kind, name)


@cell("pandas to_json", ["labels/"])
def c_pandas_box(env, kind):
    import pandas as pd
    name = env.uniq("pd") + ".ndjson"
    df = pd.DataFrame(label_doc(7) + label_doc(8))
    before = env.posts()
    df.to_json(os.path.join(env.pdir, kind, name), orient="records", lines=True)
    return check_box(env, before, kind, name)


@cell("Python mmap (shared, writable)", ["answer.json", "labels/"])
def c_mmap_write(env, kind):
    if kind == "answer.json":
        path = answer_target(env)[1]
    else:
        path = failed_box_file(env, kind)[1]  # a refused file kept there, to fix
    before = env.posts()
    fd = os.open(path, os.O_RDWR)
    try:
        mmap.mmap(fd, 0, flags=mmap.MAP_SHARED)
        raise AssertionError("a shared writable mapping was accepted")
    except OSError as e:
        err = e
    finally:
        os.close(fd)  # nothing was written: nothing to send
    if kind != "answer.json":
        os.unlink(path)
    text = fails_clearly(env, before, err, allowed=(errno.ENODEV,))
    return text + " — mmap(2): this file system cannot map the file for writing; write() it"


@cell("long name (250 bytes)", BOXES)
def c_long_name_box(env, kind):
    name = ("L%d-" % env.n) + "x" * 240 + ".json"
    env.n += 1
    src = env.lpath("long.json")
    with open(src, "w") as f:
        json.dump(box_doc(kind, 10), f)
    before = env.posts()
    r = run(["cp", src, os.path.join(env.pdir, kind, name)])
    assert r.returncode == 0, out(r)
    assert env.sent_since(before) == {box_route(kind): 1}
    box = os.path.join(env.pdir, kind)
    st = [n for n in os.listdir(box) if n.startswith(name[:200]) and n.endswith(".status")]
    assert len(st) == 1 and len(st[0].encode()) <= 255, st
    assert canon(os.path.join(box, st[0])).startswith(b"sent")
    r = run(["rsync", "-a", box + "/", env.lpath(env.uniq("boxcopy")) + "/"])
    assert r.returncode == 0, out(r)
    os.unlink(os.path.join(box, st[0]))
    assert st[0] not in os.listdir(box)
    return works("its .status name is shortened to fit 255 bytes (…~<hash>.status)")


# ------------------------------------------------------------------ run ----

@pytest.mark.parametrize("tool,kind", CELLS, ids=["%s|%s" % c for c in CELLS])
def test_cell(env, tool, kind):
    RESULTS.pop((tool, kind), None)
    RESULTS[(tool, kind)] = FUNCS[(tool, kind)](env, kind)
