#!/usr/bin/env python3
"""docs/SEMANTICS.md names, for each consistency rule, the test that holds it.
This check fails when a named test does not exist (renamed, deleted, mistyped),
so a rule never silently loses its proof.

Forms recognised in backticks: `tests/a/b.py::test_x[param]` (file + test),
`::test_y` (same file as the last one named on that line, else the row's),
`b.py::test_z` (a file named earlier in the document by its base name), and
`tests/unit/x.c` followed by (`test_fn`) for C tests."""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
doc = os.path.join(root, "docs", "SEMANTICS.md")
text = open(doc, encoding="utf-8").read()
known = {}  # base name -> path
bad, seen = [], 0


def defined(path, name):
    try:
        src = open(os.path.join(root, path), encoding="utf-8").read()
    except OSError:
        return False
    if path.endswith(".py"):
        return re.search(r"^def %s\(" % re.escape(name), src, re.M) is not None
    return re.search(r"\b%s\s*\(" % re.escape(name), src) is not None


for lineno, line in enumerate(text.splitlines(), 1):
    last = None
    for m in re.finditer(r"`([^`]+)`(?:\s*\(`(test_\w+)`\))?", line):
        ref, cfn = m.group(1), m.group(2)
        fm = re.match(r"^(tests/[\w/]+\.(?:py|c))(?:::(test_\w+))?", ref)
        if fm:
            last = fm.group(1)
            known[os.path.basename(last)] = last
            if not os.path.exists(os.path.join(root, last)):
                bad.append("%d: no file %s" % (lineno, last))
                continue
            name = fm.group(2) or cfn
            if name:
                seen += 1
                if not defined(last, name):
                    bad.append("%d: %s has no %s" % (lineno, last, name))
            continue
        sm = re.match(r"^([\w]+\.py)?::(test_\w+)", ref)
        if sm:
            path = known.get(sm.group(1)) if sm.group(1) else last
            if not path:
                bad.append("%d: %s: which file?" % (lineno, ref))
                continue
            last = path
            seen += 1
            if not defined(path, sm.group(2)):
                bad.append("%d: %s has no %s" % (lineno, path, sm.group(2)))
if bad or seen < 10:
    print("docs/SEMANTICS.md names tests that do not exist (%d checked):" % seen)
    print("\n".join(bad) or "too few tests named")
    sys.exit(1)
print("docs/SEMANTICS.md: %d named tests exist" % seen)
