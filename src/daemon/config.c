/*
 * config.c - the config file (see include/angofs/config.h). The file is
 * small and read once at start-up, so it is slurped and parsed line by line
 * into name/value items; checking names against the option table is left to
 * the caller (main.c knows the table), which keeps this file FUSE-free and
 * unit-testable. Every refusal names the file and the line.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/config.h"
#include "angofs/sysutil.h"

#define CONF_MAX (1 << 20)

int ao_config_default_path(char **path, struct ao_err *err)
{
	*path = ao_sys_xdg_path("XDG_CONFIG_HOME", ".config", "angofs/config");
	if (!*path && errno == ENOENT)
		return ao_errf(err, ENOENT,
			       "no config directory: neither XDG_CONFIG_HOME nor HOME "
			       "is an absolute path");
	return *path ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

void ao_config_free(struct ao_conf *conf)
{
	if (!conf)
		return;
	for (size_t i = 0; i < conf->n; i++) {
		free(conf->items[i].name);
		free(conf->items[i].value);
	}
	free(conf->items);
	free(conf->path);
	memset(conf, 0, sizeof(*conf));
}

static int add_item(struct ao_conf *conf, const char *name, size_t nlen, const char *val,
		    size_t vlen, int line)
{
	struct ao_conf_item *it = realloc(conf->items, (conf->n + 1) * sizeof(*it));
	if (!it)
		return -ENOMEM;
	conf->items = it;
	it = &conf->items[conf->n];
	it->line = line;
	it->name = strndup(name, nlen);
	it->value = NULL;
	if (val) {
		const char *home = getenv("HOME");
		if (vlen >= 2 && val[0] == '~' && val[1] == '/' && home && home[0] == '/') {
			size_t hl = strlen(home);
			it->value = malloc(hl + vlen);
			if (it->value) {
				memcpy(it->value, home, hl);
				memcpy(it->value + hl, val + 1, vlen - 1);
				it->value[hl + vlen - 1] = '\0';
			}
		} else {
			it->value = strndup(val, vlen);
		}
	}
	if (!it->name || (val && !it->value)) {
		free(it->name);
		free(it->value);
		return -ENOMEM;
	}
	conf->n++;
	return 0;
}

static int parse_line(const char *path, int ln, const char *s, const char *e, struct ao_conf *conf,
		      struct ao_err *err)
{
	const char *name, *ne, *v = NULL, *ve = NULL;

	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (s == e || *s == '#' || *s == ';')
		return 0;
	for (const char *p = s; p < e; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			return ao_errf(err, EINVAL, "%s:%d: control character in the line", path,
				       ln);
	name = s;
	while (s < e && (isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
		s++;
	ne = s;
	if (ne == name)
		return ao_errf(err, EINVAL, "%s:%d: expected 'name = value', got '%.*s'", path, ln,
			       (int)(e - name), name);
	while (s < e && isspace((unsigned char)*s))
		s++;
	if (s < e) {
		if (*s != '=')
			return ao_errf(err, EINVAL,
				       "%s:%d: expected '=' after '%.*s' (one setting per line, "
				       "'name = value')",
				       path, ln, (int)(ne - name), name);
		s++;
		while (s < e && isspace((unsigned char)*s))
			s++;
		v = s;
		ve = e;
		if (ve > v && *v == '"') {
			if (ve - v < 2 || ve[-1] != '"')
				return ao_errf(err, EINVAL,
					       "%s:%d: unterminated quote in the value "
					       "of '%.*s'",
					       path, ln, (int)(ne - name), name);
			v++;
			ve--;
		}
		if (ve == v)
			return ao_errf(err, EINVAL, "%s:%d: '%.*s' has an empty value", path, ln,
				       (int)(ne - name), name);
	}
	if (add_item(conf, name, (size_t)(ne - name), v, v ? (size_t)(ve - v) : 0, ln) < 0)
		return ao_errf(err, ENOMEM, "out of memory");
	return 0;
}

int ao_config_parse(const char *path, const char *text, struct ao_conf *conf, struct ao_err *err)
{
	const char *s = text;
	int ln = 0, rc;

	memset(conf, 0, sizeof(*conf));
	conf->path = strdup(path);
	if (!conf->path)
		return ao_errf(err, ENOMEM, "out of memory");
	while (*s) {
		const char *e = strchr(s, '\n');
		if (!e)
			e = s + strlen(s);
		ln++;
		rc = parse_line(path, ln, s, e, conf, err);
		if (rc < 0) {
			ao_config_free(conf);
			return rc;
		}
		s = *e ? e + 1 : e;
	}
	return 0;
}

int ao_config_load(const char *path, struct ao_conf *conf, struct ao_err *err)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd, rc;

	memset(conf, 0, sizeof(*conf));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ao_errf(err, errno, "config file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ao_errf(err, EINVAL, "config file '%s': not a regular file", path);
	}
	rc = ao_sys_read_fd(fd, CONF_MAX, &buf, &got);
	close(fd);
	if (rc == -EFBIG)
		return ao_errf(err, EFBIG, "config file '%s': larger than %d bytes", path,
			       CONF_MAX);
	if (rc < 0)
		return ao_errf(err, -rc, "config file '%s': %s", path, strerror(-rc));
	if (strlen(buf) != got) {
		free(buf);
		return ao_errf(err, EINVAL, "config file '%s': contains a NUL byte (not text)",
			       path);
	}
	rc = ao_config_parse(path, buf, conf, err);
	free(buf);
	return rc;
}

static int in_list(const char *name, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(name, *list) == 0)
			return 1;
	return 0;
}

static int bool_word(const char *v, int *on)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*on = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*on = 0;
			return 0;
		}
	}
	return -1;
}

int ao_config_check(const struct ao_conf *conf, const char *const *known, const char *const *flags,
		    struct ao_err *err)
{
	for (size_t i = 0; i < conf->n; i++) {
		const struct ao_conf_item *it = &conf->items[i];
		int on;

		if (in_list(it->name, flags)) {
			if (it->value && bool_word(it->value, &on) < 0)
				return ao_errf(err, EINVAL,
					       "%s:%d: '%s' is a flag: give no value or yes/no "
					       "(got '%s')",
					       conf->path, it->line, it->name, it->value);
			continue;
		}
		if (!in_list(it->name, known))
			return ao_errf(err, EINVAL,
				       "%s:%d: unknown setting '%s' (see angofs --help)",
				       conf->path, it->line, it->name);
		if (!it->value)
			return ao_errf(err, EINVAL, "%s:%d: '%s' needs a value ('%s = ...')",
				       conf->path, it->line, it->name, it->name);
	}
	return 0;
}

char *ao_config_opt_arg(const struct ao_conf_item *it, const char *const *flags, int *skip)
{
	size_t nl = strlen(it->name), vl, k;
	int flag = in_list(it->name, flags), on = 1;
	char *out;

	*skip = 0;
	if (flag) {
		if (it->value && bool_word(it->value, &on) == 0 && !on) {
			*skip = 1;
			return NULL;
		}
		return strdup(it->name);
	}
	vl = it->value ? strlen(it->value) : 0;
	out = malloc(nl + 2 * vl + 2);
	if (!out)
		return NULL;
	memcpy(out, it->name, nl);
	k = nl;
	if (it->value) {
		out[k++] = '=';
		for (size_t i = 0; i < vl; i++) {
			if (it->value[i] == ',' || it->value[i] == '\\')
				out[k++] = '\\';
			out[k++] = it->value[i];
		}
	}
	out[k] = '\0';
	return out;
}
