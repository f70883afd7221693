/*
 * hub_pager.c - when to stop paging a list endpoint (listProjects, a
 * project's tasks or assets): by count, never by arithmetic on the asked
 * page size.
 *
 * The API pages from 1 with `limit` at most 100 and says `total`
 * (hub-api.md §0.5); nothing promises that a server serves the `limit` it is
 * asked. A client that stops at page x 100 >= total drops the tail of every
 * list on a server whose page limit is lower. So: the first page's size,
 * when it is short of the asked limit while `total` says there is more, is
 * the server's page size, and the next pages ask exactly that (page N of a
 * limit L starts at item (N-1) x L under any reading of a cap). Paging ends
 * when `total` items were seen, on an empty page, or on a page shorter than
 * the page size in force (the last page, whatever `total` claims), and
 * after at most PAGER_MAX_PAGES pages.
 *
 * A `total` that lies (10^12 on pages of one: issue 21) must not make the
 * first short page look like the server's page size for ever: a page that
 * starts with the item the previous page started with is the same page
 * again (a server that ignores `page`, or a replayed reply): its items are
 * not new (hub_pager_repeats) and it ends the paging. So the lying list
 * costs two requests, not 10,000 pages (~100 min at the default budget).
 */
#include <stdio.h>
#include <string.h>

#include "angofs/hub.h"

#define PAGER_MAX_PAGES 100000

void hub_pager_init(struct hub_pager *pg, int limit)
{
	pg->page = 1;
	pg->limit = limit;
	pg->seen = 0;
	pg->first[0] = '\0';
}

int hub_pager_repeats(const struct hub_pager *pg, const char *first_id)
{
	return first_id && pg->page > 1 && strncmp(pg->first, first_id, sizeof(pg->first) - 1) == 0;
}

int hub_pager_next(struct hub_pager *pg, size_t got, const char *first_id, long long total)
{
	int again = got && hub_pager_repeats(pg, first_id);

	pg->seen += (long long)got;
	snprintf(pg->first, sizeof(pg->first), "%s", first_id ? first_id : "");
	if (got == 0 || again || (total >= 0 && pg->seen >= total) || pg->page >= PAGER_MAX_PAGES)
		return 0;
	if ((int)got < pg->limit) {
		if (pg->page > 1 || total < 0)
			return 0;     /* a short page: the last one */
		pg->limit = (int)got; /* the server's page size (see above) */
	}
	pg->page++;
	return 1;
}
