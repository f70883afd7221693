/*
 * dssplit.c - stable train/val/test splits of the dataset views
 * (datasets/splits/<view>/{train,val,test}/; docs/DATASETS.md "Splits").
 *
 * Design: an image's split is a function of its asset's externalId alone,
 * so a refresh that adds tasks never moves an image that was there before,
 * and every view (and every daemon, and a snapshot) agrees: with u the
 * first 8 bytes of SHA-256(externalId) read big-endian, divided by 2^64
 * (uniform in [0,1)), an image is in train when u < f_train, in val when
 * u < f_train + f_val, else in test (-o split=80:10:10 gives the fractions).
 * Two tasks of one asset (consensus) share a split: no leak between train
 * and test. Pass 1 keeps two numbers per image for it (dsv_attr: the hash
 * and the image's most frequent area class), so no record is read again.
 *
 * Stratified (-o split_by=class): within each class (the ImageFolder class,
 * or for the other views the image's most frequent area class, ties to the
 * lower index; images without one form a class of their own), images are
 * ordered by u and the i-th of n goes by (i + 0.5) / n against the same
 * fractions, so each class is split in the exact proportions (within one
 * image). The price: when a class gains or loses images, the images next
 * to a boundary in that order may change sides (at most as many per
 * boundary as the class gained or lost); the default mode never moves one.
 * The tables of the stratified mode are built once per generation, on
 * first use, without any lock held, and published under dv->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "core_int.h"
#include "dsview_int.h"

const char *const dsv_split_names[4] = {"", "train", "val", "test"};

struct acc {
	struct dsv_attr *v;
	size_t n, cap;
};

/* The record's task (legacy records: tasks[0]). */
static const json_t *task_of(const json_t *rec)
{
	const json_t *t = json_object_get(rec, "task");

	return json_is_object(t) ? t : json_array_get(json_object_get(rec, "tasks"), 0);
}

static unsigned long long xid_hash(const char *xid)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned long long h = 0;

	SHA256((const unsigned char *)xid, strlen(xid), md);
	for (int i = 0; i < 8; i++)
		h = h << 8 | md[i];
	return h;
}

/* The most frequent area class of the record's marks (ties: the lower), -1. */
static int det_class(const struct ao_ds_schema *s, const json_t *task)
{
	const json_t *tools = json_object_get(task, "tools"), *t;
	unsigned stack[64] = {0}, *cnt = s->ncls <= 64 ? stack : calloc(s->ncls, sizeof(*cnt));
	size_t i;
	int best = -1;

	if (!cnt)
		return -1;
	if (!json_is_array(tools))
		tools = json_object_get(task, "objects");
	json_array_foreach(tools, i, t)
	{
		int k = ao_ds_schema_class(s, json_string_value(json_object_get(t, "schemaId")));
		if (k >= 0 && (size_t)k < s->ncls)
			cnt[k]++;
	}
	for (size_t k = 0; k < s->ncls; k++)
		if (cnt[k] && (best < 0 || cnt[k] > cnt[best]))
			best = (int)k;
	if (cnt != stack)
		free(cnt);
	return best;
}

int dsv_attr_note(struct dsv_gen *g, unsigned long long rec_no, const json_t *rec, void **accp)
{
	struct acc *a = *accp;
	const char *xid = json_string_value(json_object_get(rec, "externalId"));

	(void)rec_no; /* images come in record order: acc[i] is index position i */
	if (!a && !(a = *accp = calloc(1, sizeof(*a))))
		return -ENOMEM;
	if (a->n == a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 256;
		struct dsv_attr *nv = realloc(a->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		a->v = nv;
		a->cap = nc;
	}
	a->v[a->n].xhash = xid_hash(xid ? xid : "");
	a->v[a->n].det = det_class(g->schema, task_of(rec));
	a->n++;
	return 0;
}

int dsv_attr_finish(struct dsv_gen *g, void *accp)
{
	struct acc *a = accp;
	size_t n = g ? ao_ds_index_count(g->idx) : 0;

	if (!g) {
		if (a)
			free(a->v);
		free(a);
		return 0;
	}
	if ((a ? a->n : 0) != n) { /* cannot happen: one note per image */
		if (a)
			free(a->v);
		free(a);
		return -EIO;
	}
	g->attr = a && a->v ? a->v : calloc(1, sizeof(*g->attr));
	free(a);
	return g->attr ? 0 : -ENOMEM;
}

int dsv_split_on(const struct ao_core *c, int k)
{
	return k >= 1 && k <= 3 && c->cfg.split[k - 1] > 0;
}

/* Split of a position q in [0,1) by the fractions. */
static int by_fraction(const struct ao_core *c, double q)
{
	if (q < c->cfg.split[0])
		return 1;
	return q < c->cfg.split[0] + c->cfg.split[1] ? 2 : 3;
}

static double unit(unsigned long long h)
{
	return (double)(h >> 11) * (1.0 / 9007199254740992.0); /* 53 bits / 2^53 */
}

struct ord {
	int cls;
	unsigned long long h;
	size_t pos;
};

static int cmp_ord(const void *a, const void *b)
{
	const struct ord *x = a, *y = b;

	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The stratified table of g for ImageFolder (imf) or the other views. */
static unsigned char *strat_table(struct ao_core *c, struct dsv_gen *g, int imf)
{
	size_t n = ao_ds_index_count(g->idx), m = 0;
	unsigned char *t = calloc(n ? n : 1, 1);
	struct ord *o = malloc((n ? n : 1) * sizeof(*o));

	if (!t || !o) {
		free(t);
		free(o);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		if (imf ? im->cls < 0 : im->width <= 0)
			continue; /* not in such a view */
		o[m++] = (struct ord){imf ? im->cls : g->attr[i].det, g->attr[i].xhash, i};
	}
	qsort(o, m, sizeof(*o), cmp_ord);
	for (size_t i = 0, j; i < m; i = j) {
		for (j = i; j < m && o[j].cls == o[i].cls; j++)
			;
		for (size_t k = i; k < j; k++)
			t[o[k].pos] = (unsigned char)by_fraction(c, ((double)(k - i) + 0.5) /
									(double)(j - i));
	}
	free(o);
	return t;
}

int dsv_split_of(struct ao_core *c, struct dsv_gen *g, int fmt, const struct ao_ds_image *im)
{
	size_t pos = (size_t)(im - ao_ds_index_get(g->idx, 0));
	int imf = fmt == DSV_IF;
	unsigned char *t;

	if (!c->cfg.split_by_class)
		return by_fraction(c, unit(g->attr[pos].xhash));
	pthread_mutex_lock(&c->dsv.lock);
	t = g->split[imf];
	pthread_mutex_unlock(&c->dsv.lock);
	if (!t) {
		unsigned char *nt = strat_table(c, g, imf);
		if (!nt)
			return 0;
		pthread_mutex_lock(&c->dsv.lock);
		if (!g->split[imf])
			g->split[imf] = nt, nt = NULL;
		t = g->split[imf];
		pthread_mutex_unlock(&c->dsv.lock);
		free(nt);
	}
	return t[pos];
}

const unsigned long long *dsv_class_counts(struct ao_core *c, struct dsv_gen *g, int split)
{
	size_t nopt = g->schema->nopt;
	unsigned long long *cnt;

	if (!split)
		return ao_ds_index_class_counts(g->idx);
	pthread_mutex_lock(&c->dsv.lock);
	cnt = g->scount[split];
	pthread_mutex_unlock(&c->dsv.lock);
	if (cnt)
		return cnt;
	cnt = calloc(nopt ? nopt : 1, sizeof(*cnt));
	for (size_t i = 0; cnt && i < ao_ds_index_count(g->idx); i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		if (im->cls >= 0 && (size_t)im->cls < nopt &&
		    dsv_split_of(c, g, DSV_IF, im) == split)
			cnt[im->cls]++;
	}
	if (!cnt)
		return NULL;
	pthread_mutex_lock(&c->dsv.lock);
	if (!g->scount[split])
		g->scount[split] = cnt, cnt = NULL;
	const unsigned long long *r = g->scount[split];
	pthread_mutex_unlock(&c->dsv.lock);
	free(cnt);
	return r;
}
