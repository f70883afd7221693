"""The config file (issue 7, item 1): $XDG_CONFIG_HOME/angofs/config holds the
same settings as -o; the command line wins; -o config=PATH and no_config;
values with commas and spaces, flags, ~/; bad files are refused naming the file
and line; a key in the config file is refused."""
import os

import pytest

from conftest import Mount
from ecoutil import EXPORT, isolated_env, main_project, read, run_angofs, status


def test_config_file_sets_options_and_command_line_wins(hub, workdir):
    key = os.path.join(workdir, "key")
    with open(key, "w") as f:
        f.write(hub.key + "\n")
    os.chmod(key, 0o600)
    cfg = ("# angofs config\n"
           "; another comment\n"
           "\n"
           "host = %s\n"
           "api_key_file = %s\n"
           "cache_size = 300M\n"
           "export_ttl = 77\n"
           "log_level = debug\n"
           "task_types = default,consensus\n"
           "include_history = false\n"
           "debug = no\n" % (hub.url, key))
    env = isolated_env(workdir, cfg)
    env["ANGO_API_KEY"] = ""  # the key must come from the config's api_key_file
    # Mount's command line gives host= and cache_dir=; export_ttl given again wins
    m = Mount(hub, workdir, opts=["export_ttl=5"], env=env)
    try:
        st = status(m.path)
        assert st["config"] == os.path.join(env["XDG_CONFIG_HOME"], "angofs", "config")
        assert st["exports"]["cache_cap"] == 300 << 20  # from the file
        assert st["exports"]["ttl_s"] == 5               # command line wins
        assert st["log_level"] == "debug"
        pid = main_project(hub)
        hub.reset_stats()
        data = read(os.path.join(m.path, pid, "export", "tasks.json"))
        assert data[:1] == b"["
        assert len([r for r in hub.stats()["log"] if r["route"] == EXPORT]) == 1
        q = [ln for ln in m.log_text().splitlines() if " GET /v2/export?" in ln]
        assert len(q) == 1, q
        assert "taskTypes=%5B%22default%22%2C%22consensus%22%5D" in q[0], q
        assert "includeHistory=false" in q[0], q
        assert not os.path.exists(os.path.join(m.path, pid, "nope"))  # logged at debug
        assert " debug: " in m.log_text()  # log_level = debug from the file
    finally:
        m.stop()


def test_explicit_config_path_and_no_config(hub, workdir):
    other = os.path.join(workdir, "other.conf")
    with open(other, "w") as f:
        f.write('cache_size = "2G"\nro\n')
    env = isolated_env(workdir, "cache_size = 100M\n")
    m = Mount(hub, workdir, opts=["config=" + other], env=env, name="m1")
    try:
        st = status(m.path)
        assert st["exports"]["cache_cap"] == 2 << 30 and st["read_only"] is True
        assert st["config"] == other
    finally:
        m.stop()
    m = Mount(hub, workdir, opts=["no_config"], env=env, name="m2")
    try:
        st = status(m.path)
        assert st["exports"]["cache_cap"] == 10 << 30 and "config" not in st
    finally:
        m.stop()
    # the command line's rw undoes the file's ro
    m = Mount(hub, workdir, opts=["config=" + other, "rw"], env=env, name="m3")
    try:
        assert status(m.path)["read_only"] is False
    finally:
        m.stop()


def test_home_relative_paths_in_config(hub, workdir):
    home = os.path.join(workdir, "home")
    os.makedirs(home)
    with open(os.path.join(home, "ango.key"), "w") as f:
        f.write(hub.key)
    os.chmod(os.path.join(home, "ango.key"), 0o600)
    env = isolated_env(workdir, "api_key_file = ~/ango.key\n")
    env.update(HOME=home, ANGO_API_KEY="")
    m = Mount(hub, workdir, env=env)
    try:
        assert "Street Scenes" in os.listdir(m.path)
    finally:
        m.stop()


def test_missing_default_config_is_fine(hub, workdir):
    env = isolated_env(workdir)  # XDG_CONFIG_HOME/angofs exists, no config file
    m = Mount(hub, workdir, env=env)
    try:
        assert "config" not in status(m.path)
    finally:
        m.stop()


@pytest.mark.parametrize("text,needle", [
    ("cache_size 10G\n", "config:1: expected '=' after 'cache_size'"),
    ("\n\nfrobnicate = 1\n", "config:3: unknown setting 'frobnicate'"),
    ("host =\n", "config:1: 'host' has an empty value"),
    ("host\n", "config:1: 'host' needs a value"),
    ("allow_other = perhaps\n", "config:1: 'allow_other' is a flag"),
    ('host = "eu\n', "config:1: unterminated quote"),
    ("= eu\n", "config:1: expected 'name = value'"),
    ("api_key = abc123secret\n", "config:1: an API key in the config file is refused"),
    ("cache_size = 10Q\n", "cache_size: '10Q' has an unknown unit"),
    ("log_level = chatty\n", "log_level: 'chatty' is not a level"),
])
def test_bad_config_is_refused_naming_file_and_line(workdir, text, needle):
    mnt = os.path.join(workdir, "mnt")
    os.makedirs(mnt, exist_ok=True)
    env = isolated_env(workdir, text)
    r = run_angofs([mnt, "-f", "-o", "cache_dir=" + os.path.join(workdir, "c")], env=env)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert "abc123secret" not in r.stderr
    assert not os.path.ismount(mnt)


def test_binary_config_is_refused(workdir):
    mnt = os.path.join(workdir, "mnt")
    os.makedirs(mnt)
    env = isolated_env(workdir)
    with open(os.path.join(env["XDG_CONFIG_HOME"], "angofs", "config"), "wb") as f:
        f.write(b"host = eu\n\x00\x01\x02")
    r = run_angofs([mnt, "-f"], env=env)
    assert r.returncode != 0 and "NUL byte" in r.stderr, r.stderr
