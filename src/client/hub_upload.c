/*
 * hub_upload.c - uploads to the hub's storage (hub-api.md §5.6), over the
 * seam: GET /getUploadUrl for a pre-signed PUT URL, then the client's PUT of
 * a file streamed from a descriptor (struct hub_ops.put). Kept apart from
 * hub_seam.c's plain dispatch because it holds the storage conventions the
 * SDK follows: the stored object URL is the upload URL without its query,
 * and storage names are [A-Za-z0-9._-], not starting with a dot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/hub.h"

void hub_storage_name(const char *name, char *buf, size_t n)
{
	size_t len = strlen(name), ext = 0, keep, i;
	const char *dot = strrchr(name, '.');

	if (n == 0)
		return;
	if (dot && dot != name && len - (size_t)(dot - name) < 16)
		ext = len - (size_t)(dot - name);
	/* cut the stem, not the extension, when the name is too long */
	keep = len < n ? len : (n - 1 > ext ? n - 1 - ext : 0);
	for (i = 0; i < len; i++) {
		size_t at = i < keep ? i : (i >= len - ext ? keep + (i - (len - ext)) : (size_t)-1);
		unsigned char c = (unsigned char)name[i];

		if (at == (size_t)-1 || at >= n - 1)
			continue;
		buf[at] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
			      ? (char)c
			      : '_';
	}
	buf[len < n ? len : (keep + ext < n ? keep + ext : n - 1)] = '\0';
	if (buf[0] == '.')
		buf[0] = '_';
}

int hub_upload_url(struct hub *h, const char *project_id, const char *type, const char *name,
		   char **upload_url, char **object_url, struct ao_err *err)
{
	char *en = hub_escape(name), *ep = hub_escape(project_id), *et = hub_escape(type),
	     *pq = NULL;
	const char *u;
	json_t *data = NULL;
	int rc;

	*upload_url = *object_url = NULL;
	if (!en || !ep || !et ||
	    asprintf(&pq, "/getUploadUrl?name=%s&project=%s&type=%s", en, ep, et) < 0) {
		pq = NULL;
		rc = ao_errf(err, ENOMEM, "out of memory");
		goto out;
	}
	rc = hub_get(h, pq, &data, err);
	if (rc < 0)
		goto out;
	u = json_string_value(json_object_get(data, "uploadUrl"));
	if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))) {
		rc = ao_errf(err, EPROTO, "GET /v2/getUploadUrl: the reply has no uploadUrl");
		goto out;
	}
	*upload_url = strdup(u);
	*object_url = strndup(u, strcspn(u, "?#"));
	if (!*upload_url || !*object_url) {
		free(*upload_url);
		free(*object_url);
		*upload_url = *object_url = NULL;
		rc = ao_errf(err, ENOMEM, "out of memory");
	}
out:
	json_decref(data);
	free(pq);
	free(en);
	free(ep);
	free(et);
	return rc;
}
