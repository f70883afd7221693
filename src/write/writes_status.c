/*
 * writes_status.c - the text of a write's `.status` file (see writes_int.h),
 * rendered from the entry on every open: state and message first (the line a
 * user greps), then what was sent, each request of a drop-box file with its
 * outcome, the problems found, and what to do next. An *uncertain* write
 * says which request the hub may have applied and what to check before
 * sending it again.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "labels_prep.h"
#include "writes_int.h"

static const char *form_name(int f)
{
	return lp_form_name((enum lp_form)f);
}

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t nc = (b->cap + (size_t)n + 1) * 2;
			char *ns = realloc(b->s, nc);

			if (!ns)
				return;
			b->s = ns;
			b->cap = nc;
		}
	}
}

char *ws_status_text(struct ao_writes *w, const struct entry *e)
{
	struct sbuf b = {NULL, 0, 0};
	char when[64];
	struct tm tm;
	time_t t = (time_t)e->updated;
	size_t i;

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	sb_printf(&b, "%s: %s\n",
		  e->state == ST_SENT && e->partly ? "sent, partly matched"
						   : spool_entry_state_name(e->state),
		  e->message ? e->message
			     : (e->state == ST_WRITING ? "open for writing, not sent yet" : ""));
	sb_printf(&b, "file: %s\n", e->relpath);
	sb_printf(&b, "project: %s\n", e->project);
	sb_printf(&b, "size: %lld bytes\n", e->size);
	if (e->kind == EK_ANSWER)
		sb_printf(&b, "next stage: %s\n", e->next_stage ? "yes" : "no");
	if (e->prepared && e->kind != EK_ANSWER) {
		sb_printf(&b, "items: %ld (%s) in %zu request%s\n", e->items, form_name(e->form),
			  e->nchunks, e->nchunks == 1 ? "" : "s");
		if (e->export_records)
			sb_printf(&b,
				  "converted from the Ango export format: %ld records "
				  "(schemaIds mapped by title)\n",
				  e->export_records);
	}
	if (e->state == ST_FAILED || e->state == ST_UNCERTAIN ||
	    (e->state == ST_PENDING && e->code))
		sb_printf(&b, "error: %s%s%.0d (%s)\n", e->http ? "HTTP " : "",
			  e->http ? "" : "errno ", e->http ? e->http : e->code,
			  strerror(e->code ? e->code : EIO));
	if (e->state == ST_PENDING && e->attempts)
		sb_printf(&b, "attempts: %d\n", e->attempts);
	sb_printf(&b, "updated: %s\n", when);
	if (e->nchunks > 1 || (e->nchunks == 1 && (e->chunks[0].state == CH_REFUSED ||
						   e->chunks[0].state == CH_UNCERTAIN))) {
		sb_printf(&b, "requests:\n");
		for (i = 0; i < e->nchunks; i++) {
			const struct ent_chunk *c = &e->chunks[i];

			sb_printf(&b, "  %zu: items %ld-%ld (lines %ld-%ld): %s%s%s\n", i + 1,
				  c->first + 1, c->first + c->count, c->line_first, c->line_last,
				  c->state == CH_SENT && c->partly ? "sent, partly matched"
				  : c->state == CH_SENT		   ? "sent"
				  : c->state == CH_REFUSED	   ? "REFUSED"
				  : c->state == CH_UNCERTAIN	   ? "UNCERTAIN"
				  : c->state == CH_SENDING	   ? "being sent"
								   : "not sent yet",
				  c->msg ? ": " : "", c->msg ? c->msg : "");
		}
	}
	if (e->detail && *e->detail)
		sb_printf(&b, "problems:\n%s", e->detail);
	if (e->state == ST_UNCERTAIN)
		sb_printf(&b, "nothing was lost: the file is kept here. It is not sent again by "
			      "itself: copy it again once you checked the hub (replaces it), or rm "
			      "it to discard it.\n");
	if (e->state == ST_FAILED)
		sb_printf(&b, "nothing was lost: the file is kept here. Fix it and copy it again "
			      "(replaces it), or rm it to discard it.\n");
	if (e->state == ST_SUPERSEDED)
		sb_printf(&b, "the last write wins: the newer write's own status is in the mount "
			      "that made it; this content was dropped from the spool.\n");
	return b.s ? b.s : strdup("");
}
