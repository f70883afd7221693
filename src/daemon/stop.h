/*
 * stop.h - a stop asked for with SIGTERM/SIGINT/SIGHUP (systemctl stop,
 * Ctrl-C) or an unmount from outside aborts the transfers in flight and ends
 * the mount once the kernel's queue is served (see stop.c).
 */
#ifndef ANGOFS_STOP_H
#define ANGOFS_STOP_H

struct fuse_session;

/* Install the handlers (after fuse_set_signal_handlers) and the stopper thread;
 * call from the thread that runs the FUSE loop, after mounting. busy() says
 * how many files and directories the kernel has open on the mount (the stop
 * waits for their release). 0 or -errno. */
int ao_stop_start(struct fuse_session *se, const char *mountpoint, int (*busy)(void));
/* After the loop returned: stop the thread, restore the default handlers.
 * Returns 1 if the stop detached the mount (fuse_unmount then only closes the
 * device and frees its state). */
int ao_stop_end(void);

#endif
