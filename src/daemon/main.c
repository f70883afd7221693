/*
 * main.c - the angofs daemon in three steps: parse (cmdline.c: options from
 * the table in opts_table.h, the config file, the API key; everything checked
 * before mounting), wire (the hub client, export cache, core and write side,
 * each given its config struct, and the FUSE adapter over them), run (mount,
 * daemonize, the multithreaded FUSE loop, teardown). `angofs --status MOUNT`
 * is the status command (status_cli.c), `angofs --prefetch PATH` the prefetch
 * command (prefetch_cli.c); stop.c turns a stop signal into an unmount.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "cmdline.h"
#include "prefetch_cli.h"
#include "status_cli.h"
#include "stop.h"
#include "angofs/cancel.h"
#include "angofs/core.h"
#include "angofs/export_cache.h"
#include "angofs/hash.h"
#include "angofs/hub.h"
#include "angofs/log.h"
#include "angofs/media.h"
#include "angofs/poll.h"
#include "angofs/router.h"
#include "angofs/views.h"
#include "angofs/writes.h"

/* systemd Type=notify: tell the service manager the mount is up. */
static void sd_ready(const char *mountpoint)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char msg[PATH_MAX + 64];
	socklen_t len;
	int fd;

	if (!sock || (sock[0] != '/' && sock[0] != '@') || strlen(sock) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, sock, strlen(sock));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract socket */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sock));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=mounted at %s\nMAINPID=%ld", mountpoint,
		 (long)getpid());
	if (sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, len) < 0)
		ao_warn("cannot notify systemd: %s", strerror(errno));
	close(fd);
	unsetenv("NOTIFY_SOCKET");
}

/* The loop returns the signal that ended it (libfuse's handlers): a stop
 * asked for with SIGTERM/SIGINT/SIGHUP (systemctl stop, Ctrl-C) is a clean
 * exit, anything else a failure. */
static int loop_status(int rc)
{
	return rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1;
}

/* Top-level members of MOUNT/.status (the status command reads them). */
struct info {
	const char *host, *cache_dir, *mountpoint, *config;
	time_t started;
	int read_only, next_stage, offline;
	struct ao_poll *poll; /* -o poll (NULL: off); set before mounting */
};

static json_t *status_info(void *ud)
{
	const struct info *in = ud;
	json_t *j =
	    json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:b,s:s}", "angofs", ANGOFS_VERSION, "host",
		      in->host, "cache_dir", in->cache_dir, "mountpoint", in->mountpoint, "pid",
		      (json_int_t)getpid(), "started_at", (json_int_t)in->started, "now",
		      (json_int_t)time(NULL), "read_only", in->read_only, "next_stage",
		      in->next_stage, "log_level", ao_log_level_name(ao_log_get_level()));
	if (j && in->offline)
		json_object_set_new(j, "offline", json_true());
	if (j && in->config)
		json_object_set_new(j, "config", json_string(in->config));
	if (j)
		json_object_set_new(j, "poll",
				    in->poll ? ao_poll_status(in->poll)
					     : json_pack("{s:i}", "interval_s", 0));
	return j;
}

/* Test knobs: environment variables the tests set to shorten waits and chunk
 * sizes. Read here, in the daemon, into the libraries' config structs (the
 * libraries read no environment). */
static long env_long(const char *name, long min)
{
	const char *v = getenv(name);

	return v && atol(v) >= min ? atol(v) : -1;
}

static void test_knobs(struct ao_writes_cfg *wc)
{
	long v;

	if ((v = env_long("ANGOFS_CHUNK_ITEMS", 1)) > 0)
		wc->chunk_items = v;
	if ((v = env_long("ANGOFS_CHUNK_BYTES", 4097)) > 0)
		wc->chunk_bytes = (size_t)v;
}

static json_t *writes_status(void *ud)
{
	return ud ? ao_writes_status(ud) : NULL;
}

/* The parts of a running daemon, built by wire() and torn down by unwire(). */
struct daemon {
	struct ao_cmdline c;
	char xdir[PATH_MAX], sdir[PATH_MAX], adir[PATH_MAX], ddir[PATH_MAX], mdir[PATH_MAX];
	char pdir[PATH_MAX]; /* pinned snapshots */
	struct info info;
	struct hub *hub;
	struct ao_xcache *xc;
	struct ao_media *media;
	struct ao_core *core;
	struct ao_writes *w;
	struct fuse_session *se;
	struct ao_fs fs;
	struct ao_poll *poll;
	int mounted;
};

/* Write-side callbacks into the core (ud: the daemon). A successful write
 * to a project can move a task's image to another class of the dataset
 * views: their names below datasets/ are dropped from the kernel (side
 * thread), so the next lookup holds the write too (read your writes). */
static struct ao_core *core_of(void *ud)
{
	return ((struct daemon *)ud)->core;
}
static void drop_view_names(struct daemon *d, const char *pid)
{
	char dir[PATH_MAX], alias[AO_ID_MAX + 2];

	if (ao_core_project_dir(d->core, pid, dir, sizeof(dir)) == 0)
		ao_fs_invalidate_entry(&d->fs, dir, "datasets");
	if (snprintf(alias, sizeof(alias), "/%s", pid) < (int)sizeof(alias))
		ao_fs_invalidate_entry(&d->fs, alias, "datasets");
}
static void cb_project_written(void *ud, const char *pid)
{
	ao_core_project_written(core_of(ud), pid);
	drop_view_names(ud, pid);
}
static void cb_asset_added(void *ud, const char *pid, const json_t *asset)
{
	ao_core_asset_added(core_of(ud), pid, asset);
	drop_view_names(ud, pid);
}
static void cb_task_written(void *ud, const char *pid, const char *tid)
{
	ao_core_task_written(core_of(ud), pid, tid);
}
static int cb_schema(void *ud, const char *pid, json_t **s, struct ao_err *e)
{
	return ao_core_category_schema(core_of(ud), pid, s, e);
}
static int cb_answer(void *ud, const char *pid, const char *tid, char **b, size_t *l,
		     struct ao_err *e)
{
	return ao_core_read_answer(core_of(ud), pid, tid, b, l, e);
}
static int cb_masks(void *ud, const char *pid, const char *tid, json_t **m, struct ao_err *e)
{
	return ao_core_task_masks(core_of(ud), pid, tid, m, e);
}

/* -o poll: a project changed on the hub (poll thread). The core has made its
 * exports and task cache stale; drop the kernel's view of the files a reader
 * polls (attributes and pages), and its entries below the directories whose
 * content can disappear (a deleted task, asset or image, an image that moved
 * to another class), from the adapter's side thread, under the project's
 * name and its id alias. */
static void cb_poll_changed(void *ud, const char *pid, const char *dir)
{
	static const char *const gone[] = {"tasks", "assets", "datasets"};
	static const char *const sub[] = {"",
					  "/project.json",
					  "/export",
					  "/export/tasks.json",
					  "/export/tasks.ndjson",
					  "/export/issues.json",
					  "/tasks",
					  "/assets"};
	struct daemon *d = ud;
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (snprintf(path, sizeof(path), "%s%s", dir, sub[i]) < (int)sizeof(path))
			ao_fs_invalidate(&d->fs, path);
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		ao_fs_invalidate_entry(&d->fs, dir, gone[i]);
		if (snprintf(path, sizeof(path), "/%s", pid) < (int)sizeof(path))
			ao_fs_invalidate_entry(&d->fs, path, gone[i]);
	}
}

static int wire_poll(struct daemon *d, struct ao_err *e)
{
	const struct ao_cmdline *c = &d->c;
	struct ao_poll_cfg pc = {.hub = d->hub,
				 .core = d->core,
				 .interval_s = c->v.poll,
				 .changed = cb_poll_changed,
				 .ud = d};

	if (c->v.poll == 0)
		return 0;
	if (c->v.poll > 86400)
		return ao_errf(e, EINVAL, "poll: '%ld' is more than a day (86400 seconds)",
			       c->v.poll);
	if (c->v.offline)
		return ao_errf(e, EINVAL,
			       "poll: an offline mount sends nothing to the hub; "
			       "drop poll= or offline");
	d->poll = ao_poll_new(&pc, e);
	d->info.poll = d->poll;
	return d->poll ? 0 : -1;
}

/* The request budget is the key's: one state file per host and key (named
 * by a hash, never the key), shared by every mount on this cache directory. */
static void budget_path(const struct ao_cmdline *c, char *buf, size_t n)
{
	char *hk = NULL;

	if (asprintf(&hk, "%s\n%s", c->host, c->key) < 0)
		hk = NULL;
	snprintf(buf, n, "%s/budget-%016llx", c->cache_dir, hk ? ao_hash_str(hk) : 0ULL);
	if (hk) {
		explicit_bzero(hk, strlen(hk));
		free(hk);
	}
}

static int wire_hub(struct daemon *d, struct ao_writes_cfg *wcfg, struct ao_err *e)
{
	const struct ao_cmdline *c = &d->c;
	char budget[4200];

	budget_path(c, budget, sizeof(budget));
	struct hub_cfg hc = {.base_url = c->host,
			     .api_key = c->key,
			     .rate_per_minute = (int)c->v.rate_limit,
			     .rate_state = budget,
			     .stall_timeout_s = c->v.stall_timeout,
			     .store_dir = d->adir,
			     .offline = c->v.offline};

	if (c->v.stall_timeout < 1) {
		explicit_bzero(c->key, strlen(c->key));
		return ao_errf(e, EINVAL, "stall_timeout: '%ld' must be at least 1 second",
			       c->v.stall_timeout);
	}
	test_knobs(wcfg);
	d->hub = hub_new(&hc, e);
	explicit_bzero(c->key, strlen(c->key));
	return d->hub ? 0 : -1;
}

/* -o split=T:V:T (two or three non-negative integers, not all 0) and
 * -o split_by=class into the core's fractions. */
static int split_opts(const struct ao_cmdline *c, struct ao_core_cfg *cc, struct ao_err *e)
{
	const char *s = c->v.split ? c->v.split : "80:10:10", *p = s;
	double part[3] = {0, 0, 0}, sum = 0;
	int n = 0;

	for (;;) {
		char *end;
		if (n == 3 || *p < '0' || *p > '9')
			goto bad;
		part[n] = (double)strtoul(p, &end, 10);
		sum += part[n++];
		p = end;
		if (*p == '\0')
			break;
		if (*p++ != ':')
			goto bad;
	}
	if (n < 2 || sum <= 0)
		goto bad;
	for (int i = 0; i < 3; i++)
		cc->split[i] = part[i] / sum;
	if (c->v.split_by && strcmp(c->v.split_by, "class") != 0)
		return ao_errf(e, EINVAL, "split_by: '%s' is not 'class'", c->v.split_by);
	cc->split_by_class = c->v.split_by != NULL;
	return 0;
bad:
	return ao_errf(e, EINVAL,
		       "split: '%s' is not TRAIN:VAL[:TEST] (non-negative integers, not all 0, "
		       "e.g. 80:10:10)",
		       s);
}

static int wire_core(struct daemon *d, struct ao_err *e)
{
	const struct ao_cmdline *c = &d->c;
	struct ao_xcache_cfg xcfg = {.hub = d->hub,
				     .dir = d->xdir,
				     .host = c->host,
				     .max_bytes = c->v.cache_size,
				     /* offline: a cached export is as good as it gets */
				     .ttl_s = c->v.offline ? LONG_MAX / 4 : c->v.export_ttl,
				     .include_metadata = c->v.include_metadata,
				     .include_history = c->v.include_history,
				     .include_only_key_frames = c->v.include_only_key_frames,
				     .include_idle_blur = c->v.include_idle_blur_durations,
				     .task_types_json = c->task_types_json,
				     .incr_full_s = c->v.incremental,
				     .first_bytes = c->v.first_bytes,
				     .pin_dir = d->pdir};
	struct ao_core_cfg ccfg = {.hub = d->hub,
				   .meta_ttl_s = c->v.meta_ttl,
				   .read_only = c->read_only,
				   .uid = getuid(),
				   .gid = getgid(),
				   .extra_status = writes_status,
				   .status_info = status_info,
				   .status_info_ud = &d->info,
				   .ds_dir = d->ddir,
				   .ds_class = c->v.imagefolder_class,
				   .mountpoint = c->cl.mountpoint,
				   .snap_dir = d->pdir,
				   .ds_grace_s = c->v.grace,
				   .shard_bytes = c->v.shard_size};

	/* assets and masks: the same directory protocol, cap and TTL as exports */
	struct ao_media_cfg mcfg = {.hub = d->hub,
				    .dir = d->mdir,
				    .xdir = d->xdir,
				    .pin_dir = d->pdir,
				    .host = c->host,
				    .max_bytes = c->v.cache_size,
				    .ttl_s = c->v.offline ? LONG_MAX / 4 : c->v.export_ttl};

	if (split_opts(c, &ccfg, e) < 0)
		return -1;
	d->xc = ao_xcache_new(&xcfg, e);
	if (!d->xc)
		return -1;
	d->media = ao_media_new(&mcfg, e);
	if (!d->media)
		return -1;
	ccfg.media = d->media;
	d->info = (struct info){.host = c->host,
				.cache_dir = c->cache_dir,
				.mountpoint = c->cl.mountpoint,
				.config = c->conf_used,
				.started = time(NULL),
				.read_only = c->read_only,
				.next_stage = c->v.next_stage,
				.offline = c->v.offline};
	ccfg.xc = d->xc;
	ccfg.views = ao_views(); /* datasets/, snapshots/, changes/ */
	d->core = ao_core_new(&ccfg, e);
	return d->core ? 0 : -1;
}

/* Hub client, export cache, core, write side, FUSE adapter; -1 after a message. */

static int wire(struct daemon *d)
{
	const struct ao_cmdline *c = &d->c;
	struct ao_writes_cfg wcfg = {.next_stage = c->v.next_stage,
				     .read_only = c->read_only,
				     .project_written = cb_project_written,
				     .asset_added = cb_asset_added,
				     .task_written = cb_task_written,
				     .category_schema = cb_schema,
				     .read_answer = cb_answer,
				     .read_masks = cb_masks};
	struct ao_err e;

	ao_err_clear(&e);
	snprintf(d->xdir, sizeof(d->xdir), "%s/exports", c->cache_dir);
	snprintf(d->sdir, sizeof(d->sdir), "%s/spool", c->cache_dir);
	snprintf(d->adir, sizeof(d->adir), "%s/api", c->cache_dir);
	snprintf(d->mdir, sizeof(d->mdir), "%s/media", c->cache_dir);
	snprintf(d->ddir, sizeof(d->ddir), "%s/datasets", c->cache_dir);
	snprintf(d->pdir, sizeof(d->pdir), "%s/snapshots", c->cache_dir);
	if (wire_hub(d, &wcfg, &e) < 0 || wire_core(d, &e) < 0 || wire_poll(d, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	wcfg.hub = d->hub;
	wcfg.spool_dir = d->sdir;
	wcfg.ud = d;
	d->w = ao_writes_new(&wcfg, &e);
	if (!d->w) {
		fprintf(stderr, "angofs: write side: %s\n", e.msg);
		return -1;
	}
	/* the core's status hook reads the write side through this pointer */
	ao_core_set_extra_ud(d->core, d->w);

	if (ao_fs_init(&d->fs) < 0) {
		fprintf(stderr, "angofs: out of memory\n");
		return -1;
	}
	/* an open waits at most 2 s for other handles of its path to close or
	 * agree (the kernel-cache policy); never with -s (one worker) */
	if (ao_router_init(&d->fs.router, d->core, d->w, c->read_only,
			   c->cl.singlethread ? 0 : 2000) < 0) {
		fprintf(stderr, "angofs: out of memory\n");
		return -1;
	}
	d->fs.ttl.attr = c->v.attr_timeout > 0 ? (double)c->v.attr_timeout : 0.0;
	d->fs.ttl.entry = c->v.entry_timeout > 0 ? (double)c->v.entry_timeout : 0.0;
	d->fs.ttl.negative = c->hl.negative_timeout;
	d->fs.set_uid = c->hl.set_uid;
	d->fs.uid = c->hl.uid;
	d->fs.set_gid = c->hl.set_gid;
	d->fs.gid = c->hl.gid;
	d->fs.set_umask = c->hl.set_umask;
	d->fs.umask = c->hl.umask;
	d->fs.cache_dir = c->cache_dir;
	d->fs.mountpoint = c->cl.mountpoint;
	d->se = fuse_session_new(&d->c.args, &ao_ll_ops, sizeof(ao_ll_ops), &d->fs);
	if (!d->se)
		return -1;
	d->fs.se = d->se;
	/* waits on downloads and the spool end with EINTR when the kernel
	 * interrupts the request because the reader got a signal that means
	 * "stop" (not SIGCHLD & co: ao_fs_interrupted) */
	ao_cancel_set_hook(ao_fs_interrupted);
	return 0;
}

static int loop(struct daemon *d)
{
	const struct fuse_cmdline_opts *cl = &d->c.cl;
	struct fuse_loop_config *lc;
	int rc;

	if (cl->singlethread)
		return loop_status(fuse_session_loop(d->se));
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)cl->clone_fd);
	/* fuse_parse_cmdline leaves max_idle_threads at UINT_MAX ("unset");
	 * libfuse 3.14 logs a bogus "invalid max threads value" for it */
	if (cl->max_idle_threads <= 100000)
		fuse_loop_cfg_set_idle_threads(lc, cl->max_idle_threads);
	if (cl->max_threads > 0 && cl->max_threads <= 100000)
		fuse_loop_cfg_set_max_threads(lc, (unsigned)cl->max_threads);
	rc = loop_status(fuse_session_loop_mt(d->se, lc));
	fuse_loop_cfg_destroy(lc);
	return rc;
}

/* Mount, daemonize, serve until unmounted or stopped; the exit status. */
static int run(struct daemon *d)
{
	const struct ao_cmdline *c = &d->c;
	struct ao_err e;
	int ret;

	if (fuse_session_mount(d->se, c->cl.mountpoint) != 0)
		return 1;
	d->mounted = 1;
	if (fuse_daemonize(c->cl.foreground) != 0)
		return 1;
	if (!c->cl.foreground)
		ao_log_use_syslog(1); /* stderr is /dev/null now */
	if (fuse_set_signal_handlers(d->se) != 0)
		return 1;
	if (ao_stop_start(d->se, c->cl.mountpoint, ao_fs_open_handles) < 0)
		ao_warn("cannot install the stop handler: a signal ends the mount at once");
	ao_info("mounted %s (host %s%s, cache %s%s%s)", c->cl.mountpoint, c->host,
		c->v.offline ? ", offline" : "", c->cache_dir, c->conf_used ? ", config " : "",
		c->conf_used ? c->conf_used : "");
	sd_ready(c->cl.mountpoint);
	if (ao_fs_start(&d->fs) < 0)
		ao_warn("cannot start the invalidation thread");
	if (ao_writes_start(d->w, &e) < 0)
		ao_warn("write side: %s", e.msg);
	if (d->poll && ao_poll_start(d->poll, &e) < 0)
		ao_warn("%s", e.msg);
	ret = loop(d);
	/* however it ended (a stop, `fusermount3 -u`): transfers still running
	 * in background threads are aborted, waits end (angofs/cancel.h) */
	ao_cancel_stop();
	ao_stop_end();
	if (ao_fs_open_handles() > 0)
		ao_warn("%d files or directories were still open when the mount ended: "
			"their release never came",
			ao_fs_open_handles());
	fuse_remove_signal_handlers(d->se);
	ao_info("unmounting %s", c->cl.mountpoint);
	return ret;
}

static void unwire(struct daemon *d)
{
	ao_poll_free(d->poll); /* first: its thread uses the hub, core and adapter */
	d->poll = NULL;
	ao_fs_stop(&d->fs);
	ao_xcache_drain(d->xc); /* merges still writing use the core's hooks */
	if (d->se) {
		if (d->mounted)
			fuse_session_unmount(d->se);
		fuse_session_destroy(d->se);
	}
	ao_router_destroy(&d->fs.router); /* no handle is left (ao_fs_stop) */
	ao_fs_destroy(&d->fs);
	ao_writes_free(d->w);
	ao_core_free(d->core);
	ao_media_free(d->media); /* after the core: no handle is left */
	ao_xcache_free(d->xc);
	hub_free(d->hub);
	ao_cmdline_free(&d->c);
}

int main(int argc, char *argv[])
{
	static struct daemon d; /* big (paths); zeroed */
	int rc, ret = 1;

	if (argc >= 2 && strcmp(argv[1], "--status") == 0)
		return ao_status_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "--prefetch") == 0)
		return ao_prefetch_main(argc - 1, argv + 1);
	rc = ao_cmdline_parse(argc, argv, &d.c);
	if (rc == 1)
		ret = 0; /* --help, --version */
	else if (rc == 0 && wire(&d) == 0)
		ret = run(&d);
	unwire(&d);
	return ret;
}
