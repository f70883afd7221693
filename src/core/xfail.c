/*
 * xfail.c - a failed download published next to the generation files (H.fail,
 * xshare.h), so that N daemons sharing a cache directory pay for a failure
 * once: a daemon that waited for the publish lock while a sibling downloaded
 * the same object, and finds that the sibling failed meanwhile, answers its
 * readers with that failure (or its cached copy, for a transient one)
 * instead of running its own retry cycle. A failure older than the wait is
 * not shared: the next reader asks the hub again, as it would alone.
 *
 * Design choice: one small JSON file per entry, replaced by rename and only
 * under byte 0 of H.lock (the writer is the one downloader), read under it
 * too; times are wall-clock milliseconds, since the daemons sharing the
 * directory may run on other machines, and the file names its writer (host
 * and pid) so that a daemon never takes its own earlier failure for a
 * sibling's. Failures that are this daemon's own business (an interrupted
 * reader, a stop, a full local disk) are never published.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/err.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "xshare.h"

static pthread_once_t owner_once = PTHREAD_ONCE_INIT;
static char owner[320]; /* "<host>:<pid>", written once */

static void owner_init(void)
{
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	snprintf(owner, sizeof(owner), "%s:%ld", host, (long)getpid());
}

long long xs_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long xs_wall_ms_of(long long mono_ms)
{
	return xs_wall_ms() - (ao_sys_now_ms() - mono_ms);
}

int xs_fail_publishable(const struct ao_err *e)
{
	return e->code && e->code != EINTR && e->code != ECANCELED && e->code != ENOSPC &&
	       e->code != EDQUOT && e->code != EROFS && e->code != EACCES;
}

void xs_fail_publish(const char *dir, const char *hash, const struct ao_err *e)
{
	char path[4096], tmp[4200];
	json_t *j;
	int fd;

	if (!xs_fail_publishable(e))
		return;
	xs_path(dir, hash, "fail", path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	pthread_once(&owner_once, owner_init);
	j = json_pack("{s:I,s:i,s:b,s:i,s:s,s:s}", "at", (json_int_t)xs_wall_ms(), "code", e->code,
		      "transient", e->transient, "http", e->http_status, "msg", e->msg, "by",
		      owner);
	if (!j)
		return;
	fd = mkstemp(tmp);
	if (fd >= 0) {
		fchmod(fd, 0600);
		int bad = json_dumpfd(j, fd, JSON_COMPACT) < 0;
		if (close(fd) < 0 || bad || rename(tmp, path) < 0)
			unlink(tmp);
	}
	json_decref(j);
}

void xs_fail_clear(const char *dir, const char *hash)
{
	char path[4096];

	xs_path(dir, hash, "fail", path, sizeof(path));
	unlink(path);
}

int xs_fail_shared(const char *dir, const char *hash, long long since_ms, struct ao_err *e)
{
	char path[4096], *buf = NULL;
	size_t len = 0;
	json_t *j = NULL;
	int fd;

	xs_path(dir, hash, "fail", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (ao_sys_read_fd(fd, 64 << 10, &buf, &len) == 0)
		j = json_loadb(buf, len, 0, NULL);
	free(buf);
	close(fd);
	long long at = json_integer_value(json_object_get(j, "at"));
	int code = (int)json_integer_value(json_object_get(j, "code"));
	int transient = json_is_true(json_object_get(j, "transient"));
	const char *by = json_string_value(json_object_get(j, "by"));
	long long age = xs_wall_ms() - at;
	pthread_once(&owner_once, owner_init);
	/* a sibling's, published while this one waited for the lock */
	int share = j && code > 0 && at > 0 && at >= since_ms && by && strcmp(by, owner) != 0;
	if (share) {
		ao_errf(e, code,
			"%s (a daemon sharing the cache failed this download %lld ms ago; "
			"not asked again)",
			json_string_value(json_object_get(j, "msg"))
			    ? json_string_value(json_object_get(j, "msg"))
			    : "",
			age > 0 ? age : 0);
		if (e) {
			e->transient = transient;
			e->http_status = (int)json_integer_value(json_object_get(j, "http"));
		}
		ao_info("download of %s/%s: %s", dir, hash, e ? e->msg : "shared failure");
	}
	json_decref(j);
	return share;
}
