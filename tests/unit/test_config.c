/* Unit test of the config file parser (src/daemon/config.c) and log level names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "angofs/config.h"
#include "angofs/log.h"
#include "t.h"

static const char *const known[] = {"host", "cache_size", "task_types", "api_key_file", NULL};
static const char *const flags[] = {"debug", "allow_other", "ro", NULL};

static int parse(const char *text, struct ao_conf *c, struct ao_err *e)
{
	ao_err_clear(e);
	return ao_config_parse("cfg", text, c, e);
}

int main(void)
{
	struct ao_conf c;
	struct ao_err e;
	char *s;
	int skip;

	/* comments, blanks, spaces, quotes, flags */
	CHECK_INT(parse("# c\n; c2\n\n  host =  eu  \ncache_size=\"10 G\"\r\nallow_other\n"
			"debug = no\ntask_types = default,consensus\n",
			&c, &e),
		  0);
	CHECK_INT(c.n, 5);
	CHECK_STR(c.items[0].name, "host");
	CHECK_STR(c.items[0].value, "eu");
	CHECK_INT(c.items[0].line, 4);
	CHECK_STR(c.items[1].value, "10 G");
	CHECK(c.items[2].value == NULL);
	CHECK_INT(c.items[2].line, 6);
	CHECK_INT(ao_config_check(&c, known, flags, &e), 0);
	s = ao_config_opt_arg(&c.items[2], flags, &skip);
	CHECK_STR(s, "allow_other");
	free(s);
	s = ao_config_opt_arg(&c.items[3], flags, &skip);
	CHECK(s == NULL && skip == 1);
	s = ao_config_opt_arg(&c.items[4], flags, &skip);
	CHECK_STR(s, "task_types=default\\,consensus"); /* fuse_opt's escaping */
	CHECK_INT(skip, 0);
	free(s);
	ao_config_free(&c);

	/* backslashes are escaped too */
	CHECK_INT(parse("host = a\\b,c\n", &c, &e), 0);
	s = ao_config_opt_arg(&c.items[0], flags, &skip);
	CHECK_STR(s, "host=a\\\\b\\,c");
	free(s);
	ao_config_free(&c);

	/* ~/ expands to $HOME */
	setenv("HOME", "/home/someone", 1);
	CHECK_INT(parse("api_key_file = ~/k\n", &c, &e), 0);
	CHECK_STR(c.items[0].value, "/home/someone/k");
	ao_config_free(&c);

	/* syntax errors name file and line */
	CHECK_INT(parse("\nhost eu\n", &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "cfg:2: expected '=' after 'host'") != NULL);
	CHECK_INT(parse("host = \"eu\n", &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "cfg:1: unterminated quote") != NULL);
	CHECK_INT(parse("host =   \n", &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "cfg:1: 'host' has an empty value") != NULL);
	CHECK_INT(parse("=x\n", &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "cfg:1: expected 'name = value'") != NULL);
	CHECK_INT(parse("host = a\x01b\n", &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "control character") != NULL);

	/* unknown names, flags with bad values, valued names without a value */
	CHECK_INT(parse("a = 1\nnope = 2\n", &c, &e), 0);
	CHECK_INT(ao_config_check(&c, known, flags, &e), -EINVAL);
	CHECK(strstr(e.msg, "cfg:1: unknown setting 'a'") != NULL);
	ao_config_free(&c);
	CHECK_INT(parse("ro = maybe\n", &c, &e), 0);
	CHECK_INT(ao_config_check(&c, known, flags, &e), -EINVAL);
	CHECK(strstr(e.msg, "'ro' is a flag") != NULL);
	ao_config_free(&c);
	CHECK_INT(parse("ro = YES\nhost\n", &c, &e), 0);
	CHECK_INT(ao_config_check(&c, known, flags, &e), -EINVAL);
	CHECK(strstr(e.msg, "cfg:2: 'host' needs a value") != NULL);
	ao_config_free(&c);

	/* files: missing, NUL bytes, a real one */
	char dir[] = "/tmp/angofs-config-XXXXXX", path[64];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/config", dir);
	CHECK_INT(ao_config_load(path, &c, &e), -ENOENT);
	CHECK(strstr(e.msg, path) != NULL);
	FILE *f = fopen(path, "w");
	fputs("host = us\n", f);
	fputc('\0', f);
	fclose(f);
	CHECK_INT(ao_config_load(path, &c, &e), -EINVAL);
	CHECK(strstr(e.msg, "NUL byte") != NULL);
	f = fopen(path, "w");
	fputs("host = us\nro\n", f);
	fclose(f);
	CHECK_INT(ao_config_load(path, &c, &e), 0);
	CHECK_INT(c.n, 2);
	CHECK_STR(c.path, path);
	ao_config_free(&c);
	CHECK_INT(ao_config_load(dir, &c, &e), -EINVAL); /* a directory */
	unlink(path);
	rmdir(dir);

	/* default path */
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	CHECK_INT(ao_config_default_path(&s, &e), 0);
	CHECK_STR(s, "/xdg/angofs/config");
	free(s);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	CHECK_INT(ao_config_default_path(&s, &e), 0);
	CHECK_STR(s, "/home/someone/.config/angofs/config");
	free(s);

	/* log level names */
	CHECK_INT(ao_log_level_from_name("error"), AO_LOG_ERROR);
	CHECK_INT(ao_log_level_from_name("WARNING"), AO_LOG_WARN);
	CHECK_INT(ao_log_level_from_name("info"), AO_LOG_INFO);
	CHECK_INT(ao_log_level_from_name("debug"), AO_LOG_DEBUG);
	CHECK_INT(ao_log_level_from_name("loud"), -1);
	ao_log_set_level(AO_LOG_WARN);
	CHECK_STR(ao_log_level_name(ao_log_get_level()), "warn");
	CHECK(!ao_log_debug_on());
	ao_log_set_debug(1);
	CHECK(ao_log_debug_on());
	return t_done("config");
}
