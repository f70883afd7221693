"""Helpers for the ecosystem tests (tests/eco): running the angofs CLI without
mounting, reading a mount's .status, and the read/write helpers of tests/fs.
Holds no tests; every wait is a bounded poll."""
import json
import os
import subprocess


from conftest import ANGOFS_BIN, BUILD, ROOT  # noqa: F401
from test_read_common import DOWNLOAD, EXPORT, main_project, read, wait_for  # noqa: F401


def run_angofs(args, env=None, timeout=60, key="k"):
    """Run angofs with args (no mount expected); returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("ANGO_API_KEY", None)
    if key is not None:
        e["ANGO_API_KEY"] = key
    e.update(env or {})
    return subprocess.run([ANGOFS_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=e)


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
