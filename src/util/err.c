/*
 * err.c - helpers for the struct ao_err convention (see include/angofs/err.h).
 * Formatting is bounded: messages are truncated, never overflow.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "angofs/err.h"

void ao_err_clear(struct ao_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->http_status = 0;
	e->transient = 0;
	e->uncertain = 0;
	e->msg[0] = '\0';
}

int ao_errf(struct ao_err *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		e->code = errnum;
		e->http_status = 0;
		e->transient = 0;
		e->uncertain = 0;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return -errnum;
}

void ao_err_prefix(struct ao_err *e, const char *fmt, ...)
{
	char pre[256], old[AO_ERR_MSG_MAX];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	/* Truncation is intended: messages are bounded. */
	size_t n = strlen(pre);
	if (n > sizeof(e->msg) - 3)
		n = sizeof(e->msg) - 3;
	memcpy(e->msg, pre, n);
	memcpy(e->msg + n, ": ", 2);
	size_t room = sizeof(e->msg) - n - 3;
	size_t ol = strnlen(old, room);
	memcpy(e->msg + n + 2, old, ol);
	e->msg[n + 2 + ol] = '\0';
}
