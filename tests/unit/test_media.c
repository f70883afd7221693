/* Unit tests of the media cache (include/angofs/media.h) over the hub seam:
 * the mock hub for public, private (403 until signed) and expired objects,
 * and a "gate" client of its own whose downloads pause mid-way, to show that
 * readers get the first bytes while the rest is still downloading and that 8
 * downloads run at once (none waits for another's lock or connection).
 * Also: a second cache on the same directory (another daemon) reads the
 * published file without a request; the TTL refetches; the cap evicts. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "angofs/media.h"
#include "angofs/sysutil.h"
#include "mock_hub.h"
#include "t.h"

static char dir[256];

static struct ao_media *cache(struct hub *h, long ttl, long long cap)
{
	struct ao_media_cfg cfg = {
	    .hub = h, .dir = dir, .host = "h", .ttl_s = ttl, .max_bytes = cap};
	struct ao_err e;
	struct ao_media *m = ao_media_new(&cfg, &e);

	CHECK(m != NULL);
	return m;
}

static void fill(char *b, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (char)((i * 31 + (size_t)seed) & 0xff);
}

/* Read the whole object of url; 1 if its bytes equal want[n]. */
static int read_eq(struct ao_media *m, const char *url, enum ao_media_type t, const char *want,
		   size_t n)
{
	struct ao_media_ref r = {"p1", url, t, NULL};
	struct ao_media_fh *fh;
	struct ao_err e;
	char *buf = malloc(n + 10);
	ssize_t got;
	int ok;

	if (ao_media_open(m, &r, &fh, &e) < 0) {
		fprintf(stderr, "open %s: %s\n", url, e.msg);
		free(buf);
		return 0;
	}
	got = ao_media_read(m, fh, buf, n + 10, 0, &e);
	ok = got == (ssize_t)n && memcmp(buf, want, n) == 0;
	ao_media_close(m, fh);
	free(buf);
	return ok;
}

static void wait_threads(struct ao_media **m, struct hub *h, long ttl, long long cap)
{
	ao_media_free(*m); /* waits for download threads (eviction runs in them) */
	*m = cache(h, ttl, cap);
}

static void test_public_private_expired(void)
{
	struct mock_hub *mk;
	struct hub *h = mock_hub_new(&mk);
	struct ao_media *m = cache(h, 3600, 0);
	struct ao_media_stats st;
	char a[10000], b[5000];

	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	/* public: read as given, no signing; the second open costs nothing */
	mock_hub_file(mk, "http://s/assets/p1/a.png", a, sizeof(a));
	CHECK(read_eq(m, "http://s/assets/p1/a.png", AO_MEDIA_ASSET, a, sizeof(a)));
	CHECK(read_eq(m, "http://s/assets/p1/a.png", AO_MEDIA_ASSET, a, sizeof(a)));
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", "http://s/assets/p1/a.png"), 1);
	CHECK_INT(mock_hub_calls(mk, "GET", "/getSignedUrl"), 0);

	/* private: the bare URL is 403, so it is signed (type brushes) */
	mock_hub_deny(mk, "http://s/brushes/p1/b.png");
	mock_hub_on(
	    mk, "GET",
	    "/getSignedUrl?name=http%3A%2F%2Fs%2Fbrushes%2Fp1%2Fb.png&project=p1&type=brushes"
	    "&url=http%3A%2F%2Fs%2Fbrushes%2Fp1%2Fb.png",
	    "{\"signedUrl\":\"http://s/brushes/p1/b.png?sig=1\"}");
	mock_hub_file(mk, "http://s/brushes/p1/b.png?sig=1", b, sizeof(b));
	CHECK(read_eq(m, "http://s/brushes/p1/b.png", AO_MEDIA_BRUSH, b, sizeof(b)));
	CHECK_INT(mock_hub_calls(mk, "GET", "/getSignedUrl"), 1);

	/* expired: a signed URL that answers 403 is signed again; the new
	 * signature is the same object (no second copy in the cache) */
	mock_hub_deny(mk, "http://s/assets/p1/c.png?sig=old");
	mock_hub_on(mk, "GET", "/getSignedUrl?name=http%3A%2F%2Fs%2Fassets%2Fp1%2Fc.png*",
		    "{\"signedUrl\":\"http://s/assets/p1/c.png?sig=new\"}");
	mock_hub_file(mk, "http://s/assets/p1/c.png?sig=new", a, 3000);
	CHECK(read_eq(m, "http://s/assets/p1/c.png?sig=old", AO_MEDIA_ASSET, a, 3000));
	CHECK(read_eq(m, "http://s/assets/p1/c.png?sig=other", AO_MEDIA_ASSET, a, 3000));
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", "http://s/assets/p1/c.png"), 2);
	ao_media_get_stats(m, &st);
	CHECK_INT(st.signs, 2);
	CHECK_INT(st.resigns, 1);
	CHECK_INT(st.downloads, 3);

	/* an object neither given nor signable: the error reaches the reader */
	struct ao_media_ref r = {"p1", "http://s/assets/p1/none.png", AO_MEDIA_ASSET, NULL};
	struct ao_media_fh *fh;
	struct ao_err e;
	CHECK_INT(ao_media_open(m, &r, &fh, &e), -ENOENT);

	/* another daemon on the same directory: the published file, no request */
	struct ao_media *m2 = cache(h, 3600, 0);
	long long size = 0;
	time_t mt = 0;
	struct ao_media_ref ra = {"p1", "http://s/assets/p1/a.png", AO_MEDIA_ASSET, NULL};
	/* a reader of m has all the bytes once the download wrote them; the
	 * download thread renames the file and writes the meta just after, so
	 * the other daemon finds it published within moments (bounded: 5 s) */
	int published = 0;
	for (int i = 0; i < 500 && (published = ao_media_stat(m2, &ra, &size, &mt)) != 1; i++)
		usleep(10000);
	CHECK_INT(published, 1);
	CHECK_INT(size, sizeof(a));
	char head[16];
	CHECK_INT(ao_media_read_head(m2, &ra, head, sizeof(head), &e), 16);
	CHECK(memcmp(head, a, 16) == 0);
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", "http://s/assets/p1/a.png"), 1);
	/* files are private */
	struct stat sb;
	char path[512];
	snprintf(path, sizeof(path), "%s", dir);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700);
	ao_media_free(m2);
	ao_media_free(m);
	hub_free(h);
}

static void test_ttl_and_cap(void)
{
	struct mock_hub *mk;
	struct hub *h = mock_hub_new(&mk);
	struct ao_media *m = cache(h, 1, 0);
	struct ao_media_stats st;
	char a[100000];

	fill(a, sizeof(a), 3);
	mock_hub_file(mk, "http://s/assets/p1/t.png", a, 1000);
	CHECK(read_eq(m, "http://s/assets/p1/t.png", AO_MEDIA_ASSET, a, 1000));
	ao_sys_sleep_ms(2100);
	CHECK(read_eq(m, "http://s/assets/p1/t.png", AO_MEDIA_ASSET, a, 1000));
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", "http://s/assets/p1/t.png"), 2);
	ao_media_free(m);

	/* cap 250 kB: three 100 kB objects -> the least recently opened goes */
	m = cache(h, 3600, 250000);
	const char *urls[] = {"http://s/assets/p1/x1", "http://s/assets/p1/x2",
			      "http://s/assets/p1/x3"};
	for (int i = 0; i < 3; i++) {
		mock_hub_file(mk, urls[i], a, sizeof(a));
		CHECK(read_eq(m, urls[i], AO_MEDIA_ASSET, a, sizeof(a)));
		wait_threads(&m, h, 3600, 250000);
		ao_sys_sleep_ms(1100); /* distinct last-access times */
	}
	struct ao_media_ref r1 = {"p1", urls[0], AO_MEDIA_ASSET, NULL},
			    r3 = {"p1", urls[2], AO_MEDIA_ASSET, NULL};
	long long size;
	time_t mt;
	CHECK_INT(ao_media_stat(m, &r1, &size, &mt), 0);
	CHECK_INT(ao_media_stat(m, &r3, &size, &mt), 1);
	ao_media_free(m);
	(void)st;
	hub_free(h);
}

/* --- a client whose downloads stop after `first` bytes until released --- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;     /* released */
	int inflight; /* downloads waiting at the gate */
	size_t len, first;
	char *bytes;
	int fail; /* after the gate: the connection is reset instead */
};

static int gate_get(void *self, const char *pq, json_t **data, struct ao_err *err)
{
	(void)self;
	(void)data;
	return ao_errf(err, ENOENT, "gate: no API (%s)", pq);
}

static int gate_post(void *self, const char *pq, const char *b, size_t l, json_t **d,
		     struct ao_err *err)
{
	(void)b;
	(void)l;
	return gate_get(self, pq, d, err);
}

static int gate_download(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			 void *ud, struct ao_err *err)
{
	struct gate *g = self;

	(void)url;
	if (progress)
		progress(ud, 0, (long long)g->len); /* Content-Length */
	if (sink(ud, g->bytes, g->first) < 0)
		return -EIO;
	pthread_mutex_lock(&g->mu);
	g->inflight++;
	pthread_cond_broadcast(&g->cv);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	if (g->fail)
		return ao_errf(err, ECONNRESET, "gate: connection reset (test)");
	return sink(ud, g->bytes + g->first, g->len - g->first) < 0 ? -EIO : 0;
}

static const struct hub_ops gate_ops = {
    .name = "gate", .get = gate_get, .post_raw = gate_post, .download = gate_download};

struct reader {
	struct ao_media *m;
	char url[64];
	int ok;
};

static void *read_first(void *arg)
{
	struct reader *rd = arg;
	struct ao_media_ref r = {"p1", rd->url, AO_MEDIA_ASSET, NULL};
	struct ao_media_fh *fh;
	struct ao_err e;
	char buf[1000];

	if (ao_media_open(rd->m, &r, &fh, &e) == 0) {
		rd->ok = ao_media_read(rd->m, fh, buf, sizeof(buf), 0, &e) == (ssize_t)sizeof(buf);
		ao_media_close(rd->m, fh);
	}
	return NULL;
}

static void test_streaming_and_parallel(void)
{
	struct gate g = {
	    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 4 << 20, 1 << 20, NULL, 0};
	struct ao_err e;
	struct hub *h = hub_wrap(&gate_ops, &g, &e);
	struct ao_media *m = cache(h, 3600, 0);
	struct ao_media_ref r = {"p1", "http://s/assets/p1/video.mp4", AO_MEDIA_ASSET, NULL};
	struct ao_media_fh *fh;
	long long size = 0;
	char *buf = malloc(g.len);

	g.bytes = malloc(g.len);
	fill(g.bytes, g.len, 4);
	/* the first megabyte is readable while the rest waits at the gate */
	CHECK_INT(ao_media_open(m, &r, &fh, &e), 0);
	CHECK_INT(ao_media_fh_size(fh, &size), 1);
	CHECK_INT(size, g.len);
	CHECK_INT(ao_media_fh_fd(fh), -1);
	CHECK_INT(ao_media_read(m, fh, buf, 1 << 20, 0, &e), 1 << 20);
	CHECK(memcmp(buf, g.bytes, 1 << 20) == 0);
	/* 8 more objects: all 8 downloads are in flight at once */
	struct reader rd[8];
	pthread_t t[8];
	for (int i = 0; i < 8; i++) {
		rd[i].m = m;
		rd[i].ok = 0;
		snprintf(rd[i].url, sizeof(rd[i].url), "http://s/assets/p1/img%d.png", i);
		pthread_create(&t[i], NULL, read_first, &rd[i]);
	}
	pthread_mutex_lock(&g.mu);
	for (int i = 0; i < 100 && g.inflight < 9; i++) {
		pthread_mutex_unlock(&g.mu);
		ao_sys_sleep_ms(50);
		pthread_mutex_lock(&g.mu);
	}
	CHECK_INT(g.inflight, 9); /* the video and 8 images, none serialized */
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		CHECK(rd[i].ok);
	}
	/* the rest of the video, once it arrives */
	CHECK_INT(ao_media_read(m, fh, buf, g.len, 0, &e), g.len);
	CHECK(memcmp(buf, g.bytes, g.len) == 0);
	ao_media_close(m, fh);
	ao_media_free(m);
	hub_free(h);
	free(g.bytes);
	free(buf);
}

/* A download that fails after its first bytes (the gate, then a reset):
 * the handle opened meanwhile reads those bytes, then gets the error, never
 * a short file; the next open downloads again. */
static void test_failed_download(void)
{
	struct gate g = {
	    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 20000, 5000, NULL, 1};
	struct ao_err e;
	struct hub *h = hub_wrap(&gate_ops, &g, &e);
	struct ao_media *m = cache(h, 3600, 0);
	struct ao_media_ref r = {"p1", "http://s/assets/p1/cut.png", AO_MEDIA_ASSET, NULL};
	struct ao_media_fh *fh = NULL;
	char buf[20000];

	g.bytes = malloc(g.len);
	fill(g.bytes, g.len, 5);
	CHECK_INT(ao_media_open(m, &r, &fh, &e), 0);
	if (!fh)
		return;
	CHECK_INT(ao_media_read(m, fh, buf, 4000, 0, &e), 4000);
	CHECK(memcmp(buf, g.bytes, 4000) == 0);
	pthread_mutex_lock(&g.mu);
	g.open = 1;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	CHECK_INT(ao_media_read(m, fh, buf, sizeof(buf), 0, &e), -ECONNRESET); /* not short */
	CHECK_INT(ao_media_read(m, fh, buf, 5000, 0, &e), 5000); /* what was written */
	g.fail = 0;
	CHECK(read_eq(m, r.url, AO_MEDIA_ASSET, g.bytes, g.len)); /* a new download, whole */
	CHECK_INT(ao_media_read(m, fh, buf, sizeof(buf), 0, &e), -ECONNRESET);
	ao_media_close(m, fh);
	ao_media_free(m);
	hub_free(h);
	free(g.bytes);
}

static struct ao_media *cache_cfg(struct hub *h, long ttl, long long cap, long slack)
{
	struct ao_media_cfg cfg = {.hub = h,
				   .dir = dir,
				   .host = "h",
				   .ttl_s = ttl,
				   .max_bytes = cap,
				   .lru_slack_s = slack};
	struct ao_err e;
	struct ao_media *m = ao_media_new(&cfg, &e);

	CHECK(m != NULL);
	return m;
}

/* The published data file of url's only object in dir (the newest). */
static int data_file(char *out, size_t n)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls -t %s/*.data 2>/dev/null | head -1", dir);
	FILE *p = popen(cmd, "r");
	int ok = p && fgets(out, (int)n, p) != NULL;
	if (p)
		pclose(p);
	if (ok)
		out[strcspn(out, "\n")] = '\0';
	return ok;
}

static int count_data(void)
{
	char cmd[600];
	int k = -1;
	snprintf(cmd, sizeof(cmd), "ls %s/*.data 2>/dev/null | wc -l", dir);
	FILE *p = popen(cmd, "r");
	if (p && fscanf(p, "%d", &k) != 1)
		k = -1;
	if (p)
		pclose(p);
	return k;
}

/* A warm open within the slack writes no LRU stamp (the data file's mtime
 * is left alone); one after it does; this daemon's eviction still orders by
 * every use (the pending stamps are written first), also of objects kept
 * open, and removes a kept object's file. */
static void test_lazy_stamps_and_kept_eviction(void)
{
	struct mock_hub *mk;
	struct hub *h = mock_hub_new(&mk);
	static char a[100000];
	char path[4200];
	struct stat st;

	fill(a, sizeof(a), 5);
	const char *urls[] = {"http://s/assets/p1/k1", "http://s/assets/p1/k2",
			      "http://s/assets/p1/k3"};
	for (int i = 0; i < 3; i++)
		mock_hub_file(mk, urls[i], a, sizeof(a));
	struct ao_media *m = cache_cfg(h, 3600, 250000, 3600);
	CHECK(read_eq(m, urls[0], AO_MEDIA_ASSET, a, sizeof(a)));
	CHECK(data_file(path, sizeof(path)));
	struct timespec old[2] = {{time(NULL) - 100, 0}, {time(NULL) - 100, 0}};
	CHECK_INT(utimensat(AT_FDCWD, path, old, 0), 0);
	CHECK(read_eq(m, urls[0], AO_MEDIA_ASSET, a, sizeof(a))); /* warm: kept open */
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT((long)st.st_mtime, (long)old[1].tv_sec); /* no stamp: inside the slack */
	ao_media_free(m);
	/* the stamp seen on disk is 100 s old, over a 10 s slack: written */
	m = cache_cfg(h, 3600, 250000, 10);
	CHECK(read_eq(m, urls[0], AO_MEDIA_ASSET, a, sizeof(a)));
	CHECK_INT(stat(path, &st), 0);
	CHECK(st.st_mtime >= time(NULL) - 2);
	ao_media_free(m);

	/* k1 at t, k2 at t+1.1, k1 again at t+2.2 (not stamped: slack), then
	 * k3 over the cap: k2 is the least recently used, k1 stays */
	m = cache_cfg(h, 3600, 250000, 3600);
	CHECK_INT(utimensat(AT_FDCWD, path, NULL, 0), 0); /* k1 used now */
	ao_sys_sleep_ms(1100);
	CHECK(read_eq(m, urls[1], AO_MEDIA_ASSET, a, sizeof(a)));
	ao_sys_sleep_ms(1100);
	CHECK(read_eq(m, urls[0], AO_MEDIA_ASSET, a, sizeof(a)));
	CHECK(read_eq(m, urls[2], AO_MEDIA_ASSET, a, sizeof(a)));
	ao_media_free(m); /* waits for the download thread, which evicts */
	CHECK_INT(count_data(), 2);
	m = cache_cfg(h, 3600, 0, 3600);
	struct ao_media_ref r1 = {"p1", urls[0], AO_MEDIA_ASSET, NULL},
			    r2 = {"p1", urls[1], AO_MEDIA_ASSET, NULL};
	long long size;
	time_t mt;
	CHECK_INT(ao_media_stat(m, &r1, &size, &mt), 1);
	CHECK_INT(ao_media_stat(m, &r2, &size, &mt), 0); /* evicted while kept open */
	ao_media_free(m);
	hub_free(h);
}

/* Another daemon on the directory publishes a new generation of an object
 * this one keeps open, or evicts it: the next open here reads what is
 * published now, never the kept file. */
static void test_kept_object_replaced_or_evicted_elsewhere(void)
{
	struct mock_hub *mk;
	struct hub *h = mock_hub_new(&mk);
	static char a[100000], b[100000];
	const char *url = "http://s/assets/p1/r1";

	fill(a, sizeof(a), 7);
	fill(b, sizeof(b), 8);
	mock_hub_file(mk, url, a, sizeof(a));
	struct ao_media *ma = cache_cfg(h, 3600, 0, 0);
	CHECK(read_eq(ma, url, AO_MEDIA_ASSET, a, sizeof(a)));
	CHECK(read_eq(ma, url, AO_MEDIA_ASSET, a, sizeof(a))); /* kept open now */
	/* daemon B, whose TTL has run out, fetches it again: other bytes */
	mock_hub_file(mk, url, b, sizeof(b));
	ao_sys_sleep_ms(1100);
	struct ao_media *mb = cache_cfg(h, 1, 0, 0);
	CHECK(read_eq(mb, url, AO_MEDIA_ASSET, b, sizeof(b)));
	ao_media_free(mb);
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", url), 2);
	CHECK(read_eq(ma, url, AO_MEDIA_ASSET, b, sizeof(b))); /* B's generation */
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", url), 2);

	/* B, over its cap, evicts the object A keeps open (A holds no lock on
	 * it): the file goes; A's next open fetches it again, whole */
	const char *big = "http://s/assets/p1/r2";
	mock_hub_file(mk, big, a, sizeof(a));
	mb = cache_cfg(h, 3600, 150000, 0);
	CHECK(read_eq(mb, big, AO_MEDIA_ASSET, a, sizeof(a)));
	ao_media_free(mb);
	CHECK_INT(count_data(), 1);
	CHECK(read_eq(ma, url, AO_MEDIA_ASSET, b, sizeof(b)));
	CHECK_INT(mock_hub_calls(mk, "DOWNLOAD", url), 3);
	ao_media_free(ma);
	hub_free(h);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/angofs-test-media-%d", (int)getpid());
	test_public_private_expired();
	test_ttl_and_cap();
	snprintf(dir, sizeof(dir), "/tmp/angofs-test-media-%d-b", (int)getpid());
	test_streaming_and_parallel();
	test_failed_download();
	snprintf(dir, sizeof(dir), "/tmp/angofs-test-media-%d-c", (int)getpid());
	test_lazy_stamps_and_kept_eviction();
	snprintf(dir, sizeof(dir), "/tmp/angofs-test-media-%d-d", (int)getpid());
	test_kept_object_replaced_or_evicted_elsewhere();
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/angofs-test-media-%d /tmp/angofs-test-media-%d-?",
		 (int)getpid(), (int)getpid());
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed\n");
	return t_done("media");
}
