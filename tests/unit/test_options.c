/* Unit test of option value parsing, key file checks and the rate limiter. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "angofs/options.h"
#include "angofs/ratelimit.h"
#include "t.h"

static void write_file(const char *path, const char *s, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0)
			perror("write");
		fchmod(fd, mode);
		close(fd);
	}
}

int main(void)
{
	struct ao_err e;
	char *s = NULL;
	long long sz;
	int b;
	long l;

	CHECK_INT(ao_opt_host("eu", &s, &e), 0);
	CHECK_STR(s, "https://imeritapi.ango.ai");
	free(s);
	CHECK_INT(ao_opt_host("US", &s, &e), 0);
	CHECK_STR(s, "https://us-api.ango.ai");
	free(s);
	CHECK_INT(ao_opt_host("in", &s, &e), 0);
	CHECK_STR(s, "https://in-api.ango.ai");
	free(s);
	CHECK_INT(ao_opt_host("test", &s, &e), 0);
	CHECK_STR(s, "https://testapi.ango.ai");
	free(s);
	CHECK_INT(ao_opt_host("http://127.0.0.1:8080/", &s, &e), 0);
	CHECK_STR(s, "http://127.0.0.1:8080");
	free(s);
	CHECK_INT(ao_opt_host("ftp://x", &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "ftp://x") != NULL);
	CHECK_INT(ao_opt_host("mars", &s, &e), -EINVAL);
	CHECK_INT(ao_opt_host("http://", &s, &e), -EINVAL);
	CHECK_INT(ao_opt_host("http://a b", &s, &e), -EINVAL);
	CHECK_INT(ao_opt_host("http://u:p@host", &s, &e), -EINVAL);

	CHECK_INT(ao_opt_size("10G", &sz, &e), 0);
	CHECK_INT(sz, 10LL << 30);
	CHECK_INT(ao_opt_size("500M", &sz, &e), 0);
	CHECK_INT(sz, 500LL << 20);
	CHECK_INT(ao_opt_size("1KiB", &sz, &e), 0);
	CHECK_INT(sz, 1024);
	CHECK_INT(ao_opt_size("123", &sz, &e), 0);
	CHECK_INT(sz, 123);
	CHECK_INT(ao_opt_size("12Q", &sz, &e), -EINVAL);
	CHECK_INT(ao_opt_size("-1G", &sz, &e), -EINVAL);
	CHECK_INT(ao_opt_size("99999999999T", &sz, &e), -EINVAL);

	CHECK_INT(ao_opt_bool("yes", &b, &e), 0);
	CHECK_INT(b, 1);
	CHECK_INT(ao_opt_bool("False", &b, &e), 0);
	CHECK_INT(b, 0);
	CHECK_INT(ao_opt_bool("maybe", &b, &e), -EINVAL);
	CHECK_INT(ao_opt_long("export_ttl", "60", &l, &e), 0);
	CHECK_INT(l, 60);
	CHECK_INT(ao_opt_long("export_ttl", "6x", &l, &e), -EINVAL);
	CHECK(strstr(e.msg, "export_ttl") != NULL);

	CHECK_INT(ao_opt_task_types("default,consensus", &s, &e), 0);
	CHECK_STR(s, "[\"default\",\"consensus\"]");
	free(s);
	CHECK_INT(ao_opt_task_types("default,bogus", &s, &e), -EINVAL);
	CHECK(strstr(e.msg, "bogus") != NULL);

	/* key file: private ok, readable by others refused, empty refused */
	char dir[] = "/tmp/angofs-unit-XXXXXX", path[256], *key = NULL;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/key", dir);
	write_file(path, "  secret-key-1\n", 0600);
	CHECK_INT(ao_opt_key_file(path, &key, &e), 0);
	CHECK_STR(key, "secret-key-1");
	free(key);
	write_file(path, "secret\n", 0644);
	CHECK_INT(ao_opt_key_file(path, &key, &e), -EACCES);
	CHECK(strstr(e.msg, "chmod 600") != NULL);
	CHECK(strstr(e.msg, "secret") == NULL); /* never echo the key */
	write_file(path, " \n", 0600);
	CHECK_INT(ao_opt_key_file(path, &key, &e), -EINVAL);
	write_file(path, "a\nb\n", 0600);
	CHECK_INT(ao_opt_key_file(path, &key, &e), -EINVAL);
	unlink(path);
	CHECK_INT(ao_opt_key_file(path, &key, &e), -ENOENT);

	/* private cache dir: created 0700, loosened one tightened */
	char cdir[300];
	struct stat st;
	snprintf(cdir, sizeof(cdir), "%s/a/b/cache", dir);
	CHECK_INT(ao_opt_mkdir_private(cdir, &e), 0);
	CHECK(stat(cdir, &st) == 0 && (st.st_mode & 0777) == 0700);
	chmod(cdir, 0755);
	CHECK_INT(ao_opt_mkdir_private(cdir, &e), 0);
	CHECK(stat(cdir, &st) == 0 && (st.st_mode & 0777) == 0700);
	rmdir(cdir);
	snprintf(cdir, sizeof(cdir), "%s/a/b", dir);
	rmdir(cdir);
	snprintf(cdir, sizeof(cdir), "%s/a", dir);
	rmdir(cdir);
	rmdir(dir);

	setenv("XDG_CACHE_HOME", "/x/cache", 1);
	CHECK_INT(ao_opt_default_cache_dir(&s, &e), 0);
	CHECK_STR(s, "/x/cache/angofs");
	free(s);
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	CHECK_INT(ao_opt_default_cache_dir(&s, &e), 0);
	CHECK_STR(s, "/home/u/.cache/angofs");
	free(s);

	/* rate limiter: 3 per minute over a sliding window (injected clock) */
	struct ao_ratelimit rl;
	CHECK_INT(ao_ratelimit_init(&rl, 3), 0);
	CHECK_INT(ao_ratelimit_reserve(&rl, 1000), 0);
	CHECK_INT(ao_ratelimit_reserve(&rl, 2000), 0);
	CHECK_INT(ao_ratelimit_reserve(&rl, 3000), 0);
	CHECK_INT(ao_ratelimit_reserve(&rl, 4000), 57000); /* until 1000 + 60000 */
	CHECK_INT(ao_ratelimit_reserve(&rl, 61000), 0);
	CHECK_INT(ao_ratelimit_reserve(&rl, 61500), 500);
	CHECK_INT(ao_ratelimit_reserve(&rl, 62000), 0);
	ao_ratelimit_destroy(&rl);
	CHECK_INT(ao_ratelimit_init(&rl, 0), 0);
	long long waits = 0;
	for (int i = 0; i < 1000; i++)
		waits += ao_ratelimit_reserve(&rl, 5);
	CHECK_INT(waits, 0); /* 0 = unlimited */
	ao_ratelimit_destroy(&rl);

	/* shared budget: two limiters (two daemons) on one state file count
	 * each other's requests, and a 429 seen by one holds back the other */
	char sdir[] = "/tmp/angofs-rl-XXXXXX", spath[64];
	CHECK(mkdtemp(sdir) != NULL);
	snprintf(spath, sizeof(spath), "%s/budget", sdir);
	struct ao_ratelimit ra, rb;
	CHECK_INT(ao_ratelimit_init(&ra, 3), 0);
	CHECK_INT(ao_ratelimit_init(&rb, 3), 0);
	CHECK_INT(ao_ratelimit_share(&ra, spath), 0);
	CHECK_INT(ao_ratelimit_share(&rb, spath), 0);
	CHECK_INT(ao_ratelimit_reserve(&ra, 1000), 0);
	CHECK_INT(ao_ratelimit_reserve(&rb, 2000), 0);
	CHECK_INT(ao_ratelimit_reserve(&ra, 3000), 0);
	CHECK_INT(ao_ratelimit_reserve(&rb, 4000), 57000);
	CHECK_INT(ao_ratelimit_reserve(&ra, 61000), 0);
	ao_ratelimit_penalize(&rb, 61000, 2000);
	CHECK_INT(ao_ratelimit_reserve(&ra, 62000), 1000); /* b's 429 slows a */
	CHECK_INT(ao_ratelimit_reserve(&ra, 63000), 0);
	ao_ratelimit_destroy(&ra);
	ao_ratelimit_destroy(&rb);
	unlink(spath);
	char lpath[80]; /* the budget's lock file, beside it */
	snprintf(lpath, sizeof(lpath), "%s.lock", spath);
	unlink(lpath);
	CHECK_INT(rmdir(sdir), 0);
	return t_done("options");
}
