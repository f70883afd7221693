/*
 * cmdline.c - the daemon's command line (cmdline.h): options (a fuse_opt table
 * generated from opts_table.h, like sshfs's), the config file (its settings are
 * put in front of the command line's -o options, so the command line wins),
 * the mount helper's calling convention (`angofs SOURCE MOUNTPOINT -o opts`, as
 * mount.fuse3 runs it for `mount -t fuse.angofs` and fstab; fstab-only words
 * are accepted and dropped), and the API key (environment or a private key
 * file; never the command line). Everything that can be checked is checked
 * here, before mounting, with a message naming the option and the value.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/config.h"
#include "angofs/log.h"
#include "angofs/options.h"
#include "cmdline.h"

enum { KEY_RO, KEY_RW, KEY_DEBUG_FUSE, KEY_FSTAB };

/* clang-format off */
#define SPEC_STR(n) {#n "=%s", offsetof(struct ao_raw_opts, n), 0},
#define SPEC_BOOL SPEC_STR
#define SPEC_LONG SPEC_STR
#define SPEC_SIZE SPEC_STR
#define SPEC_CLI SPEC_STR
#define SPEC_FLAG(n) {#n, offsetof(struct ao_raw_opts, n), 1},
#define SPEC(name, kind, def, meta, help) SPEC_##kind(name)
static const struct fuse_opt spec[] = {
	AO_OPTIONS(SPEC)
	{"api_key=%s", offsetof(struct ao_raw_opts, api_key), 0},
	{"apikey=%s", offsetof(struct ao_raw_opts, api_key), 0},
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

/* The high-level library's options (cmdline.h, struct ao_hl_opts). */
#define HL(t, f, v) {t, offsetof(struct ao_hl_opts, f), v}
static const struct fuse_opt hl_spec[] = {
	HL("uid=%u", uid, 0),
	HL("uid=", set_uid, 1),
	HL("gid=%u", gid, 0),
	HL("gid=", set_gid, 1),
	HL("umask=%o", umask, 0),
	HL("umask=", set_umask, 1),
	HL("negative_timeout=%lf", negative_timeout, 0),
	HL("modules=%s", modules, 0),
	/* no effect: the kernel-cache policy decides what the kernel caches,
	 * node ids are the adapter's */
	HL("kernel_cache", ignored, 1),
	HL("auto_cache", ignored, 1),
	HL("noauto_cache", ignored, 1),
	HL("ac_attr_timeout=%s", ignored_s, 0),
	HL("no_rofd_flush", ignored, 1),
	HL("noforget", ignored, 1),
	HL("remember=%s", ignored_s, 0),
	FUSE_OPT_END,
};

/* Names a config file may set: the table's valued options and FUSE's, then
 * the flags (bare words): the table's and FUSE's. */
#define CONFV_STR(n) #n,
#define CONFV_BOOL CONFV_STR
#define CONFV_LONG CONFV_STR
#define CONFV_SIZE CONFV_STR
#define CONFV_CLI(n)
#define CONFV_FLAG(n)
#define CONFV(name, kind, def, meta, help) CONFV_##kind(name)
static const char *const conf_known[] = {
	AO_OPTIONS(CONFV)
	"umask", "uid", "gid", "fsname", "subtype", "max_read", "max_threads", "max_idle_threads",
	NULL,
};
#define CONFF_FLAG(n) #n,
#define CONFF_STR(n)
#define CONFF_BOOL CONFF_STR
#define CONFF_LONG CONFF_STR
#define CONFF_SIZE CONFF_STR
#define CONFF_CLI CONFF_STR
#define CONFF(name, kind, def, meta, help) CONFF_##kind(name)
static const char *const conf_flags[] = {
	AO_OPTIONS(CONFF)
	"ro", "rw", "allow_other", "allow_root", "default_permissions",
	"auto_unmount", "noatime", "nosuid", "nodev", "noexec", "kernel_cache", "auto_cache",
	"clone_fd", NULL,
};

/* --help lines of the table */
#define HELP_FLAG(n, meta) "-o " #n
#define HELP_STR(n, meta) "-o " #n "=" meta
#define HELP_BOOL HELP_STR
#define HELP_LONG HELP_STR
#define HELP_SIZE HELP_STR
#define HELP_CLI HELP_STR
#define HELP(name, kind, def, meta, help) {HELP_##kind(name, meta), help},
static const struct {
	const char *left, *text;
} help_lines[] = {
	AO_OPTIONS(HELP)
	{"-o no_config", "read no config file"},
};
/* clang-format on */

static int proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct ao_raw_opts *o = data;
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

static void usage(const char *prog)
{
	printf("usage: %s [SOURCE] MOUNTPOINT [options]\n"
	       "       %s --status MOUNTPOINT [--json]\n"
	       "       %s --prefetch [-q] [-b] PATH...\n"
	       "\n"
	       "Shows the projects of an Ango Hub workspace as directories.\n"
	       "The API key comes from $ANGO_API_KEY or -o api_key_file=PATH.\n"
	       "SOURCE (what mount(8) and fstab pass first) is a hub like -o host=, or\n"
	       "'angofs' / 'none' for the configured one; -o host= wins over it.\n"
	       "Settings are read first from $XDG_CONFIG_HOME/angofs/config (one\n"
	       "'name = value' per line, same names as below); the command line wins.\n"
	       "\n"
	       "angofs options:\n",
	       prog, prog, prog);
	for (size_t i = 0; i < sizeof(help_lines) / sizeof(help_lines[0]); i++) {
		const char *t = help_lines[i].text, *nl;

		printf("    %-23s ", help_lines[i].left);
		while ((nl = strchr(t, '\n'))) {
			printf("%.*s\n%28s", (int)(nl - t), t, "");
			t = nl + 1;
		}
		printf("%s\n", t);
	}
	printf("    _netdev,noauto,auto,user,users,nofail,defaults,x-*  fstab words, ignored\n"
	       "    --status MOUNTPOINT     print host, cache use, exports, downloads in\n"
	       "                            progress and pending/failed writes of a mount\n"
	       "    --prefetch PATH...      download the exports under PATH into the cache\n"
	       "                            (true sizes before tar/rsync; see README)\n"
	       "    --version, -V           print versions\n"
	       "\n");
}

static int bool_opt(const char *name, const char *v, int def, int *out)
{
	struct ao_err e;

	*out = def;
	if (v && ao_opt_bool(v, out, &e) < 0) {
		fprintf(stderr, "angofs: %s: %s\n", name, e.msg);
		return -1;
	}
	return 0;
}

static int long_opt(const char *name, const char *v, long def, long *out)
{
	struct ao_err e;

	*out = def;
	if (v && ao_opt_long(name, v, out, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int size_opt(const char *name, const char *v, long long def, long long *out)
{
	struct ao_err e;

	(void)name;
	*out = def;
	if (v && ao_opt_size(v, out, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	return 0;
}

/* The table's typed values (defaults where not given); -1 after a message. */
static int typed_values(const struct ao_raw_opts *r, struct ao_opt_values *v)
{
	int rc = 0;

#define VAL_STR(n, def) v->n = r->n ? r->n : (def);
#define VAL_CLI VAL_STR
#define VAL_FLAG(n, def) v->n = r->n;
#define VAL_BOOL(n, def) rc = rc < 0 ? rc : bool_opt(#n, r->n, (def), &v->n);
#define VAL_LONG(n, def) rc = rc < 0 ? rc : long_opt(#n, r->n, (def), &v->n);
#define VAL_SIZE(n, def) rc = rc < 0 ? rc : size_opt(#n, r->n, (def), &v->n);
#define VAL(name, kind, def, meta, help) VAL_##kind(name, def)
	AO_OPTIONS(VAL)
	return rc;
}

/* argv -> c->args (config file first), c->raw and c->cl. 1: help/version. */
static int parse_args(int argc, char *argv[], struct ao_cmdline *c)
{
	if (merge_config(argc, argv, &c->args, &c->conf_used) < 0)
		return -1;
	if (fuse_opt_parse(&c->args, &c->raw, spec, proc) < 0)
		return -1;
	c->hl.negative_timeout = 1.0;
	if (fuse_opt_parse(&c->args, &c->hl, hl_spec, NULL) < 0)
		return -1;
	free(c->hl.ignored_s);
	c->hl.ignored_s = NULL;
	if (c->hl.modules) {
		fprintf(stderr,
			"angofs: modules=%s: FUSE modules (subdir, iconv) are not supported\n",
			c->hl.modules);
		return -1;
	}
	if (c->raw.npos > 0 && fuse_opt_add_arg(&c->args, c->raw.pos[c->raw.npos - 1]) < 0)
		return -1;
	if (fuse_parse_cmdline(&c->args, &c->cl) < 0)
		return -1;
	if (c->cl.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		printf("    -o umask=M             set file permissions (octal)\n"
		       "    -o uid=N               set file owner\n"
		       "    -o gid=N               set file group\n"
		       "    -o negative_timeout=T  cache timeout for missing names (1.0s)\n"
		       "    -o kernel_cache,auto_cache,noauto_cache,ac_attr_timeout=T,\n"
		       "       no_rofd_flush,noforget,remember=T\n"
		       "                           accepted, no effect (angofs's kernel-cache\n"
		       "                           policy decides)\n");
		return 1;
	}
	if (c->cl.show_version) {
		printf("angofs %s\nFUSE library %s\n", ANGOFS_VERSION, fuse_pkgversion());
		return 1;
	}
	if (c->raw.api_key) {
		explicit_bzero(c->raw.api_key, strlen(c->raw.api_key));
		fprintf(stderr,
			"angofs: -o api_key= is refused: a key on the command line is visible to "
			"every user (ps, /proc). Use ANGO_API_KEY=... or -o api_key_file=PATH.\n");
		return -1;
	}
	if (!c->cl.mountpoint) {
		fprintf(stderr, "angofs: no mountpoint given (see %s --help)\n", argv[0]);
		return -1;
	}
	return 0;
}

static int set_log_level(const struct ao_cmdline *c)
{
	int lvl;

	ao_log_set_debug(c->debug);
	if (!c->v.log_level || c->debug)
		return 0;
	lvl = ao_log_level_from_name(c->v.log_level);
	if (lvl < 0) {
		fprintf(stderr,
			"angofs: log_level: '%s' is not a level (use error, warn, info or debug)\n",
			c->v.log_level);
		return -1;
	}
	ao_log_set_level((enum ao_log_level)lvl);
	return 0;
}

/* The API key: a key file, else $ANGO_API_KEY (never passed on to children). */
static int load_key(struct ao_cmdline *c, struct ao_err *e)
{
	if (c->v.api_key_file) {
		if (ao_opt_key_file(c->v.api_key_file, &c->key, e) < 0) {
			fprintf(stderr, "angofs: %s\n", e->msg);
			return -1;
		}
	} else {
		const char *k = getenv("ANGO_API_KEY");

		if (!k || !*k) {
			fprintf(stderr, "angofs: no API key: set ANGO_API_KEY or pass "
					"-o api_key_file=PATH\n");
			return -1;
		}
		c->key = strdup(k);
	}
	unsetenv("ANGO_API_KEY"); /* children of the daemon never see it */
	return 0;
}

/* The values the table cannot check by kind: host, task types, key, cache. */
static int check_values(struct ao_cmdline *c)
{
	struct ao_err e;

	ao_err_clear(&e);
	if (c->v.task_types && ao_opt_task_types(c->v.task_types, &c->task_types_json, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	if (ao_opt_host(c->v.host, &c->host, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	if (load_key(c, &e) < 0)
		return -1;
	if (c->v.cache_dir)
		c->cache_dir = strdup(c->v.cache_dir);
	else if (ao_opt_default_cache_dir(&c->cache_dir, &e) < 0) {
		fprintf(stderr, "angofs: %s\n", e.msg);
		return -1;
	}
	if (!c->key || !c->cache_dir || ao_opt_mkdir_private(c->cache_dir, &e) < 0) {
		fprintf(stderr, "angofs: cache_dir: %s\n", e.msg[0] ? e.msg : "out of memory");
		return -1;
	}
	return 0;
}

int ao_cmdline_parse(int argc, char *argv[], struct ao_cmdline *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	rc = parse_args(argc, argv, c);
	if (rc != 0)
		return rc;
	c->debug = c->raw.debug || c->cl.debug;
	c->read_only = c->raw.ro;
	if (typed_values(&c->raw, &c->v) < 0 || set_log_level(c) < 0)
		return -1;
	return check_values(c) < 0 ? -1 : 0;
}

void ao_cmdline_free(struct ao_cmdline *c)
{
	if (c->key)
		explicit_bzero(c->key, strlen(c->key));
	free(c->key);
	free(c->host);
	free(c->cache_dir);
	free(c->task_types_json);
	free(c->cl.mountpoint);
	free(c->conf_used);
	free(c->raw.pos[0]);
	free(c->raw.pos[1]);
	free(c->raw.api_key);
	free(c->hl.modules);
	free(c->hl.ignored_s);
#define FREE_STR(n) free(c->raw.n);
#define FREE_BOOL FREE_STR
#define FREE_LONG FREE_STR
#define FREE_SIZE FREE_STR
#define FREE_CLI FREE_STR
#define FREE_FLAG(n)
#define FREE(name, kind, def, meta, help) FREE_##kind(name)
	AO_OPTIONS(FREE)
	fuse_opt_free_args(&c->args);
}
