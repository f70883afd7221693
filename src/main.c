/*
 * main.c - angofs command line: options (a fuse_opt table, like sshfs), the
 * API key (environment or a private key file; never the command line),
 * wiring of hub client, export cache, core and write side, then the
 * multithreaded FUSE loop. Everything that can be checked is checked before
 * mounting, with a message naming the option and the value.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse_ops.h"
#include <fuse_lowlevel.h>
#include "angofs/core.h"
#include "angofs/export_cache.h"
#include "angofs/hub.h"
#include "angofs/log.h"
#include "angofs/options.h"
#include "angofs/writes.h"

#ifndef ANGOFS_VERSION
#define ANGOFS_VERSION "0.1.0"
#endif

struct opts {
	char *host, *api_key_file, *cache_dir, *cache_size, *export_ttl;
	char *attr_timeout, *entry_timeout, *meta_ttl, *task_types, *rate_limit;
	char *include_metadata, *include_history, *include_only_key_frames, *include_idle_blur;
	char *next_stage;
	char *api_key; /* refused */
	int debug, ro;
};

enum { KEY_RO, KEY_DEBUG_FUSE };

/* clang-format off */
#define O(t, f) {t, offsetof(struct opts, f), 0}
static const struct fuse_opt spec[] = {
	O("host=%s", host),
	O("api_key_file=%s", api_key_file),
	O("api_key=%s", api_key),
	O("apikey=%s", api_key),
	O("cache_dir=%s", cache_dir),
	O("cache_size=%s", cache_size),
	O("export_ttl=%s", export_ttl),
	O("attr_timeout=%s", attr_timeout),
	O("entry_timeout=%s", entry_timeout),
	O("meta_ttl=%s", meta_ttl),
	O("task_types=%s", task_types),
	O("rate_limit=%s", rate_limit),
	O("include_metadata=%s", include_metadata),
	O("include_history=%s", include_history),
	O("include_only_key_frames=%s", include_only_key_frames),
	O("include_idle_blur_durations=%s", include_idle_blur),
	O("next_stage=%s", next_stage),
	{"debug", offsetof(struct opts, debug), 1},
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("-d", KEY_DEBUG_FUSE),
	FUSE_OPT_END,
};
/* clang-format on */

static int proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts *o = data;
	(void)arg;
	(void)outargs;
	if (key == KEY_RO)
		o->ro = 1;
	else if (key == KEY_DEBUG_FUSE)
		o->debug = 1;
	return 1; /* keep for FUSE */
}

static void usage(const char *prog)
{
	printf("usage: %s MOUNTPOINT [options]\n"
	       "\n"
	       "Shows the projects of an Ango Hub workspace as directories.\n"
	       "The API key comes from $ANGO_API_KEY or -o api_key_file=PATH.\n"
	       "\n"
	       "angofs options:\n"
	       "    -o host=URL|REGION      hub: eu (default, %s), us, in, test,\n"
	       "                            or http(s)://host[:port]\n"
	       "    -o api_key_file=PATH    read the API key from PATH (mode 600 or stricter)\n"
	       "    -o cache_dir=DIR        export cache (default $XDG_CACHE_HOME/angofs\n"
	       "                            or ~/.cache/angofs; created 0700)\n"
	       "    -o cache_size=SIZE      cap of cached exports, e.g. 500M, 10G (default 10G);\n"
	       "                            least recently used exports not open are evicted\n"
	       "    -o export_ttl=SECONDS   refetch exports older than this (default 3600);\n"
	       "                            `touch FILE` refreshes one export now\n"
	       "    -o meta_ttl=SECONDS     cache project list/projects/tasks (default 60)\n"
	       "    -o attr_timeout=SECONDS kernel attribute cache (default 10)\n"
	       "    -o entry_timeout=SECONDS kernel name cache (default 10)\n"
	       "    -o include_metadata=BOOL          export option (default true)\n"
	       "    -o include_history=BOOL           export option (default true)\n"
	       "    -o include_only_key_frames=BOOL   export option (default false)\n"
	       "    -o include_idle_blur_durations=BOOL export option (default false)\n"
	       "    -o task_types=LIST      export taskTypes: default,consensus,benchmark\n"
	       "                            (default: not sent, the hub's default)\n"
	       "    -o next_stage=BOOL      answer.json writes also submit the task to its\n"
	       "                            next stage (default false)\n"
	       "    -o rate_limit=N         at most N API requests per minute (default 100;\n"
	       "                            0 = no client-side limit)\n"
	       "    -o debug                verbose log (also with -d)\n"
	       "    --version, -V           print versions\n"
	       "\n",
	       prog, AO_DEFAULT_HOST);
}

static int bool_opt(const char *name, const char *v, int def, int *out)
{
	struct ao_err e;
	if (!v) {
		*out = def;
		return 0;
	}
	if (ao_parse_bool(v, out, &e) < 0) {
		fprintf(stderr, "angofs: %s: %s\n", name, e.msg);
		return -1;
	}
	return 0;
}

static int long_opt(const char *name, const char *v, long def, long *out)
{
	struct ao_err e;
	if (!v) {
		*out = def;
		return 0;
	}
	if (ao_parse_long(name, v, out, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	return 0;
}

/* Write-side callbacks into the core. */
static void cb_project_written(void *ud, const char *pid)
{
	ao_core_project_written(ud, pid);
}
static void cb_task_written(void *ud, const char *pid, const char *tid)
{
	ao_core_task_written(ud, pid, tid);
}
static int cb_schema(void *ud, const char *pid, json_t **s, struct ao_err *e)
{
	return ao_core_category_schema(ud, pid, s, e);
}
static int cb_answer(void *ud, const char *pid, const char *tid, char **b, size_t *l,
		     struct ao_err *e)
{
	return ao_core_read_answer(ud, pid, tid, b, l, e);
}
static json_t *writes_status(void *ud)
{
	return ud ? ao_writes_status(ud) : NULL;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cl;
	struct opts o;
	struct ao_err e;
	char *host = NULL, *key = NULL, *cache_dir = NULL, *task_types = NULL;
	char xdir[PATH_MAX], sdir[PATH_MAX];
	struct hub *hub = NULL;
	struct ao_xcache *xc = NULL;
	struct ao_core *core = NULL;
	struct ao_writes *w = NULL;
	struct fuse *fuse = NULL;
	struct ao_fs fs;
	int ret = 1, mounted = 0;

	memset(&o, 0, sizeof(o));
	memset(&cl, 0, sizeof(cl));
	memset(&fs, 0, sizeof(fs));
	ao_err_clear(&e);
	if (fuse_opt_parse(&args, &o, spec, proc) < 0)
		return 1;
	if (fuse_parse_cmdline(&args, &cl) < 0)
		return 1;
	if (cl.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lib_help(&args);
		ret = 0;
		goto out;
	}
	if (cl.show_version) {
		printf("angofs %s\nFUSE library %s\n", ANGOFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out;
	}
	if (o.api_key) {
		explicit_bzero(o.api_key, strlen(o.api_key));
		fprintf(stderr,
			"angofs: -o api_key= is refused: a key on the command line is visible to "
			"every user (ps, /proc). Use ANGO_API_KEY=... or -o api_key_file=PATH.\n");
		goto out;
	}
	if (!cl.mountpoint) {
		fprintf(stderr, "angofs: no mountpoint given (see %s --help)\n", argv[0]);
		goto out;
	}
	ao_log_set_debug(o.debug || cl.debug);

	int inc_meta, inc_hist, inc_kf, inc_blur, next_stage;
	long ttl, meta_ttl, rate, attr_to, entry_to;
	long long cache_size = 10LL << 30;
	if (bool_opt("include_metadata", o.include_metadata, 1, &inc_meta) < 0 ||
	    bool_opt("include_history", o.include_history, 1, &inc_hist) < 0 ||
	    bool_opt("include_only_key_frames", o.include_only_key_frames, 0, &inc_kf) < 0 ||
	    bool_opt("include_idle_blur_durations", o.include_idle_blur, 0, &inc_blur) < 0 ||
	    bool_opt("next_stage", o.next_stage, 0, &next_stage) < 0 ||
	    long_opt("export_ttl", o.export_ttl, 3600, &ttl) < 0 ||
	    long_opt("meta_ttl", o.meta_ttl, 60, &meta_ttl) < 0 ||
	    long_opt("rate_limit", o.rate_limit, 100, &rate) < 0 ||
	    long_opt("attr_timeout", o.attr_timeout, 10, &attr_to) < 0 ||
	    long_opt("entry_timeout", o.entry_timeout, 10, &entry_to) < 0)
		goto out;
	if (o.cache_size && ao_parse_size(o.cache_size, &cache_size, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	if (o.task_types && ao_parse_task_types(o.task_types, &task_types, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	if (ao_parse_host(o.host ? o.host : "eu", &host, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	if (o.api_key_file) {
		if (ao_load_key_file(o.api_key_file, &key, &e) < 0) {
			fprintf(stderr, "angofs: %s\n", e.msg);
			goto out;
		}
	} else {
		const char *k = getenv("ANGO_API_KEY");
		if (!k || !*k) {
			fprintf(stderr, "angofs: no API key: set ANGO_API_KEY or pass "
					"-o api_key_file=PATH\n");
			goto out;
		}
		key = strdup(k);
	}
	unsetenv("ANGO_API_KEY"); /* children of the daemon never see it */
	if (o.cache_dir)
		cache_dir = strdup(o.cache_dir);
	else if (ao_default_cache_dir(&cache_dir, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	if (!key || !cache_dir || ao_mkdir_private(cache_dir, &e) < 0) {
		fprintf(stderr, "angofs: cache_dir: %s\n", e.msg[0] ? e.msg : "out of memory");
		goto out;
	}
	snprintf(xdir, sizeof(xdir), "%s/exports", cache_dir);
	snprintf(sdir, sizeof(sdir), "%s/spool", cache_dir);

	struct hub_cfg hc = {.base_url = host, .api_key = key, .rate_per_minute = (int)rate};
	hub = hub_new(&hc, &e);
	explicit_bzero(key, strlen(key));
	if (!hub) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	struct ao_xcache_cfg xcfg = {.hub = hub,
				     .dir = xdir,
				     .host = host,
				     .max_bytes = cache_size,
				     .ttl_s = ttl,
				     .include_metadata = inc_meta,
				     .include_history = inc_hist,
				     .include_only_key_frames = inc_kf,
				     .include_idle_blur = inc_blur,
				     .task_types_json = task_types};
	xc = ao_xcache_new(&xcfg, &e);
	if (!xc) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	struct ao_core_cfg ccfg = {.hub = hub,
				   .xc = xc,
				   .meta_ttl_s = meta_ttl,
				   .read_only = o.ro,
				   .uid = getuid(),
				   .gid = getgid(),
				   .extra_status = writes_status};
	core = ao_core_new(&ccfg, &e);
	if (!core) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	struct ao_writes_cfg wcfg = {.hub = hub,
				     .spool_dir = sdir,
				     .next_stage = next_stage,
				     .flush_retry_ms = 30000,
				     .read_only = o.ro,
				     .ud = core,
				     .project_written = cb_project_written,
				     .task_written = cb_task_written,
				     .category_schema = cb_schema,
				     .read_answer = cb_answer};
	w = ao_writes_new(&wcfg, &e);
	if (!w) {
		fprintf(stderr, "angofs: write side: %s\n", e.msg);
		goto out;
	}
	/* the core's status hook reads the write side through this pointer */
	ao_core_set_extra_ud(core, w);

	ao_fs_init(&fs);
	fs.core = core;
	fs.w = w;
	fs.read_only = o.ro;
	fs.attr_timeout = attr_to > 0 ? (double)attr_to : 0.0;
	fs.entry_timeout = entry_to > 0 ? (double)entry_to : 0.0;
	fs.cache_dir = cache_dir;
	fuse = fuse_new(&args, &ao_fuse_ops, sizeof(ao_fuse_ops), &fs);
	if (!fuse)
		goto out;
	fs.fuse = fuse;
	if (fuse_mount(fuse, cl.mountpoint) != 0)
		goto out;
	mounted = 1;
	if (fuse_daemonize(cl.foreground) != 0)
		goto out;
	if (!cl.foreground)
		ao_log_use_syslog(1); /* stderr is /dev/null now */
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out;
	ao_info("mounted %s (host %s, cache %s)", cl.mountpoint, host, cache_dir);
	if (ao_fs_start(&fs) < 0)
		ao_warn("cannot start the invalidation thread");
	if (ao_writes_start(w, &e) < 0)
		ao_warn("write side: %s", e.msg);
	if (cl.singlethread) {
		ret = fuse_loop(fuse) ? 1 : 0;
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)cl.clone_fd);
		fuse_loop_cfg_set_idle_threads(lc, cl.max_idle_threads);
		if (cl.max_threads > 0 && cl.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(lc, cl.max_threads);
		ret = fuse_loop_mt(fuse, lc) ? 1 : 0;
		fuse_loop_cfg_destroy(lc);
	}
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	ao_info("unmounting %s", cl.mountpoint);
out:
	ao_fs_stop(&fs);
	if (fuse) {
		if (mounted)
			fuse_unmount(fuse);
		fuse_destroy(fuse);
	}
	ao_writes_free(w);
	ao_core_free(core);
	ao_xcache_free(xc);
	hub_free(hub);
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	free(host);
	free(cache_dir);
	free(task_types);
	free(cl.mountpoint);
	char **strs[] = {&o.host,
			 &o.api_key_file,
			 &o.cache_dir,
			 &o.cache_size,
			 &o.export_ttl,
			 &o.attr_timeout,
			 &o.entry_timeout,
			 &o.meta_ttl,
			 &o.task_types,
			 &o.rate_limit,
			 &o.include_metadata,
			 &o.include_history,
			 &o.include_only_key_frames,
			 &o.include_idle_blur,
			 &o.next_stage,
			 &o.api_key};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	fuse_opt_free_args(&args);
	return ret;
}
