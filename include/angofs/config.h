/*
 * config.h - the angofs config file: the same settings as the -o mount
 * options, one per line, read before the command line so that the command
 * line wins (main.c prepends the file's settings to argv as -o options).
 *
 * Format (like ssh_config/rclone's simple files, nothing new to learn):
 *
 *     # comment            blank lines and lines starting with # or ; are ignored
 *     host = eu            name = value (spaces around '=' and the value are dropped;
 *     cache_size = 5G      a value may be "double quoted" to keep spaces)
 *     allow_other          a bare name is a flag (same as "allow_other = yes");
 *     debug = no           a flag set to no/false/off/0 is left out
 *
 * Values starting with "~/" are relative to $HOME. Default path:
 * $XDG_CONFIG_HOME/angofs/config, else $HOME/.config/angofs/config; a missing
 * default file is not an error, a missing file named with -o config= is.
 */
#ifndef ANGOFS_CONFIG_H
#define ANGOFS_CONFIG_H

#include <stddef.h>

#include "angofs/err.h"

struct ao_conf_item {
	char *name;
	char *value; /* NULL for a bare flag */
	int line;
};

struct ao_conf {
	char *path;
	struct ao_conf_item *items;
	size_t n;
};

/* $XDG_CONFIG_HOME/angofs/config or $HOME/.config/angofs/config (malloc'd). */
int ao_config_default_path(char **path, struct ao_err *err);

/* Parse path into conf (zeroed first). A missing file gives -ENOENT with a
 * message; syntax errors name the file and line. */
int ao_config_load(const char *path, struct ao_conf *conf, struct ao_err *err);

/* Parse text (the file's content) into conf; path is only used in messages. */
int ao_config_parse(const char *path, const char *text, struct ao_conf *conf, struct ao_err *err);

/* Every name must be in known[] (NULL-terminated) or in flags[]; a flag may
 * have a boolean value, other names need a value. -EINVAL naming file:line. */
int ao_config_check(const struct ao_conf *conf, const char *const *known, const char *const *flags,
		    struct ao_err *err);

/* The fuse_opt argument for one item: "name=value" with ',' and '\' escaped
 * by '\' (fuse_opt's escaping), or "name" for a flag (a name in flags[]);
 * NULL with *skip = 1 for a flag switched off ("debug = no"). malloc'd;
 * NULL with *skip = 0 is out of memory. */
char *ao_config_opt_arg(const struct ao_conf_item *it, const char *const *flags, int *skip);

void ao_config_free(struct ao_conf *conf);

#endif
