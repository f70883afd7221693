"""Tool conformance pack: writing answer.json and the drop boxes (labels/,
attachments/)."""
import errno
import json
import mmap
import os
import pathlib
import shutil

from toolpack import (ANNOTATE, answer_doc, answer_width, fails_clearly,
                      label_doc, out, run, sh, works)
from cellkit import (BAD, GOOD, JQ_FIX, answer_target, box_doc, box_route,
                     canon, cell, check_answer, check_box, failed_box_file,
                     local_answer, local_box_file)


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
    check_answer(env, before, tid, 16)
    # the second run: answer.json now shows the hub's answer (its bytes and
    # updatedAt), not the local file, so rsync sees a difference
    before = env.posts()
    r = run(["rsync", "-a", "--stats", src, dst])
    assert r.returncode == 0, out(r)
    again = env.sent_since(before)
    if again:
        assert again == {ANNOTATE: 1}, again
        assert answer_width(env.hub_answer(tid)) == 16
        return works("a second run sends the same answer once more: answer.json shows "
                     "the hub's rendering and updatedAt, not the local file's")
    return works("the second run copies nothing")


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


def _shutil_answer_cell(fn, n):
    """A cell: fn(src, dst) (shutil.copy, copy2, move) of a local answer file
    (comment n) onto a task's answer.json."""
    def cell_fn(env, kind):
        tid, dst = answer_target(env)
        src = local_answer(env, n)
        before = env.posts()
        fn(src, dst)
        if fn is shutil.move:
            assert not os.path.exists(src)
        return check_answer(env, before, tid, n)
    return cell_fn


for _n, _fn in ((31, shutil.copy), (32, shutil.copy2), (33, shutil.move)):
    cell("shutil." + _fn.__name__, ["answer.json"])(_shutil_answer_cell(_fn, _n))


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
    name, src = local_box_file(env, kind)
    box = os.path.join(env.pdir, kind)
    before = env.posts()
    r = run(["rsync", "-a", src, os.path.join(box, name)])
    assert r.returncode == 0, out(r)
    check_box(env, before, kind, name)
    before = env.posts()
    r = run(["rsync", "-a", src, os.path.join(box, name)])
    assert r.returncode == 0, out(r)
    again = env.sent_since(before)
    if again:
        assert again == {box_route(kind): 1}, again
        return works("a second run uploads the file once more: a sent file leaves the "
                     "drop box, so rsync finds nothing to compare with")
    return works("the second run copies nothing")


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


def sub(kind):
    return "s/%s/%s/" % (BAD[kind], GOOD[kind])


@cell("sed -i", BOXES)
def c_sed_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["sed", "-i", sub(kind), d]))


@cell("perl -pi", BOXES)
def c_perl_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["perl", "-pi", "-e", sub(kind), d]))


@cell("vim -es (write)", BOXES)
def c_vim_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["vim", "-es", "-u", "NONE", "-i", "NONE",
                                                  "-n", "+%" + sub(kind), "+w", "+q!", d]))


@cell("vim -es (:w!)", BOXES)
def c_vim_bang_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["vim", "-es", "-u", "NONE", "-i", "NONE",
                                                  "-n", "+%" + sub(kind), "+w!", "+q!", d]))


@cell("ed", BOXES)
def c_ed_box(env, kind):
    return fix_in_place(env, kind, lambda d: run(["ed", "-s", d],
                                                 input=(",%s\nw\nq\n" % sub(kind)).encode()))


@cell("jq > tmp && mv", BOXES)
def c_jq_box(env, kind):
    return fix_in_place(env, kind, lambda d: sh(
        "cd '%s' && jq '%s' '%s' > .fix.tmp && mv .fix.tmp '%s'"
        % (os.path.dirname(d), JQ_FIX[kind], os.path.basename(d), os.path.basename(d))))


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


def _shutil_box_cell(fn):
    """A cell: fn(src, dst) (shutil.copy, copy2, move) of a local file into a
    drop box."""
    def cell_fn(env, kind):
        name, src = local_box_file(env, kind)
        before = env.posts()
        fn(src, os.path.join(env.pdir, kind, name))
        if fn is shutil.move:
            assert not os.path.exists(src)
        return check_box(env, before, kind, name)
    return cell_fn


for _fn in (shutil.copy, shutil.copy2, shutil.move):
    cell("shutil." + _fn.__name__, BOXES)(_shutil_box_cell(_fn))


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
