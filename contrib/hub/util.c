/*
 * util.c - small pure helpers of angofs-hub: time (epoch milliseconds <->
 * ISO-8601 "…Z" strings, the API's date format), deterministic ObjectId-like
 * ids (so the same seed always yields the same ids), random download tokens,
 * API key -> user mapping, boolean query values, and the two reply shapes the
 * storage side (storage_route.c, download.c) shares: S3-like XML errors and a
 * file streamed from its descriptor with one honoured Range (reply_file_range).
 *
 * Ids are 24 hex digits like MongoDB ObjectIds: 8 digits of a fixed
 * "timestamp" per kind, then a bijective 64-bit mix of a sequence number, so
 * ids are unique per (kind, n) without a lookup.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>
#include <microhttpd.h>

#include "hubd.h"

/* process-wide state, set up by main.c */
struct hub_opts g_opts;
char g_base_url[128];
char g_exports_dir[4096];
atomic_int g_stopping;

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fmt_iso(int64_t ms, char out[32])
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
		 (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
		 (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
		 (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
		 (unsigned)(ms % 1000) % 1000u);
}

int parse_iso(const char *s, int64_t *ms)
{
	struct tm tm;
	int n = 0, frac_ms = 0, digits = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -EINVAL;
	p = s + n;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (!digits)
			return -EINVAL;
		while (digits < 3) {
			frac_ms *= 10;
			digits++;
		}
	}
	if (*p == 'Z')
		p++;
	else if (!strcmp(p, "+00:00"))
		p += 6;
	if (*p)
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ms = (int64_t)timegm(&tm) * 1000 + frac_ms;
	return 0;
}

uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void make_id(char out[25], unsigned kind, uint64_t n)
{
	/* 0x65a0.... looks like a 2024 ObjectId timestamp; kind keeps kinds apart. */
	snprintf(out, 25, "65a%05x%016llx", kind & 0xfffff,
		 (unsigned long long)mix64(n ^ ((uint64_t)kind << 48)));
}

/* A new object's id, made the MongoDB way (4-byte time, 5 random bytes per
 * process, 3-byte counter from a random start): ids made later sort after
 * earlier ones and after the seed's 2024 ids, as the real Hub's do; clients
 * rely on it (the oldest of colliding names keeps the plain name). */
static char oid_proc[11];
static uint32_t oid_counter;
static pthread_once_t oid_once = PTHREAD_ONCE_INIT;

static void oid_init(void)
{
	char c[9];

	random_hex(oid_proc, 5);
	random_hex(c, 3);
	oid_counter = (uint32_t)strtoul(c, NULL, 16);
}

void new_object_id(char out[25])
{
	uint32_t n;

	pthread_once(&oid_once, oid_init);
	n = __atomic_fetch_add(&oid_counter, 1, __ATOMIC_RELAXED);
	snprintf(out, 25, "%08lx%s%06x", (unsigned long)time(NULL) & 0xffffffffUL, oid_proc,
		 n & 0xffffffu);
}

int is_object_id(const char *s)
{
	size_t i;

	if (!s || strlen(s) != 24)
		return 0;
	for (i = 0; i < 24; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

void random_hex(char *out, size_t nbytes)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char buf[64];
	size_t i, got = 0;
	int fd;

	if (nbytes > sizeof(buf))
		nbytes = sizeof(buf);
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (got < nbytes) {
			ssize_t r = read(fd, buf + got, nbytes - got);
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		close(fd);
	}
	if (got < nbytes) { /* fall back: still unpredictable enough for a local server */
		uint64_t x = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
		for (i = got; i < nbytes; i++) {
			x = mix64(x + i);
			buf[i] = (unsigned char)x;
		}
	}
	for (i = 0; i < nbytes; i++) {
		out[2 * i] = hx[buf[i] >> 4];
		out[2 * i + 1] = hx[buf[i] & 15];
	}
	out[2 * nbytes] = 0;
}

void sleep_ms_interruptible(long ms)
{
	while (ms > 0 && !g_stopping) {
		long step = ms > 50 ? 50 : ms;
		struct timespec ts = {step / 1000, (step % 1000) * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

int key_index(const char *key)
{
	int i;

	if (!key)
		return -1;
	for (i = 0; i < g_opts.nkeys; i++)
		if (!strcmp(g_opts.keys[i], key))
			return i;
	return -1;
}

void key_user(int idx, char out[64])
{
	snprintf(out, 64, "api-user-%d@angofs.local", idx < 0 ? 0 : idx + 1);
}

int parse_bool(const char *s, int dflt, int *out)
{
	if (!s || !*s) {
		*out = dflt;
		return 0;
	}
	if (!strcasecmp(s, "true") || !strcmp(s, "1")) {
		*out = 1;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	return -EINVAL;
}

void xml_error(struct reply *out, int status, const char *code, const char *msg)
{
	char body[512];

	snprintf(body, sizeof(body),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s"
		 "</Message></Error>\n",
		 code, msg);
	reply_text(out, status, "application/xml", body);
}

int open_object(const char *path, struct stat *sb, struct reply *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 && fstat(fd, sb) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	xml_error(out, 404, "NoSuchKey", "The specified key does not exist.");
	return -1;
}

struct MHD_Response *reply_file_range(struct req *r, struct reply *out, int fd, uint64_t size,
				      reply_body_fn make, void *ctx)
{
	struct MHD_Response *resp;
	char range_hdr[96];
	uint64_t a = 0, b = 0, count;
	int rng = http_parse_range(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Range"),
				   size, &a, &b);

	if (rng < 0) {
		close(fd);
		xml_error(out, 416, "InvalidRange", "The requested range is not satisfiable");
		return NULL;
	}
	if (rng > 0) {
		a = 0;
		b = size ? size - 1 : 0;
	}
	count = size ? b - a + 1 : 0;
	if (make) {
		resp = make(ctx, fd, a, count);
	} else {
		resp = MHD_create_response_from_fd_at_offset64(count, fd, a);
		if (!resp)
			close(fd);
		out->bytes_hint = (long long)count;
	}
	if (!resp) {
		xml_error(out, 500, "InternalError", "cannot create response");
		return NULL;
	}
	MHD_add_response_header(resp, "Accept-Ranges", "bytes");
	if (rng == 0) {
		snprintf(range_hdr, sizeof(range_hdr), "bytes %llu-%llu/%llu",
			 (unsigned long long)a, (unsigned long long)b, (unsigned long long)size);
		MHD_add_response_header(resp, "Content-Range", range_hdr);
	}
	out->mhd_resp = resp;
	out->status = rng == 0 ? 206 : 200;
	return resp;
}
