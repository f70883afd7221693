/*
 * options.c - value parsers for mount options (see include/angofs/options.h).
 * Every refusal names the option and the offending value.
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

#include "angofs/options.h"
#include "angofs/sysutil.h"

static const struct {
	const char *name, *url;
} regions[] = {
    {"eu", "https://imeritapi.ango.ai"},
    {"us", "https://us-api.ango.ai"},
    {"in", "https://in-api.ango.ai"},
    {"test", "https://testapi.ango.ai"},
};

int ao_opt_host(const char *in, char **url, struct ao_err *err)
{
	size_t i, len;
	const char *rest;

	*url = NULL;
	if (!in || !*in)
		return ao_errf(err, EINVAL, "host: empty value (use eu, us, in, test or a URL)");
	for (i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
		if (strcasecmp(in, regions[i].name) == 0) {
			*url = strdup(regions[i].url);
			return *url ? 0 : ao_errf(err, ENOMEM, "out of memory");
		}
	if (strncasecmp(in, "http://", 7) == 0)
		rest = in + 7;
	else if (strncasecmp(in, "https://", 8) == 0)
		rest = in + 8;
	else
		return ao_errf(err, EINVAL,
			       "host: '%s' is neither a region (eu, us, in, test) nor an "
			       "http:// or https:// URL",
			       in);
	if (!*rest || *rest == '/' || *rest == ':')
		return ao_errf(err, EINVAL, "host: '%s' has no host name", in);
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '?' || *p == '#' || *p == '@')
			return ao_errf(err, EINVAL,
				       "host: '%s' contains a character not allowed here "
				       "(space, control, '?', '#' or '@')",
				       in);
	len = strlen(in);
	while (len > 0 && in[len - 1] == '/')
		len--;
	*url = strndup(in, len);
	return *url ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

int ao_opt_size(const char *in, long long *bytes, struct ao_err *err)
{
	char *end;
	unsigned long long v, mul = 1;

	if (!in || !isdigit((unsigned char)*in))
		return ao_errf(err, EINVAL, "cache_size: '%s' is not a size (e.g. 500M, 10G)",
			       in ? in : "");
	errno = 0;
	v = strtoull(in, &end, 10);
	if (errno)
		return ao_errf(err, EINVAL, "cache_size: '%s' is out of range", in);
	switch (toupper((unsigned char)*end)) {
	case 'K':
		mul = 1ULL << 10;
		end++;
		break;
	case 'M':
		mul = 1ULL << 20;
		end++;
		break;
	case 'G':
		mul = 1ULL << 30;
		end++;
		break;
	case 'T':
		mul = 1ULL << 40;
		end++;
		break;
	default:
		break;
	}
	if (mul > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return ao_errf(err, EINVAL, "cache_size: '%s' has an unknown unit (use K, M, G, T)",
			       in);
	if (v > (unsigned long long)LLONG_MAX / mul)
		return ao_errf(err, EINVAL, "cache_size: '%s' is out of range", in);
	*bytes = (long long)(v * mul);
	return 0;
}

int ao_opt_bool(const char *in, int *val, struct ao_err *err)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (in && strcasecmp(in, yes[i]) == 0) {
			*val = 1;
			return 0;
		}
		if (in && strcasecmp(in, no[i]) == 0) {
			*val = 0;
			return 0;
		}
	}
	return ao_errf(err, EINVAL, "'%s' is not a boolean (use true/false, 1/0, yes/no)",
		       in ? in : "");
}

int ao_opt_long(const char *name, const char *in, long *val, struct ao_err *err)
{
	char *end;
	long v;

	if (!in || !isdigit((unsigned char)*in))
		return ao_errf(err, EINVAL, "%s: '%s' is not a non-negative integer", name,
			       in ? in : "");
	errno = 0;
	v = strtol(in, &end, 10);
	if (errno || *end)
		return ao_errf(err, EINVAL, "%s: '%s' is not a non-negative integer", name, in);
	*val = v;
	return 0;
}

int ao_opt_task_types(const char *in, char **json, struct ao_err *err)
{
	static const char *const ok[] = {"default", "consensus", "benchmark"};
	char *copy, *tok, *save = NULL;
	size_t cap, n = 0;
	char *out;

	*json = NULL;
	if (!in || !*in)
		return ao_errf(err, EINVAL, "task_types: empty (use e.g. default,consensus)");
	copy = strdup(in);
	cap = strlen(in) * 3 + 8;
	out = malloc(cap);
	if (!copy || !out) {
		free(copy);
		free(out);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	strcpy(out, "[");
	for (tok = strtok_r(copy, ",:+", &save); tok; tok = strtok_r(NULL, ",:+", &save)) {
		int found = 0;
		for (size_t i = 0; i < 3; i++)
			if (strcmp(tok, ok[i]) == 0)
				found = 1;
		if (!found) {
			ao_errf(err, EINVAL,
				"task_types: unknown type '%s' (use default, consensus, benchmark)",
				tok);
			free(copy);
			free(out);
			return -EINVAL;
		}
		snprintf(out + strlen(out), cap - strlen(out), "%s\"%s\"", n ? "," : "", tok);
		n++;
	}
	free(copy);
	if (!n) {
		free(out);
		return ao_errf(err, EINVAL, "task_types: '%s' names no type", in);
	}
	strcat(out, "]");
	*json = out;
	return 0;
}

int ao_opt_key_file(const char *path, char **key, struct ao_err *err)
{
	struct stat st;
	char buf[4097];
	ssize_t n;
	int fd;

	*key = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ELOOP)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ao_errf(err, errno, "api_key_file '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ao_errf(err, EINVAL, "api_key_file '%s': not a regular file", path);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return ao_errf(err, EACCES,
			       "api_key_file '%s': group or others can access it (mode %03o); "
			       "run: chmod 600 '%s'",
			       path, (unsigned)(st.st_mode & 0777), path);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return ao_errf(err, errno, "api_key_file '%s': %s", path, strerror(errno));
	if (n == (ssize_t)sizeof(buf) - 1)
		return ao_errf(err, EINVAL, "api_key_file '%s': too large for an API key", path);
	buf[n] = '\0';
	char *s = buf, *e = buf + n;
	while (*s && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (!*s)
		return ao_errf(err, EINVAL, "api_key_file '%s': empty", path);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return ao_errf(err, EINVAL,
				       "api_key_file '%s': the key contains a control character "
				       "(more than one line?)",
				       path);
	*key = strdup(s);
	explicit_bzero(buf, sizeof(buf));
	return *key ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

int ao_opt_default_cache_dir(char **dir, struct ao_err *err)
{
	*dir = ao_sys_xdg_path("XDG_CACHE_HOME", ".cache", "angofs");
	if (!*dir && errno == ENOENT)
		return ao_errf(
		    err, EINVAL,
		    "no cache directory: set XDG_CACHE_HOME or HOME, or pass -o cache_dir=");
	return *dir ? 0 : ao_errf(err, ENOMEM, "out of memory");
}

int ao_opt_mkdir_private(const char *path, struct ao_err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	struct stat st;

	if (len == 0 || len >= sizeof(buf))
		return ao_errf(err, EINVAL, "cache_dir: bad path '%s'", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return ao_errf(err, errno, "creating '%s': %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return ao_errf(err, errno, "creating '%s': %s", buf, strerror(errno));
	if (stat(buf, &st) < 0)
		return ao_errf(err, errno, "'%s': %s", buf, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ao_errf(err, ENOTDIR, "'%s' is not a directory", buf);
	if ((st.st_mode & 0777) != 0700 && chmod(buf, 0700) < 0)
		return ao_errf(err, errno, "chmod 0700 '%s': %s", buf, strerror(errno));
	return 0;
}
