/*
 * sysutil.c - full writes, bounded whole-file reads, the monotonic clock and
 * sleeps (include/angofs/sysutil.h). One copy for the whole daemon: the reply
 * store, the unzip and export pipelines, the spool, the config and key files and
 * the status command all go through these, so EINTR and short transfers are
 * handled the same way everywhere.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "angofs/sysutil.h"

int ao_sys_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int ao_sys_read_fd(int fd, size_t max, char **buf, size_t *len)
{
	size_t cap = 4096, got = 0;
	char *b = malloc(cap);

	*buf = NULL;
	*len = 0;
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (got + 1 == cap) {
			size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			char *nb = ncap > cap ? realloc(b, ncap) : NULL;

			if (!nb) {
				free(b);
				return ncap > cap ? -ENOMEM : -EFBIG;
			}
			b = nb;
			cap = ncap;
		}
		n = read(fd, b + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(b);
			return -e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max) {
			free(b);
			return -EFBIG;
		}
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	return 0;
}

char *ao_sys_xdg_path(const char *xdg_var, const char *home_dir, const char *leaf)
{
	const char *x = getenv(xdg_var), *home = getenv("HOME");
	char *out = NULL;
	int n;

	if (x && x[0] == '/')
		n = asprintf(&out, "%s/%s", x, leaf);
	else if (home && home[0] == '/')
		n = asprintf(&out, "%s/%s/%s", home, home_dir, leaf);
	else {
		errno = ENOENT;
		return NULL;
	}
	if (n < 0) {
		errno = ENOMEM;
		return NULL;
	}
	return out;
}

long long ao_sys_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ao_sys_thread_detached(void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	pthread_t t;
	int rc;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return rc;
}

void ao_sys_sleep_ms(long long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
