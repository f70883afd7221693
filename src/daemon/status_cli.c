/*
 * status_cli.c - the status command. It asks nothing of the hub and knows
 * nothing of the daemon's internals: everything comes from MOUNT/.status,
 * the JSON file the daemon renders on each open (so `cat MOUNT/.status` and
 * this command always agree). This file only formats it: host, cache use
 * and limit, each export with its state and age, downloads in progress with
 * how far they are, and pending/failed writes with their messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "angofs/sysutil.h"
#include "status_cli.h"

#define STATUS_MAX (64 << 20)

static void human_size(long long n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lld B", n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void human_age(long long s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
}

static long long jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "project <id>: tasks.ndjson (stage X)" from an export entry */
static void export_name(json_t *x, char *buf, size_t len)
{
	const char *type = jstr(x, "type"), *fmt = jstr(x, "format");
	const char *stage = jstr(x, "stage"), *batch = jstr(x, "batch"), *pid = jstr(x, "project");
	const char *purpose = jstr(x, "purpose");
	char file[64];

	if (jstr(x, "path")) { /* the path under the mount, as users see it */
		snprintf(buf, len, "%s%s%s%s", jstr(x, "path"), purpose ? " (" : "",
			 purpose ? purpose : "", purpose ? ")" : "");
		return;
	}
	if (!pid) {
		snprintf(buf, len, "export %s", jstr(x, "id") ? jstr(x, "id") : "?");
		return;
	}
	snprintf(file, sizeof(file), "%s.%s", type && !strcmp(type, "issue") ? "issues" : "tasks",
		 fmt ? fmt : "json");
	snprintf(buf, len, "%s/export/%s%s%s%s%s%s%s", pid, stage ? "stage/" : "",
		 stage ? stage : "", stage ? "/" : "", batch ? "batch/" : "", batch ? batch : "",
		 batch ? "/" : "", file);
	if (purpose) {
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, " (%s)", purpose);
	}
}

static int read_status(const char *mnt, char **out, size_t *outlen)
{
	char path[4096];
	size_t len = 0;
	char *buf;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/.status", mnt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			fprintf(stderr, "angofs: %s is not an angofs mount (no %s)\n", mnt, path);
		else if (e == ENOTCONN)
			fprintf(stderr,
				"angofs: the daemon of %s is gone (%s); unmount it with: "
				"fusermount3 -u %s\n",
				mnt, strerror(e), mnt);
		else
			fprintf(stderr, "angofs: %s: %s\n", path, strerror(e));
		return -1;
	}
	rc = ao_sys_read_fd(fd, STATUS_MAX, &buf, &len);
	close(fd);
	if (rc == -EFBIG)
		fprintf(stderr, "angofs: %s: too large\n", path);
	else if (rc < 0)
		fprintf(stderr, "angofs: reading %s: %s\n", path, strerror(-rc));
	if (rc < 0)
		return -1;
	*out = buf;
	*outlen = len;
	return 0;
}

static void print_exports(json_t *xs, long long now)
{
	json_t *arr = json_object_get(xs, "exports"), *x;
	size_t i;
	int n_cached = 0, n_stale = 0, n_dl = 0, n_failed = 0;
	char a[32], b[32], name[1200];

	human_size(jint(xs, "cache_bytes"), a, sizeof(a));
	human_size(jint(xs, "cache_cap"), b, sizeof(b));
	printf("cache:       %s of %s used (export TTL %llds)\n", a, b, jint(xs, "ttl_s"));
	json_array_foreach(arr, i, x)
	{
		const char *st = jstr(x, "state");
		if (!st)
			continue;
		n_cached += !strcmp(st, "cached");
		n_stale += !strcmp(st, "stale");
		n_dl += !strcmp(st, "downloading");
		n_failed += !strcmp(st, "failed");
	}
	printf("exports:     %d cached, %d stale, %d downloading, %d failed\n", n_cached, n_stale,
	       n_dl, n_failed);
	json_array_foreach(arr, i, x)
	{
		const char *st = jstr(x, "state");
		if (!st || strcmp(st, "downloading"))
			continue;
		long long done = jint(x, "bytes_done"), total = jint(x, "bytes_total");
		export_name(x, name, sizeof(name));
		human_size(done, a, sizeof(a));
		if (total > 0) {
			human_size(total, b, sizeof(b));
			printf("  downloading  %s  %lld%% (%s of %s)\n", name, done * 100 / total,
			       a, b);
		} else {
			printf("  downloading  %s  %s so far\n", name, a);
		}
	}
	json_array_foreach(arr, i, x)
	{
		const char *st = jstr(x, "state");
		if (!st || !strcmp(st, "downloading"))
			continue;
		export_name(x, name, sizeof(name));
		if (!strcmp(st, "failed")) {
			const char *m = jstr(x, "last_error");
			printf("  failed       %s  %s\n", name, m ? m : "");
			continue;
		}
		human_size(jint(x, "size"), a, sizeof(a));
		human_age(now - jint(x, "fetched_at"), b, sizeof(b));
		char last[160] = "";
		json_t *lr = json_object_get(x, "last_refresh");
		if (lr && jstr(lr, "mode"))
			snprintf(last, sizeof(last), ", last refresh %s (%lld changed, %lld req)",
				 jstr(lr, "mode"), jint(lr, "changed"), jint(lr, "requests"));
		printf("  %-12s %s  %s, age %s%s%s\n", st, name, a, b,
		       jint(x, "open") > 0 ? ", open" : "", last);
	}
}

/* Exports whose record count differs from the hub's task count (or could
 * not be compared): silent on a clean mount. */
/* Pinned snapshots: path, size on disk, age (docs/DATASETS.md "Snapshots"). */
static void print_snapshots(json_t *arr, long long now)
{
	json_t *x;
	size_t i;
	char a[32], age[32];

	if (!json_array_size(arr))
		return;
	printf("snapshots:   %zu pinned\n", json_array_size(arr));
	json_array_foreach(arr, i, x)
	{
		human_size(jint(x, "bytes"), a, sizeof(a));
		human_age(now - jint(x, "created_ms") / 1000, age, sizeof(age));
		printf("  %s  %s, pinned %s ago\n", jstr(x, "path") ? jstr(x, "path") : "?", a,
		       age);
	}
}

static void print_completeness(json_t *arr)
{
	json_t *x;
	size_t i;

	json_array_foreach(arr, i, x)
	{
		const char *st = jstr(x, "state"), *m = jstr(x, "message");
		if (!st || !strcmp(st, "complete"))
			continue;
		printf("  %-12s %s%s%s/%s  %s\n", st, jstr(x, "project") ? jstr(x, "project") : "?",
		       jstr(x, "stage") ? "/stage " : "", jstr(x, "stage") ? jstr(x, "stage") : "",
		       jstr(x, "export") ? jstr(x, "export") : "?", m ? m : "");
	}
}

static void print_writes(json_t *w)
{
	json_t *pending = json_object_get(w, "pending"), *failed = json_object_get(w, "failed");
	json_t *x;
	size_t i;

	printf("writes:      %zu pending, %zu failed, %lld sent", json_array_size(pending),
	       json_array_size(failed), jint(w, "sent"));
	if (jint(w, "superseded"))
		printf(", %lld superseded by a newer write", jint(w, "superseded"));
	printf("\n");
	json_array_foreach(pending, i, x)
	{
		const char *m = jstr(x, "message");
		printf("  pending  %s/%s  %s%s%s\n", jstr(x, "project") ? jstr(x, "project") : "?",
		       jstr(x, "path") ? jstr(x, "path") : "?",
		       jstr(x, "state") ? jstr(x, "state") : "", m ? ": " : "", m ? m : "");
	}
	json_array_foreach(failed, i, x)
	{
		const char *m = jstr(x, "message");
		const char *st = jstr(x, "state");
		/* "uncertain": the hub may have applied it; listed with the failed */
		printf("  %-9s%s/%s  %s\n", st && !strcmp(st, "uncertain") ? "uncertain" : "failed",
		       jstr(x, "project") ? jstr(x, "project") : "?",
		       jstr(x, "path") ? jstr(x, "path") : "?", m ? m : "");
	}
}

/* -o poll: "off", or the interval, rounds, requests and the last change. */
static void print_poll(json_t *p, long long now)
{
	json_t *ch = json_object_get(p, "changes");
	json_t *last = json_array_get(ch, json_array_size(ch) - 1);
	char age[32] = "never";

	if (!p || jint(p, "interval_s") <= 0) {
		printf("poll:        off\n");
		return;
	}
	if (jint(p, "last_poll") > 0) {
		human_age(now - jint(p, "last_poll"), age, sizeof(age));
		strncat(age, " ago", sizeof(age) - strlen(age) - 1);
	}
	printf(
	    "poll:        every %llds, %zu project(s) read, %lld requests (%lld failed), last %s\n",
	    jint(p, "interval_s"), json_object_size(json_object_get(p, "projects")),
	    jint(p, "requests"), jint(p, "errors"), age);
	if (last)
		printf("  changed  %s  updatedAt %s, %lld tasks\n",
		       jstr(last, "project") ? jstr(last, "project") : "?",
		       jstr(last, "updatedAt") ? jstr(last, "updatedAt") : "?",
		       jint(last, "total"));
}

int ao_status_main(int argc, char **argv)
{
	const char *mnt = NULL;
	int as_json = 0;
	char *buf = NULL;
	size_t len = 0;
	json_error_t je;
	json_t *j;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			as_json = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf(
			    "usage: angofs --status MOUNTPOINT [--json]\n"
			    "Prints what the angofs daemon of MOUNTPOINT reports: host, cache\n"
			    "use and limit, exports cached and their age, downloads in progress,\n"
			    "pending and failed writes. --json prints MOUNTPOINT/.status as is.\n");
			return 0;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "angofs --status: unknown option '%s'\n", argv[i]);
			return 2;
		} else if (!mnt)
			mnt = argv[i];
		else {
			fprintf(stderr, "angofs --status: one mountpoint only ('%s')\n", argv[i]);
			return 2;
		}
	}
	if (!mnt) {
		fprintf(stderr, "usage: angofs --status MOUNTPOINT [--json]\n");
		return 2;
	}
	if (read_status(mnt, &buf, &len) < 0)
		return 1;
	if (as_json) {
		fwrite(buf, 1, len, stdout);
		free(buf);
		return 0;
	}
	j = json_loadb(buf, len, 0, &je);
	free(buf);
	if (!json_is_object(j)) {
		fprintf(stderr, "angofs: %s/.status is not a JSON object (%s)\n", mnt, je.text);
		json_decref(j);
		return 1;
	}
	long long now = json_object_get(j, "now") ? jint(j, "now") : (long long)time(NULL);
	char age[32];
	human_age(now - jint(j, "started_at"), age, sizeof(age));
	printf("mount:       %s (angofs %s, pid %lld, up %s%s)\n",
	       jstr(j, "mountpoint") ? jstr(j, "mountpoint") : mnt,
	       jstr(j, "angofs") ? jstr(j, "angofs") : "?", jint(j, "pid"), age,
	       json_is_true(json_object_get(j, "read_only")) ? ", read-only" : "");
	printf("host:        %s%s\n", jstr(j, "host") ? jstr(j, "host") : "?",
	       json_is_true(json_object_get(j, "offline")) ? " (offline: nothing is sent)" : "");
	printf("cache dir:   %s\n", jstr(j, "cache_dir") ? jstr(j, "cache_dir") : "?");
	if (jstr(j, "config"))
		printf("config:      %s\n", jstr(j, "config"));
	print_poll(json_object_get(j, "poll"), now);
	json_t *pt = json_object_get(j, "passthrough");
	if (json_is_true(json_object_get(pt, "on")))
		printf("passthrough: on\n");
	else if (pt)
		printf("passthrough: off (%s)\n", jstr(pt, "why_not") ? jstr(pt, "why_not") : "?");
	print_exports(json_object_get(j, "exports"), now);
	print_completeness(json_object_get(j, "completeness"));
	print_snapshots(json_object_get(j, "snapshots"), now);
	if (json_object_get(j, "writes"))
		print_writes(json_object_get(j, "writes"));
	json_decref(j);
	return 0;
}
