/*
 * prefetch_cli.c - `angofs --prefetch PATH...`: make the exports under PATH
 * (a mount, a project directory, its export/ directory or one export file)
 * present in the daemon's cache, so their sizes are true before an archiver
 * that trusts st_size (tar) or a size-based sync (rsync -a) looks at them.
 *
 * Design choice: like --status, this asks nothing of the hub and knows nothing
 * of the daemon's internals. Opening an export through the mount is what
 * fetches it (open waits until the file is complete in the cache and the
 * kernel's size is refreshed), so the command opens and closes each export
 * file; no byte is copied through the mount. Progress of the download in
 * flight shows in MOUNT/.status (`angofs --status MOUNT`); this command prints
 * one line per export, or with -b returns at once and goes on in a detached
 * child. Directories that hold no exports (tasks/, labels/,
 * attachments/) are not walked: listing tasks/ would cost requests.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prefetch_cli.h"

static int n_ok, n_failed;
static long long bytes_ok;
static int quiet, background;

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int is_export_file(const char *path)
{
	const char *b = base(path);
	size_t n = strlen(b);

	if (!strstr(path, "/export/") && strncmp(path, "export/", 7))
		return 0;
	return (n > 5 && !strcmp(b + n - 5, ".json")) || (n > 7 && !strcmp(b + n - 7, ".ndjson"));
}

static void fetch_one(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "angofs --prefetch: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		n_failed++;
		return;
	}
	close(fd);
	n_ok++;
	bytes_ok += st.st_size;
	if (!quiet)
		printf("prefetched %s (%lld bytes)\n", path, (long long)st.st_size);
	fflush(stdout);
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	const char *b = base(path);

	(void)st;
	if (type == FTW_D && ftw->level > 0 &&
	    (!strcmp(b, "tasks") || !strcmp(b, "labels") || !strcmp(b, "attachments")))
		return FTW_SKIP_SUBTREE;
	if (type == FTW_DNR || type == FTW_NS) {
		fprintf(stderr, "angofs --prefetch: %s: cannot read\n", path);
		n_failed++;
		return FTW_CONTINUE;
	}
	if (type == FTW_F && is_export_file(path))
		fetch_one(path);
	return FTW_CONTINUE;
}

/* -b: the work goes on in a detached child (its lines go nowhere; progress is
 * in MOUNT/.status); the command returns at once. */
static int go_background(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0) {
		fprintf(stderr, "angofs --prefetch: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		printf("prefetching in the background (pid %ld); progress: angofs --status "
		       "MOUNTPOINT\n",
		       (long)pid);
		fflush(stdout);
		_exit(0);
	}
	setsid();
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	quiet = 1;
	return 0;
}

int ao_prefetch_main(int argc, char **argv)
{
	int npaths = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf(
			    "usage: angofs --prefetch [-q] [-b] PATH...\n"
			    "Downloads every export under PATH (a mount, a project directory,\n"
			    "its export/ directory or one export file) into the daemon's cache,\n"
			    "so that stat shows true sizes and `tar`/`rsync -a` see complete\n"
			    "files. Progress of the download in flight: angofs --status MOUNT.\n"
			    "  -q  no line per export\n"
			    "  -b  return at once, go on in the background\n");
			return 0;
		}
		if (!strcmp(argv[i], "-q")) {
			quiet = 1;
			continue;
		}
		if (!strcmp(argv[i], "-b") || !strcmp(argv[i], "--background")) {
			background = 1;
			continue;
		}
		if (argv[i][0] == '-') {
			fprintf(stderr, "angofs --prefetch: unknown option '%s'\n", argv[i]);
			return 2;
		}
		npaths++;
	}
	if (!npaths) {
		fprintf(stderr, "usage: angofs --prefetch [-q] [-b] PATH...\n");
		return 2;
	}
	if (background && go_background() < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (argv[i][0] == '-')
			continue;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "angofs --prefetch: %s: %s\n", argv[i], strerror(errno));
			n_failed++;
		} else if (S_ISREG(st.st_mode)) {
			fetch_one(argv[i]);
		} else if (nftw(argv[i], visit, 16, FTW_PHYS | FTW_ACTIONRETVAL) < 0) {
			fprintf(stderr, "angofs --prefetch: %s: %s\n", argv[i], strerror(errno));
			n_failed++;
		}
	}
	printf("%d export%s prefetched (%lld bytes)%s", n_ok, n_ok == 1 ? "" : "s", bytes_ok,
	       n_failed ? "" : "\n");
	if (n_failed)
		printf(", %d failed\n", n_failed);
	return n_failed ? 1 : 0;
}
