"""Logging (issue 7, item 4): in the foreground every hub request is one line
on stderr with method, path, status, duration and bytes; the API key and the
export link's token/signature never appear; log_level filters."""
import os
import re

from conftest import Mount
from ecoutil import DOWNLOAD, isolated_env, main_project, read

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z angofs info: "
                  r"(GET|POST) (\S+) (\d{3}) (\d+)ms (\d+)B")


def request_lines(text):
    return [m for m in (LINE.match(ln) for ln in text.splitlines()) if m]


def test_one_line_per_hub_request_without_secrets(hub, workdir):
    m = Mount(hub, workdir, env=isolated_env(workdir))
    try:
        pid = main_project(hub)
        hub.reset_stats()
        p = os.path.join(m.path, pid)
        read(os.path.join(p, "project.json"))
        data = read(os.path.join(p, "export", "tasks.json"))
        assert data[:1] == b"["
        hub_log = hub.stats()["log"]
        log = m.log_text()
    finally:
        m.stop()
    lines = request_lines(log)
    # one line per request the hub saw, with its status and size
    assert len(lines) >= len(hub_log) >= 3
    by_route = {}
    for ln in lines:
        by_route.setdefault(ln.group(2).split("?")[0], []).append(ln)
    assert any(k == "/v2/project/" + pid for k in by_route), by_route.keys()
    exp = [ln for k, v in by_route.items() if k == "/v2/export" for ln in v]
    assert len(exp) == 1 and exp[0].group(3) == "200" and int(exp[0].group(5)) > 0
    dl = [ln for ln in lines if ln.group(2).endswith(".zip")]
    assert len(dl) == 1 and dl[0].group(3) == "200"
    zip_bytes = [r["bytes"] for r in hub_log if r["route"] == DOWNLOAD]
    assert int(dl[0].group(5)) == zip_bytes[0]
    # secrets: the key, and the download token (the capability in the link)
    assert hub.key not in log
    tokens = [r["path"].split("/")[2] for r in hub_log if r["route"] == DOWNLOAD]
    assert tokens and all(len(t) >= 32 for t in tokens)
    for t in tokens:
        assert t not in log
    assert "/.../" in dl[0].group(2) and "?" not in dl[0].group(2)


def test_failed_download_message_hides_the_token(hub, workdir):
    m = Mount(hub, workdir, env=isolated_env(workdir))
    try:
        pid = main_project(hub)
        hub.fault(route=DOWNLOAD, status=403, count=10)
        try:
            read(os.path.join(m.path, pid, "export", "issues.json"))
            raise AssertionError("read should fail")
        except OSError:
            pass
        log = m.log_text()
        tokens = [r["path"].split("/")[2] for r in hub.stats()["log"]
                  if r["route"] == DOWNLOAD]
    finally:
        hub.clear_faults()
        m.stop()
    assert tokens
    assert " 403 " in log
    for t in tokens:
        assert t not in log


def test_log_levels(hub, workdir):
    pid = main_project(hub)
    for level, want_info, want_debug in (("error", False, False), ("warn", False, False),
                                         ("info", True, False), ("debug", True, True)):
        m = Mount(hub, workdir, opts=["log_level=" + level], env=isolated_env(workdir),
                  name="m-" + level)
        try:
            read(os.path.join(m.path, pid, "project.json"))
            try:  # ENOENT is logged at debug level
                read(os.path.join(m.path, pid, "no-such-file"))
            except OSError:
                pass
        finally:
            m.stop()
        log = m.log_text()
        assert bool(request_lines(log)) == want_info, (level, log)
        assert (" debug: " in log) == want_debug, (level, log)
        assert (" info: mounted " in log) == want_info, (level, log)
