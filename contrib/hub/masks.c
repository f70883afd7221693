/*
 * masks.c - the mask fields of POST /annotate: brushDataUrl (PNG brush mask)
 * and medicalBrushDataUrl (.seg.nrrd), which live on the task, not in its
 * answer (hub-api.md §4).
 *
 * Per field: a URL sets it, null clears it, and an absent field keeps the
 * stored one (lenient) or clears it (strict: the SDK always sends both keys,
 * so what the real /annotate does without them is unknown, and clearing is
 * the reading that makes a client which drops them lose the mask in a test
 * rather than on the real Hub). A URL into this hub's storage must name an
 * existing object; any other value must be an http(s) URL.
 *
 * Stored form: lenient keeps a storage URL as "storage:<key>" (storage.c),
 * signed afresh whenever it is shown. Strict stores what it gets: a bare
 * object URL as "storage:<key>" (exports sign it, GET /task shows it bare, as
 * the SDK expects: it signs what get_task returns), a signed one verbatim,
 * signature and expiry included, so a client that writes back a signed URL
 * it was shown leaves a mask link that breaks when the signature expires
 * (hub-api.md §5.6: the SDK only ever sends the bare object URL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubd.h"

static const char *const fields[2] = {"brushDataUrl", "medicalBrushDataUrl"};

void mask_change_free(struct mask_change mc[2])
{
	for (int i = 0; i < 2; i++) {
		free(mc[i].value);
		mc[i].value = NULL;
	}
}

int mask_parse(sqlite3 *db, json_t *body, struct mask_change mc[2], char *err, size_t errlen)
{
	memset(mc, 0, 2 * sizeof(*mc));
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(body, fields[i]);
		const char *u = json_string_value(v);
		char key[512], stored[600];
		int k;

		if (!v) {
			mc[i].set = g_opts.strict;
			continue;
		}
		mc[i].set = 1;
		if (json_is_null(v))
			continue;
		if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))) {
			snprintf(err, errlen, "Invalid %s: expected an http(s) URL or null",
				 fields[i]);
			goto fail;
		}
		k = storage_key_of_url(u, key, sizeof(key));
		if (k < 0) {
			snprintf(err, errlen, "Invalid %s: not a storage object URL: %.300s",
				 fields[i], u);
			goto fail;
		}
		if (k > 0 && storage_stored_form(db, key, stored, sizeof(stored)) < 0) {
			snprintf(err, errlen,
				 "Invalid %s: no stored object %s (upload it first: GET "
				 "/getUploadUrl, then PUT)",
				 fields[i], key);
			goto fail;
		}
		mc[i].value = strdup(k > 0 && !(g_opts.strict && strchr(u, '?')) ? stored : u);
		if (!mc[i].value) {
			mc[i].value = NULL;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	return 0;
fail:
	mask_change_free(mc);
	return -1;
}
