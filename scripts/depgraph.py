#!/usr/bin/env python3
"""The dependency graph of src/ (issue 25), two ways:

  symbols   file A -> file B when A's object uses a symbol B's object defines
            (nm of the build's objects: the calls and data that really cross)
  includes  file A -> header B when A includes B (a header is a node of its
            own; include/angofs/<x>.h belongs to the folder implementing it)

and the same graphs between folders. Prints arrows, cycles (strongly connected
components of more than one node) and arrows that run up: between folders,
against the layer order given with --layers (lowest first); between files,
the back edges of a depth-first walk in layer order (each closes a cycle).

  scripts/depgraph.py BUILD_DIR [--layers util,client,...] [--list]

--list prints every arrow and cycle; without it only the counts."""
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")


def sources():
    out = []
    for dp, _, fns in os.walk(SRC):
        for fn in fns:
            if fn.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(dp, fn), SRC))
    return sorted(out)


PUBLIC = {}  # angofs/<x>.h -> the folder implementing it (include_graph)


def folder(f):
    if f in PUBLIC:
        return PUBLIC[f]
    return os.path.dirname(f) or "."


def objects(build):
    """src-relative .c -> its object file in the build (meson's naming)."""
    found = {}
    for dp, _, fns in os.walk(os.path.join(build, "src")):
        for fn in fns:
            if fn.endswith(".c.o"):
                found[fn[:-2]] = os.path.join(dp, fn)
    m = {}
    for f in sources():
        if f.endswith(".c"):
            key = f.replace("/", "_")
            if key in found:
                m[f] = found[key]
    return m


def symbol_graph(build):
    defs, uses = {}, collections.defaultdict(set)
    for f, o in objects(build).items():
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRCVW":
                defs.setdefault(parts[2], f)
            elif len(parts) == 2 and parts[0] == "U":
                uses[f].add(parts[1])
    g = collections.defaultdict(set)
    for f, syms in uses.items():
        for s in syms:
            t = defs.get(s)
            if t and t != f:
                g[f].add(t)
    return g, defs


INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def include_graph(defs):
    """Headers are nodes of their own (no arrow from a header to the file
    that implements it); a public header include/angofs/<x>.h counts in the
    folder that defines most of the functions it declares."""
    srcs = sources()
    text = {f: open(os.path.join(SRC, f), errors="replace").read() for f in srcs}
    inc = os.path.join(ROOT, "include")
    for dp, _, fns in os.walk(inc):
        for fn in fns:
            if fn.endswith(".h"):
                h = os.path.relpath(os.path.join(dp, fn), inc)
                text[h] = open(os.path.join(dp, fn), errors="replace").read()
    where = {}
    for h in text:
        if h.startswith("angofs/"):
            votes = collections.Counter(folder(defs[n]) for n in
                                        re.findall(r"\b(\w+)\s*\(", text[h]) if n in defs)
            where[h] = votes.most_common(1)[0][0] if votes else "include"
    g = collections.defaultdict(set)
    for f in text:
        for h in INC.findall(text[f]):
            t = h if h.startswith("angofs/") else os.path.normpath(os.path.join(folder(f), h))
            if t in text and t != f:
                g[f].add(t)
    return g, where


def folder_graph(g):
    fg = collections.defaultdict(set)
    for a, bs in g.items():
        for b in bs:
            if folder(a) != folder(b):
                fg[folder(a)].add(folder(b))
    return fg


def sccs(g):
    index, low, stack, on, out = {}, {}, [], set(), []
    nodes = sorted(set(g) | {b for bs in g.values() for b in bs})
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def back_edges(g, rank):
    """Arrows that close a cycle in a depth-first walk, nodes visited from the
    top layer down (so an arrow from a lower to a higher layer is the one
    counted)."""
    state, back = {}, []
    nodes = sorted(set(g) | {b for bs in g.values() for b in bs}, key=lambda v: (-rank(v), v))

    def visit(v):
        state[v] = 1
        for w in sorted(g.get(v, ()), key=lambda v: (-rank(v), v)):
            if state.get(w) == 1:
                back.append((v, w))
            elif w not in state:
                visit(w)
        state[v] = 2

    for v in nodes:
        if v not in state:
            visit(v)
    return back


def report(name, g, layers, listing):
    fg = folder_graph(g)
    lrank = {f: i for i, f in enumerate(layers)}

    def rank(f):
        return lrank.get(folder(f), -1)

    arrows = sum(len(b) for b in g.values())
    fcyc, fup = sccs(fg), []
    for a, bs in fg.items():
        for b in bs:
            if a in lrank and b in lrank and lrank[a] < lrank[b]:
                fup.append((a, b))
    cyc, back = sccs(g), back_edges(g, rank)
    print("%s: %d files, %d arrows between files, %d back up, %d cycles (%s)" %
          (name, len(set(g) | {b for bs in g.values() for b in bs}), arrows, len(back),
           len(cyc), ", ".join("%d files" % len(c) for c in cyc) or "none"))
    print("%s: %d folders, %d arrows between folders, %d upward, %d cycles" %
          (name, len(set(fg) | {b for bs in fg.values() for b in bs}),
           sum(len(b) for b in fg.values()), len(fup), len(fcyc)))
    per = collections.Counter()
    for a, bs in g.items():
        for b in bs:
            if folder(a) == folder(b):
                per[folder(a)] += 1
    print("%s: arrows inside folders: %s" % (name, ", ".join(
        "%s %d" % kv for kv in sorted(per.items()))))
    if listing:
        for c in cyc:
            print("  cycle: " + " ".join(c))
        for a, b in sorted(back):
            print("  back: %s -> %s" % (a, b))
        for c in fcyc:
            print("  folder cycle: " + " ".join(c))
        for a, b in sorted(fup):
            print("  upward: %s -> %s" % (a, b))
        for a in sorted(fg):
            print("  folder %s -> %s" % (a, " ".join(sorted(fg[a]))))
    return fcyc, fup


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opts = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "1")
                for a in sys.argv[1:] if a.startswith("--"))
    build = args[0] if args else os.path.join(ROOT, "build")
    layers = opts.get("layers", "").split(",") if opts.get("layers") else []
    listing = "list" in opts
    lines = {}
    for f in sources():
        d = folder(f)
        lines[d] = lines.get(d, 0) + sum(1 for _ in open(os.path.join(SRC, f), errors="replace"))
    total = sum(lines.values())
    print("lines: %d in src/; %s" % (total, ", ".join(
        "%s %d (%d%%)" % (d, n, 100 * n // total) for d, n in sorted(lines.items()))))
    sg, defs = symbol_graph(build)
    report("symbols", sg, layers, listing)
    ig, where = include_graph(defs)
    PUBLIC.update(where)
    report("includes", ig, layers, listing)


if __name__ == "__main__":
    main()
