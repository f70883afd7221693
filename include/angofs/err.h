/*
 * err.h - the one error convention of angofs.
 *
 * Every core, hub-client and write-side function that can fail returns 0 (or a
 * non-negative count) on success and -errno on failure, and fills a caller-owned
 * struct ao_err with a human-readable message that names the problem (the hub's
 * own message where there is one). The FUSE adapter returns the -errno to the
 * kernel and logs the message; the write side also stores it where `cat` can read
 * it. Messages never contain the API key or a signed URL's query string.
 */
#ifndef ANGOFS_ERR_H
#define ANGOFS_ERR_H

#include <stddef.h>

#define AO_ERR_MSG_MAX 1024

struct ao_err {
	int code;		  /* positive errno of the last failure, 0 if none */
	int http_status;	  /* hub's HTTP status when the failure came from it, else 0 */
	int transient;		  /* 1: retrying later may succeed (network, 5xx, 429) */
	int uncertain;		  /* 1: a non-idempotent request may have been applied */
	char msg[AO_ERR_MSG_MAX]; /* human-readable, NUL-terminated */
};

/* Reset to "no error". */
void ao_err_clear(struct ao_err *e);

/* Set code and a printf-style message; returns -errnum so callers can
 * write `return ao_errf(e, EINVAL, "...", ...);`. e may be NULL. */
int ao_errf(struct ao_err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context ("reading export: <old msg>"). */
void ao_err_prefix(struct ao_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
