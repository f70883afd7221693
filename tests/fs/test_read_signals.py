"""Signals while a read waits for the hub: the kernel interrupts a FUSE
request for any signal the reading process handles, also SIGCHLD (a PyTorch
DataLoader installs a SIGCHLD handler, and its workers exit) or SIGWINCH,
whose default is to be ignored. Such an interrupt must not fail the call:
`os.listdir` of a dataset view whose export is still downloading is not
retried by Python on EINTR (PEP 475 covers read(), not getdents), so a
training script died with InterruptedError. A signal that asks the reader to
stop (SIGINT: Ctrl-C, SIGTERM, SIGALRM) still ends the wait at once.

The reader runs in its own Python process, so its signal handlers are its
own; the hub holds the export's download back (latency fault) for longer than
the test's signals take to arrive."""
import os
import subprocess
import sys
import time

from test_read_common import DOWNLOAD, main_project, pdir

READER = r"""
import os, signal, subprocess, sys, time
path, sig = sys.argv[1], sys.argv[2]
if sig == "chld":
    got = []
    signal.signal(signal.SIGCHLD, lambda s, f: got.append(s))
    subprocess.Popen(["sleep", "0.3"])  # exits while the listing waits
    signal.signal(signal.SIGWINCH, lambda s, f: got.append(s))
    t0 = time.monotonic()
    try:
        names = os.listdir(path)
    except OSError as e:
        print("ERR %s %.2f" % (e.errno, time.monotonic() - t0))
        sys.exit(0)
    print("OK %d %.2f %d" % (len(names), time.monotonic() - t0, len(got)))
else:  # sigint: the default handler, KeyboardInterrupt
    print("READY", flush=True)
    t0 = time.monotonic()
    try:
        os.listdir(path)
        print("DONE %.2f" % (time.monotonic() - t0))
    except KeyboardInterrupt:
        print("INT %.2f" % (time.monotonic() - t0))
"""


def run_reader(path, sig):
    return subprocess.Popen([sys.executable, "-c", READER, path, sig], stdout=subprocess.PIPE,
                            text=True)


def test_a_handled_sigchld_does_not_fail_a_listing_that_waits(hub, mount):
    pid = main_project(hub)
    view = os.path.join(pdir(mount, hub, pid), "datasets", "imagefolder")
    hub.fault(route=DOWNLOAD, latency_ms=2500, count=1)
    p = run_reader(view, "chld")
    try:
        out, _ = p.communicate(timeout=120)
    finally:
        p.kill()
    words = out.split()
    assert words and words[0] == "OK", "listing failed: %r (errno 4 is EINTR)" % out
    assert int(words[1]) > 0
    # the listing really waited for the held-back download, and SIGCHLD came meanwhile
    assert float(words[2]) >= 1.5, out
    assert int(words[3]) >= 1, "no SIGCHLD reached the reader: the test proves nothing"


def test_ctrl_c_still_ends_a_listing_that_waits(hub, mount):
    pid = main_project(hub)
    view = os.path.join(pdir(mount, hub, pid), "datasets", "imagefolder")
    hub.fault(route=DOWNLOAD, latency_ms=20000, count=1)
    p = run_reader(view, "sigint")
    try:
        assert p.stdout.readline().strip() == "READY"
        time.sleep(1.0)  # the listing is waiting for the download now
        p.send_signal(2)
        out, _ = p.communicate(timeout=15)
    finally:
        p.kill()
        hub.clear_faults()
    words = out.split()
    assert words and words[0] == "INT", out
    assert float(words[1]) < 5.0, out
