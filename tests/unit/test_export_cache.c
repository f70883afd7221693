/* Unit test of the export cache's keys, query strings and on-disk metadata
 * (warm load, validation, temp-file cleanup, staleness, LRU eviction). No
 * network: entries are made fresh on disk the way a fetch leaves them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "angofs/export_cache.h"
#include "angofs/hash.h"
#include "t.h"

static char dir[] = "/tmp/angofs-xc-XXXXXX";

/* An entry as a fetch leaves it: format 2 (generation 1 in <h>.1.data) or,
 * with v1, the single <h>.data of earlier versions, migrated on load. The
 * data file's mtime is its last access. */
static void put_entry(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s, size_t size,
		      long age, long access_age, int bad_size, int v1)
{
	char *key = ao_xcache_key(cfg, s), path[512];
	unsigned long long h = ao_hash_str(key);
	FILE *f;

	if (v1)
		snprintf(path, sizeof(path), "%s/%016llx.data", dir, h);
	else
		snprintf(path, sizeof(path), "%s/%016llx.1.data", dir, h);
	f = fopen(path, "w");
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	fclose(f);
	struct timeval acc[2] = {{time(NULL) - access_age, 0}, {time(NULL) - access_age, 0}};
	utimes(path, acc);
	snprintf(path, sizeof(path), "%s/%016llx.meta", dir, h);
	f = fopen(path, "w");
	json_t *j = json_pack("{s:i,s:s,s:I,s:I,s:I,s:b}", "version", v1 ? 1 : 2, "key", key,
			      "size", (json_int_t)(size + (bad_size ? 1 : 0)), "fetched_at",
			      (json_int_t)(time(NULL) - age), "gen", (json_int_t)1, "stale", 0);
	json_dumpf(j, f, 0);
	json_decref(j);
	fclose(f);
	free(key);
}

static int exists(const struct ao_xcache_cfg *cfg, const struct ao_xspec *s, const char *ext)
{
	char *key = ao_xcache_key(cfg, s), path[512];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%016llx.%s", dir, ao_hash_str(key), ext);
	free(key);
	return stat(path, &st) == 0;
}

int main(void)
{
	struct ao_err e;
	struct ao_xcache_cfg cfg = {.dir = dir,
				    .host = "http://127.0.0.1:1",
				    .ttl_s = 3600,
				    .include_metadata = 1,
				    .include_history = 1};
	struct ao_xspec all = {"p1", AO_X_TASK, 0, NULL, NULL, 0};
	struct ao_xspec nd = {"p1", AO_X_TASK, 1, NULL, NULL, 0};
	struct ao_xspec st = {"p1", AO_X_TASK, 1, "Review", NULL, 0};
	struct ao_xspec bt = {"p1", AO_X_TASK, 0, NULL, "b 1", 0};
	struct ao_xspec is = {"p1", AO_X_ISSUE, 0, "ignored", NULL, 0};
	struct ao_xspec lean = {"p1", AO_X_TASK, 1, NULL, NULL, 1};

	/* query strings: explicit filters, JSON arrays escaped; taskTypes is
	 * always sent (the SDK's default when none is configured) */
	char *q = ao_xcache_query(&cfg, &all);
	CHECK_STR(q, "/export?project=p1&type=task&format=json&includeMetadata=true"
		     "&includeHistory=true&includeOnlyKeyFrames=false"
		     "&includeIdleBlurDurations=false&taskTypes=%5B%22default%22%5D"
		     "&sendEmail=false&doNotNotify=true");
	free(q);
	/* the whole project sends every stage id it was given */
	q = ao_xcache_query_stages(&cfg, &all, "[\"Start\",\"Label\",\"Complete\"]");
	CHECK(strstr(q, "&format=json&stage=%5B%22Start%22%2C%22Label%22%2C%22Complete%22%5D&") !=
	      NULL);
	free(q);
	/* a stage view sends its own stage, whatever the project has */
	q = ao_xcache_query_stages(&cfg, &st, "[\"Start\"]");
	CHECK(strstr(q, "stage=%5B%22Review%22%5D&") != NULL && strstr(q, "Start") == NULL);
	free(q);
	/* issue exports: no stage (the SDK sends it with type=task only), but
	 * taskTypes as the SDK's ExportOptions always does */
	q = ao_xcache_query_stages(&cfg, &is, "[\"Start\"]");
	CHECK(strstr(q, "stage=") == NULL && strstr(q, "&taskTypes=%5B%22default%22%5D") != NULL);
	free(q);
	q = ao_xcache_query(&cfg, &st);
	CHECK(strstr(q, "&format=ndjson&stage=%5B%22Review%22%5D&") != NULL);
	free(q);
	q = ao_xcache_query(&cfg, &bt);
	CHECK(strstr(q, "&batches=%5B%22b%201%22%5D&") != NULL);
	CHECK(strstr(q, "stage=") == NULL);
	free(q);
	q = ao_xcache_query(&cfg, &is);
	CHECK(strstr(q, "type=issue") != NULL && strstr(q, "stage=") == NULL);
	free(q);
	q = ao_xcache_query(&cfg, &lean);
	CHECK(strstr(q, "includeMetadata=false&includeHistory=false") != NULL);
	free(q);
	cfg.task_types_json = "[\"default\",\"consensus\"]";
	q = ao_xcache_query(&cfg, &all);
	CHECK(strstr(q, "&taskTypes=%5B%22default%22%2C%22consensus%22%5D") != NULL);
	free(q);

	/* keys differ by every dimension, and by host and options */
	char *k1 = ao_xcache_key(&cfg, &all), *k2 = ao_xcache_key(&cfg, &nd);
	CHECK(strcmp(k1, k2) != 0);
	cfg.include_history = 0;
	char *k3 = ao_xcache_key(&cfg, &all);
	CHECK(strcmp(k1, k3) != 0);
	cfg.include_history = 1;
	cfg.host = "http://other";
	char *k4 = ao_xcache_key(&cfg, &all);
	CHECK(strcmp(k1, k4) != 0);
	cfg.host = "http://127.0.0.1:1";
	CHECK(ao_hash_str(k1) != ao_hash_str(k2));
	free(k1);
	free(k2);
	free(k3);
	free(k4);
	cfg.task_types_json = NULL;

	/* warm load: a complete entry is served without any hub */
	CHECK(mkdtemp(dir) != NULL);
	put_entry(&cfg, &all, 1000, 10, 100, 0, 1); /* format 1 */
	put_entry(&cfg, &nd, 2000, 10, 50, 0, 0);
	put_entry(&cfg, &st, 500, 10, 10, 1, 0);  /* size mismatch: a half-written entry */
	put_entry(&cfg, &bt, 300, 7200, 5, 0, 0); /* older than the TTL */
	char tmp[512], live[512];
	snprintf(tmp, sizeof(tmp), "%s/0123456789abcdef.zip.tmp-abcdef", dir);
	close(open(tmp, O_WRONLY | O_CREAT, 0600));
	struct timeval old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	CHECK(utimes(tmp, old) == 0);
	/* a temp file being written by another daemon sharing the cache */
	snprintf(live, sizeof(live), "%s/0123456789abcdef.data.tmp-live01", dir);
	close(open(live, O_WRONLY | O_CREAT, 0600));

	cfg.max_bytes = 2500;
	struct ao_xcache *c = ao_xcache_new(&cfg, &e);
	CHECK(c != NULL);
	CHECK(!exists(&cfg, &all, "data") && exists(&cfg, &all, "lock")); /* migrated */
	CHECK(access(tmp, F_OK) != 0);	/* old leftovers removed */
	CHECK(access(live, F_OK) == 0); /* a fresh one is left alone */
	unlink(live);
	CHECK(!exists(&cfg, &st, "1.data") && !exists(&cfg, &st, "meta"));
	struct stat sb;
	CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);

	struct ao_xentry *ea = ao_xcache_get(c, &all, &e), *en = ao_xcache_get(c, &nd, &e);
	struct ao_xentry *es = ao_xcache_get(c, &st, &e), *eb = ao_xcache_get(c, &bt, &e);
	CHECK(ea && en && es && eb);
	CHECK(ao_xcache_get(c, &all, &e) == ea);
	long long size;
	time_t mt;
	CHECK_INT(ao_xcache_stat(c, ea, &size, &mt), 1);
	CHECK_INT(size, 1000);
	CHECK_INT(ao_xcache_stat(c, es, &size, &mt), 0);
	CHECK_INT(size, 0); /* unknown until fetched */
	CHECK(mt > 0);	    /* the time stat first showed it: kept by the first fetch */
	CHECK(ao_xcache_fresh(c, ea));
	CHECK(!ao_xcache_fresh(c, eb));
	CHECK(!ao_xcache_fresh(c, es));

	struct ao_xopen o;
	CHECK_INT(ao_xcache_open(c, ea, &o, &e), 0);
	CHECK(o.fd >= 0);
	CHECK_INT(o.size, 1000);
	CHECK(o.gen > 0 && o.gen == ao_xcache_gen(c, ea)); /* what the core's per-path rule keys */
	char buf[8];
	CHECK_INT(pread(o.fd, buf, 4, 0), 4);
	/* closing runs eviction: 1000 + 2000 + 300 > 2500; `all` is newest now */
	ao_xcache_close(c, ea, o.fd);
	CHECK(exists(&cfg, &all, "1.data"));
	CHECK(!exists(&cfg, &nd, "1.data")); /* least recently used */
	CHECK(exists(&cfg, &bt, "1.data"));

	/* touch: stale, still on disk, and remembered in the meta */
	CHECK(ao_xcache_fresh(c, ea));
	ao_xcache_mark_stale(c, ea);
	CHECK(!ao_xcache_fresh(c, ea));
	ao_xcache_free(c);
	c = ao_xcache_new(&cfg, &e);
	ea = ao_xcache_get(c, &all, &e);
	CHECK(!ao_xcache_fresh(c, ea));
	ao_xcache_stat(c, ea, &size, &mt);
	CHECK_INT(size, 1000);
	json_t *status = ao_xcache_status(c);
	CHECK(json_array_size(json_object_get(status, "exports")) >= 1);
	json_decref(status);

	/* a write to the project makes every export of it stale */
	put_entry(&cfg, &nd, 10, 0, 0, 0, 0);
	ao_xcache_free(c);
	c = ao_xcache_new(&cfg, &e);
	en = ao_xcache_get(c, &nd, &e);
	CHECK(ao_xcache_fresh(c, en));
	ao_xcache_project_stale(c, "p1");
	CHECK(!ao_xcache_fresh(c, en));
	ao_xcache_free(c);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return t_done("export_cache");
}
