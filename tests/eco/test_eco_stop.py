"""A stop by signal (systemctl stop, Ctrl-C) ends the mount like `fusermount3 -u`:
what the kernel queued before the signal is served first (the RELEASEDIR of an
`ls` just before: dropping it leaked libfuse's directory handle, a LeakSanitizer
report and exit 1 under ASan), the daemon exits 0 and the mount is gone; a file
kept open on the mount does not hold the stop for more than a few seconds.
Under scripts/sanitize.sh the daemon's log is checked for sanitizer reports."""
import os
import signal
import subprocess
import time

from conftest import Mount, check_sanitizer_log


def sigterm(m):
    m.proc.send_signal(signal.SIGTERM)
    rc = m.proc.wait(timeout=60)
    m.stop()  # unmounts nothing (gone already), checks the log for sanitizer reports
    return rc


def test_sigterm_right_after_use_exits_cleanly(hub, workdir):
    for i in range(12):
        m = Mount(hub, workdir, opts=["rate_limit=0"], name="m%d" % i)
        start = os.path.getsize(m.logpath)
        with open(os.path.join(m.path, ".status")) as f:
            f.read()
        assert "Street Scenes" in os.listdir(m.path)  # its RELEASEDIR is queued now
        rc = sigterm(m)
        log = m.log_text()
        assert rc == 0, log[-3000:]
        assert not os.path.ismount(m.path)
        assert "signal 15: unmounting" in log
        # libfuse 3.14 complained about the unset idle-thread limit at every mount
        assert "Ignoring invalid max threads" not in log
        check_sanitizer_log(m.logpath, start, "angofs")


def test_sigterm_with_a_file_held_open_still_stops(hub, workdir):
    m = Mount(hub, workdir, opts=["rate_limit=0"])
    holder = subprocess.Popen(["sleep", "60"], stdin=open(os.path.join(
        m.path, "Street Scenes", "project.json")))
    try:
        t0 = time.time()
        rc = sigterm(m)
        assert rc == 0, m.log_text()[-3000:]
        assert time.time() - t0 < 45  # the grace is 5 s; generous on a busy machine
        assert not os.path.ismount(m.path)
    finally:
        holder.kill()
        holder.wait()
