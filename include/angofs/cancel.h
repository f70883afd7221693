/*
 * cancel.h - "has the caller given up?" for long waits below the FUSE adapter.
 *
 * The core, the export cache, the write side and the hub client know nothing
 * of FUSE, yet a reader interrupted by a signal (Ctrl-C on `cat`) must get its
 * answer promptly instead of waiting for a download. The daemon installs one
 * hook (fuse_req_interrupted() of the request the calling thread serves); code
 * that waits polls ao_cancelled() at least once a second and gives up with
 * EINTR. Threads that serve no request (background sender, side threads) and
 * unit tests see 0: nothing is cancelled there.
 *
 * A stop (SIGTERM, SIGINT, an unmount: src/daemon/stop.c) cancels everything
 * at once, on every thread: from ao_cancel_stop() on, ao_cancelled() is 1
 * everywhere, so transfers in flight are aborted (the hub client's progress
 * callback), every wait above ends with EINTR and nothing new is started.
 */
#ifndef ANGOFS_CANCEL_H
#define ANGOFS_CANCEL_H

#include <pthread.h>

typedef int (*ao_cancel_fn)(void);

/* Install the hook (once, before threads start); NULL removes it. */
void ao_cancel_set_hook(ao_cancel_fn fn);

/* 1 if the request the calling thread serves was interrupted, or the daemon
 * is stopping; else 0. */
int ao_cancelled(void);

/* Does a FUSE interrupt of thread tid's request mean "give up"? The kernel
 * interrupts a request for any signal with a handler, also SIGCHLD (a
 * DataLoader's worker exiting) or SIGWINCH, whose default is to be ignored;
 * answering those with EINTR fails a listdir() no program retries. So: 1 if
 * a signal other than SIGCHLD, SIGWINCH, SIGURG, SIGCONT is pending for tid
 * (its own or its process's, /proc/<tid>/status), 0 if only those or none
 * are, 1 if that cannot be read (the process is gone). */
int ao_cancel_signal_matters(int tid);

/* The daemon is stopping: cancel every wait and transfer (idempotent). */
void ao_cancel_stop(void);

/* Milliseconds since ao_cancel_stop() (0 or more), or -1 if not stopping. */
long long ao_cancel_stopping_ms(void);

/* Sleep ms milliseconds in short slices; returns -EINTR early when
 * ao_cancelled(), else 0. */
int ao_cancel_sleep_ms(long long ms);

/* One slice of a condition wait: wait on cv (m held) for at most 250 ms;
 * -EINTR when ao_cancelled() before or after, else 0 (check the condition
 * and call again). */
int ao_cancel_cond_wait(pthread_cond_t *cv, pthread_mutex_t *m);

/* Lock m (a single-flight mutex another thread may hold across a hub
 * request), giving up with -EINTR when ao_cancelled(); 0 once locked. */
int ao_cancel_lock(pthread_mutex_t *m);

#endif
