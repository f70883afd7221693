"""Installation (issue 7, items 2 and 3): `meson install` installs both binaries,
the man pages, the mount helper and the systemd unit; the man pages render
without warnings; the unit passes systemd-analyze verify; and the unit's
ExecStart really mounts and reports READY=1 over $NOTIFY_SOCKET (Type=notify),
then unmounts cleanly on SIGTERM."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import ANGOFS_BIN, BUILD, ROOT, _live_mounts, _live_procs, _unmount
from ecoutil import status

UNIT_IN = os.path.join(ROOT, "contrib", "systemd", "angofs@.service.in")


def installed_map():
    r = subprocess.run(["meson", "introspect", BUILD, "--installed"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_meson_install_installs_everything(workdir):
    dest = os.path.join(workdir, "dest")
    r = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    targets = installed_map().values()
    names = {os.path.basename(t): t for t in targets}
    for want in ("angofs", "angofs-hub", "angofs.1", "angofs-hub.1", "mount.fuse.angofs",
                 "angofs@.service"):
        assert want in names, names
        path = dest + names[want]
        assert os.path.isfile(path), path
    assert names["angofs.1"].endswith("/man1/angofs.1")
    assert os.path.dirname(names["mount.fuse.angofs"]) in ("/sbin", "/usr/sbin")
    assert os.access(dest + names["mount.fuse.angofs"], os.X_OK)
    assert os.access(dest + names["angofs"], os.X_OK)
    # the helper and the unit run the installed binary by its full path
    bindir = os.path.dirname(names["angofs"])
    with open(dest + names["mount.fuse.angofs"]) as f:
        assert "ANGOFS=%s/angofs\n" % bindir in f.read()
    with open(dest + names["angofs@.service"]) as f:
        unit = f.read()
    assert "ExecStart=%s/angofs %%f -f -o config=/etc/angofs/%%i.conf" % bindir in unit
    assert "@" + "BINDIR@" not in unit and "@FUSERMOUNT@" not in unit
    # the installed man pages carry the version
    ver = subprocess.run([ANGOFS_BIN, "--version"], capture_output=True, text=True,
                         timeout=30).stdout.split()[1]
    with open(dest + names["angofs.1"]) as f:
        assert '"angofs %s"' % ver in f.read()


@pytest.mark.parametrize("page", ["angofs.1", "angofs-hub.1"])
def test_man_pages_render_without_warnings(page):
    built = [b for b in installed_map() if os.path.basename(b) == page][0]
    r = subprocess.run(["groff", "-man", "-ww", "-z", built], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run(["groff", "-man", "-Tutf8", built], capture_output=True, timeout=60,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    text = re.sub(r".\x08", "", r.stdout.decode("utf-8", "replace"))  # overstrike
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "SEE ALSO"):
        assert section in text, section
    if page == "angofs.1":
        # every -o option angofs --help lists is documented in the man page
        help_text = subprocess.run([ANGOFS_BIN, "--help"], capture_output=True, text=True,
                                   timeout=30).stdout
        own = help_text[help_text.index("angofs options:"):help_text.index("FUSE options:")]
        for opt in re.findall(r"-o (\w+)", own):
            assert opt in text.replace("\u2010", "-"), opt
        for section in ("CONFIGURATION FILE", "FSTAB AND SYSTEMD", "LOGGING",
                        "STATUS AND PROGRESS"):
            assert section in text, section


def unit_text(bindir, confdir):
    with open(UNIT_IN) as f:
        text = f.read()
    return (text.replace("@BINDIR@", bindir).replace("@FUSERMOUNT@", shutil.which(
        "fusermount3") or "/usr/bin/fusermount3").replace("/etc/angofs/", confdir + "/"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(workdir):
    path = os.path.join(workdir, "angofs@mnt-ango.service")
    with open(path, "w") as f:
        f.write(unit_text(os.path.dirname(ANGOFS_BIN), workdir))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True,
                       text=True, timeout=120)
    problems = [ln for ln in (r.stdout + r.stderr).splitlines()
                if "angofs@" in ln and "sysinit.target" not in ln]
    assert not problems, r.stdout + r.stderr


def exec_line(text, key):
    for ln in text.splitlines():
        if ln.startswith(key + "="):
            return ln.split("=", 1)[1]
    raise AssertionError("no " + key)


def test_unit_exec_start_mounts_and_notifies_ready(hub, workdir):
    mnt = os.path.join(workdir, "mnt-ango")
    os.makedirs(mnt)
    inst = "mnt-ango"  # what systemd-escape -p would give for a mountpoint /mnt/ango
    confdir = os.path.join(workdir, "etc")
    os.makedirs(confdir)
    key = os.path.join(confdir, inst + ".key")
    with open(key, "w") as f:
        f.write(hub.key)
    os.chmod(key, 0o600)
    with open(os.path.join(confdir, inst + ".conf"), "w") as f:
        f.write("host = %s\napi_key_file = %s\ncache_dir = %s\n"
                % (hub.url, key, os.path.join(workdir, "cache")))
    text = unit_text(os.path.dirname(ANGOFS_BIN), confdir)
    assert exec_line(text, "Type") == "notify"
    assert exec_line(text, "Restart") == "on-failure"
    cmd = exec_line(text, "ExecStart").replace("%f", mnt).replace("%i", inst).split()
    sock_path = os.path.join(workdir, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(60)
    env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "NOTIFY_SOCKET": sock_path}
    log = open(os.path.join(workdir, "unit.log"), "wb")
    p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    _live_procs.append(p)
    _live_mounts.append(mnt)
    try:
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.split("\n"), msg
        assert "MAINPID=%d" % p.pid in msg
        assert os.path.ismount(mnt)  # ready means mounted
        st = status(mnt)
        assert st["host"] == hub.url and st["config"].endswith(inst + ".conf")
        assert "Street Scenes" in os.listdir(mnt)
        p.send_signal(signal.SIGTERM)  # systemctl stop
        rc = p.wait(timeout=30)
        log.flush()
        with open(os.path.join(workdir, "unit.log"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        assert rc == 0, "exit %d; daemon log:\n%s" % (rc, text[-4000:])
        assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, text[-4000:]
        deadline = time.time() + 10
        while os.path.ismount(mnt) and time.time() < deadline:
            time.sleep(0.05)
        assert not os.path.ismount(mnt)
    finally:
        sock.close()
        _unmount(mnt)
        if p.poll() is None:
            p.kill()
            p.wait()
        _live_procs.remove(p)
        log.close()
