/*
 * cmdline.h - the command line and config file of the daemon, generated from
 * the options table (opts_table.h): raw option texts as fuse_opt fills them,
 * typed values with defaults, and the checked values the daemon wires into the
 * hub client, export cache, core and write side (main.c). Every bad value is
 * refused here, before anything is mounted or sent, with a message naming the
 * option.
 */
#ifndef ANGOFS_CMDLINE_H
#define ANGOFS_CMDLINE_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312 /* as adapter.h */
#endif
#include <fuse_lowlevel.h>
#include <sys/types.h>

#include "opts_table.h"

#ifndef ANGOFS_VERSION
#define ANGOFS_VERSION "0.1.0"
#endif

/* What fuse_opt fills: the text of each option of the table (an int for FLAG). */
#define AO_RAW_STR(n) char *n;
#define AO_RAW_BOOL(n) char *n;
#define AO_RAW_LONG(n) char *n;
#define AO_RAW_SIZE(n) char *n;
#define AO_RAW_CLI(n) char *n;
#define AO_RAW_FLAG(n) int n;
#define AO_RAW_FIELD(name, kind, def, meta, help) AO_RAW_##kind(name)
struct ao_raw_opts {
	AO_OPTIONS(AO_RAW_FIELD)
	char *api_key; /* given only to be refused */
	int ro;	       /* -o ro (also passed on to FUSE) */
	char *pos[2];  /* SOURCE MOUNTPOINT, or just MOUNTPOINT */
	int npos;
};

/* Typed values, the table's default where an option was not given. */
#define AO_VAL_STR(n) const char *n;
#define AO_VAL_CLI(n) const char *n;
#define AO_VAL_BOOL(n) int n;
#define AO_VAL_FLAG(n) int n;
#define AO_VAL_LONG(n) long n;
#define AO_VAL_SIZE(n) long long n;
#define AO_VAL_FIELD(name, kind, def, meta, help) AO_VAL_##kind(name)
struct ao_opt_values {
	AO_OPTIONS(AO_VAL_FIELD)
};

/* The high-level FUSE library's options (angofs's adapter is on the
 * low-level API, which does not know them): mapped onto the adapter, or
 * accepted with no effect where angofs's kernel-cache policy decides
 * (cmdline.c, hl_spec). */
struct ao_hl_opts {
	int set_uid, set_gid, set_umask;
	unsigned uid, gid, umask;
	double negative_timeout; /* seconds a missing name is remembered */
	char *modules;		 /* refused: libfuse's module stack is the high-level's */
	int ignored;		 /* scratch for the options without effect */
	char *ignored_s;
};

struct ao_cmdline {
	struct fuse_args args;	     /* left for fuse_session_new() */
	struct fuse_cmdline_opts cl; /* mountpoint, foreground, threads */
	struct ao_raw_opts raw;
	struct ao_hl_opts hl;
	struct ao_opt_values v;
	char *conf_used;       /* the config file that set something, or NULL */
	char *host;	       /* checked base URL of the hub */
	char *key;	       /* the API key (wiped by ao_cmdline_free) */
	char *cache_dir;       /* created 0700 */
	char *task_types_json; /* JSON array text, or NULL */
	int read_only, debug;
};

/* Parse argv (config file first, the command line wins) and check every value.
 * 1: --help or --version printed (exit 0); 0: ready to mount; -1: a message
 * naming the problem was printed. Call ao_cmdline_free() in every case. */
int ao_cmdline_parse(int argc, char *argv[], struct ao_cmdline *c);
void ao_cmdline_free(struct ao_cmdline *c);

#endif
