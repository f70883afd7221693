/*
 * answer.c - answer.json -> annotate request body (see answer.h).
 *
 * Design: the text goes through the same splitter as drop-box files, so binary
 * junk, invalid UTF-8 and syntax errors get the same line/column messages; it
 * must hold exactly one object. The stored-answer key "tools" becomes the
 * annotate key "objects" (element shapes are identical), so what `cat` shows can
 * be written back unchanged. Missing lists become [] (the hub replaces the
 * stored answer wholesale, as the SDK's overwrite mode does).
 *
 * Masks: brushDataUrl / medicalBrushDataUrl live on the task, not in the
 * answer; cat shows them next to the answer and the body carries them at its
 * top level (a string sets, null clears). A write that does not mention one
 * leaves it out of the body here; the sender then carries the task's current
 * one over (answer_carry_masks), since a hub may read an omitted mask URL as
 * "no mask" and erase it (docs/WRITES.md).
 *
 * What goes on the wire is the SDK's AnnotationPayload (hub-api.md §4, §5.6):
 * both mask keys (null when the task has none), "duration" (0 unless the
 * written task.json has one), and mask URLs as bare object URLs: what `cat`
 * shows may be signed (exports sign them, a hub may sign what GET /task
 * returns), and a hub that stores what it gets would keep a link that dies
 * with its signature. answer_sdk_body strips a signature query
 * (answer_bare_url); a URL whose query signs nothing is sent unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "labels_parse.h"

struct one {
	json_t *obj;
	long n;
};

static int take(void *ud, json_t *item, const struct lp_pos *pos, struct ao_err *err)
{
	struct one *o = ud;

	if (o->n++ == 0)
		o->obj = json_incref(item);
	else
		return ao_errf(err, EINVAL,
			       "line %ld, column %ld: answer.json must hold one JSON object; a "
			       "second value starts here",
			       pos->line, pos->col);
	return 0;
}

static const char *const masks[] = {"brushDataUrl", "medicalBrushDataUrl"};

/* Move the mask URLs out of the written object (top level, or inside the
 * answer of the wrapped form) to the body; each must be a URL or null. */
static int take_masks(json_t *top, json_t *ans, json_t *body, struct ao_err *err)
{
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(top, masks[i]);
		if (!v)
			v = json_object_get(ans, masks[i]);
		if (v && !json_is_null(v) && (!json_is_string(v) || !*json_string_value(v)))
			return ao_errf(err, EINVAL,
				       "answer.json: \"%s\" must be the mask's URL (a string) or "
				       "null to clear the mask",
				       masks[i]);
		if (v)
			json_object_set(body, masks[i], v);
		json_object_del(ans, masks[i]);
	}
	return 0;
}

int answer_masks_missing(const json_t *body)
{
	return !json_object_get(body, masks[0]) || !json_object_get(body, masks[1]);
}

int answer_carry_masks(json_t *body, json_t *current)
{
	int n = 0;

	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(current, masks[i]);

		if (json_object_get(body, masks[i]))
			continue;
		if (json_is_string(v) && *json_string_value(v)) {
			json_object_set(body, masks[i], v);
			n++;
		} else { /* the task has none: say so, as the SDK does */
			json_object_set_new(body, masks[i], json_null());
		}
	}
	return n;
}

/* Is the query parameter named [k, k+n) one that signs a URL (S3, GCS,
 * CloudFront, Azure SAS, this project's hub)? */
static int signing_param(const char *k, size_t n)
{
	static const char *const exact[] = {
	    "expires", "signature",	 "sig",		"se",	  "sv",
	    "sp",      "googleaccessid", "key-pair-id", "policy", NULL};
	static const char *const prefix[] = {"x-amz-", "x-goog-", NULL};

	for (const char *const *e = exact; *e; e++)
		if (strlen(*e) == n && !strncasecmp(k, *e, n))
			return 1;
	for (const char *const *p = prefix; *p; p++)
		if (n >= strlen(*p) && !strncasecmp(k, *p, strlen(*p)))
			return 1;
	return 0;
}

char *answer_bare_url(const char *url)
{
	const char *q = strchr(url, '?'), *p;

	if (!q)
		return strdup(url);
	for (p = q + 1; *p && *p != '#';) {
		size_t n = strcspn(p, "=&#");

		if (signing_param(p, n))
			return strndup(url, (size_t)(q - url)); /* the SDK's url.split('?')[0] */
		p += strcspn(p, "&#");
		if (*p == '&')
			p++;
	}
	return strdup(url);
}

int answer_sdk_body(json_t *body)
{
	for (size_t i = 0; i < 2; i++) {
		const char *u = json_string_value(json_object_get(body, masks[i]));
		char *bare;

		if (!u)
			continue;
		if (!(bare = answer_bare_url(u)))
			return -ENOMEM;
		if (strcmp(bare, u))
			json_object_set_new(body, masks[i], json_string(bare));
		free(bare);
	}
	if (!json_object_get(body, "duration"))
		json_object_set_new(body, "duration", json_integer(0));
	return 0;
}

int answer_prepare(const char *buf, size_t len, struct schema *s, json_t **body,
		   struct sc_report *rep, struct ao_err *err)
{
	static const char *const lists[] = {"objects", "classifications", "relations"};
	struct sc_report local;
	struct one o = {NULL, 0};
	enum lp_form form = LP_NONE;
	json_t *a, *ans, *out;
	size_t i;
	long n;
	int r = 0;

	*body = NULL;
	n = lp_parse_mem(buf, len, NULL, take, &o, &form, err);
	if (n >= 0 && form != LP_OBJECT) {
		json_decref(o.obj);
		return ao_errf(err, EINVAL,
			       "answer.json must hold one JSON object (the answer), not a %s",
			       lp_form_name(form));
	}
	if (n < 0) {
		json_decref(o.obj);
		if (strstr(err->msg, "empty file"))
			return ao_errf(
			    err, EINVAL,
			    "empty answer.json: write an answer object such as "
			    "{\"tools\": [], \"classifications\": [], \"relations\": []}");
		ao_err_prefix(err, "answer.json");
		return (int)n;
	}
	if (!rep) {
		sc_report_init(&local);
		rep = &local;
	}
	a = json_object_get(o.obj, "answer");
	if (a && !json_is_object(a)) {
		r = ao_errf(err, EINVAL, "answer.json: \"answer\" must be an object");
		goto out;
	}
	ans = json_deep_copy(a ? a : o.obj);
	if (!ans) {
		r = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	out = json_object();
	r = take_masks(o.obj, ans, out, err);
	if (r < 0) {
		json_decref(ans);
		json_decref(out);
		goto out;
	}
	if (json_object_get(ans, "tools")) {
		if (json_object_get(ans, "objects")) {
			json_decref(ans);
			json_decref(out);
			r = ao_errf(
			    err, EINVAL,
			    "answer.json has both \"tools\" and \"objects\"; use one (cat "
			    "shows \"tools\", the SDK sends \"objects\": they mean the same)");
			goto out;
		}
		json_object_set(ans, "objects", json_object_get(ans, "tools"));
		json_object_del(ans, "tools");
	}
	for (i = 0; i < 3; i++)
		if (!json_object_get(ans, lists[i]))
			json_object_set_new(ans, lists[i], json_array());
	sc_check_answer(s, ans, 0, "answer.json", rep);
	if (rep->count) {
		char sum[AO_ERR_MSG_MAX];

		sc_report_summary(rep, sum, sizeof(sum));
		json_decref(ans);
		json_decref(out);
		r = ao_errf(err, EINVAL, "%s", sum);
		goto out;
	}
	json_object_set_new(out, "answer", ans);
	if (a && json_object_get(o.obj, "duration")) /* a task.json's, as the SDK sends it */
		json_object_set(out, "duration", json_object_get(o.obj, "duration"));
	*body = out;
out:
	if (rep == &local)
		sc_report_free(&local);
	json_decref(o.obj);
	return r;
}
