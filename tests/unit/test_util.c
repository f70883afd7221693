/*
 * test_util.c - the helpers of src/util that several parts share (issue 25:
 * each written once): the FNV-1a hash that names cache files, UTF-8 cuts
 * and checks of names, the JSON byte scanner, the table of Ango's tools,
 * the cached value with single-flight refresh (slot.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/cancel.h"
#include "angofs/hash.h"
#include "angofs/jscan.h"
#include "angofs/names.h"
#include "angofs/slot.h"
#include "angofs/tools.h"
#include "t.h"

static void hash(void)
{
	/* the basis every version used (cache file names depend on it) */
	CHECK(ao_hash_str("") == 1469598103934665603ULL);
	CHECK(ao_hash_bytes("", 0) == 1469598103934665603ULL);
	CHECK(ao_hash_str("a") == ((1469598103934665603ULL ^ 'a') * 1099511628211ULL));
	CHECK(ao_hash_str("abc") == ao_hash_bytes("abcdef", 3));
	CHECK(ao_hash_str("https://h/a.png") == ao_hash_bytes("https://h/a.png?sig=1", 15));
	CHECK(ao_hash_str("k1") != ao_hash_str("k2"));
	/* bytes past 0x7f hash as unsigned */
	CHECK(ao_hash_str("\xc3\xa9") == ao_hash_bytes("\xc3\xa9", 2));
}

static void utf8(void)
{
	/* "é" is 2 bytes, "€" 3: a cut never splits them */
	CHECK_INT(ao_name_utf8_prefix("abc", 10), 3);
	CHECK_INT(ao_name_utf8_prefix("abc", 3), 3);
	CHECK_INT(ao_name_utf8_prefix("abc", 2), 2);
	CHECK_INT(ao_name_utf8_prefix("a\xc3\xa9", 2), 1);
	CHECK_INT(ao_name_utf8_prefix("a\xc3\xa9", 3), 3);
	CHECK_INT(ao_name_utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 5), 3);
	CHECK_INT(ao_name_utf8_prefix("\xe2\x82\xac", 0), 0);
	CHECK(ao_name_utf8_valid(""));
	CHECK(ao_name_utf8_valid("plain"));
	CHECK(ao_name_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	CHECK(!ao_name_utf8_valid("\xc3"));		/* cut short */
	CHECK(!ao_name_utf8_valid("\xc0\xaf"));		/* overlong '/' */
	CHECK(!ao_name_utf8_valid("\xe0\x80\xaf"));	/* overlong 3 bytes */
	CHECK(!ao_name_utf8_valid("\xed\xa0\x80"));	/* a surrogate */
	CHECK(!ao_name_utf8_valid("\xf4\x90\x80\x80")); /* past U+10FFFF */
	CHECK(!ao_name_utf8_valid("\xff"));
}

struct seen {
	char keys[128];
	char id[32];
	int stop_at;
	int n;
};

static int member(void *ud, const char *s, const char *k, size_t kl, size_t vi, size_t vj)
{
	struct seen *w = ud;

	strncat(w->keys, k, kl);
	strcat(w->keys, ";");
	if (AO_JSCAN_KEY(k, kl, "id") && ao_jscan_string(s, vi, vj, w->id, sizeof(w->id)) < 0)
		return -EINVAL;
	return ++w->n == w->stop_at;
}

static void jscan(void)
{
	const char *r =
	    "{\"a\": [1, {\"b\": \"}\"}], \"id\" : \"x\\\"y\", \"k\\\"q\": 2.5e3 , \"z\":null}";
	size_t n = strlen(r);
	struct seen w = {"", "", 0, 0};

	CHECK_INT(ao_jscan_ws("  \t\nx", 5, 0), 4);
	CHECK_INT(ao_jscan_str("\"a\\\"b\" ", 7, 0), 6);
	CHECK(ao_jscan_str("\"abc", 4, 0) == AO_JSCAN_BAD);
	CHECK_INT(ao_jscan_value("[1,[2],\"]\"] x", 13, 0), 11);
	CHECK_INT(ao_jscan_value("true,", 5, 0), 4);
	CHECK(ao_jscan_value("{\"a\":1", 7, 0) == AO_JSCAN_BAD);
	CHECK_INT(ao_jscan_members(r, n, 0, member, &w), 0);
	CHECK_STR(w.keys, "a;id;k\\\"q;z;");
	CHECK_STR(w.id, "x\"y"); /* an escape: decoded */
	struct seen w2 = {"", "", 2, 0};
	CHECK_INT(ao_jscan_members(r, n, 0, member, &w2), 0); /* stopped after id */
	CHECK_STR(w2.keys, "a;id;");
	struct seen w3 = {"", "", 0, 0};
	CHECK_INT(ao_jscan_members("[1]", 3, 0, member, &w3), -EINVAL);
	CHECK_INT(ao_jscan_members("{\"a\" 1}", 7, 0, member, &w3), -EINVAL);
	CHECK_INT(ao_jscan_members("{\"a\":1,}", 8, 0, member, &w3), -EINVAL);
	char small[3];
	CHECK_INT(ao_jscan_string("\"abc\"", 0, 5, small, sizeof(small)), -EINVAL);
	CHECK_INT(ao_jscan_string("12", 0, 2, small, sizeof(small)), -EINVAL);

	/* a record fed in pieces of every size ends exactly after its brace */
	const char *two = "{\"s\":\"{[\\\"\",\"t\":[{}]}\n{\"u\":1}";
	size_t first = strchr(two, '\n') - two;
	for (size_t piece = 1; piece <= strlen(two); piece++) {
		struct ao_jscan_rec st = {0};
		const char *p = two, *end = two + strlen(two), *q = p;
		while (p < end) {
			const char *e = p + piece < end ? p + piece : end;
			q = ao_jscan_rec(&st, p, e);
			if (st.depth == 0 && q > two)
				break;
			p = e;
		}
		CHECK_INT(q - two, first);
	}
}

static void tools(void)
{
	const char *first = NULL;

	CHECK(ao_tool_is("bounding-box", AO_TOOL_GEOMETRY));
	CHECK(ao_tool_is("bounding-box", AO_TOOL_REGION));
	CHECK(ao_tool_is("polyline", AO_TOOL_GEOMETRY));
	CHECK(!ao_tool_is("polyline", AO_TOOL_REGION)); /* a line has no area */
	CHECK(ao_tool_is("segmentation", AO_TOOL_REGION));
	CHECK(ao_tool_is("radio", AO_TOOL_ONE) && ao_tool_is("single-dropdown", AO_TOOL_ONE));
	CHECK(!ao_tool_is("radio", AO_TOOL_GEOMETRY));
	CHECK(ao_tool_is("tree-dropdown", AO_TOOL_MANY));
	CHECK(ao_tool_is("text", AO_TOOL_ONE | AO_TOOL_TEXT) && !ao_tool_is("text", AO_TOOL_ONE));
	CHECK(!ao_tool_is("brush", ~0u) && !ao_tool_is(NULL, ~0u) && !ao_tool_is("", ~0u));
	for (const struct ao_tool *t = ao_tools; t->name; t++)
		if (!first && (t->flags & AO_TOOL_REGION))
			first = t->name;
	CHECK_STR(first, "bounding-box"); /* a mark's box wins over its other keys */
}

/* A value behind a slot: fetch counts its calls and fails as told. */
struct val {
	pthread_mutex_t lock;
	struct ao_slot slot;
	int value, fetches, fail, transient, delay_ms;
};

static int val_fetch(void *ud, struct ao_err *err)
{
	struct val *v = ud;

	__atomic_add_fetch(&v->fetches, 1, __ATOMIC_SEQ_CST);
	if (v->delay_ms)
		usleep(v->delay_ms * 1000);
	if (v->fail) {
		ao_errf(err, EIO, "the hub failed");
		err->transient = v->transient;
		return -EIO;
	}
	pthread_mutex_lock(&v->lock);
	v->value++;
	ao_slot_stamp(&v->slot);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

static int val_have(void *ud)
{
	return ((struct val *)ud)->value != 0;
}

static int val_get(struct val *v, long ttl, int keep, struct ao_err *e)
{
	struct ao_slot_use u = {&v->lock, ttl, 0, val_fetch, val_have, v, "the value", keep};

	ao_err_clear(e);
	return ao_slot_get(&v->slot, &u, e);
}

static void *getter(void *ud)
{
	struct ao_err e;

	return (void *)(long)val_get(ud, 60, 0, &e);
}

static void slot(void)
{
	struct val v;
	struct ao_err e;
	pthread_t t[4];

	memset(&v, 0, sizeof(v));
	pthread_mutex_init(&v.lock, NULL);
	ao_slot_init(&v.slot);
	/* no copy, a failure: the error */
	v.fail = v.transient = 1;
	CHECK_INT(val_get(&v, 60, 0, &e), -EIO);
	CHECK_INT(v.fetches, 1);
	/* first fetch, then fresh: no second request */
	v.fail = 0;
	CHECK_INT(val_get(&v, 60, 0, &e), 0);
	CHECK_INT(val_get(&v, 60, 0, &e), 0);
	CHECK_INT(v.fetches, 2);
	CHECK_INT(v.value, 1);
	/* dropped: refetched */
	ao_slot_drop(&v.slot);
	CHECK_INT(val_get(&v, 60, 0, &e), 0);
	CHECK_INT(v.fetches, 3);
	/* 4 callers of a stale value: one request, all find it fresh */
	ao_slot_drop(&v.slot);
	v.delay_ms = 100;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, getter, &v);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		CHECK_INT((long)r, 0);
	}
	CHECK_INT(v.fetches, 4);
	v.delay_ms = 0;
	/* expired and the hub unreachable: the copy, held for AO_SLOT_HOLD_S */
	v.slot.at = time(NULL) - 61;
	v.fail = 1;
	CHECK_INT(val_get(&v, 60, 0, &e), 0);
	CHECK(v.slot.at > time(NULL) - 60 + AO_SLOT_HOLD_S - 3);
	CHECK_INT(val_get(&v, 60, 0, &e), 0); /* within the hold: no request */
	CHECK_INT(v.fetches, 5);
	/* a failure for good (not transient): the error, not the copy */
	v.slot.at = time(NULL) - 61;
	v.transient = 0;
	CHECK_INT(val_get(&v, 60, 0, &e), -EIO);
	/* keep_on_failure: any failure keeps the copy, not prolonged */
	CHECK_INT(val_get(&v, 60, 1, &e), 0);
	CHECK(v.slot.at < time(NULL) - 60);
	CHECK_INT(v.fetches, 7);
	ao_slot_destroy(&v.slot);
}

/* Which pending signals make a FUSE interrupt a cancel: blocked signals stay
 * pending, so raising them here shows them in /proc/<tid>/status. */
static void *pend(void *arg)
{
	int sig = *(int *)arg, tid = (int)syscall(SYS_gettid), *out = malloc(2 * sizeof(int));
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	out[0] = ao_cancel_signal_matters(tid);
	pthread_kill(pthread_self(), sig); /* pending for this thread */
	out[1] = ao_cancel_signal_matters(tid);
	return out; /* exits with it pending: discarded with the thread */
}

static int pending_matters(int sig)
{
	pthread_t th;
	void *res;
	int r;

	pthread_create(&th, NULL, pend, &sig);
	pthread_join(th, &res);
	r = ((int *)res)[0] == 0 ? ((int *)res)[1] : -1; /* nothing pending at first */
	free(res);
	return r;
}

static void cancel_signals(void)
{
	CHECK_INT(pending_matters(SIGCHLD), 0);
	CHECK_INT(pending_matters(SIGWINCH), 0);
	CHECK_INT(pending_matters(SIGURG), 0);
	CHECK_INT(pending_matters(SIGINT), 1);
	CHECK_INT(pending_matters(SIGTERM), 1);
	CHECK_INT(pending_matters(SIGUSR1), 1);
	CHECK_INT(ao_cancel_signal_matters(-1), 1); /* no such thread */
}

int main(void)
{
	hash();
	cancel_signals();
	utf8();
	jscan();
	tools();
	slot();
	return t_done("util");
}
