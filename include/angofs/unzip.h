/*
 * unzip.h - extract the one member of an export zip to a file descriptor.
 *
 * The hub delivers each export as a zip holding one file (the SDK reads
 * namelist()[0]); we take the first regular-file member the same way. The zip
 * is read (from disk, or from the download as it arrives) with libarchive in
 * blocks, so memory stays bounded for any
 * export size. Hostile archives are refused: member names that are absolute
 * or climb with "..", declared sizes beyond AO_UNZIP_MAX_SIZE, and output
 * growing past AO_UNZIP_MAX_RATIO times the zip's size (a zip bomb).
 */
#ifndef ANGOFS_UNZIP_H
#define ANGOFS_UNZIP_H

#include "angofs/err.h"

#define AO_UNZIP_MAX_SIZE (1LL << 40)	  /* 1 TiB */
#define AO_UNZIP_MAX_RATIO 400LL	  /* output bytes per zip byte ... */
#define AO_UNZIP_RATIO_FLOOR (64LL << 20) /* ... enforced only above 64 MiB */

/* Extract into out_fd (written from its current offset); *size = bytes written. */
int ao_unzip_first(const char *zip_path, int out_fd, long long *size, struct ao_err *err);

/*
 * The same while the zip arrives: start() spawns a worker that inflates into
 * out_fd, feed() hands it the next bytes of the zip (blocks while the worker
 * is behind; -EIO once the worker has given up), finish() ends the input,
 * waits for the worker and returns its result (and frees the stream). Needs a
 * zip whose member is readable front to back (sizes in the local header or a
 * deflated member with a data descriptor): callers keep the zip and fall back
 * to ao_unzip_first when the stream fails.
 */
struct ao_unzip_stream;
int ao_unzip_stream_start(struct ao_unzip_stream **s, int out_fd, struct ao_err *err);
/* The same; written(ud, n) is called by the worker after each block it
 * wrote (n: bytes written so far), so readers of out_fd's file can follow. */
int ao_unzip_stream_start_cb(struct ao_unzip_stream **s, int out_fd,
			     void (*written)(void *ud, long long n), void *ud, struct ao_err *err);
int ao_unzip_stream_feed(struct ao_unzip_stream *s, const void *buf, size_t len);
int ao_unzip_stream_finish(struct ao_unzip_stream *s, long long *size, struct ao_err *err);

/* Check a streamed result against the zip's central directory (which the
 * stream never reads): the first regular member must be listed with `size`
 * bytes. Reads only the directory. */
int ao_unzip_verify(const char *zip_path, long long size, struct ao_err *err);

#endif
