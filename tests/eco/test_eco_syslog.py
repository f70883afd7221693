"""Daemonized logging goes to syslog (issue 7, item 4). glibc's syslog() always
writes to /dev/log, so the check runs in a private mount namespace (unshare -m)
where /dev is a fresh tmpfs holding /dev/null, /dev/fuse (same device numbers)
and a datagram socket `log` the test reads: nothing outside the namespace changes,
and the namespace (with its mount) disappears when the check ends."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ANGOFS_BIN

pytestmark = pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                                reason="needs unshare(1) as root")

SCRIPT = r'''
import os, socket, subprocess, sys, time
angofs, url, key, work = sys.argv[1:5]
devs = {n: os.stat("/dev/" + n) for n in ("null", "fuse", "zero", "urandom")}
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/dev"], check=True)
for n, st in devs.items():
    os.mknod("/dev/" + n, 0o20666, st.st_rdev)
    os.chmod("/dev/" + n, 0o666)
log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
log.bind("/dev/log")
log.settimeout(30)
mnt = os.path.join(work, "mnt")
os.makedirs(mnt)
env = {"ANGO_API_KEY": key, "PATH": "/usr/bin:/bin", "HOME": work}
try:
    r = subprocess.run([angofs, mnt, "-o", "host=" + url, "-o",
                        "cache_dir=" + os.path.join(work, "cache"), "-o", "no_config"],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        print("MOUNT FAILED", r.stderr)
        sys.exit(1)
    print("STDERR:" + r.stderr.replace("\n", "|"))
    names = os.listdir(mnt)
    print("LS:" + "|".join(sorted(names)))
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline and not any("listProjects" in l for l in lines):
        try:
            lines.append(log.recv(65536).decode("utf-8", "replace"))
        except socket.timeout:
            break
    subprocess.run(["umount", mnt], timeout=60)
    for l in lines:
        print("SYSLOG:" + l.replace("\n", " "))
finally:  # a daemon left mounted would keep this namespace alive
    subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=60)
'''


def test_daemonized_angofs_logs_to_syslog(hub, workdir):
    r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                        SCRIPT, ANGOFS_BIN, hub.url, hub.key, workdir],
                       capture_output=True, text=True, timeout=180)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "LS:" in out and "Street Scenes" in out, out
    syslog = [ln[len("SYSLOG:"):] for ln in out.splitlines() if ln.startswith("SYSLOG:")]
    assert any("angofs[" in ln and "mounted " in ln for ln in syslog), syslog
    req = [ln for ln in syslog if "GET /v2/listProjects" in ln]
    assert req and " 200 " in req[0] and "ms " in req[0], syslog
    # priority daemon.info: <30>
    assert req[0].startswith("<30>"), req[0]
    assert all(hub.key not in ln for ln in syslog)
    # daemonized: nothing on stderr after the mount
    stderr_line = [ln for ln in out.splitlines() if ln.startswith("STDERR:")][0]
    assert "GET /v2/" not in stderr_line
