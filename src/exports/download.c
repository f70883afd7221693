/*
 * download.c - download one export generation into the shared cache: GET
 * /export, stream the zip to a temp file while a worker unzips it (ao_unzip
 * streaming, with the file reader as the fallback), then rename the unzipped
 * temp file to <hash>.<gen>.data. The rename is the publication of the data;
 * H.meta, written by the caller afterwards, makes it the current generation.
 * Nothing here touches the export cache's in-memory state or locks.
 *
 * A watcher (exports/grow.c) may follow the data file while it is written:
 * told its temp name before the download starts and its length after each
 * block the stream unzips. If the stream gives up, the file reader extracts
 * into a new temp file (the watched one is never truncated under its
 * readers) and the watcher is told the bytes it saw are void.
 *
 * Failures: the hub's and the download's (not a local disk's) are published
 * as H.fail for the other daemons on the directory, and a sibling's failure
 * published while this caller waited for the publish lock is answered
 * without asking the hub again (cachedir/failure.c). A zip that does not read (CRC,
 * sizes) is transient (exports/unzip.c): most often the download was damaged, and a
 * cached generation is served meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "angofs/unzip.h"
#include "../cachedir/cachedir.h"
#include "exports_int.h"

struct fetch_ctx {
	int fd;
	long long *done, *total;
	struct ao_err *err;
	struct ao_unzip_stream *zs; /* NULL once the stream gave up */
	int zs_failed;
	int disk_failed; /* writing the zip failed: a local failure */
};

/* The zip goes to its temp file and, while the stream keeps up, to the
 * inflating worker: the export is unzipped as it downloads. */
static int sink_fd(void *ud, const void *buf, size_t len)
{
	struct fetch_ctx *f = ud;
	if (f->zs && !f->zs_failed && ao_unzip_stream_feed(f->zs, buf, len) < 0)
		f->zs_failed = 1; /* finish() tells why; the file fallback decides */
	int rc = ao_sys_write_all(f->fd, buf, len);
	f->disk_failed |= rc < 0;
	return rc;
}

static void on_progress(void *ud, long long done, long long total)
{
	struct fetch_ctx *f = ud;
	__atomic_store_n(f->done, done, __ATOMIC_RELAXED);
	__atomic_store_n(f->total, total, __ATOMIC_RELAXED);
}

int xc_download(struct hub *hub, const char *q, const char *dir, const char *hash,
		unsigned long long gen, long long since_ms, long long *done, long long *total,
		long long *size, const struct xc_watch *w, struct ao_err *err)
{
	char dpath[4096];

	cd_data_path(dir, hash, gen, dpath, sizeof(dpath));
	return xc_download_w(hub, q, dir, hash, dpath, since_ms, done, total, size, w, err);
}

static int download(struct hub *hub, const char *q, const char *dir, const char *hash,
		    const char *dpath, long long *done, long long *total, long long *size,
		    const struct xc_watch *w, int *local, struct ao_err *err);

int xc_download_to(struct hub *hub, const char *q, const char *dir, const char *hash,
		   const char *dpath, long long since_ms, long long *done, long long *total,
		   long long *size, struct ao_err *err)
{
	return xc_download_w(hub, q, dir, hash, dpath, since_ms, done, total, size, NULL, err);
}

int xc_download_w(struct hub *hub, const char *q, const char *dir, const char *hash,
		  const char *dpath, long long since_ms, long long *done, long long *total,
		  long long *size, const struct xc_watch *w, struct ao_err *err)
{
	int local = 0, rc;

	if (cd_fail_shared(dir, hash, since_ms, err))
		return err && err->code ? -err->code : -EIO;
	rc = download(hub, q, dir, hash, dpath, done, total, size, w, &local, err);
	if (rc == 0)
		cd_fail_clear(dir, hash);
	else if (!local && err)
		cd_fail_publish(dir, hash, err);
	return rc;
}

/* GET /export, the download and the unzip; *local: the failure was this
 * machine's (a temp file, the disk), not the hub's or the download's. */
static int download(struct hub *hub, const char *q, const char *dir, const char *hash,
		    const char *dpath, long long *done, long long *total, long long *size,
		    const struct xc_watch *w, int *local, struct ao_err *err)
{
	char zpath[4300], dtmp[4300] = "", *url = NULL;
	int zfd = -1, dfd = -1, rc;

	__atomic_store_n(done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(total, -1, __ATOMIC_RELAXED);
	rc = hub_export(hub, q, &url, err);
	if (rc < 0)
		return rc;
	cd_path(dir, hash, "zip.tmp-XXXXXX", zpath, sizeof(zpath));
	zfd = mkstemp(zpath);
	if (zfd < 0) {
		free(url);
		*local = 1;
		return ao_errf(err, errno, "export cache: %s", strerror(errno));
	}
	snprintf(dtmp, sizeof(dtmp), "%s.tmp-XXXXXX", dpath);
	dfd = mkstemp(dtmp);
	if (dfd < 0) {
		*local = 1;
		rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
		close(zfd);
		goto out;
	}
	struct fetch_ctx f = {zfd, done, total, err, NULL, 0, 0};
	struct ao_err zerr;
	ao_err_clear(&zerr);
	if (w && w->begin)
		w->begin(w->ud, dtmp);
	if (ao_unzip_stream_start_cb(&f.zs, dfd, w ? w->written : NULL, w ? w->ud : NULL, &zerr) <
	    0)
		f.zs = NULL; /* extract from the file afterwards */
	rc = hub_download(hub, url, sink_fd, on_progress, &f, err);
	*local = f.disk_failed;
	if (close(zfd) < 0 && rc == 0) {
		*local = 1;
		rc = ao_errf(err, errno, "export cache: writing the zip: %s", strerror(errno));
	}
	int streamed = f.zs != NULL;
	int zrc = streamed ? ao_unzip_stream_finish(f.zs, size, &zerr) : -EIO;
	f.zs = NULL;
	if (rc < 0)
		goto out;
	if (zrc == 0)
		zrc = ao_unzip_verify(zpath, *size, &zerr);
	if (zrc < 0) {
		/* the stream could not read this zip front to back (or it is
		 * corrupt): the file reader, with the central directory, decides */
		if (streamed)
			ao_debug("export: streamed unzip failed (%s); reading the zip file",
				 zerr.msg);
		if (w && w->void_)
			w->void_(w->ud);
		/* a new temp file: the streamed one may have readers */
		close(dfd);
		unlink(dtmp);
		snprintf(dtmp, sizeof(dtmp), "%s.tmp-XXXXXX", dpath);
		dfd = mkstemp(dtmp);
		if (dfd < 0) {
			*local = 1;
			dtmp[0] = 0;
			rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
		} else {
			rc = ao_unzip_first(zpath, dfd, size, err);
		}
	}
	if (dfd >= 0 && close(dfd) < 0 && rc == 0) {
		*local = 1;
		rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
	}
	dfd = -1;
	if (rc == 0 && rename(dtmp, dpath) < 0) {
		*local = 1;
		rc = ao_errf(err, errno, "export cache: %s", strerror(errno));
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (rc < 0 && dtmp[0])
		unlink(dtmp);
	unlink(zpath);
	free(url);
	return rc;
}
