"""Read side: refusals and hub failures (issue 3, deliverable 5), plus the
command line (options, key handling)."""
import errno
import os
import time

import pytest

from conftest import Mount
from harness.procs import run_angofs as run_cli  # no ANGO_API_KEY unless key=
from harness.util import errno_of
from test_read_common import EXPORT, DOWNLOAD, count, read, street_dir


def test_refused_operations_on_the_read_side(hub, mount):
    _, p = street_dir(mount, hub)
    exp = os.path.join(p, "export")
    f = os.path.join(exp, "tasks.json")
    hub.reset_stats()
    assert errno_of(lambda: open(f, "w")) == errno.EACCES
    assert errno_of(lambda: open(f, "r+")) == errno.EACCES
    assert errno_of(lambda: open(f, "a")) == errno.EACCES
    assert errno_of(lambda: os.truncate(f, 0)) == errno.EACCES
    assert errno_of(lambda: open(os.path.join(p, "project.json"), "w")) == errno.EACCES
    assert errno_of(lambda: os.open(os.path.join(exp, "new.json"),
                                    os.O_WRONLY | os.O_CREAT, 0o644)) == errno.EPERM
    assert errno_of(lambda: os.mkdir(os.path.join(exp, "d"))) == errno.EPERM
    assert errno_of(lambda: os.mkdir(os.path.join(mount.path, "New Project"))) == errno.EPERM
    assert errno_of(lambda: os.unlink(f)) == errno.EPERM
    assert errno_of(lambda: os.rmdir(os.path.join(p, "tasks"))) == errno.EPERM
    assert errno_of(lambda: os.rename(f, os.path.join(exp, "x.json"))) == errno.EPERM
    assert errno_of(lambda: os.symlink("/etc", os.path.join(exp, "l"))) == errno.EPERM
    assert errno_of(lambda: os.chmod(f, 0o666)) == errno.EPERM
    assert errno_of(lambda: os.unlink(os.path.join(exp, "missing.json"))) == errno.ENOENT
    # refusals never fetch anything
    assert count(hub, EXPORT) == 0
    assert read(f)[:1] == b"["


def test_read_only_mount_says_erofs(hub, workdir):
    m = Mount(hub, workdir, opts=["ro"])
    try:
        _, p = street_dir(m, hub)
        f = os.path.join(p, "export", "tasks.json")
        assert errno_of(lambda: open(f, "w")) == errno.EROFS
        assert errno_of(lambda: os.mkdir(os.path.join(p, "labels", "x"))) == errno.EROFS
        assert errno_of(lambda: open(os.path.join(p, "labels", "a.json"), "w")) == errno.EROFS
        assert read(f)[:1] == b"["
    finally:
        m.stop()


@pytest.mark.parametrize("status,err", [(500, errno.EIO), (503, errno.EAGAIN),
                                        (403, errno.EACCES), (401, errno.EACCES),
                                        (404, errno.ENOENT), (400, errno.EINVAL)])
def test_hub_errors_map_to_errnos_in_bounded_time(hub, mount, status, err):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.json")
    hub.fault(route=EXPORT, status=status, message="injected-%d" % status)
    t0 = time.time()
    assert errno_of(lambda: read(f)) == err
    assert time.time() - t0 < 120  # bounded retries, never a hang
    assert "injected-%d" % status in mount.log_text()  # the hub's message is logged
    hub.clear_faults()
    assert read(f)[:1] == b"["  # a failed fetch is not cached


def test_429_with_retry_after_is_retried(hub, mount):
    _, p = street_dir(mount, hub)
    hub.fault(route=EXPORT, status=429, retry_after=1, count=2)
    hub.reset_stats()
    assert read(os.path.join(p, "export", "issues.json"))[:1] == b"["
    assert count(hub, EXPORT) == 3


def test_corrupt_zip_is_an_error_and_not_cached(hub, mount):
    _, p = street_dir(mount, hub)
    f = os.path.join(p, "export", "tasks.ndjson")
    hub.fault(route=DOWNLOAD, corrupt=True, count=1)
    assert errno_of(lambda: read(f)) == errno.EIO
    assert os.stat(f).st_size == 1  # never fetched: placeholder size
    exports = os.path.join(mount.cache, "exports")
    assert not [n for n in os.listdir(exports) if n.endswith(".data") or ".tmp-" in n]
    assert read(f).count(b"\n") > 10


def test_dropped_download_is_resumed(hub, mount):
    pid, p = street_dir(mount, hub)
    hub.fault(route=DOWNLOAD, drop_after=5000, count=1)
    data = read(os.path.join(p, "export", "tasks.json"))
    hub.clear_faults()
    from test_read_common import direct_export
    assert data == direct_export(hub, pid, format="json", type="task")


def test_unknown_task_from_hub_404_is_enoent_quickly(hub, mount):
    _, p = street_dir(mount, hub)
    t0 = time.time()
    assert errno_of(lambda: os.stat(os.path.join(p, "tasks", "65a0000b0000000000000000"))) \
        == errno.ENOENT
    assert time.time() - t0 < 60


def test_hub_down_gives_an_error_not_a_hang(hub, mount):
    _, p = street_dir(mount, hub)
    os.listdir(mount.path)
    hub.stop()
    try:
        t0 = time.time()
        e = errno_of(lambda: read(os.path.join(p, "export", "tasks.json")))
        assert e in (errno.ECONNREFUSED, errno.EAGAIN, errno.EIO, errno.EHOSTUNREACH)
        assert time.time() - t0 < 180
    finally:
        hub.start()


def test_cli_refuses_key_on_the_command_line(workdir):
    r = run_cli([workdir, "-o", "api_key=abc", "-o", "host=http://127.0.0.1:1"])
    assert r.returncode != 0
    assert "api_key" in r.stderr and "ANGO_API_KEY" in r.stderr
    assert not os.path.ismount(workdir)


def test_cli_refuses_a_readable_key_file(workdir):
    kf = os.path.join(workdir, "key")
    with open(kf, "w") as f:
        f.write("k\n")
    os.chmod(kf, 0o644)
    r = run_cli([workdir, "-o", "api_key_file=" + kf])
    assert r.returncode != 0 and "chmod 600" in r.stderr


def test_cli_needs_a_key_and_a_valid_host(workdir):
    r = run_cli([workdir])
    assert r.returncode != 0 and "ANGO_API_KEY" in r.stderr
    r = run_cli([workdir, "-o", "host=gopher://x"], env={"ANGO_API_KEY": "k"})
    assert r.returncode != 0 and "gopher://x" in r.stderr
    r = run_cli([workdir, "-o", "cache_size=lots"], env={"ANGO_API_KEY": "k"})
    assert r.returncode != 0 and "cache_size" in r.stderr
    r = run_cli([workdir, "-o", "export_ttl=soon"], env={"ANGO_API_KEY": "k"})
    assert r.returncode != 0 and "export_ttl" in r.stderr


def test_cli_help_and_version():
    r = run_cli(["--help"])
    assert r.returncode == 0
    out = r.stdout + r.stderr
    assert out.index("angofs options") < out.index("FUSE options")
    for opt in ("host=", "api_key_file=", "cache_dir=", "cache_size=", "export_ttl=",
                "include_history=", "task_types=", "rate_limit="):
        assert opt in out
    r = run_cli(["--version"])
    assert r.returncode == 0 and "angofs" in r.stdout


def test_mount_with_a_private_key_file(hub, workdir):
    kf = os.path.join(workdir, "key")
    fd = os.open(kf, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (hub.key + "\n").encode())
    os.close(fd)
    m = Mount(hub, workdir, opts=["api_key_file=" + kf], env={"ANGO_API_KEY": ""},
              name="mnt-keyfile")
    try:
        assert "Street Scenes" in os.listdir(m.path)
    finally:
        m.stop()
