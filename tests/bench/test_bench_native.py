"""Smoke test of bench/native.py (issue 26's near-native read rows), at a tiny
size so it runs in well under a minute: every row runs end to end for every
side of the build under test against the real hub and real mounts, with its
own checks (the mount serves the cache file's and curl + unzip's bytes,
head -c 100 gives the export's first 100 bytes, the images and the epoch
see the local copy's data, every cp is sent); every row has figures on both
sides and its target; --explain's strace counts see the FUSE requests of an
open. The figures themselves are the benchmark's business (no time bounds
here)."""
import json
import os
import shutil
import subprocess

from conftest import BUILD, ROOT

ROWS = ("re-read of a cached", "first read after a remount (cache",
        "first read after a remount, pages dropped", "head -c 100 of a cold export",
        "the same from the hub's answer to GET /export on",
        "cold read (open to last byte)", "cached images, 8 readers, first pass",
        "cached images, 8 readers, second pass", "warm ImageFolder epoch", "cp of a")


def test_bench_native_smoke(tmp_path):
    out = tmp_path / "figures.json"
    env = dict(os.environ, BENCH_DIR=str(tmp_path))
    env.pop("ANGOFS_BUILD_317", None)  # one build: the one under test
    env["PYTHONPATH"] = ":".join(os.path.join(ROOT, d) for d in ("tests", "tests/hub"))
    explain = shutil.which("strace") is not None
    r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "native.py"),
                        "--build", BUILD, "--smoke", "--json", str(out)] +
                       (["--explain"] if explain else []),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=600)
    text = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, text[-4000:]
    assert "CHECK FAILED" not in text, text[-4000:]
    fig = json.loads(out.read_text())
    assert fig["failures"] == []
    sides = [s["label"] for s in fig["sides"]]
    assert sides and all(s["label"].startswith("libfuse 3.") for s in fig["sides"]), sides
    for s in fig["sides"]:
        if not s["pt"]:
            assert s["label"].endswith("passthrough: not built"), s
    for side in sides:
        mine = [x for x in fig["rows"] if x["side"] == side]
        for want in ROWS:
            got = [x for x in mine if want in x["row"]]
            assert len(got) == 1, (want, side, [x["row"] for x in mine])
            x = got[0]
            assert x["a"] and x["b"] and min(x["a"]) > 0 and min(x["b"]) > 0, x
            assert x["target"][:2] in ("<=", ">=") and x["ratio"] > 0, x
            assert x["row"] in text and x["target"] in text
    # strace may be refused here (no ptrace permission): the run says so
    if explain and "unavailable" not in fig["explain"]:
        for side in sides:
            # the first opens after a remount reach the daemon (a lookup or
            # an open at least), whatever the kernel caches afterwards
            ops = fig["explain"]["small"][side]["first"]["ops"]
            assert sum(ops.values()) > 0, ops
            assert fig["explain"]["cached"][side]["first cat after a remount"]["ops"], \
                fig["explain"]["cached"]
            assert fig["explain"]["cp"][side]["close"] > 0
    assert not [p for p in os.listdir(tmp_path) if p.startswith("angofs-bench-native-")]
