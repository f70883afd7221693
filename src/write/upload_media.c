/*
 * upload_media.c - a media file copied into <project>/assets/ becomes an
 * asset and a task, as the SDK's upload_files does: GET /getUploadUrl (type
 * assets), PUT of the file's bytes (streamed from the spool), then
 * POST /project/{id}/cloud with data = the stored URL and externalId = the
 * file name, "uploadLocal": "true" and "priority": 0 as upload_files sends
 * them (without uploadLocal the docs read the asset as an external reference:
 * hub-api.md §5.6). Also the small helpers the assets/ lists use
 * (writes_send.c).
 *
 * Exactly once. The PUT goes to a fresh, unique object name
 * (<16 hex>_<name>), so it is idempotent and retried freely; its stored URL
 * is persisted in meta.json once the PUT succeeded, so a retry or a restart
 * never uploads again. POST /cloud is not idempotent (each request creates
 * an asset and a task): it is counted (e->posts, persisted) *before* it is
 * sent, and any later attempt first asks the hub whether an asset with that
 * unique stored URL exists (GET /project/{id}/assets filtered by externalId,
 * compared without the signature query). Found: the earlier request was
 * applied and the file is sent; not found: it was not, and sending again is
 * safe. So a 5xx after the body went out, a timeout, a kill -9 between the
 * POST and the fsync of its reply: all end with exactly one task, with no
 * "uncertain" state for the user to resolve. Costs: docs/RELIABILITY.md.
 *
 * After a successful POST the new asset (its externalId and stored URL; the
 * /cloud reply names no asset) joins the core's cached listing of assets/
 * (src/core/assets_add.c): a file costs getUploadUrl + PUT + POST, whatever
 * the project's size, instead of making the next `stat` in assets/ read
 * every page of the listing again (docs/PERFORMANCE.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/hub.h"
#include "angofs/hub_api.h"
#include "angofs/log.h"
#include "writes_int.h"

void ws_chunk_sending(struct ao_writes *w, struct entry *e, struct ent_chunk *c,
		      enum chunk_state st)
{
	pthread_mutex_lock(&w->mu);
	c->state = st;
	free(c->msg);
	c->msg = st == CH_SENDING ? strdup("being sent") : NULL;
	ws_save_locked(w, e);
	pthread_mutex_unlock(&w->mu);
}

void ws_sending_to_uncertain(struct ao_writes *w, struct entry *e)
{
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < e->nchunks; i++) {
		struct ent_chunk *c = &e->chunks[i];

		if (c->state != CH_SENDING)
			continue;
		c->state = CH_UNCERTAIN;
		free(c->msg);
		c->msg = strdup("UNCERTAIN, the daemon stopped while this request was being sent: "
				"the hub may have created these assets; check the externalIds of "
				"these items in the hub");
		ws_save_locked(w, e);
	}
	pthread_mutex_unlock(&w->mu);
}

/* Content-Type of an upload, by the file name's extension. */
const char *ws_media_type(const char *name)
{
	static const char *const map[][2] = {
	    {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"},
	    {".png", "image/png"},
	    {".gif", "image/gif"},
	    {".bmp", "image/bmp"},
	    {".webp", "image/webp"},
	    {".tif", "image/tiff"},
	    {".tiff", "image/tiff"},
	    {".mp4", "video/mp4"},
	    {".mov", "video/quicktime"},
	    {".webm", "video/webm"},
	    {".avi", "video/x-msvideo"},
	    {".mkv", "video/x-matroska"},
	    {".pdf", "application/pdf"},
	    {".txt", "text/plain"},
	    {".mp3", "audio/mpeg"},
	    {".wav", "audio/wav"},
	    {".dcm", "application/dicom"},
	    {".nrrd", "application/octet-stream"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcasecmp(dot, map[i][0]))
			return map[i][1];
	return "application/octet-stream";
}

/* pending for a transient failure, else failed; returns r. */
static int fail(struct ao_writes *w, struct entry *e, int r, struct ao_err *err)
{
	if (err->transient || err->uncertain)
		ws_set_pending(w, e, err);
	else
		ws_set_failed(w, e, err, NULL);
	return r;
}

/* Upload the entry's data once: getUploadUrl (type) under a unique name
 * built from base, PUT, then e->object_url is set and persisted. */
int ws_upload_once(struct ao_writes *w, struct entry *e, const char *type, const char *base,
		   struct ao_err *err)
{
	char path[4096], sname[160], uname[200], *up = NULL, *obj = NULL;
	unsigned char rnd[8];
	struct stat st;
	int fd, r;

	if (e->object_url)
		return 0;
	hub_storage_name(base, sname, sizeof(sname));
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(rnd, &ts.tv_nsec,
		       sizeof(rnd) < sizeof(ts.tv_nsec) ? sizeof(rnd) : sizeof(ts.tv_nsec));
	}
	snprintf(uname, sizeof(uname), "%02x%02x%02x%02x%02x%02x%02x%02x_%s", rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], sname);
	spool_path(w->spool_dir, e, "data", path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = ao_errf(err, errno, "spool: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	ao_err_clear(err);
	r = hub_upload_url(w->cfg.hub, e->project, type, uname, &up, &obj, err);
	if (r == 0) {
		ao_err_clear(err);
		r = hub_put_file(w->cfg.hub, up, fd, (long long)st.st_size, ws_media_type(base),
				 err);
		if (r < 0)
			ao_err_prefix(err, "uploading the file");
	} else {
		ao_err_prefix(err, "asking the hub for an upload URL");
	}
	close(fd);
	free(up);
	if (r < 0) {
		free(obj);
		return fail(w, e, r, err);
	}
	pthread_mutex_lock(&w->mu);
	free(e->object_url);
	e->object_url = obj;
	ws_save_locked(w, e);
	pthread_mutex_unlock(&w->mu);
	ao_info("write side: %s/%s uploaded as %s", e->project, e->relpath, obj);
	return 0;
}

/* Is there an asset named ext whose data is the stored URL obj (signed or
 * not)? 1 yes (*found: the hub's asset object, if found is not NULL), 0 no,
 * -errno. Pages of 100 of that externalId. */
static int asset_exists(struct ao_writes *w, const char *project, const char *ext, const char *obj,
			json_t **found_asset, struct ao_err *err)
{
	json_t *f = json_pack("{s:s}", "externalId", ext);
	struct hub_pager pg;
	int found = 0, r = 0;

	if (!f)
		return ao_errf(err, ENOMEM, "out of memory");
	hub_pager_init(&pg, 100);
	while (!found && r == 0) {
		json_t *data = NULL, *a;
		long long total;
		size_t i, n;

		r = hub_get_assets(w->cfg.hub, project, pg.page, pg.limit, f, &data, err);
		if (r < 0)
			break;
		total = json_is_integer(json_object_get(data, "total"))
			    ? json_integer_value(json_object_get(data, "total"))
			    : -1;
		n = json_array_size(json_object_get(data, "assets"));
		const char *fid = json_string_value(
		    json_object_get(json_array_get(json_object_get(data, "assets"), 0), "_id"));
		int more = hub_pager_next(&pg, n, fid, total);
		json_array_foreach(json_object_get(data, "assets"), i, a)
		{
			const char *d = json_string_value(json_object_get(a, "data"));

			if (d && strlen(obj) == strcspn(d, "?#") && !strncmp(d, obj, strlen(obj)) &&
			    !found) {
				found = 1;
				if (found_asset)
					*found_asset = json_incref(a);
			}
		}
		json_decref(data);
		if (!more)
			break;
	}
	json_decref(f);
	return r < 0 ? r : found;
}

int ws_deliver_media(struct ao_writes *w, struct entry *e, int bg, struct ao_err *err)
{
	const char *name = strchr(e->relpath, '/') ? strchr(e->relpath, '/') + 1 : e->relpath;
	char cloud[512], msg[700], *body = NULL;
	json_t *b, *data = NULL, *ac, *asset = NULL;
	int r;

	if (hub_cloud_path(e->project, cloud, sizeof(cloud)) < 0)
		return ao_errf(err, ENAMETOOLONG, "project id too long");
	if ((r = ws_upload_once(w, e, "assets", name, err)) < 0)
		return r;
	if (e->posts > 0) {
		/* an earlier POST may have been applied: ask before sending again */
		ao_err_clear(err);
		r = asset_exists(w, e->project, name, e->object_url, &asset, err);
		if (r < 0) {
			ao_err_prefix(err, "checking whether an earlier request created the asset");
			return fail(w, e, r, err);
		}
		if (r == 1) {
			snprintf(msg, sizeof(msg),
				 "asset created (by an earlier request whose reply was lost; "
				 "checked: it exists once): externalId %.200s, data %.300s",
				 name, e->object_url);
			ws_set_sent_asset(w, e, msg, asset);
			json_decref(asset);
			return 0;
		}
	}
	b = json_pack("{s:[{s:s,s:s}],s:s,s:i}", "assets", "data", e->object_url, "externalId",
		      name, "uploadLocal", "true", "priority", 0);
	body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!body)
		return ao_errf(err, ENOMEM, "out of memory");
	pthread_mutex_lock(&w->mu);
	e->posts++; /* on disk before the request: a restart checks first */
	ws_save_locked(w, e);
	pthread_mutex_unlock(&w->mu);
	r = ws_post(w, cloud, body, strlen(body), HUB_NONIDEMPOTENT, &data, bg, err);
	free(body);
	if (r < 0) {
		if (err->uncertain) {
			char m[AO_ERR_MSG_MAX];

			snprintf(m, sizeof(m),
				 "%.700s; the hub may have created the asset: the next attempt "
				 "checks before sending again",
				 err->msg);
			snprintf(err->msg, sizeof(err->msg), "%s", m);
		}
		return fail(w, e, r, err);
	}
	ac = json_object_get(json_object_get(data, "assets"), "tasksCreated");
	snprintf(msg, sizeof(msg), "asset created: externalId %.200s, %lld task%s, data %.300s",
		 name, ac ? (long long)json_integer_value(ac) : 1LL,
		 ac && json_integer_value(ac) != 1 ? "s" : "", e->object_url);
	json_decref(data);
	/* the reply names no asset: what we know of it (its name and unique
	 * stored URL) joins assets/'s listing (core's assets_add.c) */
	asset = json_pack("{s:s,s:s}", "externalId", name, "data", e->object_url);
	ws_set_sent_asset(w, e, msg, asset);
	json_decref(asset);
	return 0;
}
