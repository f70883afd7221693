/*
 * spool_order.c - stamps, ledgers and turns that make the last write of a
 * target win across the daemons sharing a spool (see spool_order.h).
 *
 * Design choice: the order lives in the shared directory itself, in the
 * style of the rest of the cache (fcntl byte locks that die with their
 * process, files replaced by rename, never rewritten in place: on GlusterFS
 * renames under a lock lost no update where in-place rewrites did). Ledgers
 * are bucketed (4096 files at most, whatever the number of tasks written)
 * and checked only when an entry is about to be delivered, so the cost is a
 * few local file operations per write, nothing per read. The alternatives
 * were weaker: comparing the content's wall-clock time alone breaks on
 * machines whose clocks disagree, and scanning every entry's meta.json
 * before each delivery costs O(spool) on a network filesystem.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/cancel.h"
#include "angofs/hash.h"
#include "angofs/lockfile.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "spool_order.h"

#define BUCKETS 4096ULL
#define TURNS (1ULL << 30)
#define FORGET_US (60LL * 24 * 3600 * 1000000) /* stamps older than 60 days */
#define LEDGER_WAIT_MS 2000

struct spool_order {
	char *dir; /* <spool>/order; immutable */
	int fd;	   /* <spool>/order.lock: the process's one descriptor of it */
	pthread_mutex_t mu;
	pthread_cond_t cv;	  /* a turn was given back (with mu) */
	unsigned long long *held; /* mu: turn bytes this process holds */
	size_t nheld, cap;	  /* mu */
};

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct spool_order *spool_order_open(const char *spool_dir, struct ao_err *err)
{
	struct spool_order *o = calloc(1, sizeof(*o));
	char path[4200];

	if (!o || asprintf(&o->dir, "%s/order", spool_dir) < 0) {
		free(o);
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		ao_errf(err, errno, "spool: mkdir %s: %s", o->dir, strerror(errno));
		free(o->dir);
		free(o);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/order.lock", spool_dir);
	o->fd = ao_lock_open(path);
	if (o->fd < 0) {
		ao_errf(err, -o->fd, "spool: %s: %s", path, strerror(-o->fd));
		free(o->dir);
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->cv, NULL);
	return o;
}

void spool_order_free(struct spool_order *o)
{
	if (!o)
		return;
	close(o->fd);
	pthread_mutex_destroy(&o->mu);
	pthread_cond_destroy(&o->cv);
	free(o->held);
	free(o->dir);
	free(o);
}

void spool_order_key(const char *project, const char *relpath, char *buf, size_t n)
{
	size_t rl = strlen(relpath), sl = strlen("/answer.next.json");

	if (!strncmp(relpath, "tasks/", 6) && rl > sl &&
	    !strcmp(relpath + rl - sl, "/answer.next.json"))
		snprintf(buf, n, "%s/%.*s/answer.json", project, (int)(rl - sl), relpath);
	else
		snprintf(buf, n, "%s/%s", project, relpath);
}

/* Lock byte `byte` (type F_RDLCK/F_WRLCK) within LEDGER_WAIT_MS: the other
 * holder is a daemon doing a few file operations. 0 or -errno. */
static int ledger_lock(struct spool_order *o, off_t byte, int type)
{
	long long until = ao_sys_now_ms() + LEDGER_WAIT_MS, nap = 1;
	int r;

	while ((r = ao_lock_byte(o->fd, byte, type, 0)) == -EAGAIN && ao_sys_now_ms() < until) {
		ao_sys_sleep_ms(nap);
		nap = nap < 20 ? nap * 2 : 20;
	}
	return r;
}

static void ledger_path(struct spool_order *o, unsigned long long b, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%03llx.json", o->dir, b);
}

static json_t *ledger_read(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);

	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

/* Replace the ledger file durably: 0 or -errno. */
static int ledger_write(struct spool_order *o, const char *path, json_t *j)
{
	char tmp[4310];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path); /* one writer: the byte lock */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (json_dumpfd(j, fd, JSON_COMPACT) < 0)
		r = -(errno ? errno : EIO);
	else if (fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		return r;
	}
	fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			r = -errno;
		close(fd);
	}
	return r;
}

long long spool_order_stamp(struct spool_order *o, const char *key)
{
	unsigned long long b = ao_hash_str(key) % BUCKETS;
	long long now = now_us(), old, seq;
	char path[4300];
	const char *k;
	json_t *j, *v;
	void *tmp;
	int r;

	if (!o)
		return now;
	ledger_path(o, b, path, sizeof(path));
	pthread_mutex_lock(&o->mu);
	r = ledger_lock(o, (off_t)b, F_WRLCK);
	j = ledger_read(path);
	old = json_integer_value(json_object_get(j, key));
	seq = old + 1 > now ? old + 1 : now;
	if (r == 0) {
		json_object_foreach_safe(j, tmp, k, v)
		{
			if (json_integer_value(v) < now - FORGET_US)
				json_object_del(j, k);
		}
		json_object_set_new(j, key, json_integer(seq));
		r = ledger_write(o, path, j);
		ao_lock_byte(o->fd, (off_t)b, F_UNLCK, 0);
	}
	pthread_mutex_unlock(&o->mu);
	json_decref(j);
	if (r < 0)
		ao_warn("write side: cannot record the order of the writes of %s in %s: %s; a "
			"daemon sharing the spool may not see that this write is newer",
			key, path, strerror(-r));
	return seq;
}

long long spool_order_newest(struct spool_order *o, const char *key)
{
	unsigned long long b = ao_hash_str(key) % BUCKETS;
	char path[4300];
	long long seq;
	json_t *j;
	int r;

	if (!o)
		return 0;
	ledger_path(o, b, path, sizeof(path));
	pthread_mutex_lock(&o->mu);
	r = ledger_lock(o, (off_t)b, F_RDLCK);
	j = ledger_read(path);
	if (r == 0)
		ao_lock_byte(o->fd, (off_t)b, F_UNLCK, 0);
	pthread_mutex_unlock(&o->mu);
	seq = json_integer_value(json_object_get(j, key));
	json_decref(j);
	return seq;
}

static unsigned long long turn_byte(const char *key)
{
	return BUCKETS + (ao_hash_str(key) / BUCKETS) % TURNS;
}

/* Index of byte in o->held, or -1 (o->mu held). */
static long held_at(struct spool_order *o, unsigned long long byte)
{
	for (size_t i = 0; i < o->nheld; i++)
		if (o->held[i] == byte)
			return (long)i;
	return -1;
}

static void held_drop(struct spool_order *o, unsigned long long byte)
{
	long i;

	pthread_mutex_lock(&o->mu);
	i = held_at(o, byte);
	if (i >= 0)
		o->held[i] = o->held[--o->nheld];
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

int spool_order_turn(struct spool_order *o, const char *key, long long wait_ms)
{
	unsigned long long byte;
	long long until = ao_sys_now_ms() + wait_ms;
	int r;

	if (!o)
		return 0;
	byte = turn_byte(key);
	/* this process's threads first (fcntl locks belong to the process) */
	pthread_mutex_lock(&o->mu);
	while (held_at(o, byte) >= 0) {
		if (ao_sys_now_ms() >= until || (r = ao_cancel_cond_wait(&o->cv, &o->mu)) < 0) {
			pthread_mutex_unlock(&o->mu);
			return ao_cancelled() ? -EINTR : -EAGAIN;
		}
	}
	if (o->nheld == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 8;
		unsigned long long *nh = realloc(o->held, nc * sizeof(*nh));

		if (!nh) {
			pthread_mutex_unlock(&o->mu);
			return -ENOMEM;
		}
		o->held = nh;
		o->cap = nc;
	}
	o->held[o->nheld++] = byte;
	pthread_mutex_unlock(&o->mu);
	/* then the other daemons: polled, so an interrupt is honoured */
	for (;;) {
		r = ao_lock_byte(o->fd, (off_t)byte, F_WRLCK, 0);
		if (r == 0)
			return 0;
		if (r != -EAGAIN) {
			/* the filesystem lost its locks: deliver in this process's order */
			ao_warn("write side: the turn of %s cannot be locked: %s", key,
				strerror(-r));
			return 0;
		}
		if (ao_sys_now_ms() >= until || ao_cancel_sleep_ms(50) < 0) {
			held_drop(o, byte);
			return ao_cancelled() ? -EINTR : -EAGAIN;
		}
	}
}

void spool_order_turn_end(struct spool_order *o, const char *key)
{
	unsigned long long byte;

	if (!o)
		return;
	byte = turn_byte(key);
	ao_lock_byte(o->fd, (off_t)byte, F_UNLCK, 0);
	held_drop(o, byte);
}
