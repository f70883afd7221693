#!/usr/bin/env python3
"""List C functions longer than a limit (default 120 lines) under the given
folders (default src/): a function starts at a line beginning with an
identifier/type and ending in ')' or '{' at column 0 followed by a '{' line
(the project's clang-format style), and ends at the next '}' in column 0.
Exit status 1 if any is found. Used by tests/unit (meson test 'long_functions')."""
import os
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--max=")]
limit = int(next((a[6:] for a in sys.argv[1:] if a.startswith("--max=")), 120))
roots = args or ["src"]
found = []
for root in roots:
    for dp, _, fns in os.walk(root):
        for fn in sorted(fns):
            if not fn.endswith(".c"):
                continue
            path = os.path.join(dp, fn)
            lines = open(path, errors="replace").read().split("\n")
            start = name = None
            for i, line in enumerate(lines):
                if start is None and line == "{" and i > 0:
                    j = i - 1
                    while j > 0 and lines[j].startswith(("\t", " ")):
                        j -= 1  # continuation lines of the signature
                    m = re.search(r"(\w+)\s*\(", lines[j])
                    if m and not lines[j].startswith(("struct ", "static const struct",
                                                     "enum ", "union ")) or \
                            (m and "(" in lines[j]):
                        start, name = j, m.group(1)
                elif start is not None and line == "}":
                    n = i - start + 1
                    if n > limit:
                        found.append((n, path, start + 1, name))
                    start = None
for n, path, line, name in sorted(found, reverse=True):
    print("%s:%d: %s() is %d lines (limit %d)" % (path, line, name, n, limit))
sys.exit(1 if found else 0)
