/*
 * ds_index.c - pass 1 of a conversion: the per-image index.
 *
 * One small struct per image record (names, size, ImageFolder class, the
 * caller's locator of the record); no geometry is kept, so memory grows by
 * ~100 bytes plus the name per image, not with the export.
 *
 * Names: the same rule as every other directory of the mount (names.h):
 * externalId sanitized, collisions told apart by "~<id>" where the item
 * sorting first keeps the plain name. Two twists for image files:
 * - the rule runs on the stem and the image extension is put back after
 *   the suffix ("a.jpg", "a~<taskId>.jpg"): readers (torchvision
 *   ImageFolder, YOLO loaders) pick files by extension, and YOLO finds a
 *   label by replacing the image's extension with ".txt", so two images
 *   must never share a stem ("a.jpg" and "a.png" collide on purpose);
 * - an externalId without an image extension gets the asset URL's one when
 *   the URL path has it ("scan-17" from .../scan-17.png -> "scan-17.png").
 * The id is the task id (Ango's ObjectIds start with their creation time,
 * so the oldest task keeps the plain name and a new upload does not rename
 * an existing file); records without one, and a task id repeated within
 * the export, use "record-<n>". Stems are cut so that stem + "~<id>" +
 * extension fits in 255 bytes.
 *
 * Lookups: images by record number (they are appended in record order:
 * binary search), by name and by label name (index arrays sorted once at
 * finish), so the tree's lookup and readdir never scan the export.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "angofs/names.h"
#include "ds_int.h"

/* Header reads grow 4 KiB -> 64 KiB -> 256 KiB, and only while the parser
 * says "read more" and the media had that much: a PNG needs 24 bytes and
 * most JPEGs have their SOF in the first kilobytes, but an EXIF thumbnail
 * can push it tens of kilobytes in. For 100k images, 4 KiB each instead of
 * a flat 256 KiB is 0.4 GB of reads instead of 25 GB. */
static const size_t head_caps[] = {4096, 65536, 256 * 1024};
#define HEAD_MAX (256 * 1024)
#define SUFFIX_ROOM 66 /* "~" + sanitized id of at most 64 bytes + slack */

struct ao_ds_index {
	const struct ao_ds_schema *s;
	struct ao_ds_image *img;
	size_t n, cap;
	struct ao_ds_report rep;
	unsigned long long *class_counts; /* s->nopt entries */
	size_t *by_name, *by_label;	  /* image indexes sorted by name / label */
	size_t *by_task;		  /* images with a task id, sorted by it */
	size_t ntask;
	struct ao_ds_naming naming;
	int finished;
};

static const char *const img_exts[] = {"jpg", "jpeg", "png",  "bmp", "gif",
				       "tif", "tiff", "webp", "ppm", "pgm"};

/* Offset of the "." of a known image extension at the end of name, or -1. */
static long image_ext(const char *name, size_t len)
{
	const char *dot = NULL;

	for (size_t i = len; i > 1; i--)
		if (name[i - 1] == '.') {
			dot = name + i - 1;
			break;
		}
	if (!dot || (size_t)(name + len - dot - 1) > 4)
		return -1;
	for (size_t i = 0; i < sizeof(img_exts) / sizeof(*img_exts); i++)
		if (strlen(img_exts[i]) == (size_t)(name + len - dot - 1) &&
		    strncasecmp(dot + 1, img_exts[i], name + len - dot - 1) == 0)
			return dot - name;
	return -1;
}

/* Image extension (with its dot) of a URL's path, or NULL. */
static const char *url_ext(const char *url, size_t *elen)
{
	size_t end, start;

	if (!url)
		return NULL;
	end = strcspn(url, "?#");
	start = end;
	while (start > 0 && url[start - 1] != '/')
		start--;
	long d = image_ext(url + start, end - start);
	if (d < 0)
		return NULL;
	*elen = end - start - (size_t)d;
	return url + start + d;
}

struct ao_ds_index *ao_ds_index_new(const struct ao_ds_schema *s)
{
	struct ao_ds_index *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->s = s;
	x->class_counts = calloc(s->nopt ? s->nopt : 1, sizeof(*x->class_counts));
	if (!x->class_counts) {
		free(x);
		return NULL;
	}
	return x;
}

void ao_ds_index_free(struct ao_ds_index *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		free(x->img[i].task_id);
		free(x->img[i].name);
		free(x->img[i].label);
	}
	free(x->img);
	free(x->class_counts);
	free(x->by_name);
	free(x->by_label);
	free(x->by_task);
	free(x);
}

void ao_ds_index_set_naming(struct ao_ds_index *x, const struct ao_ds_naming *nm)
{
	x->naming = *nm;
}

/* Option index of the record's answer to the ImageFolder classification,
 * or a skip reason as -(reason + 1). Only top-level entries count. */
static int folder_class(const struct ao_ds_schema *s, const json_t *task)
{
	const json_t *cl = json_object_get(task, "classifications"), *c;
	size_t i;

	json_array_foreach(cl, i, c)
	{
		const char *id = json_string_value(json_object_get(c, "schemaId"));
		if (!id || strcmp(id, s->if_schema_id) != 0)
			continue;
		const json_t *a = json_object_get(c, "answer");
		if (json_is_array(a) && json_array_size(a) == 1) /* tolerate ["x"] */
			a = json_array_get(a, 0);
		const char *v = json_string_value(a);
		if (!v || !*v)
			return -(AO_DS_SKIP_NO_ANSWER + 1);
		/* exports carry the option's label; stored answers its schemaId */
		for (size_t k = 0; k < s->nopt; k++)
			if (!strcmp(s->opt[k].value, v))
				return (int)k;
		for (size_t k = 0; k < s->nopt; k++)
			if (*s->opt[k].schema_id && !strcmp(s->opt[k].schema_id, v))
				return (int)k;
		return -(AO_DS_SKIP_UNKNOWN_OPTION + 1);
	}
	return -(AO_DS_SKIP_NO_ANSWER + 1);
}

static int dim(const json_t *meta, const char *key)
{
	const json_t *j = json_object_get(meta, key);
	double v = json_number_value(j);

	return json_is_number(j) && v >= 1 && v <= 1e9 ? (int)(v + 0.5) : 0;
}

/* Candidate name: sanitized stem of externalId + its image extension, or
 * the URL's. The extension is split off before sanitizing, which cuts at
 * 255 bytes, so a long externalId keeps it; a known image extension is
 * plain ASCII and needs no sanitizing. assign_names cuts the stem later. */
static char *candidate_name(const json_t *rec)
{
	const char *eid = json_string_value(json_object_get(rec, "externalId"));
	const char *url = json_string_value(json_object_get(rec, "asset"));
	char out[AO_NAME_MAX + 1], *stem, *r;
	const char *ext = NULL;
	size_t elen = 0, l;
	long d = eid ? image_ext(eid, strlen(eid)) : -1;

	if (d >= 0) {
		ext = eid + d;
		elen = strlen(ext);
	} else {
		ext = url_ext(url, &elen);
	}
	stem = d >= 0 ? strndup(eid, (size_t)d) : strdup(eid ? eid : "");
	if (!stem)
		return NULL;
	ao_name_sanitize(stem, out);
	free(stem);
	l = strlen(out);
	r = malloc(l + elen + 1);
	if (r) {
		memcpy(r, out, l);
		memcpy(r + l, ext ? ext : "", elen); /* only the extension, no query */
		r[l + elen] = '\0';
	}
	return r;
}

static int fill_image(struct ao_ds_index *x, struct ao_ds_image *im, const json_t *rec,
		      const json_t *task)
{
	const json_t *meta = json_object_get(rec, "metadata");
	const char *tid = json_string_value(json_object_get(task, "taskId"));

	im->width = dim(meta, "width");
	im->height = dim(meta, "height");
	if (!im->width || !im->height)
		im->width = im->height = 0;
	im->cls = -1;
	if (x->s->if_schema_id) {
		int c = folder_class(x->s, task);
		if (c >= 0) {
			im->cls = c;
			x->class_counts[c]++;
		} else {
			x->rep.skipped[-c - 1]++;
		}
	}
	im->name = candidate_name(rec);
	im->task_id = tid ? strdup(tid) : NULL;
	return im->name && (im->task_id || !tid) ? 0 : -ENOMEM;
}

int ao_ds_index_add(struct ao_ds_index *x, unsigned long long rec_no, unsigned long long locator,
		    const json_t *rec)
{
	const json_t *task = ao_ds_record_task(rec), *meta;
	const char *mask;

	if (x->finished || (x->n && rec_no <= x->img[x->n - 1].rec_no))
		return -EINVAL; /* records must come in increasing order */
	x->rep.records++;
	if (!json_is_object(rec) || !task) {
		x->rep.skipped[AO_DS_SKIP_BAD_RECORD]++;
		return 0;
	}
	meta = json_object_get(rec, "metadata");
	if (json_object_get(meta, "frameTotal") ||
	    json_array_size(json_object_get(rec, "dataset"))) {
		x->rep.skipped[AO_DS_SKIP_NOT_IMAGE]++;
		return 0;
	}
	mask = json_string_value(json_object_get(task, "brushDataUrl"));
	if (!(mask && *mask))
		mask = json_string_value(json_object_get(task, "medicalBrushDataUrl"));
	if (mask && *mask)
		x->rep.skipped[AO_DS_SKIP_MASK]++;
	if (x->n == x->cap) {
		size_t nc = x->cap ? 2 * x->cap : 64;
		struct ao_ds_image *ni = realloc(x->img, nc * sizeof(*ni));
		if (!ni)
			return -ENOMEM;
		x->img = ni;
		x->cap = nc;
	}
	struct ao_ds_image *im = &x->img[x->n++];
	memset(im, 0, sizeof(*im));
	im->rec_no = rec_no;
	im->locator = locator;
	x->rep.images++;
	return fill_image(x, im, rec, task) ? -ENOMEM : 1;
}

static int cmp_id(const void *a, const void *b, void *ud)
{
	const struct ao_named *nm = ud;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(nm[i].id, nm[j].id);
	return c ? c : (i > j) - (i < j);
}

/* names.h needs distinct ids to tell names apart: an id seen twice keeps
 * it for its first record only, the later ones use their fallback[i] (an
 * asset in two tasks of the view, consensus: its task id; a task id seen
 * twice in one export, hostile or broken data: "record-<n>"). */
static int unique_ids(struct ao_named *nm, size_t n, const char *const *fallback)
{
	size_t *o = malloc((n ? n : 1) * sizeof(*o));

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		o[i] = i;
	qsort_r(o, n, sizeof(*o), cmp_id, nm);
	const char *prev = n ? nm[o[0]].id : NULL; /* the run's original id */
	for (size_t i = 1; i < n; i++) {
		if (strcmp(nm[o[i]].id, prev) == 0 && nm[o[i]].id != fallback[o[i]])
			nm[o[i]].id = fallback[o[i]];
		else
			prev = nm[o[i]].id;
	}
	free(o);
	return 0;
}

/* A stage or batch view: the names the whole project's view gives its
 * tasks (x->naming.fixed_name), when every image has one. 1 done, 0 not
 * (the rule below applies), -ENOMEM. */
static int fixed_names(struct ao_ds_index *x)
{
	if (!x->naming.fixed_name)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (!x->naming.fixed_name(x->naming.ud, &x->img[i]))
			return 0; /* a task the whole project's export lacks: own rule */
	for (size_t i = 0; i < x->n; i++) {
		struct ao_ds_image *im = &x->img[i];
		char *name = strdup(x->naming.fixed_name(x->naming.ud, im)), *label;
		long d = name ? image_ext(name, strlen(name)) : -1;
		size_t sl = d >= 0 ? (size_t)d : (name ? strlen(name) : 0);
		if (!name || !(label = malloc(sl + 5))) {
			free(name);
			return -ENOMEM;
		}
		memcpy(label, name, sl);
		memcpy(label + sl, ".txt", 5);
		free(im->name);
		im->name = name;
		im->label = label;
		im->has_ext = d >= 0;
	}
	return 1;
}

static int cmp_str_idx(const void *a, const void *b, void *ud)
{
	char *const *san = ud;
	return strcmp(san[*(const size_t *)a], san[*(const size_t *)b]);
}

/* Colliding stems (and the reserved ".status") are told apart as assets/
 * tells them: "~<asset id>", the oldest asset (createdAt) keeping the plain
 * name. nm[i].id and .order_key of those images point into aid/created
 * (malloc'd per image); images whose asset is unknown keep the task id. */
static int resolve_groups(struct ao_ds_index *x, struct ao_named *nm, char **aid, char **created)
{
	size_t n = x->n, *o = malloc((n ? n : 1) * sizeof(*o));
	char **san = calloc(n ? n : 1, sizeof(*san));
	int rc = o && san ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		o[i] = i;
		if (!(san[i] = malloc(AO_NAME_MAX + 1)))
			rc = -ENOMEM;
		else
			ao_name_sanitize(nm[i].name, san[i]);
	}
	if (rc == 0)
		qsort_r(o, n, sizeof(*o), cmp_str_idx, san);
	for (size_t i = 0, j; rc == 0 && i < n; i = j) {
		for (j = i + 1; j < n && !strcmp(san[o[j]], san[o[i]]); j++)
			;
		if (j - i < 2 && strcmp(san[o[i]], ".status"))
			continue;
		for (size_t k = i; k < j; k++) {
			size_t m = o[k];
			char id[AO_DS_ID_MAX], cr[64];
			if (x->naming.asset_of(x->naming.ud, &x->img[m], id, sizeof(id), cr,
					       sizeof(cr)) != 0) {
				/* unknown: its task id tells it apart, after the known
				 * ones (they keep the names assets/ gives them) */
				nm[m].order_key = "~";
				continue;
			}
			aid[m] = strdup(id);
			created[m] = strdup(cr);
			if (!aid[m] || !created[m]) {
				rc = -ENOMEM;
				break;
			}
			nm[m].id = aid[m];
			nm[m].order_key = created[m];
		}
	}
	for (size_t i = 0; san && i < n; i++)
		free(san[i]);
	free(san);
	free(o);
	return rc;
}

static int assign_names(struct ao_ds_index *x)
{
	static const char *const reserved[] = {".status", NULL}; /* as assets/ */
	size_t n = x->n ? x->n : 1;
	struct ao_named *nm = calloc(n, sizeof(*nm));
	char(*ids)[32] = calloc(n, sizeof(*ids));
	char(*exts)[16] = calloc(n, sizeof(*exts));
	char **aid = calloc(n, sizeof(*aid)), **created = calloc(n, sizeof(*created));
	const char **fb1 = calloc(n, sizeof(*fb1)), **fb2 = calloc(n, sizeof(*fb2));
	int rc = fixed_names(x);

	if (rc != 0)
		goto out;
	rc = -ENOMEM;
	if (!nm || !ids || !exts || !aid || !created || !fb1 || !fb2)
		goto out;
	for (size_t i = 0; i < x->n; i++) {
		struct ao_ds_image *im = &x->img[i];
		long d = image_ext(im->name, strlen(im->name));
		im->has_ext = d >= 0;
		if (d >= 0) { /* the extension is at most ".xxxx" */
			snprintf(exts[i], sizeof(exts[i]), "%s", im->name + d);
			im->name[d] = '\0';
		}
		im->name[ao_name_utf8_prefix(im->name,
					     AO_NAME_MAX - strlen(exts[i]) - SUFFIX_ROOM)] = '\0';
		snprintf(ids[i], sizeof(ids[i]), "record-%llu", im->rec_no);
		nm[i].id = im->task_id ? im->task_id : ids[i];
		nm[i].name = im->name;
		fb1[i] = nm[i].id;
		fb2[i] = ids[i];
	}
	if (x->naming.asset_of && (rc = resolve_groups(x, nm, aid, created)) != 0)
		goto out;
	if ((rc = unique_ids(nm, x->n, fb1)) != 0 || (rc = unique_ids(nm, x->n, fb2)) != 0 ||
	    (rc = ao_names_assign(nm, x->n, reserved)) != 0)
		goto out;
	for (size_t i = 0; i < x->n; i++) {
		struct ao_ds_image *im = &x->img[i];
		size_t el = strlen(exts[i]);
		/* only an id-only fallback is this long */
		nm[i].out[ao_name_utf8_prefix(nm[i].out, AO_NAME_MAX - el)] = '\0';
		size_t sl = strlen(nm[i].out);
		char *name = malloc(sl + el + 1), *label = malloc(sl + 5);
		if (!name || !label) {
			free(name);
			free(label);
			rc = -ENOMEM;
			goto out;
		}
		memcpy(name, nm[i].out, sl);
		memcpy(name + sl, exts[i], el + 1);
		memcpy(label, nm[i].out, sl);
		memcpy(label + sl, ".txt", 5);
		free(im->name);
		im->name = name;
		im->label = label;
	}
	rc = 0;
out:
	for (size_t i = 0; i < x->n && aid && created; i++) {
		free(aid[i]);
		free(created[i]);
	}
	free(aid);
	free(created);
	free(fb1);
	free(fb2);
	free(nm);
	free(ids);
	free(exts);
	return rc < 0 ? rc : 0;
}

/* Width/height from the image header for images whose metadata lacks it. */
static void fill_sizes(struct ao_ds_index *x, ao_ds_read_head_fn read_head, void *ud)
{
	unsigned char *buf = NULL;

	for (size_t i = 0; i < x->n; i++) {
		struct ao_ds_image *im = &x->img[i];
		if (im->width)
			continue;
		if (x->naming.fixed_size &&
		    x->naming.fixed_size(x->naming.ud, im, &im->width, &im->height) == 1 &&
		    im->width > 0 && im->height > 0)
			continue;
		im->width = im->height = 0;
		if (read_head && !buf)
			buf = malloc(HEAD_MAX);
		for (size_t k = 0; buf && k < sizeof(head_caps) / sizeof(*head_caps); k++) {
			ssize_t got = read_head(ud, im, buf, head_caps[k]);
			struct ao_ds_imghead hd;
			int rc;
			if (got <= 0)
				break;
			rc = ao_ds_image_head(buf, (size_t)got, &hd);
			if (rc == 1) { /* as loaders show it: EXIF orientation applied */
				ao_ds_image_shown(&hd, &im->width, &im->height);
				break;
			}
			if (rc < 0 || (size_t)got < head_caps[k])
				break; /* not an image, or nothing more to read */
		}
		if (!im->width)
			x->rep.skipped[AO_DS_SKIP_NO_SIZE]++;
	}
	free(buf);
}

/* qsort_r comparators: ud is the image array. */
static int cmp_name(const void *a, const void *b, void *ud)
{
	const struct ao_ds_image *img = ud;
	return strcmp(img[*(const size_t *)a].name, img[*(const size_t *)b].name);
}

static int cmp_label(const void *a, const void *b, void *ud)
{
	const struct ao_ds_image *img = ud;
	return strcmp(img[*(const size_t *)a].label, img[*(const size_t *)b].label);
}

static int cmp_task(const void *a, const void *b, void *ud)
{
	const struct ao_ds_image *img = ud;
	return strcmp(img[*(const size_t *)a].task_id, img[*(const size_t *)b].task_id);
}

static int sort_lookups(struct ao_ds_index *x)
{
	size_t n = x->n ? x->n : 1;

	x->by_name = malloc(n * sizeof(size_t));
	x->by_label = malloc(n * sizeof(size_t));
	x->by_task = malloc(n * sizeof(size_t));
	if (!x->by_name || !x->by_label || !x->by_task)
		return -ENOMEM;
	for (size_t i = 0; i < x->n; i++)
		if (x->img[i].task_id)
			x->by_task[x->ntask++] = i;
	qsort_r(x->by_task, x->ntask, sizeof(size_t), cmp_task, x->img);
	for (size_t i = 0; i < x->n; i++)
		x->by_name[i] = x->by_label[i] = i;
	qsort_r(x->by_name, x->n, sizeof(size_t), cmp_name, x->img);
	qsort_r(x->by_label, x->n, sizeof(size_t), cmp_label, x->img);
	for (size_t i = 1; i < x->n; i++) /* distinct ids give distinct stems */
		if (!strcmp(x->img[x->by_label[i]].label, x->img[x->by_label[i - 1]].label))
			return -EEXIST;
	return 0;
}

enum key { BY_NAME, BY_LABEL, BY_TASK };

/* Binary search of one of the sorted orders (n entries) for key. */
static const struct ao_ds_image *find(const struct ao_ds_index *x, const size_t *order, size_t n,
				      const char *key, enum key k)
{
	size_t lo = 0, hi = order && key ? n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ao_ds_image *im = &x->img[order[mid]];
		int c = strcmp(k == BY_NAME    ? im->name
			       : k == BY_LABEL ? im->label
					       : im->task_id,
			       key);
		if (c == 0)
			return im;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct ao_ds_image *ao_ds_index_find_name(const struct ao_ds_index *x, const char *name)
{
	return find(x, x->by_name, x->n, name, BY_NAME);
}

const struct ao_ds_image *ao_ds_index_find_label(const struct ao_ds_index *x, const char *label)
{
	return find(x, x->by_label, x->n, label, BY_LABEL);
}

const struct ao_ds_image *ao_ds_index_find_task(const struct ao_ds_index *x, const char *task_id)
{
	return find(x, x->by_task, x->ntask, task_id, BY_TASK);
}

int ao_ds_index_finish(struct ao_ds_index *x, ao_ds_read_head_fn read_head, void *ud,
		       struct ao_err *err)
{
	if (x->finished)
		return ao_errf(err, EINVAL, "dataset index finished twice");
	if (assign_names(x) != 0)
		return ao_errf(err, ENOMEM, "out of memory naming %zu images", x->n);
	int rc = sort_lookups(x);
	if (rc == -EEXIST)
		return ao_errf(err, EINVAL,
			       "export: two images got the same name (task ids that collide "
			       "with \"record-<n>\" ids?)");
	if (rc)
		return ao_errf(err, ENOMEM, "out of memory indexing %zu images", x->n);
	fill_sizes(x, read_head, ud);
	x->finished = 1;
	return 0;
}

size_t ao_ds_index_count(const struct ao_ds_index *x)
{
	return x->n;
}

const struct ao_ds_image *ao_ds_index_get(const struct ao_ds_index *x, size_t i)
{
	return i < x->n ? &x->img[i] : NULL;
}

const struct ao_ds_image *ao_ds_index_by_record(const struct ao_ds_index *x,
						unsigned long long rec_no)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) { /* images are in increasing rec_no order */
		size_t mid = lo + (hi - lo) / 2;
		if (x->img[mid].rec_no < rec_no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < x->n && x->img[lo].rec_no == rec_no ? &x->img[lo] : NULL;
}

const struct ao_ds_report *ao_ds_index_report(const struct ao_ds_index *x)
{
	return &x->rep;
}

const unsigned long long *ao_ds_index_class_counts(const struct ao_ds_index *x)
{
	return x->class_counts;
}

const char *ao_ds_imagefolder_dir(const struct ao_ds_schema *s, const struct ao_ds_image *img)
{
	return img->cls >= 0 && (size_t)img->cls < s->nopt ? s->opt[img->cls].dir : NULL;
}
