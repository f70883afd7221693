"""fusetrace.py - what one action costs a running daemon: the FUSE requests it
received, by opcode, and every other system call it made, counted by strace.

Design: the measurement must not depend on the daemon under test (its logs,
its API flavour, its libfuse version), so it is taken from outside: `strace
-f -p PID` is attached for the duration of the action; each request reaches
the daemon as one read(2) of its /dev/fuse descriptor(s), whose first bytes
are struct fuse_in_header (u32 len, u32 opcode), so the opcode is decoded
from the buffer strace prints (-xx). A blocked read is printed as
"<unfinished ...>" and later "<... read resumed>": the descriptor is taken
from the first half, by thread id. Replies (writev/write to /dev/fuse) and
the reads themselves are not counted as "other" system calls. strace slows
the daemon: never time an action while it is traced.
"""
import os
import re
import subprocess
import time

# include/uapi/linux/fuse.h, enum fuse_opcode
OPCODES = {1: "LOOKUP", 2: "FORGET", 3: "GETATTR", 4: "SETATTR", 5: "READLINK", 6: "SYMLINK",
           8: "MKNOD", 9: "MKDIR", 10: "UNLINK", 11: "RMDIR", 12: "RENAME", 13: "LINK",
           14: "OPEN", 15: "READ", 16: "WRITE", 17: "STATFS", 18: "RELEASE", 20: "FSYNC",
           21: "SETXATTR", 22: "GETXATTR", 23: "LISTXATTR", 24: "REMOVEXATTR", 25: "FLUSH",
           26: "INIT", 27: "OPENDIR", 28: "READDIR", 29: "RELEASEDIR", 30: "FSYNCDIR",
           31: "GETLK", 32: "SETLK", 33: "SETLKW", 34: "ACCESS", 35: "CREATE", 36: "INTERRUPT",
           37: "BMAP", 38: "DESTROY", 39: "IOCTL", 40: "POLL", 41: "NOTIFY_REPLY",
           42: "BATCH_FORGET", 43: "FALLOCATE", 44: "READDIRPLUS", 45: "RENAME2", 46: "LSEEK",
           47: "COPY_FILE_RANGE", 48: "SETUPMAPPING", 49: "REMOVEMAPPING", 50: "SYNCFS",
           51: "TMPFILE", 52: "STATX"}

LINE = re.compile(r'^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$')


def fuse_fds(pid):
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "/dev/fuse":
                out.add(int(fd))
        except OSError:
            pass
    return out


def _opcode(rest):
    """The opcode in the first 8 bytes of a -xx string ("\\x50\\x00...")."""
    m = re.search(r'"((?:\\x[0-9a-f]{2}){8})', rest)
    if not m:
        return None
    b = bytes(int(h, 16) for h in m.group(1).split("\\x")[1:])
    return int.from_bytes(b[4:8], "little")


def parse(path, fds):
    """({opcode name: n}, {syscall: n}) from an strace -f -xx output file."""
    ops, calls, pending = {}, {}, {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            tid, resumed, name, rest = m.group(1), m.group(2), m.group(3), m.group(4)
            if "<detached ...>" in rest:  # strace let go of the thread mid-call
                continue
            if name:
                fd = re.match(r'(\d+)', rest)
                fd = int(fd.group(1)) if fd else None
                if "<unfinished ...>" in rest:
                    pending[tid] = (name, fd)
                    continue
            else:
                name, fd = pending.pop(tid, (resumed, None))
            if fd in fds and name in ("read", "readv"):
                if re.search(r'= -1 ', rest) or re.search(r'= 0$', rest.strip()):
                    continue  # EINTR, EAGAIN, ENODEV at unmount
                op = _opcode(rest)
                if op is None and os.environ.get("FUSETRACE_DEBUG"):
                    print("fusetrace: unparsed: " + line.strip())
                key = OPCODES.get(op, "op%s" % op)
                ops[key] = ops.get(key, 0) + 1
            elif fd in fds and name in ("writev", "write", "splice"):
                ops["(replies)"] = ops.get("(replies)", 0) + 1
            else:
                calls[name] = calls.get(name, 0) + 1
    return ops, calls


class NoTrace(RuntimeError):
    """strace is missing or may not attach here (no ptrace permission)."""


def trace(pid, action, workdir):
    """Run action() with strace attached to every thread of pid; returns
    (fuse requests by opcode, other syscalls by name); NoTrace if strace
    cannot attach (action() is then not run)."""
    fds = fuse_fds(pid)
    out = os.path.join(workdir, "strace-%d.txt" % pid)
    try:
        p = subprocess.Popen(["strace", "-f", "-qq", "-xx", "-s", "8", "-p", str(pid), "-o",
                              out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as e:
        raise NoTrace("strace: %s" % e)
    try:
        # attached when every thread has strace as its tracer
        deadline = time.time() + 10
        while time.time() < deadline:
            if p.poll() is not None:
                raise NoTrace("strace -p %d: %s" % (pid, p.stderr.read().decode(
                    "utf-8", "replace").strip()[:300]))
            tids = os.listdir("/proc/%d/task" % pid)
            if all(_traced(pid, t) for t in tids):
                break
            time.sleep(0.05)
        else:
            raise NoTrace("strace did not attach to %d in 10 s" % pid)
        time.sleep(0.2)
        action()
        time.sleep(0.5)  # the last replies and releases
    finally:
        if p.poll() is None:
            p.terminate()
        p.wait(timeout=30)
        p.stderr.close()
    try:
        return parse(out, fds)
    finally:
        os.unlink(out)


def _traced(pid, tid):
    try:
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1]) != 0
    except OSError:
        return True  # the thread is gone
    return False


def per(counts, n):
    """"OPEN 1.00, READ 2.00, ..." of counts divided by n, largest first."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join("%s %.2f" % (k, v / n) for k, v in items if v / n >= 0.005)
