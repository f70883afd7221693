/*
 * assets_items.c - validation of assets/ list items (see assets_items.h).
 *
 * Design: the checks are the hub's documented contract for
 * POST /project/{id}/cloud (hub-api.md §5.6) made local, so a bad list is
 * refused with every bad item named and nothing is created: data must be an
 * http(s) URL, externalId a non-empty string, metadata and contextData
 * objects, batches a list of strings, attachments a list of objects. Unknown
 * keys are refused too: a misspelt "externalID" would otherwise silently
 * create an asset without the intended name.
 */
#include <string.h>

#include "assets_items.h"

static const char *const known[] = {"data",	   "externalId",  "metadata", "batches",
				    "contextData", "attachments", "storage",  NULL};

static int known_key(const char *k)
{
	for (const char *const *p = known; *p; p++)
		if (!strcmp(*p, k))
			return 1;
	return 0;
}

static int check_data(json_t *v, const char *where, struct sc_report *rep)
{
	const char *s = json_string_value(v);

	if (!v) {
		sc_problem(rep, where, "\"data\" is missing: the asset's URL (http or https)");
		return 0;
	}
	if (!s || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)) || strlen(s) < 9) {
		sc_problem(rep, where, "\"data\" must be the asset's URL (http:// or https://)");
		return 0;
	}
	return 1;
}

static int check_batches(json_t *v, const char *where, struct sc_report *rep)
{
	size_t i;
	json_t *b;

	if (!json_is_array(v)) {
		sc_problem(rep, where, "\"batches\" must be a list of batch ids");
		return 0;
	}
	json_array_foreach(v, i, b) if (!json_is_string(b) || !json_string_length(b))
	{
		sc_problem(rep, where, "batches[%zu] must be a non-empty string (a batch id)", i);
		return 0;
	}
	return 1;
}

int assets_item_check(json_t *item, const char *where, struct sc_report *rep)
{
	const char *k;
	json_t *v, *a;
	int ok = 1;
	size_t i;

	if (!json_is_object(item)) {
		sc_problem(rep, where, "must be an object {\"data\": URL, \"externalId\": name}");
		return 0;
	}
	json_object_foreach(item, k, v) if (!known_key(k))
	{
		sc_problem(rep, where,
			   "unknown key \"%.60s\" (an asset item has data, externalId, metadata, "
			   "batches, contextData, attachments)",
			   k);
		ok = 0;
	}
	ok &= check_data(json_object_get(item, "data"), where, rep);
	v = json_object_get(item, "externalId");
	if (!json_is_string(v) || !json_string_length(v)) {
		sc_problem(rep, where,
			   "\"externalId\" must be a non-empty string (the asset's name)");
		ok = 0;
	}
	if ((v = json_object_get(item, "metadata")) && !json_is_object(v)) {
		sc_problem(rep, where, "\"metadata\" must be an object");
		ok = 0;
	}
	if ((v = json_object_get(item, "contextData")) && !json_is_object(v)) {
		sc_problem(rep, where, "\"contextData\" must be an object");
		ok = 0;
	}
	if ((v = json_object_get(item, "batches")) && !check_batches(v, where, rep))
		ok = 0;
	if ((v = json_object_get(item, "attachments"))) {
		if (!json_is_array(v)) {
			sc_problem(rep, where, "\"attachments\" must be a list");
			ok = 0;
		} else {
			json_array_foreach(v, i, a) if (!json_is_object(a))
			{
				sc_problem(rep, where, "attachments[%zu] must be an object", i);
				ok = 0;
			}
		}
	}
	return ok;
}
