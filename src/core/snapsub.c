/*
 * snapsub.c - a snapshot's stage and batch views (snapshots/NAME/datasets/
 * stage/<s>/ and batch/<b>/; docs/DATASETS.md "Snapshots").
 *
 * Design: the live stage and batch views read exports of their own, each
 * fetched at its own moment; pinning those would make a snapshot several
 * generations. A pin is one: each stage's and batch's view is the pinned
 * whole export's records of that stage (task.stageId) or batch (the
 * record's `batches`, by name), written at mkdir into a directory of its
 * own below the pin,
 *   views/<FNV-1a 64 of "stage/<id>" or "batch/<id>">/
 *     export/tasks.ndjson   those records, byte for byte, in export order
 *     schema.json           the whole view's
 *     images.tsv            their images' names and sizes in the whole view
 *                           (the live stage views take the whole project's
 *                           names too), numbered within this export
 *     derived/              its pass-2 files, built on first use
 * so each is an ordinary snapshot set (dsview_int.h) fed by its own pinned
 * export: every format, no request. One pass over the whole export writes
 * them all (a file per stage and batch open at once, at most SUB_MAX).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_int.h"
#include "dsview_int.h"
#include "angofs/hash.h"
#include "angofs/log.h"

#define SUB_MAX 256

struct sub_out {
	char key[AO_ID_MAX + 8]; /* "stage/<id>", "batch/<id>" */
	const char *bname;	 /* a batch's name (what records carry) */
	FILE *ex, *names;
	unsigned long long n; /* records written */
};

void snap_sub_dir(const char *snapdir, const char *key, char *buf, size_t n)
{
	snprintf(buf, n, "%s/views/%016llx", snapdir, ao_hash_str(key));
}

int snap_sub_pinned(struct ao_core *c, const struct ao_node *n, int batch, const char *id)
{
	char root[4096], key[AO_ID_MAX + 8], d[4400];
	struct stat st;

	if (snap_path(c, n->project_id, n->snap, root, sizeof(root)) < 0)
		return 0;
	snprintf(key, sizeof(key), "%s/%.*s", batch ? "batch" : "stage", AO_ID_MAX - 1, id);
	snap_sub_dir(root, key, d, sizeof(d));
	return stat(d, &st) == 0;
}

static int sub_open(struct sub_out *o, const char *tmp, const json_t *cs, struct ao_err *err)
{
	char d[4400], p[4500];

	snap_sub_dir(tmp, o->key, d, sizeof(d));
	snprintf(p, sizeof(p), "%s/views", tmp);
	mkdir(p, 0700);
	if (mkdir(d, 0700) < 0)
		return ao_errf(err, errno, "%s: %s", d, strerror(errno));
	snprintf(p, sizeof(p), "%s/export", d);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/derived", d);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/schema.json", d);
	if (json_dump_file(cs, p, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
		return ao_errf(err, EIO, "%s: write error", p);
	snprintf(p, sizeof(p), "%s/export/tasks.ndjson", d);
	o->ex = fopen(p, "wxe");
	snprintf(p, sizeof(p), "%s/images.tsv", d);
	o->names = fopen(p, "wxe");
	if (!o->ex || !o->names)
		return ao_errf(err, errno, "%s: %s", p, strerror(errno));
	fputs("# rec_no\twidth\theight\tname (angofs snapshot: the whole view's names)\n",
	      o->names);
	return 0;
}

static int sub_close(struct sub_out *o, struct ao_err *err)
{
	int rc = 0;

	for (int k = 0; k < 2; k++) {
		FILE *f = k ? o->names : o->ex;
		if (f && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
			rc = ao_errf(err, EIO, "%s: write error", o->key);
		if (f)
			fclose(f);
	}
	o->ex = o->names = NULL;
	return rc;
}

/* The stages and batches of the project (its pinned detail). */
static size_t subs_of(const json_t *detail, struct sub_out *v)
{
	const json_t *x;
	size_t i, n = 0;

	json_array_foreach(json_object_get(detail, "stages"), i, x)
	{
		const char *id = json_string_value(json_object_get(x, "id"));
		if (id && n < SUB_MAX && strlen(id) < AO_ID_MAX)
			snprintf(v[n++].key, sizeof(v[0].key), "stage/%s", id);
	}
	json_array_foreach(json_object_get(detail, "batches"), i, x)
	{
		const char *id = json_string_value(json_object_get(x, "_id"));
		const char *nm = json_string_value(json_object_get(x, "name"));
		if (id && nm && n < SUB_MAX && strlen(id) < AO_ID_MAX) {
			snprintf(v[n].key, sizeof(v[0].key), "batch/%s", id);
			v[n++].bname = nm;
		}
	}
	return n;
}

/* Does the record (line) go to sub o? */
static int belongs(const struct sub_out *o, const json_t *rec)
{
	const json_t *task = json_object_get(rec, "task"), *b;
	size_t i;

	if (!o->bname)
		return !strcmp(json_string_value(json_object_get(task, "stageId")) ?: "",
			       o->key + 6);
	json_array_foreach(json_object_get(rec, "batches"), i, b)
	{
		if (json_is_string(b) && !strcmp(json_string_value(b), o->bname))
			return 1;
	}
	return 0;
}

static int write_line(struct sub_out *o, const struct dsv_gen *g, unsigned long long rec_no,
		      const char *line, size_t len)
{
	const struct ao_ds_image *im = ao_ds_index_by_record(g->idx, rec_no);

	fwrite(line, 1, len, o->ex);
	fputc('\n', o->ex);
	if (im)
		fprintf(o->names, "%llu\t%d\t%d\t%s\n", o->n, im->width, im->height, im->name);
	o->n++;
	return ferror(o->ex) || ferror(o->names) ? -EIO : 0;
}

int snap_pin_subviews(struct dsv_gen *g, const json_t *detail, const char *tmp, struct ao_err *err)
{
	struct sub_out *v = calloc(SUB_MAX, sizeof(*v));
	int fd = dup(g->xfd), rc = 0;
	FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL;
	char *line = NULL;
	size_t cap = 0, n = v ? subs_of(detail, v) : 0;
	unsigned long long rec_no = 0;
	ssize_t len;

	if (!v || !in) {
		if (in)
			fclose(in);
		else if (fd >= 0)
			close(fd);
		free(v);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = sub_open(&v[i], tmp, g->cs, err);
	rewind(in);
	while (rc == 0 && (len = getline(&line, &cap, in)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		json_t *rec = len ? json_loadb(line, (size_t)len, 0, NULL) : NULL;
		if (!len)
			continue; /* blank lines are not records (ao_ds_ndjson_next) */
		for (size_t i = 0; rc == 0 && rec && i < n; i++)
			if (belongs(&v[i], rec) && write_line(&v[i], g, rec_no, line, (size_t)len))
				rc = ao_errf(err, EIO, "%s: write error", v[i].key);
		json_decref(rec);
		rec_no++;
	}
	free(line);
	fclose(in);
	for (size_t i = 0; i < n; i++)
		if (sub_close(&v[i], err) < 0 && rc == 0)
			rc = -EIO;
	free(v);
	return rc;
}
