/*
 * test_pager.c - paging a list endpoint by count (src/client/hub_pager.c): a
 * server that serves fewer items a page than asked, a lying total, short
 * and empty pages, a server that serves the same page whatever `page` says.
 */
#include <stdio.h>

#include "t.h"
#include "angofs/hub.h"

/* Page through a list of n items on a server whose page limit is cap and
 * which reports total (replay: it serves page 1 whatever is asked); returns
 * the new items seen and sets *pages. */
static long long walk_r(long long n, int cap, long long total, int replay, int *pages)
{
	struct hub_pager pg;
	long long got_all = 0;

	hub_pager_init(&pg, 100);
	*pages = 0;
	for (;;) {
		int limit = pg.limit < cap ? pg.limit : cap;
		long long off = replay ? 0 : (long long)(pg.page - 1) * limit;
		long long got = off >= n ? 0 : (n - off < limit ? n - off : limit);
		char first[32];

		snprintf(first, sizeof(first), "item-%lld", off);
		(*pages)++;
		if (!hub_pager_repeats(&pg, got ? first : NULL))
			got_all += got;
		if (!hub_pager_next(&pg, (size_t)got, got ? first : NULL, total))
			break;
	}
	return got_all;
}

static long long walk(long long n, int cap, long long total, int *pages)
{
	return walk_r(n, cap, total, 0, pages);
}

int main(void)
{
	int pages;

	/* a server serving the asked 100 */
	CHECK_INT(walk(240, 100, 240, &pages), 240);
	CHECK_INT(pages, 3);
	/* a lower server page limit: every item, none twice (page x 100 >=
	 * total would stop after 3 pages of 50 and drop 90) */
	CHECK_INT(walk(240, 50, 240, &pages), 240);
	CHECK_INT(pages, 5);
	CHECK_INT(walk(101, 7, 101, &pages), 101);
	/* an exact multiple: ends on the count, no empty extra page */
	CHECK_INT(walk(200, 100, 200, &pages), 200);
	CHECK_INT(pages, 2);
	/* a lying total: the first page short of the asked 100 may be the
	 * server's page size (one more page to tell), a short page after it
	 * ends the list */
	CHECK_INT(walk(30, 100, 1000000000000LL, &pages), 30);
	CHECK_INT(pages, 2);
	CHECK_INT(walk(130, 50, 1000000000000LL, &pages), 130);
	CHECK_INT(pages, 3);
	/* a lying total on a replayed page of one (issue 21: 10,000 pages at
	 * the request budget): the repeated page ends it, its items not taken
	 * twice */
	CHECK_INT(walk_r(1, 100, 1000000000000LL, 1, &pages), 1);
	CHECK_INT(pages, 2);
	CHECK_INT(walk_r(500, 100, 1000000000000LL, 1, &pages), 100); /* full pages replayed */
	CHECK_INT(pages, 2);
	/* no total: a short page ends it */
	CHECK_INT(walk(150, 100, -1, &pages), 150);
	CHECK_INT(pages, 2);
	/* an empty list */
	CHECK_INT(walk(0, 100, 0, &pages), 0);
	CHECK_INT(pages, 1);
	return t_done("pager");
}
