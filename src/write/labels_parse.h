/*
 * labels_parse.h - streaming splitter for the files dropped into labels/ and
 * attachments/: a JSON array of items, one item object, NDJSON (one object per
 * line) or a full request body ({"project":..,"jsonContent":[...]}).
 *
 * The file is read sequentially in fixed-size blocks; only one item's bytes
 * are held at a time (bounded by LP_MAX_ITEM), so a 100 MB / 100k-item file
 * costs one item of memory. Each item is handed to a callback as a jansson
 * object together with its 0-based index and the line/column where it starts.
 * Errors name the line and column (1-based; columns count characters).
 */
#ifndef ANGOFS_LABELS_PARSE_H
#define ANGOFS_LABELS_PARSE_H

#include <jansson.h>
#include <stddef.h>

#include "angofs/err.h"

#define LP_MAX_ITEM (64L << 20)

enum lp_form { LP_NONE, LP_ARRAY, LP_OBJECT, LP_NDJSON, LP_BODY };

struct lp_pos {
	long index; /* 0-based item number */
	long line;  /* where the item starts, 1-based */
	long col;
	enum lp_form form; /* the input's form as known so far (LP_OBJECT until a
			    * second top-level object makes it LP_NDJSON) */
	const char *raw;   /* the item's bytes as written (valid JSON: item parsed */
	size_t rawlen;	   /* from them), without surrounding blanks */
};

/* Called once per item. item is borrowed (the parser releases it afterwards).
 * Return 0 to go on, -errno to stop the parse with that error. */
typedef int (*lp_item_fn)(void *ud, json_t *item, const struct lp_pos *pos, struct ao_err *err);

struct lp_opts {
	/* keys of a request body whose array value holds the items (NULL-terminated);
	 * e.g. {"jsonContent", "labels", NULL}. NULL: no body form. */
	const char *const *body_keys;
	long max_item; /* bytes; 0 = LP_MAX_ITEM */
};

/* Parse fd from its current offset to EOF. Returns the number of items or
 * -errno (EINVAL for bad input, with the line/column in err->msg). form (may
 * be NULL) tells which input form was found. */
long lp_parse_fd(int fd, const struct lp_opts *opts, lp_item_fn fn, void *ud, enum lp_form *form,
		 struct ao_err *err);

/* Same, over a memory buffer (unit tests, small files). */
long lp_parse_mem(const char *buf, size_t len, const struct lp_opts *opts, lp_item_fn fn, void *ud,
		  enum lp_form *form, struct ao_err *err);

const char *lp_form_name(enum lp_form f);

#endif
