/*
 * hub_retry.c - the hub client's retry policy (rules in hub_retry.h). Pure
 * decisions on the outcome of one attempt, no I/O, so the unit test can walk
 * every rule without a server.
 */
#include <stdlib.h>

#include "hub_retry.h"

long long hub_backoff_ms(int n)
{
	long long d = 250LL << (n < 6 ? n : 6);

	if (d > 8000)
		d = 8000;
	return d + (rand() % 100);
}

/* A non-idempotent request may have been applied unless the connection
 * failed before the whole body went out, or the hub refused it (429: the
 * rate limiter answers before any work is done). */
static int maybe_applied(const struct hub_attempt *a)
{
	if (a->status == 429)
		return 0;
	return a->body_sent;
}

enum hub_verdict hub_retry_decide(struct hub_op *op, const struct hub_attempt *a, long long now_ms,
				  long long *delay_ms, const char **why)
{
	long long d;

	*delay_ms = 0;
	*why = "";
	if (a->cancelled) {
		/* only a stop cuts a POST short: it may have reached the hub */
		if (a->nonidempotent && maybe_applied(a)) {
			*why = " (the daemon stopped while it was sent; not resent: the hub may "
			       "have applied it)";
			return HUB_UNCERTAIN;
		}
		*why = a->stopped ? " (the daemon is stopping)" : " (interrupted)";
		return HUB_GIVE_UP;
	}
	if (!a->transient)
		return HUB_GIVE_UP;
	if (a->nonidempotent && maybe_applied(a)) {
		*why = " (not resent: the hub may have applied it)";
		return HUB_UNCERTAIN;
	}
	if (a->timed_out) {
		*why = a->download ? " (stalled; not retried)" : " (not retried)";
		return HUB_GIVE_UP;
	}
	if (a->download && a->got > 0) {
		/* it moved: a fresh budget, counted from this attempt on */
		op->attempt = 0;
		op->deadline = now_ms + op->budget_ms;
	}
	if (op->attempt >= op->max_attempts) {
		*why = " (gave up after retries)";
		return HUB_GIVE_UP;
	}
	d = a->retry_after_s >= 0 ? a->retry_after_s * 1000LL
				  : hub_backoff_ms(op->attempt > 0 ? op->attempt - 1 : 0);
	if (now_ms + d >= op->deadline) { /* a wait of the whole budget is beyond it */
		*why = a->retry_after_s >= 0 ? " (the hub's Retry-After is beyond this "
					       "operation's deadline; not waited)"
					     : " (gave up after retries: deadline)";
		return HUB_GIVE_UP;
	}
	*delay_ms = d;
	return HUB_RETRY;
}
