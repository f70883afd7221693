"""The bench's teardown stays in the process that started the hub and the
mounts. A forked child (a multiprocessing Pool's reader) inherits
benchlib's SIGTERM handler, the harness's lists of live mounts and daemons,
and its atexit hook; Pool.terminate() at the end of every `with Pool()` sends
SIGTERM to each worker. A worker that ran the handler unmounted the mount and
killed the daemon under the caller: bench/passthrough.py --assets
--second-pass then failed with ENOENT on the first file of a reader chunk
(synthetic_0000001.jpg, ...), no request reaching the daemon, in about half
its runs. Here the same sequence runs as a script (its own signal handlers,
not pytest's): a forked child that gets SIGTERM while in Python code, a
forked child that runs the exit hooks, then passes of 8 forked readers over
assets/ as the bench does; the mount must stay mounted and every file read.
"""
import os
import subprocess

from conftest import BUILD, ROOT

SCRIPT = r'''
import atexit, multiprocessing, os, signal, sys, time
import benchlib as B


def read_all(paths):
    for p in paths:
        with open(p, "rb") as f:
            f.read()


def fork_child(body):
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)  # never back into the parent's code
    return pid


def main(build, d):
    B.install_signal_handlers()
    hub = B.Hub(build, d, ["synthetic:40"])
    m = B.Mount(build, hub, os.path.join(d, "mnt"), os.path.join(d, "cache"))
    try:
        pname = next(p for p in os.listdir(m.path) if p.startswith("synthetic"))
        ad = os.path.join(m.path, pname, "assets")
        paths = [os.path.join(ad, a) for a in sorted(os.listdir(ad))]
        # SIGTERM to a child in Python code (the handler runs there)
        pid = fork_child(lambda: time.sleep(60))
        time.sleep(0.5)
        os.kill(pid, signal.SIGTERM)
        _, st = os.waitpid(pid, 0)
        print("sigterm child: signaled %s, mounted %s" % (
            os.WIFSIGNALED(st), os.path.ismount(m.path)), flush=True)
        # a child that ends the way an interpreter does (its exit hooks)
        pid = fork_child(atexit._run_exitfuncs)
        os.waitpid(pid, 0)
        print("exiting child: mounted %s" % os.path.ismount(m.path), flush=True)
        for i in range(4):  # the bench's passes: each pool terminated
            with multiprocessing.get_context("fork").Pool(8) as pool:
                pool.map(read_all, [paths[k::8] for k in range(8)])
        print("passes: %d files x 4, mounted %s, daemon running %s" % (
            len(paths), os.path.ismount(m.path), m.proc.poll() is None), flush=True)
    finally:
        m.stop()
        hub.stop()


main(sys.argv[1], sys.argv[2])
'''


def test_forked_readers_leave_the_mount(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = ":".join(os.path.join(ROOT, d) for d in ("bench", "tests"))
    r = subprocess.run(["/usr/bin/python3", "-c", SCRIPT, BUILD, str(tmp_path)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=300)
    text = r.stdout.decode("utf-8", "replace")
    assert "sigterm child: signaled True, mounted True" in text, text[-4000:]
    assert "exiting child: mounted True" in text, text[-4000:]
    assert "passes: 40 files x 4, mounted True, daemon running True" in text, text[-4000:]
    assert r.returncode == 0, text[-4000:]
