/*
 * ds_ndjson.c - records of a cached NDJSON export, one at a time.
 *
 * The dataset views read the export the cache already holds in NDJSON form
 * (one record per line), so a reader needs one line in memory, never the
 * export. getline grows one buffer to the longest record; the record's byte
 * offset is returned so a view can later seek straight back to one image's
 * record (ao_ds_image.locator) instead of re-reading the export.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/datasets.h"

int ao_ds_ndjson_next(FILE *f, json_t **rec, long long *offset, struct ao_err *err)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	*rec = NULL;
	for (;;) {
		long long off = (long long)ftello(f);
		errno = 0;
		n = getline(&line, &cap, f);
		if (n < 0) {
			int e = errno;
			free(line);
			if (ferror(f))
				return ao_errf(err, e ? e : EIO,
					       "reading the export at byte %lld failed", off);
			return 0;
		}
		size_t i = 0;
		while (i < (size_t)n && strchr(" \t\r\n", line[i]))
			i++;
		if (i == (size_t)n)
			continue; /* blank line */
		json_error_t je;
		*rec = json_loadb(line, (size_t)n, 0, &je);
		free(line);
		if (!*rec)
			return ao_errf(err, EINVAL, "export record at byte %lld is not JSON: %s",
				       off, je.text);
		if (offset)
			*offset = off;
		return 1;
	}
}
