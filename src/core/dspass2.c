/*
 * dspass2.c - pass 2 of the dataset views and the files it leaves in the
 * cache directory (src/core/dsview_int.h; publishing rules in dsbuild.c).
 *
 * Design: one streaming read of the export generation per output, one
 * record in memory at a time. A YOLO mode's labels are one "pack" file
 * rather than a file per image (100k images would be 100k files to create,
 * publish and sweep): every label file back to back, then the report text,
 * then a table of (offset, length) per index position, then a fixed
 * trailer naming the table and the report. Loading a pack reads only the
 * trailer, the table (16 bytes per image, kept in memory so stat and
 * readdir of labels/ cost no I/O) and the report; a label is one pread.
 * COCO is annotations.json itself (served by pread/splice) with its report
 * beside it in "<file>.txt", published before the JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core_int.h"
#include "dsview_int.h"
#include "angofs/sysutil.h"

#define PACK_MAGIC "AODSLBL1"
#define TRAILER_LEN 40 /* magic, n, table offset, report offset, report length */
#define OLD_AGE_S 3600
#define NO_LABEL UINT64_MAX

static const enum ao_ds_yolo_mode modes[3] = {AO_DS_YOLO_MIXED, AO_DS_YOLO_BOXES,
					      AO_DS_YOLO_SEGMENTS};

static FILE *export_stream(const struct dsv_gen *g, struct ao_err *err)
{
	int fd = dup(g->xfd);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (!f) {
		if (fd >= 0)
			close(fd);
		ao_errf(err, errno ? errno : ENOMEM, "cached export: %s", strerror(errno));
		return NULL;
	}
	rewind(f);
	return f;
}

static int write_err(FILE *f, struct ao_err *err)
{
	return ferror(f) ? ao_errf(err, EIO, "writing a dataset file: %s", strerror(errno)) : 0;
}

static int put_u64(FILE *f, uint64_t v)
{
	return fwrite(&v, sizeof(v), 1, f) == 1 ? 0 : -EIO;
}

/* The label files of every sized image, in record order. */
static int pack_labels(struct dsv_gen *g, int k, FILE *f, struct dsv_lab *tab,
		       struct ao_ds_report *rep, struct ao_err *err)
{
	const struct ao_ds_image *first = ao_ds_index_get(g->idx, 0);
	unsigned long long n = 0;
	FILE *ex = export_stream(g, err);
	json_t *r;
	int rc;

	if (!ex)
		return -EIO;
	while ((rc = ao_ds_ndjson_next(ex, &r, NULL, err)) == 1) {
		const struct ao_ds_image *im = ao_ds_index_by_record(g->idx, n++);
		rc = 0;
		if (im && im->width > 0) {
			long start = ftell(f);
			rc = k == DSV_OUT_VOC
				 ? ao_ds_voc_xml(g->schema, im, r, f, rep)
				 : ao_ds_yolo_label(g->schema, im, r, modes[k], f, rep);
			tab[im - first].off = (unsigned long long)start;
			tab[im - first].len = (unsigned long long)(ftell(f) - start);
		}
		json_decref(r);
		if (rc < 0) {
			fclose(ex);
			return ao_errf(err, -rc, "writing labels: %s", strerror(-rc));
		}
	}
	fclose(ex);
	return rc < 0 ? rc : write_err(f, err);
}

int dsv_build_pack(struct dsv_gen *g, int k, FILE *f, struct ao_err *err)
{
	size_t n = ao_ds_index_count(g->idx);
	struct dsv_lab *tab = malloc((n ? n : 1) * sizeof(*tab));
	struct ao_ds_report rep = {0};
	int rc;

	if (!tab)
		return ao_errf(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		tab[i].off = tab[i].len = NO_LABEL;
	rc = pack_labels(g, k, f, tab, &rep, err);
	if (rc < 0) {
		free(tab);
		return rc;
	}
	char *text = ao_ds_report_text(&rep);
	uint64_t roff = (uint64_t)ftell(f), rlen = text ? strlen(text) : 0;
	if (!text || fwrite(text, 1, rlen, f) != rlen)
		rc = -EIO;
	free(text);
	uint64_t toff = (uint64_t)ftell(f);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (put_u64(f, tab[i].off) || put_u64(f, tab[i].len))
			rc = -EIO;
	free(tab);
	if (rc == 0 && (fwrite(PACK_MAGIC, 8, 1, f) != 1 || put_u64(f, n) || put_u64(f, toff) ||
			put_u64(f, roff) || put_u64(f, rlen)))
		rc = -EIO;
	return rc < 0 ? ao_errf(err, EIO, "writing a label pack: %s", strerror(errno)) : 0;
}

struct in_split {
	struct ao_core *c;
	struct dsv_gen *g;
	int split;
};

static int keep_split(void *ud, const struct ao_ds_image *im)
{
	struct in_split *k = ud;

	return dsv_split_of(k->c, k->g, DSV_COCO, im) == k->split;
}

int dsv_build_coco(struct ao_core *c, struct dsv_gen *g, int split, FILE *f, char **report,
		   struct ao_err *err)
{
	struct ao_ds_coco *coco;
	struct ao_ds_report rep = {0};
	unsigned long long n = 0;
	json_t *r;
	struct in_split ks = {c, g, split};
	int rc = ao_ds_coco_begin_subset(g->schema, g->idx, split ? keep_split : NULL, &ks, f,
					 &coco, err);
	FILE *ex;

	*report = NULL;
	if (rc < 0)
		return rc;
	ex = export_stream(g, err);
	if (!ex) {
		ao_ds_coco_end(coco, NULL);
		return -EIO;
	}
	while ((rc = ao_ds_ndjson_next(ex, &r, NULL, err)) == 1) {
		rc = ao_ds_coco_add(coco, n++, r);
		json_decref(r);
		if (rc < 0)
			break;
	}
	fclose(ex);
	int erc = ao_ds_coco_end(coco, &rep);
	if (rc < 0 || erc < 0)
		return err->code ? -err->code
				 : ao_errf(err, EIO, "writing annotations.json: %s",
					   strerror(-(rc < 0 ? rc : erc)));
	*report = ao_ds_report_text(&rep);
	return *report ? write_err(f, err) : ao_errf(err, ENOMEM, "out of memory");
}

/* ---- loading what was published --------------------------------------------- */

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		got += (size_t)r;
	}
	return 0;
}

/* Trailer, table and report of a pack; -EIO if it is not a complete one. */
static int load_pack(struct dsv_gen *g, int fd, long long size, struct dsv_out *o)
{
	unsigned char tr[TRAILER_LEN];
	uint64_t v[4];
	size_t n = ao_ds_index_count(g->idx);

	if (size < TRAILER_LEN || pread_all(fd, tr, sizeof(tr), size - TRAILER_LEN) < 0 ||
	    memcmp(tr, PACK_MAGIC, 8) != 0)
		return -EIO;
	memcpy(v, tr + 8, sizeof(v));
	if (v[0] != n || v[1] + n * 16 + TRAILER_LEN != (uint64_t)size || v[2] + v[3] > v[1])
		return -EIO;
	o->tab = malloc((n ? n : 1) * sizeof(*o->tab));
	o->report = malloc(v[3] + 1);
	if (!o->tab || !o->report || pread_all(fd, o->tab, n * 16, (off_t)v[1]) < 0 ||
	    pread_all(fd, o->report, v[3], (off_t)v[2]) < 0)
		return -EIO;
	o->report[v[3]] = '\0';
	return 0;
}

int dsv_load_out(struct ao_core *c, struct dsv_gen *g, int k, const char *path, struct ao_err *err)
{
	struct dsv_out o = {0};
	struct stat st;
	int rc = 0;

	o.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (o.fd < 0)
		return ao_errf(err, errno, "%s: %s", path, strerror(errno));
	if (fstat(o.fd, &st) != 0)
		rc = -errno;
	o.size = st.st_size;
	if (rc == 0 && dsv_is_pack(k)) {
		rc = load_pack(g, o.fd, o.size, &o);
	} else if (rc == 0 && k >= DSV_OUT_WDS) { /* shards.json, its report inside */
		char *text = NULL;
		size_t len;
		rc = ao_sys_read_fd(o.fd, 64 << 20, &text, &len);
		o.index = rc == 0 ? json_loadb(text, len, 0, NULL) : NULL;
		const char *r = json_string_value(json_object_get(o.index, "report"));
		o.report = r ? strdup(r) : NULL;
		if (rc == 0 && !o.report)
			rc = -EIO;
		free(text);
	} else if (rc == 0) {
		char rpath[4200];
		size_t len;
		snprintf(rpath, sizeof(rpath), "%s.txt", path);
		int rfd = open(rpath, O_RDONLY | O_CLOEXEC);
		rc = rfd < 0 ? -errno : ao_sys_read_fd(rfd, 1 << 20, &o.report, &len);
		if (rfd >= 0)
			close(rfd);
	}
	if (rc < 0) {
		close(o.fd);
		free(o.tab);
		free(o.report);
		json_decref(o.index);
		return ao_errf(err, -rc, "%s: not a complete dataset file", path);
	}
	o.built = 1;
	pthread_mutex_lock(&c->dsv.lock);
	int had = g->out[k].built;
	if (!had)
		g->out[k] = o;
	pthread_mutex_unlock(&c->dsv.lock);
	if (had) {
		close(o.fd);
		free(o.tab);
		free(o.report);
		json_decref(o.index);
	}
	return 0;
}

void dsv_sweep(const char *dir, const char *ident)
{
	const char *dot = strchr(ident, '.');
	size_t hlen = dot ? (size_t)(dot - ident) + 1 : 0; /* "<export hash>." */
	DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);

	while (d && (de = readdir(d))) {
		const char *nm = de->d_name;
		int tmp = strstr(nm, ".tmp-") != NULL;
		int other = hlen && !strncmp(nm, ident, hlen) && strncmp(nm, ident, strlen(ident));
		struct stat st;
		char p[4400];

		if (!tmp && !other)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, nm);
		if (stat(p, &st) == 0 && now - st.st_mtime > OLD_AGE_S)
			unlink(p);
	}
	if (d)
		closedir(d);
}

/* ---- reading one label ---------------------------------------------------------- */

/* The bytes of labels/<label of im> from pack k of g (built). */
int dsv_label_text(const struct dsv_gen *g, int k, const struct ao_ds_image *im, char **buf,
		   size_t *len, struct ao_err *err)
{
	const struct dsv_lab *l = &g->out[k].tab[im - ao_ds_index_get(g->idx, 0)];

	*buf = NULL;
	*len = 0;
	if (l->len == NO_LABEL || l->len > (1u << 30))
		return ao_errf(err, ENOENT, "%s: no label", im->label);
	*buf = malloc(l->len + 1);
	if (!*buf)
		return ao_errf(err, ENOMEM, "out of memory");
	if (pread_all(g->out[k].fd, *buf, l->len, (off_t)l->off) < 0) {
		free(*buf);
		*buf = NULL;
		return ao_errf(err, EIO, "reading a label pack: %s", strerror(errno));
	}
	*len = l->len;
	return 0;
}
