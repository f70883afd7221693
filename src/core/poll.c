/*
 * poll.c - change polling (-o poll=SECONDS; include/angofs/poll.h).
 *
 * Design: one thread, one round per interval. A round takes the list of
 * projects the mount has touched (read an export or a task of: nothing is
 * polled for a project nobody looked at) and sends one request per project,
 * GET /project/{id}/tasks?limit=1&sort=-updatedAt&fields=updatedAt: the
 * newest updatedAt catches every write (annotate, import, stage moves; the
 * hub moves updatedAt on each), the reply's total catches deletions and new
 * tasks. The first answer for a project is its baseline; a later answer that
 * differs is a change: the project is handled exactly like a write through
 * the mount (ao_core_project_written: cached exports stale, task list and
 * task cache dropped), and the changed callback queues kernel invalidations
 * from this thread. Requests go through the hub client, so they share the
 * mount's request budget (rate limit, retries); a failed poll is counted and
 * retried next round, it changes nothing.
 *
 * Locks: p->lock guards the fields marked [lock]; it is never held across a
 * request or a call into the core. The core-side helpers at the end take
 * c->lock (a leaf) only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "angofs/hub.h"
#include "angofs/log.h"
#include "angofs/poll.h"
#include "core_int.h"

#define POLL_CHANGES_KEPT 20
/* A first answer whose newest updatedAt is this close to (or after) the
 * moment the project was first read may postdate what was served: it counts
 * as a change (at most one extra refetch), so a write made between the first
 * read and the first poll is not missed. Covers clock skew up to this much. */
#define POLL_FIRST_MARGIN_MS 5000

struct ao_poll {
	struct ao_poll_cfg cfg;	       /* immutable after ao_poll_new */
	pthread_t th;		       /* ao_poll_start/ao_poll_free only (the owner's thread) */
	int started;		       /* idem */
	pthread_mutex_t lock;	       /* "p->lock": a leaf, never held with the core's locks */
	pthread_cond_t cv;	       /* [lock] stop */
	int stop;		       /* [lock] */
	json_t *projects;	       /* [lock] id -> {"updatedAt", "total", "checked_at"} */
	json_t *changes;	       /* [lock] the last POLL_CHANGES_KEPT changes */
	long rounds, requests, errors; /* [lock] */
	time_t last_poll;	       /* [lock] end of the last round (0: none yet) */
};

struct ao_poll *ao_poll_new(const struct ao_poll_cfg *cfg, struct ao_err *err)
{
	struct ao_poll *p;
	pthread_condattr_t ca;

	if (cfg->interval_s <= 0 || !cfg->hub || !cfg->core) {
		ao_errf(err, EINVAL, "poll: interval must be at least 1 second");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	p->projects = json_object();
	p->changes = json_array();
	return p;
}

/* Percent-encode an id for a URL path (ids are hex in practice). */
static void url_id(const char *id, char *out, size_t len)
{
	size_t o = 0;

	for (const unsigned char *s = (const unsigned char *)id; *s && o + 4 < len; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_')
			out[o++] = (char)*s;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", *s);
	}
	out[o] = 0;
}

/* ISO 8601 UTC "2025-01-15T10:30:00.000Z" -> epoch ms; -1 if unparsable. */
static long long iso_ms(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	long long ms = 0, scale = 100;

	if (!rest)
		return -1;
	if (*rest == '.')
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
			ms += scale * (*rest - '0');
	return (long long)timegm(&tm) * 1000 + ms;
}

/* Record one answer; 1 if it differs from the previous one (a change), or
 * if it is the first and may postdate the first read (touched_ms). */
static int record(struct ao_poll *p, const char *id, const char *updated, json_int_t total,
		  long long touched_ms)
{
	json_t *prev, *now = json_pack("{s:s,s:I,s:I}", "updatedAt", updated, "total", total,
				       "checked_at", (json_int_t)time(NULL));
	int changed = 0;

	if (!now)
		return 0;
	pthread_mutex_lock(&p->lock);
	prev = json_object_get(p->projects, id);
	if (prev && (strcmp(json_string_value(json_object_get(prev, "updatedAt")), updated) ||
		     json_integer_value(json_object_get(prev, "total")) != total)) {
		changed = 1;
		json_array_append_new(p->changes,
				      json_pack("{s:s,s:I,s:s,s:I,s:O}", "project", id, "at",
						(json_int_t)time(NULL), "updatedAt", updated,
						"total", total, "was", prev));
		while (json_array_size(p->changes) > POLL_CHANGES_KEPT)
			json_array_remove(p->changes, 0);
	}
	if (!prev && iso_ms(updated) >= touched_ms - POLL_FIRST_MARGIN_MS) {
		changed = 1;
		json_array_append_new(
		    p->changes, json_pack("{s:s,s:I,s:s,s:I,s:s}", "project", id, "at",
					  (json_int_t)time(NULL), "updatedAt", updated, "total",
					  total, "was", "first poll: newer than the first read"));
	}
	json_object_set_new(p->projects, id, now);
	pthread_mutex_unlock(&p->lock);
	return changed;
}

/* One request for one project; the change handling if it changed. */
static void poll_one(struct ao_poll *p, const char *id, long long touched_ms)
{
	char enc[3 * AO_ID_MAX + 1], path[3 * AO_ID_MAX + 96], dir[AO_NAME_MAX + 2];
	struct ao_err e;
	json_t *data = NULL, *t;
	const char *updated;
	json_int_t total;
	int rc;

	ao_err_clear(&e);
	url_id(id, enc, sizeof(enc));
	snprintf(path, sizeof(path), "/project/%s/tasks?limit=1&sort=-updatedAt&fields=updatedAt",
		 enc);
	rc = hub_get(p->cfg.hub, path, &data, &e);
	pthread_mutex_lock(&p->lock);
	p->requests++;
	if (rc < 0)
		p->errors++;
	pthread_mutex_unlock(&p->lock);
	if (rc < 0) {
		ao_warn("poll %s: %s", id, e.msg);
		return;
	}
	t = json_array_get(json_object_get(data, "tasks"), 0);
	updated = json_string_value(json_object_get(t, "updatedAt"));
	total = json_integer_value(json_object_get(data, "total"));
	if (record(p, id, updated ? updated : "", total, touched_ms)) {
		ao_info("poll: project %s changed on the hub (newest updatedAt %s, %lld tasks)", id,
			updated ? updated : "-", (long long)total);
		ao_core_project_written(p->cfg.core, id);
		if (p->cfg.changed && ao_core_project_dir(p->cfg.core, id, dir, sizeof(dir)) == 0)
			p->cfg.changed(p->cfg.ud, id, dir);
	}
	json_decref(data);
}

static void *poll_main(void *arg)
{
	struct ao_poll *p = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		json_t *ids, *v;
		const char *id;

		next.tv_sec += p->cfg.interval_s;
		pthread_mutex_lock(&p->lock);
		while (!p->stop && pthread_cond_timedwait(&p->cv, &p->lock, &next) != ETIMEDOUT)
			;
		int stop = p->stop;
		pthread_mutex_unlock(&p->lock);
		if (stop)
			break;
		ids = ao_core_touched_projects(p->cfg.core);
		json_object_foreach(ids, id, v) poll_one(p, id, json_integer_value(v));
		json_decref(ids);
		pthread_mutex_lock(&p->lock);
		p->rounds++;
		p->last_poll = time(NULL);
		pthread_mutex_unlock(&p->lock);
		/* a round longer than the interval: start the next one from now */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec)
			next = now;
	}
	return NULL;
}

int ao_poll_start(struct ao_poll *p, struct ao_err *err)
{
	int r = pthread_create(&p->th, NULL, poll_main, p);

	if (r)
		return ao_errf(err, r, "cannot start the poll thread: %s", strerror(r));
	p->started = 1;
	return 0;
}

void ao_poll_free(struct ao_poll *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->th, NULL);
	json_decref(p->projects);
	json_decref(p->changes);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

json_t *ao_poll_status(struct ao_poll *p)
{
	json_t *j;

	pthread_mutex_lock(&p->lock);
	j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:O,s:O}", "interval_s", (json_int_t)p->cfg.interval_s,
		      "rounds", (json_int_t)p->rounds, "requests", (json_int_t)p->requests,
		      "errors", (json_int_t)p->errors, "last_poll", (json_int_t)p->last_poll,
		      "projects", p->projects, "changes", p->changes);
	pthread_mutex_unlock(&p->lock);
	return j;
}

/* ---- core side ---------------------------------------------------------- */

json_t *ao_core_touched_projects(struct ao_core *c)
{
	json_t *ids = json_object();

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nprojects; i++)
		if (c->projects[i]->touched)
			json_object_set_new(ids, c->projects[i]->id,
					    json_integer(c->projects[i]->touched));
	pthread_mutex_unlock(&c->lock);
	return ids;
}

int ao_core_project_dir(struct ao_core *c, const char *project_id, char *buf, size_t len)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nprojects; i++)
		if (!strcmp(c->projects[i]->id, project_id) && c->projects[i]->listed) {
			snprintf(buf, len, "/%s", c->projects[i]->dname);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ao_core_mark_touched(struct ao_core *c, const char *project_id)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nprojects; i++)
		if (!strcmp(c->projects[i]->id, project_id) && !c->projects[i]->touched)
			c->projects[i]->touched =
			    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	pthread_mutex_unlock(&c->lock);
}
