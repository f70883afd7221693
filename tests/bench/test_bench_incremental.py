"""Smoke test of bench/incremental.py (issue 14's benchmark rows), at a tiny
size so it takes seconds: the script runs end to end against the real hub and
real mounts, its own correctness checks pass (the changed answers are visible
in tasks.json on both mounts, the incremental file equals the full refetch's),
an incremental refresh after 10 changed tasks is incremental (the mount's
.status says so), costs at most 3 API requests (plus the download, which
needs no key) and a tenth of the full refetch's bytes; the poll rows count one
request per read project per round and none with poll off, and changes made
through the API reach a reader of the polling mount. The figures themselves
are the benchmark's business, not this test's (no time bounds here)."""
import json
import os
import subprocess

from conftest import BUILD, ROOT


def test_bench_incremental_quick_tiny(tmp_path):
    out = tmp_path / "figures.json"
    env = dict(os.environ, BENCH_DIR=str(tmp_path))
    env["PYTHONPATH"] = ":".join(os.path.join(ROOT, d) for d in ("tests", "tests/hub"))
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "incremental.py"),
                        "--build", BUILD, "--quick", "--tasks", "300", "--runs", "1",
                        "--ks", "1,10", "--poll-projects", "2", "--poll-interval", "2",
                        "--poll-window", "5",
                        "--json", str(out)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=300)
    text = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, text[-4000:]
    assert "CHECK FAILED" not in text, text[-4000:]
    fig = json.loads(out.read_text())
    assert fig["failures"] == []
    k10 = fig["results"]["k"]["10"]
    # the full refetch: GET /export + download + the completeness count
    assert [x["req"] for x in k10["full"]] == [3], k10["full"]
    if fig["full_opt"]:  # a build with incremental refresh
        for x in k10["incr"]:
            assert x["mode"] == "incremental", x
            assert x["api"] <= 3 and x["dl"] <= 1, x
            assert x["bytes"] * 10 < k10["full"][0]["bytes"], (x, k10["full"])
    poll = fig["results"]["poll"]
    assert poll["on"]["rounds"] >= 1 and poll["per_round"] == 2, poll
    assert poll["off"]["req"] == 0, poll
    # changes made through the API reached a reader of the polling mount,
    # refreshed incrementally when the build can
    assert len(poll["seen"]) == 3, poll
    if fig["full_opt"]:
        assert {x["mode"] for x in poll["seen"]} == {"incremental"}, poll
    assert not [p for p in os.listdir(tmp_path) if p.startswith("angofs-bench-incr-")]
