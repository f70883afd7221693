/*
 * lockfile.h - fcntl byte-range locks, the one primitive N daemons sharing a
 * cache directory coordinate with (on one machine and on NFS, CephFS, Lustre
 * or GlusterFS, which all forward fcntl locks to every client).
 *
 * Classic POSIX locks, not flock() (not forwarded by every network filesystem)
 * nor OFD locks (not forwarded by every FUSE filesystem). Their two catches
 * are handled by the callers' discipline, documented in docs/DESIGN-NOTES.md:
 * locks belong to the process (threads of one daemon never conflict, so each
 * daemon also coordinates its own threads in memory), and closing ANY
 * descriptor of a file drops all of the process's locks on it (so a daemon
 * keeps exactly one descriptor per lock file and never opens a second one).
 * A lock is released by the kernel when its process dies, which is what makes
 * takeover after kill -9 work.
 */
#ifndef ANGOFS_LOCKFILE_H
#define ANGOFS_LOCKFILE_H

#include <sys/types.h>

/* Open (creating 0600) a lock file: fd or -errno. */
int ao_lock_open(const char *path);

/* Lock one byte of fd: type F_RDLCK, F_WRLCK or F_UNLCK. wait=0: returns
 * -EAGAIN at once if another process holds a conflicting lock; wait=1:
 * sleeps until granted (EINTR and the kernel's per-process deadlock false
 * alarms between multi-threaded daemons are retried). 0 or -errno. */
int ao_lock_byte(int fd, off_t byte, int type, int wait);

#endif
