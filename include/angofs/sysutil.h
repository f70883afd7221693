/*
 * sysutil.h - the small system-call helpers every part of angofs shares: a write
 * that finishes (EINTR and short writes), a whole-file read with a size bound,
 * the monotonic clock in milliseconds and a sleep that survives signals.
 * Errors are -errno only: the callers know what the file is and say so in their
 * own struct ao_err message (include/angofs/err.h).
 */
#ifndef ANGOFS_SYSUTIL_H
#define ANGOFS_SYSUTIL_H

#include <stddef.h>

/* Write all len bytes of buf to fd (retrying EINTR and short writes).
 * 0 or -errno. */
int ao_sys_write_all(int fd, const void *buf, size_t len);

/* Read fd to its end into a new NUL-terminated buffer (*buf, *len without the
 * NUL; free() it). More than max bytes: -EFBIG. 0 or -errno (*buf NULL). */
int ao_sys_read_fd(int fd, size_t max, char **buf, size_t *len);

/* $xdg_var/leaf, else $HOME/home_dir/leaf (XDG base directories; a relative
 * value is ignored, as the spec says). malloc'd; NULL with errno ENOENT when
 * neither is an absolute path, ENOMEM when out of memory. */
char *ao_sys_xdg_path(const char *xdg_var, const char *home_dir, const char *leaf);

/* CLOCK_MONOTONIC in milliseconds. */
long long ao_sys_now_ms(void);

/* Sleep ms milliseconds, resumed after a signal. */
void ao_sys_sleep_ms(long long ms);

/* Run fn(arg) in a new detached thread. 0 or an errno value. */
int ao_sys_thread_detached(void *(*fn)(void *), void *arg);

#endif
