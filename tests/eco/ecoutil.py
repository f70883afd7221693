"""Helpers for the ecosystem tests (tests/eco): running the angofs CLI without
mounting, reading a mount's .status, and the read/write helpers of tests/fs.
Holds no tests; every wait is a bounded poll."""
import functools
import json
import os
import subprocess


import harness.procs
from conftest import ANGOFS_BIN, BUILD, ROOT  # noqa: F401
from test_read_common import DOWNLOAD, EXPORT, main_project, read, wait_for  # noqa: F401


# the CLI with ANGO_API_KEY=k unless key= says otherwise
run_angofs = functools.partial(harness.procs.run_angofs, key="k")


def status(mount_path):
    with open(os.path.join(mount_path, ".status")) as f:
        return json.load(f)


def status_cli(mount_path, *extra):
    return subprocess.run([ANGOFS_BIN, "--status", mount_path] + list(extra),
                          capture_output=True, text=True, timeout=60)


def isolated_env(workdir, config_text=None):
    """Environment with a private XDG_CONFIG_HOME (optionally holding a config)."""
    xdg = os.path.join(workdir, "xdg-config")
    os.makedirs(os.path.join(xdg, "angofs"), exist_ok=True)
    if config_text is not None:
        with open(os.path.join(xdg, "angofs", "config"), "w") as f:
            f.write(config_text)
    return {"XDG_CONFIG_HOME": xdg}
