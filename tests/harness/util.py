"""Small helpers every integration-test area shares (tests/fs, tests/fault,
tests/scale, tests/eco): bounded polling, reading a file's bytes, the errno of a call.

Every wait in the tests is a bounded poll: wait_for returns the first true
value of pred() or fails the test naming what it waited for.
"""
import time


def errno_of(fn):
    """The errno of the OSError fn() raises, 0 if it raises none."""
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


def read(path):
    """The bytes of path."""
    with open(path, "rb") as f:
        return f.read()


def wait_for(pred, timeout=60, what="condition", step=0.1):
    """Poll pred() every step seconds; its first true value, or an
    AssertionError after timeout seconds naming `what`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    v = pred()
    if not v:
        raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
    return v
