"""Secrets (issue 6, item 7): the API key never shows up where others can see
it or where it does not belong.

- never in argv: `-o api_key=...` is refused (before anything mounts); the
  running daemon's command line holds no key;
- never in logs (a verbose -o debug session with reads, writes, hub errors and
  a refused write is grepped), nor in the cache, the spool, .status or the
  write status files;
- never on an export download, nor on the host a download redirects to (the
  hub records every download's headers);
- a key file that group or others can read is refused, the error says how to
  fix it; the cache directory is 0700 (also when it existed with 0755) and
  every file in it 0600;
- https hosts are verified: against a loopback TLS server with a self-signed
  certificate the mount gets an error and the server never sees a request;
- by default only the mounting user can use the mount (no allow_other): another
  user gets EACCES.
"""
import errno
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading

from conftest import ANGOFS_BIN, Mount
from harness.procs import run_angofs as run_cli  # no ANGO_API_KEY unless key=
from test_write_common import street, task_by_ext, write_file

SECRET = "sEcReT-kEy-5f0c2b7e3a41"


def all_files(root):
    for d, dirs, files in os.walk(root):
        for n in files:
            yield os.path.join(d, n)


def test_key_on_the_command_line_is_refused(workdir):
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    for opt in ("api_key=" + SECRET, "ro,api_key=" + SECRET, "apikey=" + SECRET):
        r = run_cli([mnt, "-o", opt, "-o", "host=http://127.0.0.1:1"])
        assert r.returncode != 0, opt
        assert not os.path.ismount(mnt)
        assert SECRET not in r.stdout + r.stderr  # not even echoed back
    r = run_cli([mnt, "-o", "api_key=" + SECRET, "-o", "host=http://127.0.0.1:1"])
    assert "ANGO_API_KEY" in r.stderr and "api_key_file" in r.stderr


def test_key_files_others_can_read_are_refused(workdir):
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    kf = os.path.join(workdir, "key")
    with open(kf, "w") as f:
        f.write(SECRET + "\n")
    for mode in (0o644, 0o640, 0o604, 0o660):
        os.chmod(kf, mode)
        r = run_cli([mnt, "-o", "api_key_file=" + kf, "-o", "host=http://127.0.0.1:1"])
        assert r.returncode != 0, oct(mode)
        assert "chmod 600" in r.stderr and SECRET not in r.stderr
        assert not os.path.ismount(mnt)


def test_key_is_in_no_log_cache_status_or_download(hub, workdir):
    hub.stop()
    hub.key = SECRET
    hub.start()
    m = Mount(hub, workdir, opts=["debug", "rate_limit=0"])
    try:
        pid, p = street(hub, m)
        assert f"{SECRET}" not in open("/proc/%d/cmdline" % m.proc.pid).read()
        hub.reset_stats()
        # reads, a download redirected to another host name, hub errors
        hub.fault(route="GET /download", redirect="http://localhost:%d" % hub.port, count=1)
        with open(os.path.join(p, "export", "tasks.json"), "rb") as f:
            assert f.read(1) == b"["
        with open(os.path.join(p, "export", "issues.json"), "rb") as f:
            f.read()
        hub.fault(route="GET /v2/export", status=401, count=1)
        try:
            open(os.path.join(p, "export", "tasks.ndjson"), "rb").read()
        except OSError:
            pass
        # writes: a good one, a refused one (hub 400 echoing the request), a pending one
        t = task_by_ext(hub, pid, "street_0050.jpg")
        ans = {"classifications": [{"schemaId": "cComm001", "answer": "secret test"}]}
        assert write_file(os.path.join(p, "tasks", t["_id"], "answer.json"),
                          json.dumps(ans)) is None
        hub.fault(route="POST /v2/import/labels", status=400,
                  message="bad request from apikey header", count=1)
        item = {"externalId": "street_0051.jpg", "classifications": [
            {"schemaId": "cComm001", "answer": "x"}]}
        write_file(os.path.join(p, "labels", "refused.json"), json.dumps([item]))
        hub.fault(route="POST /v2/import/labels", status=503, count=20)
        write_file(os.path.join(p, "labels", "pending.json"), json.dumps([item]))
        for name in os.listdir(os.path.join(p, "labels")):
            with open(os.path.join(p, "labels", name), "rb") as f:
                assert SECRET.encode() not in f.read()
        with open(os.path.join(m.path, ".status"), "rb") as f:
            assert SECRET.encode() not in f.read()
        st = hub.stats()
        dls = st["download_headers"]
        assert len(dls) >= 3  # redirect + followed + the second export
        for d in dls:
            for k, v in d["headers"].items():
                assert k.lower() != "apikey" and SECRET not in v, d
        assert all(not e["apikey_present"] for e in st["log"] if e["route"] == "GET /download")
        assert any(e["status"] == 302 for e in st["log"] if e["route"] == "GET /download")
    finally:
        hub.clear_faults()
        m.stop()
    log = m.log_text()
    assert "GET /v2/export" in log  # the debug log really logged requests
    assert SECRET not in log
    for path in all_files(m.cache):
        with open(path, "rb") as f:
            assert SECRET.encode() not in f.read(), path


def test_cache_dir_and_files_are_private(hub, workdir):
    cache = os.path.join(workdir, "mnt-cache")
    os.makedirs(cache)
    os.chmod(cache, 0o755)  # a pre-existing, too open cache directory
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    try:
        pid, p = street(hub, m)
        with open(os.path.join(p, "export", "tasks.json"), "rb") as f:
            f.read()
        hub.fault(route="POST /v2/import/labels", status=503, count=50)
        item = {"externalId": "street_0052.jpg", "classifications": [
            {"schemaId": "cComm001", "answer": "x"}]}
        write_file(os.path.join(p, "labels", "kept.json"), json.dumps([item]))
        assert stat.S_IMODE(os.stat(m.cache).st_mode) == 0o700
        n = 0
        for d, dirs, files in os.walk(m.cache):
            for x in dirs:
                assert stat.S_IMODE(os.stat(os.path.join(d, x)).st_mode) == 0o700, x
            for x in files:
                assert stat.S_IMODE(os.stat(os.path.join(d, x)).st_mode) == 0o600, x
                n += 1
        assert n >= 3  # export data + meta, spool data + meta
    finally:
        hub.clear_faults()
        m.stop()


def _self_signed(workdir):
    key, crt = os.path.join(workdir, "tls.key"), os.path.join(workdir, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return key, crt


def test_https_with_an_unverifiable_certificate_is_refused(workdir):
    key, crt = _self_signed(workdir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    seen = {"handshakes": 0, "failed": 0, "requests": []}
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            seen["handshakes"] += 1
            try:
                c.settimeout(5)
                s = ctx.wrap_socket(c, server_side=True)
                seen["requests"].append(s.recv(65536))
                s.close()
            except (OSError, ssl.SSLError):
                seen["failed"] += 1
                c.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    mnt = os.path.join(workdir, "mnt")
    os.mkdir(mnt)
    p = subprocess.Popen([ANGOFS_BIN, mnt, "-f", "-o", "host=https://127.0.0.1:%d" % port,
                          "-o", "cache_dir=" + os.path.join(workdir, "c")],
                         env=dict(os.environ, ANGO_API_KEY=SECRET),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        e = None
        for _ in range(100):
            if os.path.ismount(mnt) or p.poll() is not None:
                break
            threading.Event().wait(0.1)
        if os.path.ismount(mnt):
            try:
                os.listdir(mnt)
            except OSError as x:
                e = x.errno
            assert e is not None and e != 0, "listing over unverified TLS succeeded"
        else:
            assert p.poll() not in (None, 0)
        assert seen["handshakes"] >= 1  # it did try the server ...
        assert seen["requests"] == []   # ... and sent it nothing: no key, no request
    finally:
        stop.set()
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", mnt], timeout=30)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        srv.close()
        th.join(5)
    out = p.stdout.read().decode("utf-8", "replace")
    assert SECRET not in out
    assert "certificate" in out.lower() or "SSL" in out or "TLS" in out, out[-2000:]


def test_only_the_mounting_user_sees_the_mount(hub, workdir):
    m = Mount(hub, workdir)
    try:
        opts = [line.split() for line in open("/proc/self/mountinfo")
                if line.split()[4] == os.path.realpath(m.path)]
        assert opts and "allow_other" not in " ".join(opts[0])
        os.chmod(workdir, 0o755)  # let the other user reach the mount point itself
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "ls", m.path], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0
        assert "Permission denied" in r.stderr
        assert "Street Scenes" in os.listdir(m.path)  # while we see it
    finally:
        os.chmod(workdir, 0o700)
        m.stop()
