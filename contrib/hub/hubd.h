/*
 * hubd.h - internal interface of angofs-hub, the local Ango Hub server.
 *
 * Design: one process, libmicrohttpd with a thread per connection (a slow or
 * stalled download never blocks other requests), SQLite in WAL mode behind a
 * small pool of connections (one per concurrent request, so a long export
 * cursor does not serialize the API). Route handlers are plain functions that
 * take a parsed request (struct req) and fill a reply (struct reply); the MHD
 * glue in server.c turns replies into HTTP responses, counts them and logs
 * them. Every fallible function follows the project's error convention:
 * return 0 (or a count) on success, -errno on failure with a message.
 */
#ifndef ANGOFS_HUBD_H
#define ANGOFS_HUBD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <jansson.h>

#define HUB_MAX_KEYS 16
#define HUB_BODY_MAX (512L * 1024 * 1024) /* largest accepted POST body */

/* ---- configuration and global state (main.c) ---- */
struct hub_opts {
	const char *db_path;
	char listen_host[64];
	unsigned port;
	const char *keys[HUB_MAX_KEYS];
	int nkeys;
	const char *seeds[16];
	int nseeds;
	int rate_limit;	 /* requests per minute per key, 0 = off */
	long export_ttl; /* seconds */
	int allow_remote;
	int verbose;
	int strict;   /* --profile strict: the less convenient reading (docs/HUB.md) */
	long url_ttl; /* seconds a signed storage URL stays valid */
	/* readings a client must not lean on (docs/HUB.md, Profiles): */
	int ignore_sort; /* --ignore-sort: list endpoints ignore `sort` */
	int page_cap;	 /* --page-cap N: lists serve at most N items a page (100) */
};

extern struct hub_opts g_opts;
extern char g_base_url[128];	 /* "http://127.0.0.1:PORT" once bound */
extern char g_exports_dir[4096]; /* "<db>.exports" */
extern atomic_int g_stopping;	 /* set on SIGTERM/SIGINT */

/* util.c */
int64_t now_ms(void);
void fmt_iso(int64_t ms, char out[32]);	   /* 2025-01-15T10:30:00.000Z */
int parse_iso(const char *s, int64_t *ms); /* accepts fractional seconds of any length */
uint64_t mix64(uint64_t x);
void make_id(char out[25], unsigned kind, uint64_t n); /* deterministic ObjectId-like hex */
int is_object_id(const char *s);		       /* 24 lower/upper hex chars */
void new_object_id(char out[25]);		       /* time-ordered, as MongoDB's */
void random_hex(char *out, size_t nbytes);	       /* 2*nbytes hex chars + NUL */
void sleep_ms_interruptible(long ms);
int key_index(const char *key);	      /* index in g_opts.keys or -1 */
void key_user(int idx, char out[64]); /* email-like user name for a key */
int parse_bool(const char *s, int dflt, int *out);

/* ---- database (db.c) ---- */
int db_open_pool(const char *path, int nconn, char *errbuf, size_t errlen);
void db_close_pool(void);
sqlite3 *db_acquire(void);
void db_release(sqlite3 *db);
/* Prepare a statement (the caller finalizes it); NULL and a log line on error. */
sqlite3_stmt *db_prep(sqlite3 *db, const char *sql);
int db_exec(sqlite3 *db, const char *sql);
/* Load a project's document (new ref) and ACL; 0, -ENOENT. */
int db_project_load(sqlite3 *db, const char *id, json_t **doc, char **acl);
int project_visible(const char *acl, const char *key);
/* The stage object with this id (borrowed) or NULL. */
json_t *project_stage(json_t *doc, const char *stage_id);
const char *stage_name(json_t *doc, const char *stage_id);
/* Find batch id by id or name; borrowed string or NULL. */
const char *project_batch_id(json_t *doc, const char *id_or_name);
/* The batch id a filter value names, by the profile's rule: lenient takes an
 * id or a name, strict only an id. NULL and a message naming the value (and,
 * for a name in strict, the id it should have been) in err. */
const char *batch_filter_id(json_t *doc, const char *value, const char *what, char *err,
			    size_t errlen);
const char *project_batch_name(json_t *doc, const char *id);
/* Build the LabelTask JSON of the task row at current stmt position (see
 * TASK_COLS). with_answer adds "answer". */
#define TASK_COLS                                                                                  \
	"t.id, t.project_id, t.asset_id, t.stage_id, t.status, t.answer, t.created_ms, "           \
	"t.updated_ms, t.updated_by, t.assignee, t.priority, t.duration_ms, t.task_type, "         \
	"t.completed_ms, t.completed_by, a.external_id, a.url, a.batches, a.metadata, t.seq, "     \
	"t.brush_url, t.medical_brush_url"
json_t *task_json_from_row(sqlite3_stmt *st, json_t *pdoc, int with_answer);
/* How a label/attachment item names its assets: 0 assetId, 1 externalId (every
 * asset with it), 2 data (asset URL, or an externalId); the first key present
 * wins. -1 if none. *value is the item's string (borrowed). asset_match_where
 * holds the matching WHERE clause over assets for each kind (?1 project, ?2 value);
 * each is served by an index. */
int item_match_kind(json_t *item, const char **value);
extern const char *const asset_match_where[3];
int db_seed_done(sqlite3 *db, const char *name);
int db_seed_mark(sqlite3 *db, const char *name);

/* ---- requests and replies (server.c) ---- */
struct req {
	void *conn; /* struct MHD_Connection * */
	const char *method;
	const char *path; /* without query */
	const char *apikey;
	int key_idx;
	const char *body;
	size_t body_len;
	char seg[4][256]; /* path segments after /v2 */
	int nseg;
};

struct reply {
	int status;
	char *body; /* malloc'd */
	size_t len;
	const char *ctype;
	char retry_after[16];
	void *mhd_resp; /* prebuilt struct MHD_Response * (downloads) */
	long long bytes_hint;
};

const char *req_arg(struct req *r, const char *name);
void reply_json(struct reply *out, int status, json_t *doc); /* steals doc */
void reply_ok(struct reply *out, json_t *data);		     /* envelope, steals data */
void reply_fail(struct reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_text(struct reply *out, int status, const char *ctype, const char *text);
/* The request body as a JSON object (new ref), or NULL with a 400 set: empty,
 * malformed, or not an object. expected names the accepted form in those
 * messages (NULL: "a JSON object"). */
json_t *parse_body(struct req *r, struct reply *out, const char *expected);

int server_start(char *errbuf, size_t errlen);
void server_stop(void);

/* ---- paging helpers (routes_read.c) ---- */
int parse_paging(struct req *r, struct reply *out, long *page, long *limit);
/* Load project by id with the standard 400/403/404 handling; 0 or -1 (reply set). */
int load_project_checked(sqlite3 *db, struct req *r, struct reply *out, const char *id,
			 json_t **doc);

/* ---- routes ---- */
void route_list_projects(struct req *r, struct reply *out);
void route_project(struct req *r, struct reply *out);
void route_project_tasks(struct req *r, struct reply *out);
void route_project_assets(struct req *r, struct reply *out);
void route_delete_assets(struct req *r, struct reply *out); /* routes_delete.c */
void route_task(struct req *r, struct reply *out);
void route_export(struct req *r, struct reply *out);
void route_import_labels(struct req *r, struct reply *out);
void route_attachments(struct req *r, struct reply *out);
void route_annotate(struct req *r, struct reply *out);
void route_get_signed_url(struct req *r, struct reply *out);
void route_get_upload_url(struct req *r, struct reply *out);
void route_project_cloud(struct req *r, struct reply *out);
struct fault_hit;
void route_download(struct req *r, struct reply *out, struct fault_hit *hit, long long *bytes_out);

/* ---- /annotate mask fields (masks.c) ---- */
struct mask_change {
	int set;     /* 0 = keep the stored value */
	char *value; /* new stored value (NULL = clear) when set */
};
/* [0] brushDataUrl, [1] medicalBrushDataUrl of an /annotate body, by the
 * profile's rule. 0, or -1 and a 400 message naming the field. */
int mask_parse(sqlite3 *db, json_t *body, struct mask_change mc[2], char *err, size_t errlen);
void mask_change_free(struct mask_change mc[2]);

/* ---- schema validation (schema_check.c) ---- */
/* Validate an answer object against a categorySchema and return the canonical
 * stored form {"tools":[],"classifications":[],"relations":[]} (new ref).
 * Accepts "objects" or "tools" for the tool list. On error returns NULL and
 * writes a message naming the problem (prefix is prepended, e.g. "item 3: "). */
json_t *answer_canonical(json_t *schema, json_t *answer, const char *prefix, char *err,
			 size_t errlen);

/* ---- faults and rate limit (faults.c) ---- */
struct fault_hit {
	int status; /* 0 = none */
	int retry_after;
	char message[256];
	long latency_ms;
	long long stall_after; /* -1 none */
	long long drop_after;  /* -1 none */
	int corrupt;
	unsigned stall_id;
	char *body; /* raw reply (malloc'd: the caller frees it) */
	int body_status;
	char redirect[1024]; /* download: 302 to this prefix + path */
	int zip;	     /* download: hostile zip kind (hostile_zip.c) */
	int apply;	     /* status fault: run the handler first, then answer status */
};
/* hostile_zip.c: kind number of a name (0 = unknown); an fd (at offset 0) of
 * an unlinked temporary zip built from the export at path, or -1. */
int hostile_zip_kind(const char *name);
int hostile_zip_open(int kind, const char *export_path);
void faults_init(int rate_limit);
/* Consume the faults that apply to one request of route_key. */
void faults_take(const char *route_key, int is_v2, struct fault_hit *hit);
int fault_active(unsigned id);
/* Admin: add from JSON (0 or -EINVAL + msg), list (new ref), clear. */
int faults_add(json_t *spec, char *err, size_t errlen);
json_t *faults_list(void);
void faults_clear(void);
/* Rate limit: 0 = allowed, else seconds to wait (for Retry-After); *limit = the
 * limit in force. */
int rate_check(const char *key, int *limit);
int route_key_known(const char *key);

/* ---- stats (stats.c) ---- */
void stats_count(const char *route_key);
void stats_log(const char *method, const char *path, const char *route_key, int status, double ms,
	       long long bytes, int apikey_present);
void stats_download_headers(const char *path, json_t *headers); /* steals headers */
json_t *stats_json(void);
void stats_reset(void);

/* ---- the wire log (capture.c): GET|DELETE /_admin/requests ---- */
void capture_request(struct req *r, int status);
json_t *capture_json(void); /* {"requests": [...]} oldest first */
void capture_clear(void);

/* ---- seeding (seed.c) ---- */
int seed_run(const char *spec, char *err, size_t errlen);

/* ---- JSON text helpers (jsontext.c) ---- */
/* Index just after the JSON value at s[i] (leading whitespace skipped), or (size_t)-1. */
size_t jt_skip_value(const char *s, size_t len, size_t i);
/* Copy JSON text without any object member named key (at any depth); *out is
 * malloc'd and NUL-terminated. 0, or -1 on malformed input. */
int jt_strip_key(const char *in, size_t len, const char *key, char **out, size_t *outlen);
/* Emit s as a JSON string literal (quotes, escapes; UTF-8 passes through). */
void jt_escape(const char *s, void (*put)(void *ud, const char *p, size_t n), void *ud);

/* ---- object storage (storage.c, storage_route.c, png.c) ---- */
extern char g_storage_dir[4096]; /* "<db>.storage" */
int storage_init(sqlite3 *db, char *err, size_t errlen);
int storage_type_known(const char *type);
int storage_name_ok(const char *name);
int storage_key_ok(const char *key); /* "<type>/<project id>/<name>" */
void storage_sign(const char *method, const char *key, long long expires, char out[65]);
void storage_signed_url(const char *key, const char *method, long ttl_s, char *out, size_t len);
/* An object by key (a family row counts, see storage.c): 0 and *pub, and
 * if asked its content type and generation recipe (malloc'd; *gen NULL for
 * a file), or -ENOENT. */
int storage_lookup(sqlite3 *db, const char *key, int *pub, char **ctype, char **gen);
/* 1 public, 0 private, -ENOENT */
int storage_object_public(sqlite3 *db, const char *key);
/* "storage:<key>" (private) or "storage+public:<key>" into out; -ENOENT. */
int storage_stored_form(sqlite3 *db, const char *key, char *out, size_t len);
/* A stored URL as shown to clients (malloc'd): "storage+public:<key>" becomes
 * the object URL, "storage:<key>" a signed GET URL; others are unchanged. */
char *storage_render(sqlite3 *db, const char *stored);
json_t *storage_render_json(sqlite3 *db, const char *stored); /* NULL -> json null */
/* A stored URL as its bare object URL (unsigned) for storage forms, else
 * unchanged (malloc'd; NULL for NULL). */
char *storage_render_bare(const char *stored);
/* 1 and the key if url points into this hub's storage, 0 if not, -EINVAL if
 * it does but names no valid key. */
int storage_key_of_url(const char *url, char *key, size_t keylen);
/* A label/attachment item's "data" value as stored: a URL into this
 * storage (signed or not) becomes "storage:<key>" in buf; others unchanged. */
const char *storage_match_value(sqlite3 *db, const char *val, char *buf, size_t len);
int storage_put(sqlite3 *db, const char *key, const char *ctype, const void *data, size_t len,
		int is_public, const char *gen);
/* Bytes of a generated object (malloc'd) from its recipe, or NULL. */
void *storage_generate(const char *gen, size_t *len);
/* hit: the request's faults (stall_after, drop_after, corrupt apply to
 * stored files, as to export downloads). */
void route_storage(struct req *r, struct reply *out, const struct fault_hit *hit,
		   long long *bytes_out);
/* A response of fd (size bytes, Range honoured) streamed with hit's
 * stall_after / drop_after / corrupt (download.c); takes fd. */
struct MHD_Response *download_file_faulted(struct req *r, struct reply *out, int fd, uint64_t size,
					   const struct fault_hit *hit, long long *bytes_out);
int http_parse_range(const char *h, uint64_t size, uint64_t *a, uint64_t *b);
/* S3-like XML error body (<Error><Code>..</Code><Message>..</Message>). */
void xml_error(struct reply *out, int status, const char *code, const char *msg);
/* Open a stored file for a reply: its descriptor with *sb filled, or -1 with
 * a 404 NoSuchKey set. */
struct stat;
int open_object(const char *path, struct stat *sb, struct reply *out);
/* Reply with a file of size bytes open on fd (taken: closed on every error),
 * honouring one "Range: bytes=A-[B]": 206 with Content-Range, else 200; both
 * say Accept-Ranges. make (NULL: libmicrohttpd streams from fd) builds the
 * response of count bytes starting at offset a (it owns fd from then on,
 * also when it fails). The response (its other headers are the caller's), or
 * NULL with a 416/500 set. */
struct MHD_Response;
typedef struct MHD_Response *(*reply_body_fn)(void *ctx, int fd, uint64_t a, uint64_t count);
struct MHD_Response *reply_file_range(struct req *r, struct reply *out, int fd, uint64_t size,
				      reply_body_fn make, void *ctx);

struct img {
	int w, h;
	unsigned char *px; /* RGBA rows */
};
struct img *img_new(int w, int h, uint32_t rgba);
void img_free(struct img *im);
void img_fill_rect(struct img *im, double x, double y, double w, double h, uint32_t rgba);
void img_fill_polygon(struct img *im, json_t *pts, uint32_t rgba);
void img_draw_answer(struct img *im, json_t *answer); /* boxes and polygons, class colours */
uint32_t img_class_color(const char *schema_id);
void *img_png(struct img *im, size_t *len); /* malloc'd PNG bytes */

/* ---- exports (export.c) ---- */
void exports_sweep(sqlite3 *db);

#endif
