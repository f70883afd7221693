/*
 * poll.c - change polling (-o poll=SECONDS; include/angofs/poll.h).
 *
 * Design: one thread, one round per interval. A round takes the list of
 * projects the mount has touched (read an export or a task of: nothing is
 * polled for a project nobody looked at) and asks the hub about each
 * (poll_ask, the only place that builds the poll's requests): the newest
 * updatedAt catches every write (annotate, import, stage moves; the hub
 * moves updatedAt on each), the task total catches deletions and new tasks.
 *
 * How it asks (hub-api.md §5.3). First the SDK's own request,
 * get_tasks(page=1, limit=1, sort="-updatedAt", fields="updatedAt"):
 * GET /project/{id}/tasks?page=1&limit=1&fields=updatedAt,_id,project,asset
 * &includeAnswer=true&sort=-updatedAt, one request a round. No SDK or docs
 * example sorts by updatedAt, so the answer is checked against what the
 * mount knows: a cached export holding a task updated after the poll's
 * "newest" means the hub ignored the sort; the poll then logs it once and
 * switches, for good, to a form that needs no sort: the SDK's TaskFilter
 * {"updatedAt": {"$gt": <newest seen>}} (sent as `filter` and `filters`,
 * up to 100 changed tasks, whose newest becomes the next bound) plus an
 * unfiltered request for the total: two requests a round. An answer of the
 * filter form that lists a task not newer than its bound (the filter was
 * ignored too) counts as a change: stale rather than a missed edit.
 *
 * The first answer for a project is its baseline; a later answer that
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

#include "angofs/export_cache.h"
#include "angofs/hub.h"
#include "angofs/hub_api.h"
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
	int filter_form;	       /* [lock] the sort premise failed: updatedAt filter */
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

/* epoch ms -> "2025-01-15T10:30:00.123Z" (the SDK's DateRange format). */
static void ms_iso(long long ms, char *out, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

/* One GET /project/{id}/tasks of the poll: the SDK's get_tasks(page=1,
 * limit, fields="updatedAt", task_filter, sort) as it builds it (fields
 * completed with _id,project,asset and includeAnswer=true, then filter, then
 * sort); the filter also as `filters` (the docs' name). after_ms >= 0: the
 * filter {"updatedAt": {"$gt": after}}; sorted: sort=-updatedAt. */
static int poll_get(struct ao_poll *p, const char *id, int limit, long long after_ms, int sorted,
		    json_t **data, struct ao_err *e)
{
	struct hub_tasks_q q = {.page = 1,
				.limit = limit,
				.answer = 1,
				.fields = "updatedAt,_id,project,asset",
				.sort = sorted ? "-updatedAt" : NULL};
	json_t *f = NULL;
	char iso[40];
	int rc;

	if (after_ms >= 0) {
		ms_iso(after_ms, iso, sizeof(iso));
		if (!(f = json_pack("{s:{s:s}}", "updatedAt", "$gt", iso)))
			return ao_errf(e, ENOMEM, "out of memory");
		q.filter = f;
	}
	rc = hub_get_tasks(p->cfg.hub, id, &q, data, e);
	json_decref(f);
	pthread_mutex_lock(&p->lock);
	p->requests++;
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* What one poll of a project learned. */
struct poll_answer {
	char updated[48]; /* the newest updatedAt it vouches for ("" none) */
	json_int_t total;
	int changed;   /* a change by itself (premise failed: see poll_ask) */
	char why[160]; /* ... and why */
};

/* The newest updatedAt among a reply's tasks (ms; -1 none); *stale_seen
 * (may be NULL) = a task not newer than bound_ms is listed. */
static long long newest_of(json_t *data, long long bound_ms, int *stale_seen)
{
	long long top = -1;
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(data, "tasks"), i, t)
	{
		long long ms = iso_ms(json_string_value(json_object_get(t, "updatedAt")));

		if (ms > top)
			top = ms;
		if (stale_seen && ms >= 0 && ms <= bound_ms)
			*stale_seen = 1;
	}
	return top;
}

/* The filter form: the tasks changed after the bound, and the total. */
static int poll_filtered(struct ao_poll *p, const char *id, long long bound_ms,
			 struct poll_answer *a, struct ao_err *e)
{
	json_t *data = NULL;
	int stale = 0, rc;
	long long top;

	rc = poll_get(p, id, 100, bound_ms, 0, &data, e);
	if (rc < 0)
		return rc;
	top = newest_of(data, bound_ms, &stale);
	json_decref(data);
	data = NULL;
	if (stale) {
		a->changed = 1;
		snprintf(a->why, sizeof(a->why),
			 "the hub answered the updatedAt filter with older tasks: counted as a "
			 "change");
	}
	ms_iso(top > bound_ms ? top : bound_ms, a->updated, sizeof(a->updated));
	rc = poll_get(p, id, 1, -1, 0, &data, e);
	if (rc == 0)
		a->total = json_integer_value(json_object_get(data, "total"));
	json_decref(data);
	return rc;
}

/* Ask the hub about project id (see the head comment): the sort form, its
 * premise checked against the cached exports, or the filter form. */
static int poll_ask(struct ao_poll *p, const char *id, long long touched_ms, struct poll_answer *a,
		    struct ao_err *e)
{
	struct ao_xcache *xc = p->cfg.core->cfg.xc;
	long long cached_ms = ao_xcache_newest_us(xc, id) / 1000, prev_ms = -1, top;
	json_t *data = NULL;
	int filter, rc;

	memset(a, 0, sizeof(*a));
	pthread_mutex_lock(&p->lock);
	filter = p->filter_form;
	prev_ms = iso_ms(
	    json_string_value(json_object_get(json_object_get(p->projects, id), "updatedAt")));
	pthread_mutex_unlock(&p->lock);
	if (filter) /* no answer yet: just before the first read (record's rule) */
		return poll_filtered(
		    p, id, prev_ms >= 0 ? prev_ms : touched_ms - POLL_FIRST_MARGIN_MS - 1, a, e);
	rc = poll_get(p, id, 1, -1, 1, &data, e);
	if (rc < 0)
		return rc;
	top = newest_of(data, 0, NULL);
	const char *u = json_string_value(
	    json_object_get(json_array_get(json_object_get(data, "tasks"), 0), "updatedAt"));
	snprintf(a->updated, sizeof(a->updated), "%s", u ? u : "");
	a->total = json_integer_value(json_object_get(data, "total"));
	json_decref(data);
	if (cached_ms <= 0 || top >= cached_ms)
		return 0;
	/* a cached export holds a task newer than the "newest": no sort */
	pthread_mutex_lock(&p->lock);
	int first = !p->filter_form;
	p->filter_form = 1;
	pthread_mutex_unlock(&p->lock);
	if (first)
		ao_warn("poll: the hub's newest task of project %s (updatedAt %s) is older than "
			"one in a cached export (%lld ms later): it ignores sort=-updatedAt. "
			"Polling with an updatedAt filter from now on (two requests a round)",
			id, a->updated[0] ? a->updated : "-", cached_ms - top);
	memset(a, 0, sizeof(*a));
	rc = poll_filtered(p, id, cached_ms > prev_ms ? cached_ms : prev_ms, a, e);
	a->changed = 1; /* what the sort form said so far cannot be trusted */
	snprintf(a->why, sizeof(a->why),
		 "the hub ignores sort=-updatedAt: switched to the "
		 "updatedAt filter");
	return rc;
}

/* One poll of one project; the change handling if it changed. */
static void poll_one(struct ao_poll *p, const char *id, long long touched_ms)
{
	char dir[AO_NAME_MAX + 2];
	struct poll_answer a;
	struct ao_err e;
	int rc, changed;

	ao_err_clear(&e);
	rc = poll_ask(p, id, touched_ms, &a, &e);
	if (rc < 0) {
		pthread_mutex_lock(&p->lock);
		p->errors++;
		pthread_mutex_unlock(&p->lock);
		ao_warn("poll %s: %s", id, e.msg);
		return;
	}
	changed = record(p, id, a.updated, a.total, touched_ms);
	if (changed || a.changed) {
		ao_info("poll: project %s changed on the hub (newest updatedAt %s, %lld tasks)%s%s",
			id, a.updated[0] ? a.updated : "-", (long long)a.total,
			a.changed ? ": " : "", a.changed ? a.why : "");
		ao_core_project_written(p->cfg.core, id);
		if (p->cfg.changed && ao_core_project_dir(p->cfg.core, id, dir, sizeof(dir)) == 0)
			p->cfg.changed(p->cfg.ud, id, dir);
	}
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
	j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:O,s:O,s:s}", "interval_s",
		      (json_int_t)p->cfg.interval_s, "rounds", (json_int_t)p->rounds, "requests",
		      (json_int_t)p->requests, "errors", (json_int_t)p->errors, "last_poll",
		      (json_int_t)p->last_poll, "projects", p->projects, "changes", p->changes,
		      "form", p->filter_form ? "updatedAt filter" : "sort");
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
