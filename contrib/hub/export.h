/*
 * export.h - shared pieces of the export writer (export.c builds the archive
 * and serves the route; export_tasks.c writes task records): a buffered
 * writer into the zip member and the parsed export options.
 */
#ifndef ANGOFS_HUB_EXPORT_H
#define ANGOFS_HUB_EXPORT_H

#include <archive.h>

#include "filters.h"

#define WBUF (256 * 1024)

struct writer {
	struct archive *a;
	char *buf; /* WBUF bytes */
	size_t len;
	int failed;
	long long records;
};

struct exp_opts {
	int json; /* 1 = one JSON array, 0 = NDJSON */
	int issues;
	int meta, history, idle_blur;
};

void w_flush(struct writer *w);
void w_put(struct writer *w, const char *s, size_t n);
/* Separators around one record: ",\n" between array elements, "\n" after NDJSON lines. */
void w_record_begin(struct writer *w, struct exp_opts *o);
void w_record_end(struct writer *w, struct exp_opts *o);

int export_write_tasks(sqlite3 *db, struct writer *w, struct exp_opts *o, struct task_filter *f,
		       json_t *pdoc, char *err, size_t errlen);

#endif
