/*
 * storage.c - the hub's object storage, modelled on the real Hub's buckets:
 * asset media, brush masks (PNG) and medical masks behind signed, expiring
 * URLs that need no API key.
 *
 * Objects live as files under <db>.storage/<key>, key = "<type>/<project id>/
 * <name>" (type: assets, brushes, medicalBrushes, exports, instructions; name
 * without '/' or a leading '.'), with one row per object in the objects table
 * (content type, size, public flag, and for generated objects a "gen" recipe
 * instead of a file). The object URL is <base>/storage/<key>. A public object
 * is served from it as is; a private one needs a signature:
 *   <base>/storage/<key>?Expires=<epoch s>&Signature=<hex>
 * Signature = HMAC-SHA256(secret, "<METHOD>\n<key>\n<Expires>") (OpenSSL), the
 * secret random and kept in the meta table, so links survive a restart. An
 * expired, tampered or missing signature gets 403 with an S3-like XML body,
 * like a pre-signed URL of a private bucket. A PUT to a URL signed for PUT
 * (GET /getUploadUrl) stores the request body.
 *
 * What tasks and assets store: a URL that points into this storage is kept
 * as "storage:<key>" (private) or "storage+public:<key>" (port and signature
 * dropped, publicness looked up once when stored), so it survives restarts
 * and is shown, with the current address, signed or plain without a database
 * lookup (GET /task, task lists, exports of 100k records). Anything else is
 * stored verbatim. Family rows (lookup_family) let one row stand for many
 * generated objects.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hubd.h"

char g_storage_dir[4096];
static unsigned char secret[32];
static const char *const types[] = {"assets",  "brushes",      "medicalBrushes",
				    "exports", "instructions", NULL};

int storage_type_known(const char *t)
{
	for (int i = 0; types[i]; i++)
		if (!strcmp(types[i], t))
			return 1;
	return 0;
}

int storage_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 200 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(c == '.' || c == '_' || c == '-' || (c >= '0' && c <= '9') ||
		      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return 0;
	}
	return 1;
}

int storage_key_ok(const char *key)
{
	char t[32], p[32];
	const char *a = strchr(key, '/'), *b = a ? strchr(a + 1, '/') : NULL;

	if (!a || !b || (size_t)(a - key) >= sizeof(t) || (size_t)(b - a - 1) >= sizeof(p))
		return 0;
	memcpy(t, key, (size_t)(a - key));
	t[a - key] = 0;
	memcpy(p, a + 1, (size_t)(b - a - 1));
	p[b - a - 1] = 0;
	return storage_type_known(t) && is_object_id(p) && storage_name_ok(b + 1);
}

int storage_init(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char hex[65];
	int have = 0;

	snprintf(g_storage_dir, sizeof(g_storage_dir), "%s.storage", g_opts.db_path);
	if (mkdir(g_storage_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", g_storage_dir, strerror(errno));
		return -errno;
	}
	st = db_prep(db, "SELECT value FROM meta WHERE name = 'url_secret'");
	if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 64) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; i < 32; i++) {
			unsigned x;
			sscanf(v + 2 * i, "%2x", &x);
			secret[i] = (unsigned char)x;
		}
		have = 1;
	}
	sqlite3_finalize(st);
	if (have)
		return 0;
	random_hex(hex, 32);
	for (int i = 0; i < 32; i++) {
		unsigned x;
		sscanf(hex + 2 * i, "%2x", &x);
		secret[i] = (unsigned char)x;
	}
	st = db_prep(db, "INSERT OR REPLACE INTO meta(name, value) VALUES('url_secret', ?)");
	if (!st) {
		snprintf(err, errlen, "cannot store the URL signing secret");
		return -EIO;
	}
	sqlite3_bind_text(st, 1, hex, 64, SQLITE_STATIC);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return 0;
}

void storage_sign(const char *method, const char *key, long long expires, char out[65])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "%s\n%s\n%lld", method, key, expires);

	HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)msg, (size_t)n, mac,
	     &len);
	for (unsigned i = 0; i < 32 && i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[64] = 0;
}

void storage_signed_url(const char *key, const char *method, long ttl_s, char *out, size_t len)
{
	/* Expiry rounded up to a step of ttl/10 (1 s .. 1 h): the same object
	 * signed twice within a step gives the same URL, so two exports or two
	 * task reads a second apart agree; validity is ttl .. ttl + step. */
	long step = ttl_s / 10 < 1 ? 1 : ttl_s / 10 > 3600 ? 3600 : ttl_s / 10;
	long long expires = (now_ms() / 1000 + ttl_s + step - 1) / step * step;
	char sig[65];

	storage_sign(method, key, expires, sig);
	snprintf(out, len, "%s/storage/%s?Expires=%lld&Signature=%s", g_base_url, key, expires,
		 sig);
}

/* One objects row by exact key: 0 and its fields (malloc'd), or -ENOENT. */
static int lookup_row(sqlite3 *db, const char *key, int *pub, char **ctype, char **gen)
{
	sqlite3_stmt *st = db_prep(db, "SELECT public, ctype, gen FROM objects WHERE key = ?");
	int r = -ENOENT;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*pub = sqlite3_column_int(st, 0) != 0;
		if (ctype)
			*ctype = strdup((const char *)sqlite3_column_text(st, 1));
		if (gen)
			*gen = sqlite3_column_text(st, 2)
				   ? strdup((const char *)sqlite3_column_text(st, 2))
				   : NULL;
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

/* A family row "<type>/<project>/<prefix>_*" with recipe
 * "street+<base>:<max>:<w>x<h>" stands for the objects <prefix>_<d>.<ext>,
 * d = 1..max, each generated as street:<base + d>:<w>x<h> (the synthetic
 * seed: N pictures, one row). */
static int lookup_family(sqlite3 *db, const char *key, int *pub, char **ctype, char **gen)
{
	const char *slash = strrchr(key, '/'), *us = strrchr(key, '_');
	char fam[600], *fgen = NULL, *end;
	unsigned long long d, base, max;
	int w, h, used = 0, rc;

	if (!slash || !us || us < slash || (size_t)(us - key) + 3 > sizeof(fam))
		return -ENOENT;
	d = strtoull(us + 1, &end, 10);
	if (end == us + 1 || (*end && *end != '.'))
		return -ENOENT;
	memcpy(fam, key, (size_t)(us - key) + 1);
	strcpy(fam + (us - key) + 1, "*");
	rc = lookup_row(db, fam, pub, ctype, &fgen);
	if (rc < 0)
		return rc;
	if (!fgen || sscanf(fgen, "street+%llu:%llu:%dx%d%n", &base, &max, &w, &h, &used) != 4 ||
	    fgen[used] || d < 1 || d > max) {
		free(fgen);
		if (ctype) {
			free(*ctype);
			*ctype = NULL;
		}
		return -ENOENT;
	}
	free(fgen);
	if (gen && asprintf(gen, "street:%llu:%dx%d", base + d, w, h) < 0)
		*gen = NULL;
	return 0;
}

int storage_lookup(sqlite3 *db, const char *key, int *pub, char **ctype, char **gen)
{
	int rc = lookup_row(db, key, pub, ctype, gen);

	return rc == -ENOENT ? lookup_family(db, key, pub, ctype, gen) : rc;
}

int storage_object_public(sqlite3 *db, const char *key)
{
	int pub = 0, rc = storage_lookup(db, key, &pub, NULL, NULL);

	return rc < 0 ? rc : pub;
}

int storage_stored_form(sqlite3 *db, const char *key, char *out, size_t len)
{
	int pub = storage_object_public(db, key);

	if (pub < 0)
		return pub;
	snprintf(out, len, "%s%s", pub ? "storage+public:" : "storage:", key);
	return 0;
}

char *storage_render(sqlite3 *db, const char *stored)
{
	char url[1024];

	(void)db;
	if (!stored)
		return NULL;
	if (!strncmp(stored, "storage+public:", 15)) {
		snprintf(url, sizeof(url), "%s/storage/%s", g_base_url, stored + 15);
		return strdup(url);
	}
	if (strncmp(stored, "storage:", 8))
		return strdup(stored);
	storage_signed_url(stored + 8, "GET", g_opts.url_ttl, url, sizeof(url));
	return strdup(url);
}

char *storage_render_bare(const char *stored)
{
	char url[1024];

	if (!stored)
		return NULL;
	if (!strncmp(stored, "storage+public:", 15) || !strncmp(stored, "storage:", 8)) {
		snprintf(url, sizeof(url), "%s/storage/%s", g_base_url, strchr(stored, ':') + 1);
		return strdup(url);
	}
	return strdup(stored);
}

json_t *storage_render_json(sqlite3 *db, const char *stored)
{
	char *u = storage_render(db, stored);
	json_t *j = u ? json_string(u) : json_null();

	free(u);
	return j;
}

int storage_key_of_url(const char *url, char *key, size_t keylen)
{
	size_t bl = strlen(g_base_url), kl;
	const char *p, *q;

	if (strncmp(url, g_base_url, bl) || strncmp(url + bl, "/storage/", 9))
		return 0;
	p = url + bl + 9;
	q = strchr(p, '?');
	kl = q ? (size_t)(q - p) : strlen(p);
	if (kl >= keylen)
		return -EINVAL;
	memcpy(key, p, kl);
	key[kl] = 0;
	return storage_key_ok(key) ? 1 : -EINVAL;
}

const char *storage_match_value(sqlite3 *db, const char *val, char *buf, size_t len)
{
	char key[600];

	if (storage_key_of_url(val, key, sizeof(key)) > 0 &&
	    storage_stored_form(db, key, buf, len) == 0)
		return buf;
	return val;
}

int storage_put(sqlite3 *db, const char *key, const char *ctype, const void *data, size_t len,
		int is_public, const char *gen)
{
	char path[4400], tmp[4500], dir[4400], *slash;
	sqlite3_stmt *st;
	char proj[25] = "";
	const char *a = strchr(key, '/');
	int fd;

	if (!storage_key_ok(key))
		return -EINVAL;
	memcpy(proj, a + 1, 24);
	snprintf(path, sizeof(path), "%s/%s", g_storage_dir, key);
	if (!gen) {
		snprintf(dir, sizeof(dir), "%s", path);
		for (slash = dir + strlen(g_storage_dir) + 1; (slash = strchr(slash, '/'));
		     slash++) {
			*slash = 0;
			if (mkdir(dir, 0700) < 0 && errno != EEXIST)
				return -errno;
			*slash = '/';
		}
		snprintf(tmp, sizeof(tmp), "%s.part", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		for (size_t off = 0; off < len;) {
			ssize_t w = write(fd, (const char *)data + off, len - off);
			if (w <= 0) {
				int e = errno ? errno : EIO;
				close(fd);
				unlink(tmp);
				return -e;
			}
			off += (size_t)w;
		}
		if (close(fd) < 0 || rename(tmp, path) < 0) {
			unlink(tmp);
			return -EIO;
		}
	}
	st = db_prep(db, "INSERT OR REPLACE INTO objects(key, project_id, type, ctype, size, "
			 "public, created_ms, gen) VALUES(?1, ?2, substr(?1, 1, instr(?1, '/') - "
			 "1), ?3, ?4, ?5, ?6, ?7)");
	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, proj, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ctype ? ctype : "application/octet-stream", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)len);
	sqlite3_bind_int(st, 5, is_public);
	sqlite3_bind_int64(st, 6, now_ms());
	if (gen)
		sqlite3_bind_text(st, 7, gen, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	fd = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return fd;
}
