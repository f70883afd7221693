"""Short libFuzzer runs in the test suite (issue 6 item 6): each harness of
tests/fuzz runs ANGOFS_FUZZ_S seconds (default 20) from its seed corpus in the
repo. The long runs (>= 10 minutes each) are recorded in docs/RELIABILITY.md.

The harnesses need clang with libFuzzer; without it the tests are skipped
(with the reason). They are built in $ANGOFS_FUZZ_BUILD (default build-fuzz)
with ASan+UBSan and coverage instrumentation. New inputs go to a temp dir, so
the seed corpus in the repo is only read; a crash fails the test and prints
libFuzzer's report (the crashing input is kept in the temp dir while it runs).
"""
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("ANGOFS_FUZZ_BUILD", os.path.join(ROOT, "build-fuzz"))
SECONDS = int(os.environ.get("ANGOFS_FUZZ_S", "20"))
HARNESSES = ["labels", "unzip", "hub", "datasets"]


def _libfuzzer_missing():
    if not shutil.which("clang"):
        return "clang not installed"
    d = tempfile.mkdtemp(prefix="angofs-fuzzcheck-")
    try:
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write("#include <stdint.h>\n#include <stddef.h>\n"
                    "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)"
                    "{(void)d;(void)n;return 0;}\n")
        r = subprocess.run(["clang", "-fsanitize=fuzzer,address", src, "-o",
                            os.path.join(d, "t")], capture_output=True, timeout=120)
        return None if r.returncode == 0 else "clang has no libFuzzer: " + r.stderr.decode()[-300:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def fuzz_build():
    why = _libfuzzer_missing()
    if why:
        pytest.skip(why)
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        env = dict(os.environ, CC="clang")
        subprocess.run(["meson", "setup", BUILD, "-Dfuzz=true", "-Db_sanitize=address,undefined",
                        "-Db_lundef=false", "-Dc_args=-fsanitize=fuzzer-no-link"],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    targets = ["tests/fuzz/fuzz_" + h for h in HARNESSES]
    r = subprocess.run(["ninja", "-C", BUILD] + targets, capture_output=True, timeout=1800)
    assert r.returncode == 0, r.stdout.decode()[-3000:] + r.stderr.decode()[-3000:]
    return BUILD


@pytest.mark.slow
@pytest.mark.parametrize("name", HARNESSES)
def test_fuzz_short_run(fuzz_build, name):
    exe = os.path.join(fuzz_build, "tests", "fuzz", "fuzz_" + name)
    seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", name)
    assert len(os.listdir(seeds)) >= 5
    work = tempfile.mkdtemp(prefix="angofs-fuzz-%s-" % name)
    try:
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        r = subprocess.run([exe, "-max_total_time=%d" % SECONDS, "-timeout=20",
                            "-rss_limit_mb=2048", "-close_fd_mask=2", "-print_final_stats=1",
                            "-artifact_prefix=" + work + "/", corpus, seeds],
                           capture_output=True, timeout=SECONDS + 300, env=env)
        out = r.stderr.decode("utf-8", "replace")
        assert r.returncode == 0, "fuzz_%s found a problem:\n%s" % (name, out[-6000:])
        assert "Done " in out and "stat::number_of_executed_units" in out, out[-3000:]
        runs = int(out.split("stat::number_of_executed_units:")[1].split()[0])
        assert runs > 0
        print("fuzz_%s: %d runs in %d s" % (name, runs, SECONDS))
    finally:
        shutil.rmtree(work, ignore_errors=True)
