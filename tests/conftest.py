"""Shared pytest fixtures: a real local hub (angofs-hub with a temp SQLite db on a
free loopback port) and a real angofs mount against it. The processes themselves
live in the harness package (tests/harness/procs.py), which bench/ uses too.

Everything started here is torn down even when a test fails: hubs are killed,
mounts are unmounted (fusermount3 -u, then lazy -z as a last resort), temp dirs
removed. Binaries come from $ANGOFS_BUILD (default ./build).

Fixtures: workdir, hub (demo seed, per test), mount (per test), module_workdir,
module_hub. The Hub and Mount conventions other tests rely on (hub.url,
hub.api(), hub.stats(), hub.fault(), mount.path, ...) are listed in
tests/harness/procs.py; the names tests import from here are re-exported.
"""
import os
import shutil
import tempfile

import pytest

# Re-exported: tests import these names from conftest (kept working).
from harness.procs import (ANGOFS_BIN, API_KEY, BUILD, HUB_BIN, ROOT, SANITIZER_MARKERS,  # noqa: F401
                           VALGRIND, VALGRIND_EXIT, Hub, Mount, _cleanup_all, _is_mounted,
                           _live_mounts, _live_procs, _unmount, check_sanitizer_log,
                           free_port)

# Areas whose tests mount angofs (marker `fuse`, pytest.ini); tests/hub and
# tests/fuzz need neither FUSE nor root.
FUSE_AREAS = ("fs", "eco", "fault", "hostile", "stress", "tools", "scale", "datasets",
              "bench")
# The concurrency tests the TSan build runs (marker `sanitize`; scripts/sanitize.sh).
SANITIZE_AREAS = ("stress",)


def pytest_collection_modifyitems(config, items):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        rel = os.path.relpath(str(item.fspath), tests_dir).split(os.sep)
        if rel[0] in FUSE_AREAS:
            item.add_marker(pytest.mark.fuse)
        if rel[0] in SANITIZE_AREAS:
            item.add_marker(pytest.mark.sanitize)


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="angofs-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def hub(workdir):
    """A fresh hub seeded with the demo data, per test."""
    h = Hub(workdir)
    yield h
    h.stop()


@pytest.fixture
def mount(hub, workdir):
    """angofs mounted against `hub`, per test."""
    m = Mount(hub, workdir)
    yield m
    m.stop()


@pytest.fixture(scope="module")
def module_workdir():
    d = tempfile.mkdtemp(prefix="angofs-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def module_hub(module_workdir):
    """One demo hub shared by a module's read-only tests."""
    h = Hub(module_workdir)
    yield h
    h.stop()
