"""Options (issue 7, item 1): --help lists angofs's options first, then FUSE's;
--version prints both versions; host accepts region names and URLs; every bad
value is refused before mounting with a message naming the option; the
mount helper's calling convention (SOURCE MOUNTPOINT) and fstab-only words
work; existing options keep working (the Mount fixture's command line)."""
import os
import re

import pytest

from conftest import ANGOFS_BIN, Mount
from ecoutil import isolated_env, run_angofs, status

REGIONS = {"eu": "https://imeritapi.ango.ai", "us": "https://us-api.ango.ai",
           "in": "https://in-api.ango.ai", "test": "https://testapi.ango.ai"}


def test_help_lists_angofs_options_then_fuse_options(workdir):
    r = run_angofs(["--help"], env=isolated_env(workdir))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    own, fuse = out.index("angofs options:"), out.index("FUSE options:")
    assert own < fuse
    for name in ("host=", "api_key_file=", "cache_dir=", "cache_size=", "export_ttl=",
                 "attr_timeout=", "entry_timeout=", "include_metadata=", "include_history=",
                 "include_only_key_frames=", "include_idle_blur_durations=", "task_types=",
                 "next_stage=", "log_level=", "config=", "--status"):
        assert out.index(name) < fuse, name
    assert "allow_other" in out[fuse:] or "-o max_threads" in out[fuse:]
    assert "usage:" in out.splitlines()[0]


def test_help_works_even_with_a_broken_config(workdir):
    r = run_angofs(["-h"], env=isolated_env(workdir, "this is not = valid = ?\n"))
    assert r.returncode == 0 and "angofs options:" in r.stdout


def test_version_prints_angofs_and_fuse_versions(workdir):
    for flag in ("--version", "-V"):
        r = run_angofs([flag], env=isolated_env(workdir))
        assert r.returncode == 0, r.stderr
        assert re.search(r"^angofs \d+\.\d+\.\d+$", r.stdout, re.M), r.stdout
        assert re.search(r"^FUSE library \d+\.\d+", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("opt,needle", [
    ("host=ftp://x", "host: 'ftp://x' is neither a region"),
    ("host=mars", "host: 'mars' is neither a region"),
    ("host=http://", "has no host name"),
    ("host=http://user@h", "not allowed"),
    ("cache_size=10Q", "cache_size: '10Q' has an unknown unit"),
    ("cache_size=big", "cache_size: 'big' is not a size"),
    ("export_ttl=-5", "export_ttl: '-5' is not a non-negative integer"),
    ("attr_timeout=1.5", "attr_timeout: '1.5'"),
    ("entry_timeout=x", "entry_timeout: 'x'"),
    ("meta_ttl=", "meta_ttl: ''"),
    ("rate_limit=many", "rate_limit: 'many'"),
    ("include_metadata=maybe", "include_metadata: 'maybe' is not a boolean"),
    ("include_history=2", "include_history: '2' is not a boolean"),
    ("include_only_key_frames=yes please", "include_only_key_frames"),
    ("include_idle_blur_durations=nah", "include_idle_blur_durations"),
    ("next_stage=sometimes", "next_stage: 'sometimes' is not a boolean"),
    ("task_types=default:golden", "task_types: unknown type 'golden'"),
    ("log_level=loud", "log_level: 'loud' is not a level"),
    ("api_key=secret-on-the-command-line", "-o api_key= is refused"),
    ("config=/nonexistent/angofs.conf", "config file '/nonexistent/angofs.conf'"),
])
def test_bad_option_values_are_refused_naming_the_option(workdir, opt, needle):
    mnt = os.path.join(workdir, "mnt")
    os.makedirs(mnt, exist_ok=True)
    r = run_angofs([mnt, "-f", "-o", "cache_dir=" + os.path.join(workdir, "c"), "-o", opt],
                   env=isolated_env(workdir))
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert "secret-on-the-command-line" not in r.stderr
    assert not os.path.ismount(mnt)


def test_no_key_is_refused_with_a_hint(workdir):
    mnt = os.path.join(workdir, "mnt")
    os.makedirs(mnt)
    r = run_angofs([mnt, "-f"], env=isolated_env(workdir), key=None)
    assert r.returncode != 0 and "no API key" in r.stderr and "api_key_file" in r.stderr


def test_three_positional_arguments_are_refused(workdir):
    r = run_angofs(["eu", os.path.join(workdir, "a"), os.path.join(workdir, "b")],
                   env=isolated_env(workdir))
    assert r.returncode != 0 and "unexpected argument" in r.stderr


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_region_names_map_to_their_hosts(hub, workdir, region):
    # mounting does not contact the hub; .status is rendered locally
    name = region.upper() if region == "us" else region  # case does not matter
    m = Mount(hub, workdir, opts=["host=" + name], env=isolated_env(workdir))
    try:
        assert status(m.path)["host"] == REGIONS[region]
    finally:
        m.stop()


def test_host_url_trailing_slash_and_source_argument(hub, workdir):
    """angofs SOURCE MOUNTPOINT (as mount.fuse3 runs it): SOURCE is the hub;
    -o host= on the command line wins over SOURCE; 'angofs#' prefix dropped."""
    import subprocess
    import time
    from conftest import _live_mounts, _unmount
    env = dict(os.environ, ANGO_API_KEY=hub.key, **isolated_env(workdir))
    mnt = os.path.join(workdir, "src-mnt")
    os.makedirs(mnt)
    cases = [([hub.url + "/", mnt], hub.url),
             (["angofs#" + hub.url, mnt], hub.url),
             (["none", mnt, "-o", "host=" + hub.url], hub.url),
             (["us", mnt, "-o", "host=" + hub.url + "//"], hub.url)]
    for args, want in cases:
        p = subprocess.Popen([ANGOFS_BIN] + args + [
            "-f", "-o", "cache_dir=" + os.path.join(workdir, "c"),
            "-o", "_netdev,noauto,user,nofail,x-systemd.automount"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        _live_mounts.append(mnt)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not os.path.ismount(mnt) and p.poll() is None:
                time.sleep(0.05)
            assert os.path.ismount(mnt), p.stdout.read().decode() if p.poll() is not None \
                else "not mounted"
            assert status(mnt)["host"] == want
            assert "Street Scenes" in os.listdir(mnt)
            with open("/proc/self/mounts") as f:
                line = [ln for ln in f if ln.split()[1] == os.path.realpath(mnt)][0]
            assert line.split()[2] == "fuse.angofs", line
        finally:
            _unmount(mnt)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()


def test_existing_mount_options_still_work(hub, workdir):
    m = Mount(hub, workdir, opts=["cache_size=1G", "export_ttl=10", "meta_ttl=5",
                                  "attr_timeout=1", "entry_timeout=1", "rate_limit=0",
                                  "next_stage=false", "task_types=default:consensus", "ro",
                                  "debug"], env=isolated_env(workdir))
    try:
        st = status(m.path)
        assert st["read_only"] is True
        assert st["exports"]["cache_cap"] == 1 << 30 and st["exports"]["ttl_s"] == 10
        assert st["log_level"] == "debug"
        assert "Street Scenes" in os.listdir(m.path)
    finally:
        m.stop()


def test_the_high_level_librarys_options_still_work(hub, workdir):
    """The adapter is on libfuse's low-level API, which does not know the
    high-level library's options: uid, gid, umask and negative_timeout are
    mapped, the caching ones accepted without effect, modules= refused."""
    m = Mount(hub, workdir, opts=["uid=4321", "gid=4322", "umask=027", "negative_timeout=2",
                                  "kernel_cache", "auto_cache", "noforget",
                                  "remember=5", "ac_attr_timeout=3"], env=isolated_env(workdir))
    try:
        names = os.listdir(m.path)
        assert "Street Scenes" in names
        for p in (m.path, os.path.join(m.path, "Street Scenes"),
                  os.path.join(m.path, "Street Scenes", "project.json")):
            st = os.stat(p)
            assert (st.st_uid, st.st_gid) == (4321, 4322), p
            assert st.st_mode & 0o027 == 0, (p, oct(st.st_mode))
    finally:
        m.stop()
    r = run_angofs([os.path.join(workdir, "nomnt"), "-o", "modules=subdir", "-o",
                    "subdir=/x"], env=isolated_env(workdir))
    assert r.returncode != 0 and "modules=subdir" in r.stderr, r.stderr
