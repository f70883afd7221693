/*
 * main.c - angofs command line: options (a fuse_opt table, like sshfs), the
 * config file (its settings are put in front of the command line's -o
 * options, so the command line wins), the mount helper's calling convention
 * (`angofs SOURCE MOUNTPOINT -o opts`, as mount.fuse3 runs it for
 * `mount -t fuse.angofs` and fstab; fstab-only words are accepted and
 * dropped), the API key (environment or a private key file; never the command
 * line), wiring of hub client, export cache, core and write side, then the
 * multithreaded FUSE loop. Everything that can be checked is checked before
 * mounting, with a message naming the option and the value. `angofs --status
 * MOUNT` is the status command (status_cli.c).
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

#include "fuse_ops.h"
#include "status_cli.h"
#include <fuse_lowlevel.h>
#include "angofs/config.h"
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
	char *next_stage, *log_level, *config;
	char *api_key; /* refused */
	int debug, ro, offline;
	char *pos[2]; /* SOURCE MOUNTPOINT, or just MOUNTPOINT */
	int npos;
};

enum { KEY_RO, KEY_RW, KEY_DEBUG_FUSE, KEY_FSTAB };

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
	O("log_level=%s", log_level),
	O("config=%s", config),
	{"debug", offsetof(struct opts, debug), 1},
	{"offline", offsetof(struct opts, offline), 1},
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("-d", KEY_DEBUG_FUSE),
	/* fstab words meant for mount(8) and systemd, not for the filesystem */
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("owner", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("group", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("comment=", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("no_config", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END,
};

/* Names a config file may set: angofs's valued options and FUSE's, then the
 * flags (bare words). */
static const char *const conf_known[] = {
	"host", "api_key_file", "cache_dir", "cache_size", "export_ttl", "attr_timeout",
	"entry_timeout", "meta_ttl", "task_types", "rate_limit", "include_metadata",
	"include_history", "include_only_key_frames", "include_idle_blur_durations",
	"next_stage", "log_level",
	"umask", "uid", "gid", "fsname", "subtype", "max_read", "max_threads", "max_idle_threads",
	NULL,
};
static const char *const conf_flags[] = {
	"debug", "offline", "ro", "rw", "allow_other", "allow_root", "default_permissions",
	"auto_unmount", "noatime", "nosuid", "nodev", "noexec", "kernel_cache", "auto_cache",
	"clone_fd", NULL,
};
/* clang-format on */

static int proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct opts *o = data;
	(void)outargs;
	switch (key) {
	case KEY_RO:
		o->ro = 1;
		break;
	case KEY_RW:
		o->ro = 0;
		break;
	case KEY_DEBUG_FUSE:
		o->debug = 1;
		break;
	case FUSE_OPT_KEY_NONOPT:
		if (o->npos >= 2) {
			fprintf(stderr,
				"angofs: unexpected argument '%s' (usage: angofs "
				"[SOURCE] MOUNTPOINT [options])\n",
				arg);
			return -1;
		}
		o->pos[o->npos] = strdup(arg);
		if (!o->pos[o->npos])
			return -1;
		o->npos++;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (strncmp(arg, "x-", 2) == 0)
			return 0; /* x-systemd.*, x-gvfs-*: userspace mount options */
		break;
	default:
		break;
	}
	return 1; /* keep for FUSE */
}

/* First pass over the command line: only -o config=, no_config and whether
 * help/version was asked for (a broken config file must not hide --help). */
struct prescan {
	char *config;
	int no_config, info;
	char *pos[2];
	int npos;
};

static const struct fuse_opt prescan_spec[] = {
    {"config=%s", offsetof(struct prescan, config), 0},
    {"no_config", offsetof(struct prescan, no_config), 1},
    FUSE_OPT_END,
};

static int prescan_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct prescan *p = data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_OPT && (!strcmp(arg, "-h") || !strcmp(arg, "--help") ||
					!strcmp(arg, "-V") || !strcmp(arg, "--version")))
		p->info = 1;
	if (key == FUSE_OPT_KEY_NONOPT && p->npos < 2) {
		const char *hash = p->npos == 0 ? strchr(arg, '#') : NULL;
		p->pos[p->npos++] = strdup(hash ? hash + 1 : arg); /* angofs#SOURCE */
	}
	return 0;
}

/* SOURCE of `angofs SOURCE MOUNTPOINT`: a hub, or a placeholder word. */
static int source_is_host(const char *src)
{
	static const char *const words[] = {"angofs", "none", "ango", "fuse"};
	if (!src || !*src)
		return 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(src, words[i]))
			return 0;
	return 1;
}

static int add_escaped_opt(struct fuse_args *args, const char *name, const char *val)
{
	struct ao_conf_item it = {.name = (char *)name, .value = (char *)val};
	int skip, rc;
	char *a = ao_config_opt_arg(&it, NULL, &skip);
	if (!a)
		return -1;
	rc = fuse_opt_add_arg(args, "-o") < 0 || fuse_opt_add_arg(args, a) < 0 ? -1 : 0;
	free(a);
	return rc;
}

/* args = argv[0], the config file's settings as -o options, argv[1..]. */
static int merge_config(int argc, char *argv[], struct fuse_args *args, char **conf_used)
{
	struct fuse_args pre_args = FUSE_ARGS_INIT(argc, argv);
	struct prescan pre = {0};
	struct ao_conf conf = {0};
	struct ao_err e;
	char *path = NULL;
	int rc = -1, explicit = 0;

	*conf_used = NULL;
	if (fuse_opt_parse(&pre_args, &pre, prescan_spec, prescan_proc) < 0) {
		fuse_opt_free_args(&pre_args);
		return -1;
	}
	fuse_opt_free_args(&pre_args);
	if (fuse_opt_add_arg(args, argv[0]) < 0)
		goto out;
	if (pre.config) {
		path = strdup(pre.config);
		explicit = 1;
	} else if (!pre.no_config && ao_config_default_path(&path, &e) < 0) {
		path = NULL; /* no HOME: no default config */
	}
	if (path) {
		rc = ao_config_load(path, &conf, &e);
		if (rc == -ENOENT && !explicit) {
			rc = 0; /* no default config file: fine */
		} else if (rc == 0) {
			for (size_t i = 0; i < conf.n; i++)
				if (!strcmp(conf.items[i].name, "api_key") ||
				    !strcmp(conf.items[i].name, "apikey")) {
					rc = ao_errf(
					    &e, EINVAL,
					    "%s:%d: an API key in the config file is refused; "
					    "put it in a file of its own (chmod 600) and set "
					    "api_key_file = PATH",
					    conf.path, conf.items[i].line);
					break;
				}
			if (rc == 0)
				rc = ao_config_check(&conf, conf_known, conf_flags, &e);
		}
		if (rc < 0 && !pre.info) {
			fprintf(stderr, "angofs: %s\n", e.msg);
			goto out;
		}
		for (size_t i = 0; rc == 0 && i < conf.n; i++) {
			int skip;
			char *a = ao_config_opt_arg(&conf.items[i], conf_flags, &skip);
			if (!a && skip)
				continue;
			if (!a || fuse_opt_add_arg(args, "-o") < 0 ||
			    fuse_opt_add_arg(args, a) < 0) {
				free(a);
				goto out;
			}
			free(a);
		}
		if (rc == 0 && conf.n)
			*conf_used = strdup(path);
	}
	/* fsname shows in mount(8)/df; the SOURCE of the mount helper beats the
	 * config file's host, and -o host= on the command line beats both */
	const char *src = pre.npos == 2 && source_is_host(pre.pos[0]) ? pre.pos[0] : NULL;
	if (add_escaped_opt(args, "subtype", "angofs") < 0 ||
	    add_escaped_opt(args, "fsname", src ? src : "angofs") < 0 ||
	    (src && add_escaped_opt(args, "host", src) < 0))
		goto out;
	for (int i = 1; i < argc; i++)
		if (fuse_opt_add_arg(args, argv[i]) < 0)
			goto out;
	rc = 0;
out:
	ao_config_free(&conf);
	free(path);
	free(pre.config);
	free(pre.pos[0]);
	free(pre.pos[1]);
	return rc < 0 ? -1 : 0;
}

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
	return j;
}

static void usage(const char *prog)
{
	printf("usage: %s [SOURCE] MOUNTPOINT [options]\n"
	       "       %s --status MOUNTPOINT [--json]\n"
	       "\n"
	       "Shows the projects of an Ango Hub workspace as directories.\n"
	       "The API key comes from $ANGO_API_KEY or -o api_key_file=PATH.\n"
	       "SOURCE (what mount(8) and fstab pass first) is a hub like -o host=, or\n"
	       "'angofs' / 'none' for the configured one; -o host= wins over it.\n"
	       "Settings are read first from $XDG_CONFIG_HOME/angofs/config (one\n"
	       "'name = value' per line, same names as below); the command line wins.\n"
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
	       "    -o task_types=LIST      export taskTypes: default:consensus:benchmark\n"
	       "                            (',' only in the config file; default: not sent)\n"
	       "    -o next_stage=BOOL      answer.json writes also submit the task to its\n"
	       "                            next stage (default false)\n"
	       "    -o rate_limit=N         at most N API requests per minute (default 100;\n"
	       "                            0 = no client-side limit)\n"
	       "    -o log_level=LEVEL      error, warn, info (default: one line per hub\n"
	       "                            request) or debug\n"
	       "    -o debug                log_level=debug (also with -d)\n"
	       "    -o offline              send nothing to the hub: projects, project.json\n"
	       "                            and tasks/ pages as last seen online, cached\n"
	       "                            exports whatever their age; writes wait in the\n"
	       "                            spool until a mount without offline sends them\n"
	       "    -o config=PATH          read settings from PATH instead of the default\n"
	       "    -o no_config            read no config file\n"
	       "    _netdev,noauto,auto,user,users,nofail,defaults,x-*  fstab words, ignored\n"
	       "    --status MOUNTPOINT     print host, cache use, exports, downloads in\n"
	       "                            progress and pending/failed writes of a mount\n"
	       "    --version, -V           print versions\n"
	       "\n",
	       prog, prog, AO_DEFAULT_HOST);
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
static int cb_masks(void *ud, const char *pid, const char *tid, json_t **m, struct ao_err *e)
{
	return ao_core_task_masks(ud, pid, tid, m, e);
}
static json_t *writes_status(void *ud)
{
	return ud ? ao_writes_status(ud) : NULL;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts cl;
	struct info info;
	char *conf_used = NULL;
	int lvl;
	struct opts o;
	struct ao_err e;
	char *host = NULL, *key = NULL, *cache_dir = NULL, *task_types = NULL;
	char xdir[PATH_MAX], sdir[PATH_MAX], adir[PATH_MAX];
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
	memset(&info, 0, sizeof(info));
	ao_err_clear(&e);
	if (argc >= 2 && strcmp(argv[1], "--status") == 0)
		return ao_status_main(argc - 1, argv + 1);
	if (merge_config(argc, argv, &args, &conf_used) < 0)
		goto out;
	if (fuse_opt_parse(&args, &o, spec, proc) < 0)
		goto out;
	if (o.npos > 0 && fuse_opt_add_arg(&args, o.pos[o.npos - 1]) < 0)
		goto out;
	if (fuse_parse_cmdline(&args, &cl) < 0)
		goto out;
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
	if (o.log_level && !(o.debug || cl.debug)) {
		lvl = ao_log_level_from_name(o.log_level);
		if (lvl < 0) {
			fprintf(stderr,
				"angofs: log_level: '%s' is not a level (use error, warn, info or "
				"debug)\n",
				o.log_level);
			goto out;
		}
		ao_log_set_level((enum ao_log_level)lvl);
	}

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
	snprintf(adir, sizeof(adir), "%s/api", cache_dir);
	if (o.offline)
		ttl = LONG_MAX / 4; /* offline: a cached export is as good as it gets */

	/* the request budget is the key's: one state file per host and key
	 * (named by a hash, never the key), shared by every mount on this cache */
	char budget[4200], *hk = NULL;
	if (asprintf(&hk, "%s\n%s", host, key) < 0)
		hk = NULL;
	snprintf(budget, sizeof(budget), "%s/budget-%016llx", cache_dir,
		 hk ? ao_xcache_hash(hk) : 0ULL);
	if (hk)
		explicit_bzero(hk, strlen(hk));
	free(hk);
	struct hub_cfg hc = {.base_url = host,
			     .api_key = key,
			     .rate_per_minute = (int)rate,
			     .rate_state = budget,
			     .store_dir = adir,
			     .offline = o.offline};
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
	info.host = host;
	info.cache_dir = cache_dir;
	info.mountpoint = cl.mountpoint;
	info.config = conf_used;
	info.started = time(NULL);
	info.read_only = o.ro;
	info.next_stage = next_stage;
	info.offline = o.offline;
	struct ao_core_cfg ccfg = {.hub = hub,
				   .xc = xc,
				   .meta_ttl_s = meta_ttl,
				   .read_only = o.ro,
				   .uid = getuid(),
				   .gid = getgid(),
				   .extra_status = writes_status,
				   .status_info = status_info,
				   .status_info_ud = &info};
	core = ao_core_new(&ccfg, &e);
	if (!core) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		goto out;
	}
	struct ao_writes_cfg wcfg = {.hub = hub,
				     .spool_dir = sdir,
				     .next_stage = next_stage,
				     .flush_retry_ms = o.offline ? 0 : 30000,
				     .read_only = o.ro,
				     .ud = core,
				     .project_written = cb_project_written,
				     .task_written = cb_task_written,
				     .category_schema = cb_schema,
				     .read_answer = cb_answer,
				     .read_masks = cb_masks};
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
	ao_info("mounted %s (host %s%s, cache %s%s%s)", cl.mountpoint, host,
		o.offline ? ", offline" : "", cache_dir, conf_used ? ", config " : "",
		conf_used ? conf_used : "");
	sd_ready(cl.mountpoint);
	if (ao_fs_start(&fs) < 0)
		ao_warn("cannot start the invalidation thread");
	if (ao_writes_start(w, &e) < 0)
		ao_warn("write side: %s", e.msg);
	if (cl.singlethread) {
		ret = loop_status(fuse_loop(fuse));
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)cl.clone_fd);
		fuse_loop_cfg_set_idle_threads(lc, cl.max_idle_threads);
		if (cl.max_threads > 0 && cl.max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(lc, cl.max_threads);
		ret = loop_status(fuse_loop_mt(fuse, lc));
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
	free(conf_used);
	free(o.pos[0]);
	free(o.pos[1]);
	char **strs[] = {&o.log_level,	       &o.config,	   &o.host,
			 &o.api_key_file,      &o.cache_dir,	   &o.cache_size,
			 &o.export_ttl,	       &o.attr_timeout,	   &o.entry_timeout,
			 &o.meta_ttl,	       &o.task_types,	   &o.rate_limit,
			 &o.include_metadata,  &o.include_history, &o.include_only_key_frames,
			 &o.include_idle_blur, &o.next_stage,	   &o.api_key};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		free(*strs[i]);
	fuse_opt_free_args(&args);
	return ret;
}
