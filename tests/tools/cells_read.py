"""Tool conformance pack: reading every kind of file, and writes refused on the
read-only ones (exports, project.json, task.json)."""
import json
import mmap
import os
import pathlib
import shutil
import signal
import subprocess
import time

from toolpack import (wait_for, RO_KINDS, fails_clearly, first_line, out, run, sh, works)
from cellkit import (answer_target, box_doc, canon, cell, local_answer,
                     ro_target)


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


@cell("angofs --prefetch -b (background)", ["export"])
def c_prefetch_bg(env, kind):
    from conftest import ANGOFS_BIN
    src = env.never_read()
    exp = os.path.dirname(src)
    env.unread = [u for u in env.unread if os.path.dirname(u) != exp]
    r = run([ANGOFS_BIN, "--prefetch", "-b", exp])
    assert r.returncode == 0 and b"in the background" in r.stdout, out(r)
    wait_for(lambda: os.stat(src).st_blocks > 0, 120, "the background prefetch")
    assert os.stat(src).st_size == len(canon(src)) > 1000
    return works("returns at once; the downloads show in .status / angofs --status")


@cell("rsync -a (never read)", ["export"])
def c_rsync_never_read(env, kind):
    src = env.never_read()
    dst = env.lpath(env.uniq("rsn"))
    r = run(["rsync", "-a", src, dst])
    assert r.returncode == 0, out(r)
    assert canon(dst) == canon(src)
    r = run(["rsync", "-a", "--stats", src, dst])
    assert r.returncode == 0 and b"Number of regular files transferred: 0" in r.stdout, out(r)
    return works("complete copy; the second run copies nothing (the first read keeps the "
                 "mtime ls showed)")


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


def local_json(env):
    p = env.lpath(env.uniq("ro") + ".json")
    with open(p, "w") as f:
        f.write("{}\n")
    return p


@cell("mv (other file system)", RO_KINDS)
def c_mv_onto_ro(env, kind):
    return refused(env, kind, lambda s: run(["mv", local_json(env), s]))


@cell("install", RO_KINDS)
def c_install_ro(env, kind):
    return refused(env, kind, lambda s: run(["install", "-m", "644", local_json(env), s]))


@cell("jq > tmp && mv", RO_KINDS)
def c_jq_ro(env, kind):
    def go(s):
        tmp = env.lpath(env.uniq("jq") + ".json")
        return sh("jq . \"$0\" > \"$1\" && mv \"$1\" \"$0\"".replace("$0", s).replace("$1", tmp))
    return refused(env, kind, go)


@cell("dd (onto)", RO_KINDS)
def c_dd_ro(env, kind):
    return refused(env, kind, lambda s: run(["dd", "if=" + local_json(env), "of=" + s,
                                             "status=none"]))


@cell("pathlib.write_text", RO_KINDS)
def c_pathlib_ro(env, kind):
    return refused(env, kind, lambda s: try_os(lambda: pathlib.Path(s).write_text("{}")))


@cell("shutil.copy", RO_KINDS)
def c_shutil_copy_ro(env, kind):
    return refused(env, kind, lambda s: try_os(lambda: shutil.copy(local_json(env), s)))


@cell("shutil.move", RO_KINDS)
def c_shutil_move_ro(env, kind):
    return refused(env, kind, lambda s: try_os(lambda: shutil.move(local_json(env), s)))


@cell("Python open('w')", RO_KINDS)
def c_py_w_ro(env, kind):
    return refused(env, kind, lambda s: try_os(lambda: open(s, "w").close()))
