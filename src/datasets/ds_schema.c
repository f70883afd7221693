/*
 * ds_schema.c - the class tables of the dataset views, read once from the
 * project's categorySchema, and the skip report's vocabulary.
 *
 * Detection classes (YOLO index, COCO category id - 1) are the schema's
 * tools whose geometry is an area: bounding-box, rotated-bounding-box,
 * polygon, segmentation, in the order they appear in categorySchema.tools.
 * That is the order the project's managers see in the editor and the order
 * a re-read of the same schema gives, so class numbers only move when the
 * ontology itself is edited. Other tools (point, polyline, ner, brush, ...)
 * are remembered so that their marks count as "geometry" rather than
 * "unknown_schema" skips.
 *
 * The ImageFolder classification is the first top-level radio or
 * single-dropdown classification of categorySchema.classifications, unless
 * the caller names one. Only top-level ones qualify: a nested classification
 * (under a tool or an option) does not label the whole image. Its options'
 * labels become directory names through names.h (sanitized, collisions
 * told apart by "~<option schemaId>", the earlier option keeping the plain
 * name).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/datasets.h"
#include "angofs/names.h"
#include "angofs/tools.h"

static const char *const skip_names[AO_DS_SKIP_N] = {
    "bad_record", "not_image",	    "no_size",	"mask",	      "brush",
    "geometry",	  "unknown_schema", "page",	"degenerate", "holes",
    "no_answer",  "unknown_option", "subpixel",
};

static const char *const skip_why[AO_DS_SKIP_N] = {
    "record is not an object or has no task",
    "video or multi-image asset: the views hold single images only",
    "image width/height unknown (no metadata, no readable image header)",
    "segmentation mask (brushDataUrl) not converted: masks are files, not polygons",
    "brush mark: pixels, not a polygon",
    "geometry the format cannot express (point, polyline, ner, pdf, ...)",
    "schemaId not in the project's categorySchema",
    "mark on a page/frame other than 0",
    "zero area after clipping to the image, or malformed numbers",
    "segmentation hole dropped: polygon formats have no holes",
    "ImageFolder: the class classification has no answer",
    "ImageFolder: answer matches none of the classification's options",
    "under one pixel wide or high after clipping: no pixel to label (YOLO would print a "
    "zero-size row)",
};

const char *ao_ds_skip_name(enum ao_ds_skip s)
{
	return (unsigned)s < AO_DS_SKIP_N ? skip_names[s] : "?";
}

const char *ao_ds_skip_why(enum ao_ds_skip s)
{
	return (unsigned)s < AO_DS_SKIP_N ? skip_why[s] : "?";
}

char *ao_ds_report_text(const struct ao_ds_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "records %llu\nimages %llu\nannotations %llu\nclipped %llu\n", r->records,
		r->images, r->annotations, r->clipped);
	for (int i = 0; i < AO_DS_SKIP_N; i++)
		if (r->skipped[i])
			fprintf(f, "skipped.%s %llu  # %s\n", skip_names[i], r->skipped[i],
				skip_why[i]);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static char *dup_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return strdup(s ? s : "");
}

static int load_tools(struct ao_ds_schema *s, const json_t *tools)
{
	size_t i, n = json_array_size(tools);
	const json_t *t;

	s->cls = calloc(n ? n : 1, sizeof(*s->cls));
	s->other_ids = calloc(n ? n : 1, sizeof(*s->other_ids));
	if (!s->cls || !s->other_ids)
		return -ENOMEM;
	json_array_foreach(tools, i, t)
	{
		const char *tool = json_string_value(json_object_get(t, "tool"));
		const char *id = json_string_value(json_object_get(t, "schemaId"));
		if (!id)
			continue; /* a tool no mark can refer to */
		if (ao_tool_is(tool, AO_TOOL_REGION)) {
			struct ao_ds_class *c = &s->cls[s->ncls++];
			c->schema_id = strdup(id);
			c->title = dup_str(t, "title");
			c->tool = strdup(tool);
			if (!c->schema_id || !c->title || !c->tool)
				return -ENOMEM;
		} else {
			if (!(s->other_ids[s->nother++] = strdup(id)))
				return -ENOMEM;
		}
	}
	return 0;
}

/* Options of the ImageFolder classification and their directory names. */
static int load_options(struct ao_ds_schema *s, const json_t *cat)
{
	const json_t *opts = json_object_get(cat, "options"), *o;
	size_t i, n = json_array_size(opts);
	struct ao_named *nm;
	char(*ids)[32];

	s->if_schema_id = dup_str(cat, "schemaId");
	s->if_title = dup_str(cat, "title");
	s->opt = calloc(n ? n : 1, sizeof(*s->opt));
	nm = calloc(n ? n : 1, sizeof(*nm));
	ids = calloc(n ? n : 1, sizeof(*ids)); /* order keys */
	if (!s->if_schema_id || !s->if_title || !s->opt || !nm || !ids) {
		free(nm);
		free(ids);
		return -ENOMEM;
	}
	json_array_foreach(opts, i, o)
	{
		struct ao_ds_option *op = &s->opt[s->nopt++];
		op->value = dup_str(o, "value");
		op->schema_id = dup_str(o, "schemaId");
		if (!op->value || !op->schema_id) {
			free(nm);
			free(ids);
			return -ENOMEM;
		}
		snprintf(ids[i], sizeof(ids[i]), "%08zu", i);
		nm[i].id = op->schema_id && *op->schema_id ? op->schema_id : ids[i];
		nm[i].name = op->value;
		nm[i].order_key = ids[i];
	}
	int rc = ao_names_assign(nm, s->nopt, NULL);
	for (i = 0; rc == 0 && i < s->nopt; i++)
		memcpy(s->opt[i].dir, nm[i].out, sizeof(s->opt[i].dir));
	free(nm);
	free(ids);
	return rc;
}

static const json_t *pick_classification(const json_t *cls, const char *want, struct ao_err *err,
					 int *rc)
{
	size_t i;
	const json_t *c;

	*rc = 0;
	json_array_foreach(cls, i, c)
	{
		const char *tool = json_string_value(json_object_get(c, "tool"));
		const char *id = json_string_value(json_object_get(c, "schemaId"));
		if (want && (!id || strcmp(id, want) != 0))
			continue;
		if (ao_tool_is(tool, AO_TOOL_ONE))
			return c;
		if (want) {
			*rc = ao_errf(err, EINVAL,
				      "classification %s is a %s, not a single-choice (radio or "
				      "single-dropdown) classification",
				      want, tool ? tool : "(no tool)");
			return NULL;
		}
	}
	if (want)
		*rc = ao_errf(err, EINVAL, "no top-level classification with schemaId %s", want);
	return NULL;
}

int ao_ds_schema_load(const json_t *cs, const char *if_schema_id, struct ao_ds_schema **out,
		      struct ao_err *err)
{
	struct ao_ds_schema *s;
	const json_t *tools, *cls, *pick;
	int rc;

	*out = NULL;
	if (!json_is_object(cs))
		return ao_errf(err, EINVAL, "categorySchema is not a JSON object");
	tools = json_object_get(cs, "tools");
	cls = json_object_get(cs, "classifications");
	if ((tools && !json_is_array(tools)) || (cls && !json_is_array(cls)))
		return ao_errf(err, EINVAL,
			       "categorySchema: \"tools\" and \"classifications\" must be arrays");
	s = calloc(1, sizeof(*s));
	if (!s)
		return ao_errf(err, ENOMEM, "out of memory loading the categorySchema");
	rc = load_tools(s, tools);
	if (rc == 0) {
		pick = pick_classification(cls, if_schema_id, err, &rc);
		if (pick)
			rc = load_options(s, pick);
	}
	if (rc) {
		ao_ds_schema_free(s);
		return rc == -ENOMEM ? ao_errf(err, ENOMEM, "out of memory loading the schema")
				     : rc;
	}
	*out = s;
	return 0;
}

void ao_ds_schema_free(struct ao_ds_schema *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->ncls; i++) {
		free(s->cls[i].schema_id);
		free(s->cls[i].title);
		free(s->cls[i].tool);
	}
	for (i = 0; i < s->nother; i++)
		free(s->other_ids[i]);
	for (i = 0; i < s->nopt; i++) {
		free(s->opt[i].value);
		free(s->opt[i].schema_id);
	}
	free(s->cls);
	free(s->other_ids);
	free(s->opt);
	free(s->if_schema_id);
	free(s->if_title);
	free(s);
}

int ao_ds_schema_class(const struct ao_ds_schema *s, const char *schema_id)
{
	size_t i;

	if (!schema_id)
		return -2;
	for (i = 0; i < s->ncls; i++)
		if (!strcmp(s->cls[i].schema_id, schema_id))
			return (int)i;
	for (i = 0; i < s->nother; i++)
		if (!strcmp(s->other_ids[i], schema_id))
			return -1;
	return -2;
}
