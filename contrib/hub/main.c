/*
 * main.c - angofs-hub: command line, lifecycle and signals.
 *
 * Startup: parse options -> open the SQLite pool (creates the schema) -> run
 * the requested seeds (idempotent) -> start the HTTP server -> print the one
 * "listening" line. Signals are blocked in every thread and taken with
 * sigwait() in the main thread, so SIGTERM/SIGINT lead to one orderly path:
 * set g_stopping (ends latency sleeps and stalls), stop the MHD daemon (joins
 * the connection threads), close the database.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "hubd.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: angofs-hub --db FILE --listen 127.0.0.1:PORT --api-key KEY [options]\n"
	    "\n"
	    "A local, persistent Ango Hub (API v2) server for demos, tests and benchmarks.\n"
	    "\n"
	    "  --db FILE            SQLite database (created if missing); exports are\n"
	    "                       written under FILE.exports/\n"
	    "  --listen HOST:PORT   address to listen on; loopback only unless\n"
	    "                       --allow-remote; PORT 0 picks a free port\n"
	    "  --api-key KEY        an accepted API key (repeat for more, max %d)\n"
	    "  --seed demo          add the demo projects (idempotent)\n"
	    "  --seed synthetic:N   add project \"synthetic-N\" with N tasks (idempotent)\n"
	    "  --seed hostile       add projects with hostile names/data (tests)\n"
	    "  --rate-limit N       allow N requests per minute per key (429 beyond; 0 = off)\n"
	    "  --export-ttl SECS    lifetime of export download links (default 3600)\n"
	    "  --signed-url-ttl SECS\n"
	    "                       lifetime of signed storage URLs (default 120000, as\n"
	    "                       the real Hub's asset links)\n"
	    "  --profile lenient|strict\n"
	    "                       where the real Hub is undocumented: lenient (default)\n"
	    "                       accepts the convenient reading; strict takes the less\n"
	    "                       convenient one (export without stage = Complete tasks\n"
	    "                       only, without taskTypes = default tasks only; batch\n"
	    "                       filters take ids only; /annotate without brushDataUrl\n"
	    "                       clears the mask; issue exports in the documented Issue\n"
	    "                       model; and more: see docs/HUB.md, \"Profiles\").\n"
	    "  --ignore-sort        list endpoints ignore `sort` (a reading no client\n"
	    "                       should lean on: hub-api.md 5.3)\n"
	    "  --page-cap N         lists serve at most N items a page (1..100; default\n"
	    "                       100): a server page limit below the asked one\n"
	    "  --allow-remote       allow a non-loopback --listen address\n"
	    "  -v                   log every request to stderr\n"
	    "  --help               this text\n"
	    "\n"
	    "Prints \"angofs-hub: listening on http://HOST:PORT\" when ready. API under /v2;\n"
	    "admin API (loopback, no key): GET /_admin/stats, POST /_admin/stats/reset,\n"
	    "POST|GET|DELETE /_admin/faults, GET|DELETE /_admin/requests (the request\n"
	    "log with queries and bodies, for wire tests). Storage objects (masks, assets) under\n"
	    "/storage/, behind signed URLs. See docs/HUB.md.\n",
	    HUB_MAX_KEYS);
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "angofs-hub: %s: expected an integer in %ld..%ld, got \"%s\"\n",
			opt, lo, hi, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	struct in_addr a;
	long port;
	size_t hl;

	if (!colon) {
		fprintf(stderr, "angofs-hub: --listen: expected HOST:PORT, got \"%s\"\n", s);
		return -EINVAL;
	}
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= sizeof(g_opts.listen_host)) {
		fprintf(stderr, "angofs-hub: --listen: bad host in \"%s\"\n", s);
		return -EINVAL;
	}
	memcpy(g_opts.listen_host, s, hl);
	g_opts.listen_host[hl] = 0;
	if (!strcmp(g_opts.listen_host, "localhost"))
		strcpy(g_opts.listen_host, "127.0.0.1");
	if (inet_pton(AF_INET, g_opts.listen_host, &a) != 1) {
		fprintf(stderr, "angofs-hub: --listen: \"%s\" is not an IPv4 address\n",
			g_opts.listen_host);
		return -EINVAL;
	}
	if (parse_long("--listen port", colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	g_opts.port = (unsigned)port;
	return 0;
}

static int parse_args(int argc, char **argv)
{
	const char *listen = NULL;
	long v;
	int i;

	g_opts.export_ttl = 3600;
	g_opts.url_ttl = 120000;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = !strcmp(a, "--db") || !strcmp(a, "--listen") ||
			    !strcmp(a, "--api-key") || !strcmp(a, "--seed") ||
			    !strcmp(a, "--rate-limit") || !strcmp(a, "--export-ttl") ||
			    !strcmp(a, "--profile") || !strcmp(a, "--signed-url-ttl") ||
			    !strcmp(a, "--page-cap");

		if (takes && !val) {
			fprintf(stderr, "angofs-hub: %s needs a value\n", a);
			return -EINVAL;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--db")) {
			g_opts.db_path = val;
		} else if (!strcmp(a, "--listen")) {
			listen = val;
		} else if (!strcmp(a, "--api-key")) {
			if (!*val || g_opts.nkeys >= HUB_MAX_KEYS) {
				fprintf(stderr,
					"angofs-hub: --api-key: empty key or more than %d keys\n",
					HUB_MAX_KEYS);
				return -EINVAL;
			}
			g_opts.keys[g_opts.nkeys++] = val;
		} else if (!strcmp(a, "--seed")) {
			if (g_opts.nseeds >= 16) {
				fprintf(stderr, "angofs-hub: too many --seed options\n");
				return -EINVAL;
			}
			g_opts.seeds[g_opts.nseeds++] = val;
		} else if (!strcmp(a, "--rate-limit")) {
			if (parse_long(a, val, 0, 1000000, &v) < 0)
				return -EINVAL;
			g_opts.rate_limit = (int)v;
		} else if (!strcmp(a, "--export-ttl")) {
			if (parse_long(a, val, 1, 365L * 86400, &v) < 0)
				return -EINVAL;
			g_opts.export_ttl = v;
		} else if (!strcmp(a, "--signed-url-ttl")) {
			if (parse_long(a, val, 1, 365L * 86400, &v) < 0)
				return -EINVAL;
			g_opts.url_ttl = v;
		} else if (!strcmp(a, "--profile")) {
			if (strcmp(val, "strict") && strcmp(val, "lenient")) {
				fprintf(stderr,
					"angofs-hub: --profile: expected strict or lenient, got "
					"\"%s\"\n",
					val);
				return -EINVAL;
			}
			g_opts.strict = !strcmp(val, "strict");
		} else if (!strcmp(a, "--ignore-sort")) {
			g_opts.ignore_sort = 1;
		} else if (!strcmp(a, "--page-cap")) {
			if (parse_long(a, val, 1, 100, &v) < 0)
				return -EINVAL;
			g_opts.page_cap = (int)v;
		} else if (!strcmp(a, "--allow-remote")) {
			g_opts.allow_remote = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			g_opts.verbose = 1;
		} else {
			fprintf(stderr, "angofs-hub: unknown option \"%s\" (see --help)\n", a);
			return -EINVAL;
		}
		if (takes)
			i++;
	}
	if (!g_opts.db_path || !listen || !g_opts.nkeys) {
		fprintf(stderr,
			"angofs-hub: --db, --listen and --api-key are required (see --help)\n");
		return -EINVAL;
	}
	if (parse_listen(listen) < 0)
		return -EINVAL;
	if (strncmp(g_opts.listen_host, "127.", 4) && !g_opts.allow_remote) {
		fprintf(
		    stderr,
		    "angofs-hub: refusing to listen on non-loopback %s without --allow-remote\n",
		    g_opts.listen_host);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char err[1024];
	sigset_t set;
	int sig, i;
	sqlite3 *db;

	if (parse_args(argc, argv) < 0)
		return 2;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(g_exports_dir, sizeof(g_exports_dir), "%s.exports", g_opts.db_path);
	if (mkdir(g_exports_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "angofs-hub: cannot create %s: %s\n", g_exports_dir,
			strerror(errno));
		return 1;
	}
	if (db_open_pool(g_opts.db_path, 8, err, sizeof(err)) < 0) {
		fprintf(stderr, "angofs-hub: %s\n", err);
		return 1;
	}
	db = db_acquire();
	i = storage_init(db, err, sizeof(err));
	db_release(db);
	if (i < 0) {
		fprintf(stderr, "angofs-hub: %s\n", err);
		db_close_pool();
		return 1;
	}
	for (i = 0; i < g_opts.nseeds; i++) {
		if (seed_run(g_opts.seeds[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "angofs-hub: --seed %s: %s\n", g_opts.seeds[i], err);
			db_close_pool();
			return 1;
		}
	}
	db = db_acquire();
	exports_sweep(db);
	db_release(db);
	faults_init(g_opts.rate_limit);
	if (server_start(err, sizeof(err)) < 0) {
		fprintf(stderr, "angofs-hub: %s\n", err);
		db_close_pool();
		return 1;
	}
	printf("angofs-hub: listening on %s\n", g_base_url);
	fflush(stdout);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	g_stopping = 1;
	if (g_opts.verbose)
		fprintf(stderr, "angofs-hub: signal %d, shutting down\n", sig);
	server_stop();
	db_close_pool();
	return 0;
}
