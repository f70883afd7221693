"""Shared machinery of the tool conformance pack (tests/tools/test_tools.py).

One hub and one mount serve the whole module (cells use distinct tasks and file
names, so they do not see each other's writes). A cell runs one real program on
one kind of file and returns the text its table cell shows; it asserts the rule
of the pack: the program works (and the hub got exactly what was meant, once,
checked through /_admin/stats and the hub's API), or it fails with a clear errno
and message and nothing was sent. Results are collected here and written to
docs/TOOLS.md when the whole table ran.
"""
import errno
import json
import os
import re
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

from hubutil import all_tasks, main_project  # tests/hub, on the path through pytest.ini

KINDS = ["export", "project.json", "task.json", "answer.json", "labels/", "attachments/"]
RO_KINDS = ["export", "project.json", "task.json"]
IMPORT = "POST /v2/import/labels"
ATTACH = "POST /v2/attachments"
ANNOTATE = "POST /v2/annotate/{id}"
CLEAR_ERRNOS = {errno.EACCES: "EACCES", errno.EPERM: "EPERM", errno.EROFS: "EROFS",
                errno.EINVAL: "EINVAL", errno.EXDEV: "EXDEV", errno.EISDIR: "EISDIR",
                errno.ENOENT: "ENOENT"}

RESULTS = {}  # (tool, kind) -> cell text


class Env:
    """The module's hub, mount and helpers."""

    def __init__(self, hub, mount, workdir):
        self.hub = hub
        self.mount = mount
        self.local = os.path.join(workdir, "local")
        os.makedirs(self.local, exist_ok=True)
        self.pid = main_project(hub)
        self.pdir = None
        for name in sorted(os.listdir(mount.path)):
            try:
                with open(os.path.join(mount.path, name, "project.json")) as f:
                    if json.load(f)["_id"] == self.pid:
                        self.pdir = os.path.join(mount.path, name)
            except (OSError, ValueError, KeyError):
                pass
        assert self.pdir
        self.tasks = [t for t in all_tasks(hub, self.pid)]
        self.task_i = 0
        self.n = 0
        self.unread = []  # stage/batch exports no cell has read yet
        for sub in ("stage", "batch"):
            d = os.path.join(self.pdir, "export", sub)
            for name in sorted(os.listdir(d)):
                for f in ("tasks.json", "tasks.ndjson"):
                    self.unread.append(os.path.join(d, name, f))

    def never_read(self):
        """An export file nothing has read yet (its size is the placeholder)."""
        p = self.unread.pop()
        st = os.stat(p)
        assert st.st_size == 1 and st.st_blocks == 0, (p, st)
        return p

    # ---- names and paths ----
    def path(self, kind):
        return {"export": os.path.join(self.pdir, "export", "tasks.json"),
                "project.json": os.path.join(self.pdir, "project.json"),
                "task.json": os.path.join(self.pdir, "tasks", self.tasks[0]["_id"], "task.json"),
                }[kind]

    def fresh_task(self):
        """A task no other cell writes: (task id, its directory)."""
        self.task_i += 1
        t = self.tasks[self.task_i]
        return t["_id"], os.path.join(self.pdir, "tasks", t["_id"])

    def uniq(self, stem):
        self.n += 1
        return "%s-%d" % (stem, self.n)

    def lpath(self, name):
        return os.path.join(self.local, name)

    # ---- hub side ----
    def posts(self):
        c = self.hub.stats()["counts"]
        return {k: v for k, v in c.items() if k.startswith("POST")}

    def sent_since(self, before):
        now = self.posts()
        return {k: now[k] - before.get(k, 0) for k in now if now[k] != before.get(k, 0)}

    def hub_answer(self, tid):
        st, body = self.hub.api("GET", "/task/" + tid)
        assert st == 200, body
        return body["data"]["task"]["answer"]

    def hub_task(self, tid):
        st, body = self.hub.api("GET", "/task/" + tid)
        assert st == 200, body
        return body["data"]["task"]


def answer_doc(width):
    """An answer whose bounding-box width tells which write reached the hub."""
    return {"tools": [{"schemaId": "tCar0001",
                       "bounding-box": {"x": 1, "y": 2, "width": width, "height": 4},
                       "classifications": [{"schemaId": "cOccl001", "answer": "Yes"}]}],
            "classifications": [{"schemaId": "cWeath01", "answer": "Rain"}],
            "relations": []}


def answer_width(ans):
    objs = ans.get("tools") or ans.get("objects") or []
    return objs[0]["bounding-box"]["width"] if objs else None


def label_doc(i, weather="Rain"):
    return [{"externalId": "street_%04d.jpg" % i,
             "objects": [{"schemaId": "tCar0001",
                          "bounding-box": {"x": 10, "y": 20, "width": 30, "height": 40},
                          "classifications": [{"schemaId": "cOccl001", "answer": "Yes"}]}],
             "classifications": [{"schemaId": "cWeath01", "answer": weather}]}]


def attach_doc(i):
    return [{"externalId": "street_%04d.jpg" % i,
             "attachmentUrl": "https://files.example/%d.pdf" % i, "type": "PDF"}]


def run(args, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def sh(cmd, **kw):
    return run(["bash", "-c", cmd], **kw)


def out(p):
    return (p.stderr + p.stdout).decode("utf-8", "replace").strip()


def first_line(text, limit=110):
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


def errno_name(e):
    return errno.errorcode.get(e, str(e))


def message_errno(text):
    """The errno a tool's message names (strerror text), or None."""
    for e in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EINVAL, errno.EXDEV,
              errno.ENOENT, errno.ENODEV, errno.EBUSY, errno.EIO):
        if os.strerror(e) in text:
            return e
    # vim: the file's mode is 0444 (E45) / opening it for writing failed (E212)
    if "E45: 'readonly' option is set" in text or "E212: Can't open file for writing" in text:
        return errno.EACCES
    return None


def works(note=""):
    return "works" + (" — " + note if note else "")


def fails_clearly(env, before, p_or_exc, allowed=(errno.EACCES, errno.EPERM, errno.EROFS),
                  exit0_ok=False):
    """Assert a clear failure with nothing sent; returns the cell text. exit0_ok:
    the program reports the error but exits 0 by its own design (perl -i)."""
    if isinstance(p_or_exc, OSError):
        e = p_or_exc.errno
        msg = str(p_or_exc)
    else:
        assert p_or_exc.returncode != 0 or exit0_ok, \
            "expected a failure, got exit 0: %s" % out(p_or_exc)
        msg = out(p_or_exc)
        e = message_errno(msg)
    assert e in allowed, "unclear failure (errno %s): %s" % (e, msg)
    assert env.sent_since(before) == {}, "a failure sent something: %s" % env.sent_since(before)
    # the line of the program's own words that names the error, paths made short
    lines = [ln for ln in msg.splitlines()
             if os.strerror(e) in ln or "E45:" in ln or "E212:" in ln]
    line = (lines or msg.splitlines() or [""])[0]
    line = line.replace(env.mount.path + "/", "").replace(env.local + "/", "")
    line = line.replace(env.mount.path, "MOUNT")
    line = re.sub(r"/sed[A-Za-z0-9]{6}\b", "/sedXXXXXX", line)  # sed -i's temp name
    return "fails: %s (%s)" % (errno_name(e), first_line(line, 90).replace("|", "/"))


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def write_tools_md(cells):
    """docs/TOOLS.md from RESULTS, rows in the order of `cells`."""
    tools = []
    for tool, _ in cells:
        if tool not in tools:
            tools.append(tool)
    lines = ["# What everyday tools do on an angofs mount",
             "",
             "Generated by `tests/tools/test_tools.py` (the tool conformance pack) from a real "
             "run against the local hub: do not edit by hand. Each cell ran the real program "
             "on that kind of file. **works** means the program exited 0 and the hub got "
             "exactly what was meant, once (checked through the hub's request counters and "
             "its API); **fails** means the program reported a clear error (the errno and the "
             "program's own message are shown) and nothing was sent. `—`: not a meaningful "
             "use of that tool there.",
             "",
             "Kinds: `export` = `export/tasks.json` (read-only), `project.json`, `task.json` "
             "(read-only), `answer.json` (read-write: a write is `POST /annotate`), `labels/` "
             "and `attachments/` (drop boxes: a file closed there is imported).",
             "",
             "| tool | " + " | ".join("`%s`" % k for k in KINDS) + " |",
             "|---|" + "---|" * len(KINDS)]
    notes = []  # [tool, [kinds], text]; one note for a tool's identical cells
    for tool in tools:
        row = []
        for k in KINDS:
            text = RESULTS.get((tool, k))
            if text is None:
                row.append("—")
                continue
            head, _, note = text.partition(" — ")
            if head.startswith("fails: "):
                head = "fails " + head[7:].split(" ")[0]
            if note or text.startswith("fails: "):
                same = [n for n in notes if n[0] == tool and n[2] == text]
                if same:
                    same[0][1].append(k)
                else:
                    notes.append([tool, [k], text])
                head += " [%d]" % (notes.index(same[0]) + 1 if same else len(notes))
            row.append(head)
        lines.append("| `%s` | " % tool.replace("|", "\\|") + " | ".join(row) + " |")
    lines += ["", "Notes:", ""]
    for i, (tool, ks, text) in enumerate(notes, 1):
        lines.append("%d. `%s` on %s: %s" % (i, tool.replace("|", "\\|"),
                                            ", ".join("`%s`" % k for k in ks), text))
    lines.append("")
    with open(os.path.join(ROOT, "docs", "TOOLS.md"), "w") as f:
        f.write("\n".join(lines))
