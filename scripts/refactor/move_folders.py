#!/usr/bin/env python3
"""The folder move of issue 25: src/core/ split by subsystem (read/,
read/views/, exports/, cachedir/, media/, fs/), each file named for what it
does. Run once from the repository root on a clean tree:

  scripts/refactor/move_folders.py [--dry-run]

After a merge that brought old names back (a branch written before the
move), run it again: with src/core/ gone it only rewrites the names. It
`git mv`s every file of MOVES, rewrites the quoted includes of every C
file of src/ and tests/ for the new places, the file's old path and old name
wherever the sources, tests, scripts and docs mention them ("src/core/x.c"
becomes "src/<new>", a bare "x.c" becomes "<folder>/<new name>"), the
entries of src/meson.build and the keys of tests/unit/check_prefixes.py. A
file of src/core/ the table does not know stops it before anything moves.
What it cannot know (globs such as "src/core/ds*.c", prose) is listed at
the end: grep for it.
"""
import os
import re
import subprocess
import sys

MOVES = {
    # the read side: the tree of projects, tasks, assets
    "core/core.c": "read/tree.c",
    "core/core_cb.c": "read/events.c",
    "core/core_int.h": "read/read_int.h",
    "core/core_status.c": "read/status.c",
    "core/projects.c": "read/projects.c",
    "core/tasks.c": "read/tasks.c",
    "core/assets.c": "read/assets.c",
    "core/assets_add.c": "read/asset_added.c",
    "core/poll.c": "read/poll.c",
    "core/export_check.c": "read/completeness.c",
    # the dataset views, snapshots and changes
    "core/dsview.c": "read/views/tree.c",
    "core/dsview_int.h": "read/views/views_int.h",
    "core/dsbuild.c": "read/views/build.c",
    "core/dshead.c": "read/views/image_headers.c",
    "core/dspass2.c": "read/views/derived.c",
    "core/dsnames.c": "read/views/names.c",
    "core/dssplit.c": "read/views/splits.c",
    "core/dsdiff.c": "read/views/changes.c",
    "core/dsformats.c": "read/views/formats.c",
    "core/dsimage.c": "read/views/images.c",
    "core/dswds.c": "read/views/shards.c",
    "core/snap.c": "read/views/snapshots.c",
    "core/snapdesc.c": "read/views/snapshot_json.c",
    "core/snaptree.c": "read/views/snapshot_tree.c",
    "core/snapsub.c": "read/views/snapshot_views.c",
    "core/views.c": "read/views/views.c",
    # the export cache
    "core/export_cache.c": "exports/cache.c",
    "core/xcache_int.h": "exports/exports_int.h",
    "core/xquery.c": "exports/key.c",
    "core/xfetch.c": "exports/download.c",
    "core/unzip.c": "exports/unzip.c",
    "core/xload.c": "exports/discover.c",
    "core/xrefresh.c": "exports/refresh.c",
    "core/xincr.c": "exports/incremental.c",
    "core/xincr.h": "exports/incremental.h",
    "core/xmerge.c": "exports/records.c",
    "core/xmerge.h": "exports/records.h",
    "core/xmout.c": "exports/merge.c",
    "core/xstream.c": "exports/stream.c",
    "core/xstatus.c": "exports/status.c",
    # the on-disk protocol shared by exports and media
    "core/xshare.c": "cachedir/entry.c",
    "core/xshare.h": "cachedir/cachedir.h",
    "core/xfail.c": "cachedir/failure.c",
    "core/pins.c": "cachedir/pins.c",
    # the media cache
    "core/media.c": "media/cache.c",
    "core/media_fetch.c": "media/download.c",
    "core/media_evict.c": "media/evict.c",
    "core/media_int.h": "media/media_int.h",
    # the facade over both sides
    "core/router.c": "fs/router.c",
    "core/router_int.h": "fs/router_int.h",
    "core/handles.c": "fs/handles.c",
    "core/kcache.c": "fs/kcache.c",
}

DRY = "--dry-run" in sys.argv
ROOT = os.getcwd()


def git(*args):
    return subprocess.run(["git"] + list(args), capture_output=True, text=True,
                          check=True).stdout


def main():
    tracked = git("ls-files").split()
    core = [f[4:] for f in tracked if f.startswith("src/core/")]
    if not core:  # moved already: a merge brought old names back into text
        print("move_folders: src/core/ is gone: rewriting old names only")
    unknown = [f for f in core if f not in MOVES]
    if unknown:
        sys.exit("move_folders: src/%s not in MOVES: decide where it goes first" %
                 ", src/".join(unknown))
    moves = {o: n for o, n in MOVES.items() if "src/" + o in tracked}
    for o in sorted(set(MOVES) - set(moves)):
        if core:
            print("move_folders: src/%s is gone already: skipped" % o)
    names = moves if core else MOVES  # the old names to rewrite in text

    # 1. includes, computed on the old tree, written after the move
    newpath = {("src/" + o): ("src/" + n) for o, n in moves.items()}
    cfiles = [f for f in tracked if f.endswith((".c", ".h")) and
              f.startswith(("src/", "tests/", "bench/"))]
    inc = re.compile(r'^(\s*#\s*include\s+")([^"]+)(")', re.M)
    rewritten = {}
    for f in cfiles:
        text = open(f).read()
        nf = newpath.get(f, f)

        def fix(m, f=f, nf=nf):
            target = os.path.normpath(os.path.join(os.path.dirname(f), m.group(2)))
            if target not in newpath and nf == f:
                return m.group(0)
            if not os.path.exists(target):
                return m.group(0)  # angofs/..., a system-like header
            nt = newpath.get(target, target)
            return m.group(1) + os.path.relpath(nt, os.path.dirname(nf)) + m.group(3)

        t = inc.sub(fix, text)
        if t != text:
            rewritten[nf] = t

    # 2. names in text: full paths, then bare old names
    full = {("src/" + o): ("src/" + n) for o, n in names.items()}
    bare = {os.path.basename(o): n for o, n in names.items()}
    if not core:  # a name a moved file kept is not an old name any more
        now = {os.path.basename(n) for n in names.values()}
        bare = {b: n for b, n in bare.items() if b not in now}
    meson = {("'" + o + "'"): ("'" + n + "'") for o, n in names.items()}
    prefixes = {('"' + o[:-2] + '"'): ('"' + n[:-2] + '"') for o, n in names.items()
                if o.endswith(".c")}
    fullre = re.compile("|".join(re.escape(k) for k in sorted(full, key=len, reverse=True)))
    barere = re.compile(r"(?<![\w/.-])(%s)(?![\w])" %
                        "|".join(re.escape(k) for k in sorted(bare, key=len, reverse=True)))
    texts = [f for f in tracked if f.endswith((".c", ".h", ".md", ".py", ".build", ".sh", ".supp"))
             and not f.startswith("contrib/hub/") and f != "scripts/refactor/move_folders.py"]

    if DRY:
        for o, n in sorted(moves.items()):
            print("src/%s -> src/%s" % (o, n))
        print("move_folders: %d includes rewritten (dry run)" % len(rewritten))
        return
    for o, n in sorted(moves.items()):
        os.makedirs(os.path.dirname("src/" + n), exist_ok=True)
        git("mv", "src/" + o, "src/" + n)
    for f, t in rewritten.items():
        open(f, "w").write(t)
    changed = 0
    for f in texts:
        nf = newpath.get(f, f)
        if not os.path.exists(nf):
            continue
        s = open(nf).read()
        t = fullre.sub(lambda m: full[m.group(0)], s)
        t = barere.sub(lambda m: bare[m.group(1)], t)
        if nf != f:  # the head comment names the file itself: its new name
            t = re.sub(r"^(/\*\n \* )[\w/]+/(%s) - " % re.escape(os.path.basename(nf)),
                       r"\1\2 - ", t, count=1)
        if nf == "src/meson.build":
            for k, v in meson.items():
                t = t.replace(k, v)
        if nf == "tests/unit/check_prefixes.py":
            for k, v in prefixes.items():
                t = t.replace(k, v)
        if t != s:
            open(nf, "w").write(t)
            changed += 1
    print("move_folders: %d files moved, %d files rewritten" % (len(moves), changed))
    left = subprocess.run(["git", "grep", "-n", "-E", r"src/core|core/[a-z_]*\*|'core/"],
                          capture_output=True, text=True).stdout
    if left:
        print("move_folders: still naming the old folder (fix by hand):")
        print(left)


main()
