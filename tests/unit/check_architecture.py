#!/usr/bin/env python3
"""The architecture block of docs/DESIGN-NOTES.md matches the tree (issue 25).

The block (the first ``` block under "## Architecture") lists the folders of
src/ from the top layer down, each on a line of its own starting with
`src/<folder>/`, and below each its files, one per line, the name in the
first column (indented lines continue a description). Checked:

  1. every .c and .h file under src/ is listed under its folder, and every
     listed file exists;
  2. with a build directory: no arrow between folders runs up (a folder only
     uses the folders listed below it; arrows from the objects' symbols and
     from the includes, scripts/depgraph.py), and no folder cycle;
  3. with a build directory: a cycle between files of one folder is named by
     a note of that folder, a line `cycle: a.c b.c ...: why`, that holds all
     of its files;
  4. every path under src/ or include/ that the sources and docs name
     exists, and so does every file name a comment of src/ or include/
     gives (names that moved or vanished are stale comments).

  check_architecture.py SOURCE_ROOT [BUILD_DIR]
"""
import os
import re
import subprocess
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
build = sys.argv[2] if len(sys.argv) > 2 else None
sys.path.insert(0, os.path.join(root, "scripts"))
import depgraph  # noqa: E402

problems = []


def block():
    text = open(os.path.join(root, "docs", "DESIGN-NOTES.md")).read()
    sec = text.split("\n## Architecture", 1)
    if len(sec) < 2:
        problems.append("docs/DESIGN-NOTES.md has no '## Architecture' section")
        return []
    m = re.search(r"```\n(.*?)```", sec[1], re.S)
    if not m:
        problems.append("the Architecture section has no ``` block")
        return []
    return m.group(1).split("\n")


def parse(lines):
    """[(folder, [files], [cycle notes])] top layer first."""
    folders, cur = [], None
    for line in lines:
        m = re.match(r"^src/([\w/]+)/(\s|$)", line)
        if m:
            cur = (m.group(1), [], [])
            folders.append(cur)
            continue
        if cur is None:
            continue
        m = re.match(r"^([\w.-]+\.[ch])(\s|,|$)", line)
        if m:
            cur[1].append(m.group(1))
        m = re.search(r"cycle:\s*((?:[\w.-]+\.c\s*)+)", line)
        if m:
            cur[2].append(set(m.group(1).split()))
    return folders


def tree():
    out = {}
    for dp, _, fns in os.walk(os.path.join(root, "src")):
        for fn in fns:
            if fn.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(dp, fn), os.path.join(root, "src"))
                out.setdefault(os.path.dirname(rel), set()).add(fn)
    return out


def check_listing(folders):
    have = tree()
    listed = {f: set(files) for f, files, _ in folders}
    for f in sorted(set(have) | set(listed)):
        if f not in listed:
            problems.append("src/%s/ is not in the architecture block" % f)
            continue
        if f not in have:
            problems.append("src/%s/ is in the architecture block but not in the tree" % f)
            continue
        for fn in sorted(have[f] - listed[f]):
            problems.append("src/%s/%s is missing from the architecture block" % (f, fn))
        for fn in sorted(listed[f] - have[f]):
            problems.append("src/%s/%s is in the architecture block but not in the tree" %
                            (f, fn))


def check_layers(folders):
    order = [f for f, _, _ in folders]
    rank = {f: i for i, f in enumerate(order)}  # 0 = the top layer
    sg, defs = depgraph.symbol_graph(build)
    ig, where = depgraph.include_graph(defs)
    depgraph.PUBLIC.update(where)
    for name, g in (("symbols", sg), ("includes", ig)):
        fg = depgraph.folder_graph(g)
        for a, bs in sorted(fg.items()):
            for b in sorted(bs):
                if a in rank and b in rank and rank[b] <= rank[a]:
                    why = [x + " -> " + y for x, ys in g.items() for y in ys
                           if depgraph.folder(x) == a and depgraph.folder(y) == b]
                    problems.append("%s: src/%s/ uses src/%s/, listed above it (%s)" %
                                    (name, a, b, ", ".join(sorted(why)[:4])))
        for c in depgraph.sccs(fg):
            problems.append("%s: a cycle between folders: %s" % (name, " ".join(c)))
    notes = {f: cyc for f, _, cyc in folders}
    for c in depgraph.sccs(sg):
        f = depgraph.folder(c[0])
        if any(depgraph.folder(x) != f for x in c):
            continue  # a folder cycle, reported above
        names = {os.path.basename(x) for x in c}
        if not any(names <= n for n in notes.get(f, [])):
            problems.append("src/%s/: files that use each other (%s) without a 'cycle:' note"
                            " in the architecture block saying why" %
                            (f, " ".join(sorted(names))))


def check_names():
    files = subprocess.run(["git", "-C", root, "ls-files"], capture_output=True, text=True,
                           check=True).stdout.split()
    paths = set(files)
    for dp, _, fns in os.walk(os.path.join(root, "src")):  # new files not added yet
        for fn in fns:
            paths.add(os.path.relpath(os.path.join(dp, fn), root))
    base = {os.path.basename(p) for p in paths}
    system = set()
    for p in paths:
        if p.endswith((".c", ".h")) and os.path.exists(os.path.join(root, p)):
            system |= set(re.findall(r"#\s*include\s*<([^>]+)>",
                                     open(os.path.join(root, p), errors="replace").read()))
    system |= {os.path.basename(s) for s in system}
    full = re.compile(r"(?<![\w./-])((?:src|include)/[\w./-]+\.[ch])\b")
    bare = re.compile(r"(?<![\w./<-])([A-Za-z][\w-]*\.[ch])\b")
    for p in sorted(paths):
        if not (p.startswith(("src/", "include/", "docs/", "tests/unit/", "scripts/")) or
                p == "README.md"):
            continue
        if not p.endswith((".c", ".h", ".md", ".py", ".build", ".sh")):
            continue
        if not os.path.exists(os.path.join(root, p)):
            continue
        text = open(os.path.join(root, p), errors="replace").read()
        for m in full.finditer(text):
            if m.group(1) not in paths:
                problems.append("%s:%d names %s, which does not exist" %
                                (p, text.count("\n", 0, m.start()) + 1, m.group(1)))
        if not p.startswith(("src/", "include/")):
            continue
        for c in re.finditer(r"/\*.*?\*/|//[^\n]*", text, re.S):  # comments only
            for m in bare.finditer(c.group(0)):
                n = m.group(1)
                if n not in base and n not in system:
                    problems.append("%s:%d names %s, which no file is called" %
                                    (p, text.count("\n", 0, c.start() + m.start()) + 1, n))


folders = parse(block())
if folders:
    check_listing(folders)
    if build:
        check_layers(folders)
check_names()
for p in problems:
    print(p)
print("check_architecture: %d problems" % len(problems))
sys.exit(1 if problems else 0)
