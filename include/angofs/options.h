/*
 * options.h - parsing and checking of mount option values (FUSE-free, so the
 * unit tests cover them): host/region names, sizes like "10G", boolean words,
 * the API key file (refused when group or others may read it) and the private
 * cache directory. main.c maps the fuse_opt table onto these.
 */
#ifndef ANGOFS_OPTIONS_H
#define ANGOFS_OPTIONS_H

#include "angofs/err.h"

#define AO_DEFAULT_HOST "https://imeritapi.ango.ai"

/* "eu" | "us" | "in" | "test" | http(s)://host[:port][/prefix] -> malloc'd base
 * URL without trailing '/'. Anything else is EINVAL with a message. */
int ao_opt_host(const char *in, char **url, struct ao_err *err);

/* "1234", "500K", "10M", "10G", "1T" (powers of 1024, optional trailing "B"/"iB"). */
int ao_opt_size(const char *in, long long *bytes, struct ao_err *err);

/* "1"/"0", "true"/"false", "yes"/"no", "on"/"off". */
int ao_opt_bool(const char *in, int *val, struct ao_err *err);

/* Non-negative integer (seconds, counts). */
int ao_opt_long(const char *name, const char *in, long *val, struct ao_err *err);

/* task_types=default,consensus -> JSON array text '["default","consensus"]'
 * (malloc'd). Values must be default|consensus|benchmark. */
int ao_opt_task_types(const char *in, char **json, struct ao_err *err);

/* Read the key from path: a regular file not readable by group/others;
 * surrounding whitespace is dropped; empty is an error. */
int ao_opt_key_file(const char *path, char **key, struct ao_err *err);

/* $XDG_CACHE_HOME/angofs or $HOME/.cache/angofs (malloc'd). */
int ao_opt_default_cache_dir(char **dir, struct ao_err *err);

/* mkdir -p with mode 0700 for the last component (parents 0700 when created);
 * an existing last component is chmod'ed to 0700. */
int ao_opt_mkdir_private(const char *path, struct ao_err *err);

#endif
