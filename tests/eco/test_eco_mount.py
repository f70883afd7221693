"""fstab and the mount helper (issue 7, item 2), for real: mount(8) with a
temporary fstab (`mount -T FSTAB MOUNTPOINT`) through the generic FUSE helper
(mount.fuse3) with the fstab-only words _netdev, noauto, user, nofail; our
mount.fuse.angofs helper called the way mount(8) calls it; umount(8)."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import ANGOFS_BIN, ROOT, _live_mounts, _unmount
from ecoutil import status

HELPER_IN = os.path.join(ROOT, "contrib", "mount", "mount.fuse.angofs.in")

pytestmark = pytest.mark.skipif(shutil.which("mount") is None or os.geteuid() != 0,
                                reason="needs mount(8) as root")


def key_file(hub, workdir):
    path = os.path.join(workdir, "key")
    with open(path, "w") as f:
        f.write(hub.key + "\n")
    os.chmod(path, 0o600)
    return path


def mount_entry(mnt):
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = [x.replace("\\040", " ").replace("\\011", "\t")
                      .replace("\\134", "\\") for x in line.split()]
            if fields[1] == os.path.realpath(mnt):
                return fields
    return None


def wait_mounted(mnt, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if mount_entry(mnt):
            return True
        time.sleep(0.05)
    return False


def daemon_pid(mnt):
    """pid of the daemonized angofs serving mnt (from its .status)."""
    return status(mnt)["pid"]


def wait_gone(pid, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not os.path.exists("/proc/%d" % pid):
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_fstab_line_through_mount_fuse3(hub, workdir):
    mnt = os.path.join(workdir, "fstab mnt")  # a space, escaped as \040 in fstab
    os.makedirs(mnt)
    fstab = os.path.join(workdir, "fstab")
    opts = ",".join(["api_key_file=" + key_file(hub, workdir),
                     "cache_dir=" + os.path.join(workdir, "cache"), "no_config",
                     "_netdev", "noauto", "user", "nofail", "x-systemd.automount"])
    with open(fstab, "w") as f:
        f.write("# test fstab\n%s#%s %s fuse %s 0 0\n"
                % (ANGOFS_BIN, hub.url, mnt.replace(" ", "\\040"), opts))
    env = {k: v for k, v in os.environ.items() if k != "ANGO_API_KEY"}
    _live_mounts.append(mnt)
    try:
        r = subprocess.run(["mount", "-T", fstab, mnt], capture_output=True, text=True,
                           timeout=60, env=env)
        assert r.returncode == 0, r.stderr
        assert wait_mounted(mnt)
        fields = mount_entry(mnt)
        assert fields[0] == hub.url and fields[2] == "fuse.angofs", fields
        assert "Street Scenes" in os.listdir(mnt)
        st = status(mnt)
        assert st["host"] == hub.url and st["cache_dir"] == os.path.join(workdir, "cache")
        pid = st["pid"]
        r = subprocess.run(["umount", mnt], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert mount_entry(mnt) is None
        assert wait_gone(pid), "the daemon did not exit after umount"
    finally:
        _unmount(mnt)


def test_mount_helper_as_mount8_calls_it(hub, workdir):
    """contrib/mount/mount.fuse.angofs.in with @BINDIR@ = the build, run with the
    arguments and the empty PATH mount(8) gives a helper."""
    with open(HELPER_IN) as f:
        text = f.read().replace("@BINDIR@", os.path.dirname(ANGOFS_BIN))
    helper = os.path.join(workdir, "mount.fuse.angofs")
    with open(helper, "w") as f:
        f.write(text)
    os.chmod(helper, 0o755)
    key = key_file(hub, workdir)
    env = {"HOME": workdir, "XDG_CONFIG_HOME": os.path.join(workdir, "xdg")}
    for i, (source, extra) in enumerate([(hub.url, ["-n", "-t", "fuse.angofs"]),
                                         ("angofs#" + hub.url, ["-s", "-v"]),
                                         ("none", ["-o", "host=" + hub.url])]):
        mnt = os.path.join(workdir, "helper%d" % i)
        os.makedirs(mnt)
        opts = "rw,api_key_file=%s,cache_dir=%s,_netdev,noauto,user,dev,suid" % (
            key, os.path.join(workdir, "cache%d" % i))
        _live_mounts.append(mnt)
        try:
            r = subprocess.run(["/bin/sh", helper, source, mnt, "-o", opts] + extra,
                               capture_output=True, text=True, timeout=60, env=env)
            assert r.returncode == 0, r.stderr
            assert wait_mounted(mnt)
            assert mount_entry(mnt)[2] == "fuse.angofs"
            assert status(mnt)["host"] == hub.url
            assert "Street Scenes" in os.listdir(mnt)
            pid = daemon_pid(mnt)
        finally:
            _unmount(mnt)
        assert wait_gone(pid)


def test_mount_helper_refuses_bad_calls(workdir):
    with open(HELPER_IN) as f:
        text = f.read().replace("@BINDIR@", os.path.dirname(ANGOFS_BIN))
    helper = os.path.join(workdir, "mount.fuse.angofs")
    with open(helper, "w") as f:
        f.write(text)
    r = subprocess.run(["/bin/sh", helper, "eu"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "usage:" in r.stderr
    r = subprocess.run(["/bin/sh", helper, "eu", workdir, "--frob"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and "unexpected argument '--frob'" in r.stderr


NS_SCRIPT = r'''
import os, subprocess, sys
helper_text, url, key, work, mode = sys.argv[1:6]
sbin = os.path.realpath("/sbin")
# a private /sbin holding only our helper: mount(8) must find and use it
subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", sbin], check=True)
with open(os.path.join(sbin, "mount.fuse.angofs"), "w") as f:
    f.write(helper_text)
os.chmod(os.path.join(sbin, "mount.fuse.angofs"), 0o755)
mnt = os.path.join(work, "ns-mnt")
os.makedirs(mnt, exist_ok=True)
opts = "api_key_file=%s,cache_dir=%s,no_config,_netdev,noauto,user,nofail" % (
    key, os.path.join(work, "ns-cache"))
env = {"PATH": "/usr/bin:/bin", "HOME": work}
if mode == "type":
    cmd = ["mount", "-t", "fuse.angofs", url, mnt, "-o", opts]
else:
    fstab = os.path.join(work, "ns-fstab")
    with open(fstab, "w") as f:
        f.write("none %s fuse.angofs host=%s,%s 0 0\n" % (mnt, url, opts))
    cmd = ["mount", "-T", fstab, mnt]
try:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    print("RC:%d %s" % (r.returncode, r.stderr.replace("\n", "|")))
    if r.returncode == 0:
        with open("/proc/self/mounts") as f:
            print("MOUNTS:" + "|".join(l.strip() for l in f if " %s " % mnt in l))
        print("LS:" + "|".join(sorted(os.listdir(mnt))))
        r = subprocess.run(["umount", mnt], capture_output=True, text=True, timeout=60)
        print("UMOUNT:%d %s" % (r.returncode, r.stderr.strip()))
finally:  # a daemon left mounted would keep this namespace alive
    subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=60)
'''


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
@pytest.mark.parametrize("mode", ["type", "fstab"])
def test_mount_t_fuse_angofs_uses_our_helper(hub, workdir, mode):
    """`mount -t fuse.angofs URL DIR` and an fstab line of type fuse.angofs, with
    mount.fuse.angofs in /sbin: run in a private mount namespace whose /sbin is
    a tmpfs holding only our helper (so nothing on the machine changes)."""
    import sys
    with open(HELPER_IN) as f:
        text = f.read().replace("@BINDIR@", os.path.dirname(ANGOFS_BIN))
    r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                        NS_SCRIPT, text, hub.url, key_file(hub, workdir), workdir, mode],
                       capture_output=True, text=True, timeout=180)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "RC:0 " in out, out
    mounts = [ln for ln in out.splitlines() if ln.startswith("MOUNTS:")][0]
    assert " fuse.angofs " in mounts, mounts
    assert "Street Scenes" in [ln for ln in out.splitlines() if ln.startswith("LS:")][0]
    assert "UMOUNT:0" in out, out
