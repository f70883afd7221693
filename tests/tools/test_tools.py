"""Tool conformance pack: the real programs people use, on every kind of file of a
mount (exports, project.json, task.json, answer.json, the labels/ and attachments/
drop boxes), one table-driven suite. Each cell either works (the hub got exactly
what was meant, once) or fails with a clear errno and message with nothing sent;
the run writes docs/TOOLS.md (see toolpack.py). One hub and one mount per module;
the cells are in cells_read.py and cells_write.py (registry: cellkit.py).
"""
import json
import mmap
import os

import pytest

import cells_read  # noqa: F401  (registers its cells, in table order)
import cells_write  # noqa: F401
from cellkit import CELLS, FUNCS
from toolpack import RESULTS, Env, write_tools_md


@pytest.fixture(scope="module")
def env(module_workdir):
    from conftest import Hub, Mount
    hub = Hub(module_workdir)
    mount = Mount(hub, module_workdir, opts=("rate_limit=0",))
    try:
        yield Env(hub, mount, module_workdir)
    finally:
        mount.stop()
        hub.stop()
        if all(c in RESULTS for c in CELLS) and os.environ.get("ANGOFS_TOOLS_MD", "1") != "0":
            write_tools_md(CELLS)


def test_status_file_shared_mmap(env):
    """MOUNT/.status maps like any small file (it used to fail with ENODEV)."""
    path = os.path.join(env.mount.path, ".status")
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m:
            assert json.loads(m[:])["host"] == env.hub.url


# ------------------------------------------------------------------ run ----

@pytest.mark.parametrize("tool,kind", CELLS, ids=["%s|%s" % c for c in CELLS])
def test_cell(env, tool, kind):
    RESULTS.pop((tool, kind), None)
    RESULTS[(tool, kind)] = FUNCS[(tool, kind)](env, kind)
