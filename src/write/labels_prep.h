/*
 * labels_prep.h - turn a file dropped into labels/ or attachments/ into
 * validated, normalized items ready to send, split into bounded chunks.
 *
 * Input: the spooled bytes (any form labels_parse.h accepts, plus Ango export
 * records for labels). Output: one compact JSON item per line in an items file
 * and a chunk plan (byte ranges of that file, each <= max_items items and
 * <= max_bytes) that remembers which items and source lines each chunk holds,
 * so a refused chunk can be reported precisely. Nothing is sent here.
 */
#ifndef ANGOFS_LABELS_PREP_H
#define ANGOFS_LABELS_PREP_H

#include <stddef.h>
#include <sys/types.h>

#include "angofs/err.h"
#include "labels_parse.h"
#include "schema.h"

/* DK_ASSETS: a list copied into assets/ (items: assets_items.h) */
enum drop_kind { DK_LABELS, DK_ATTACHMENTS, DK_ASSETS };

struct prep_chunk {
	long first, count;	    /* items [first, first+count), 0-based */
	long line_first, line_last; /* source lines where those items start */
	off_t off;		    /* byte range in the items file */
	size_t len;
};

struct prep_result {
	long items;
	enum lp_form form;
	long export_records; /* items converted from the Ango export format */
	struct prep_chunk *chunks;
	size_t nchunks;
	struct sc_report rep; /* problems; rep.count > 0 means refused */
};

#define PREP_MAX_ITEMS 1000
#define PREP_MAX_ITEMS_DEFAULT PREP_MAX_ITEMS
#define PREP_MAX_BYTES (8L << 20)
#define PREP_MAX_BYTES_DEFAULT PREP_MAX_BYTES

/* Parse in_fd (from offset 0), check every item (schema may be NULL for
 * attachments), write normalized items to out_fd and, if lines_fd >= 0, the
 * source line of each item there (one native long long per item, so item i's
 * line is at offset i * 8). Returns 0 when every item is fine; -EINVAL (with
 * err->msg = first problem + count, res->rep = all) when the input is refused;
 * other -errno on I/O errors. */
int prep_labels(int in_fd, int out_fd, int lines_fd, enum drop_kind kind, struct schema *s,
		long max_items, size_t max_bytes, struct prep_result *res, struct ao_err *err);
void prep_result_free(struct prep_result *res);

/* Streaming: prep_labels_stream hands each chunk to chunk() once its items
 * are checked, written to out_fd and their lines to lines_fd, so the caller
 * can send chunk k while chunk k+1 is parsed and checked. Early (before the
 * end of the file) only for label items in NDJSON, and only while every item
 * so far is good and none was an Ango export record (docs/WRITES.md, "Checks
 * before anything is sent": a JSON document is valid only at its last byte,
 * a title mapping is a verdict on the whole file); every other file's chunks
 * are handed over at the end, once the whole file is known good. chunk() is
 * called from prep's thread; it returns 0 to go on or -errno to stop the
 * preparation (returned by prep_labels_stream). bounds: the item counts of
 * the first nbounds chunks (a file resumed after some of its chunks were
 * sent): those chunks are cut there again, whatever the limits. */
struct prep_stream {
	int (*chunk)(void *ud, size_t index, const struct prep_chunk *c);
	void *ud;
	const long *bounds;
	size_t nbounds;
};
int prep_labels_stream(int in_fd, int out_fd, int lines_fd, enum drop_kind kind, struct schema *s,
		       long max_items, size_t max_bytes, const struct prep_stream *st,
		       struct prep_result *res, struct ao_err *err);

/* The request body for one chunk: {"project":id,"jsonContent"|"attachments":[..]},
 * or {"assets":[..]} for DK_ASSETS (POST /project/{id}/cloud).
 * *body is malloc'd. */
int prep_chunk_body(int items_fd, const struct prep_chunk *c, const char *project_id,
		    enum drop_kind kind, char **body, size_t *len, struct ao_err *err);

#endif
