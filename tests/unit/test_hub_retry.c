/*
 * test_hub_retry.c - the hub client's retry policy (src/client/hub_retry.c),
 * rule by rule, without a server: which failures are retried, how often, when
 * a non-idempotent request becomes uncertain, the deadline and Retry-After,
 * download stalls, progress that starts the budgets again, cancellation and
 * stops. The request counts in docs/RELIABILITY.md
 * follow from these rules.
 */
#include <errno.h>

#include "t.h"
#include "../../src/client/hub_retry.h"

/* Attempts one operation makes when every attempt fails like a. */
static int attempts_until_final(struct hub_attempt a, int max_attempts, long long deadline_ms,
				enum hub_verdict *final)
{
	struct hub_op op = {0, max_attempts, deadline_ms, deadline_ms};
	long long now = 0, d;
	const char *why;

	for (;;) {
		op.attempt++;
		enum hub_verdict v = hub_retry_decide(&op, &a, now, &d, &why);
		if (v != HUB_RETRY) {
			*final = v;
			return op.attempt;
		}
		now += d;
	}
}

int main(void)
{
	enum hub_verdict v;
	struct hub_attempt a500 = {
	    .code = EIO, .transient = 1, .body_sent = 1, .status = 500, .retry_after_s = -1};

	/* idempotent: a persistent 500 costs max_attempts requests */
	CHECK_INT(attempts_until_final(a500, 4, 60000, &v), 4);
	CHECK_INT(v, HUB_GIVE_UP);
	/* not transient: one request */
	struct hub_attempt a400 = a500;
	a400.transient = 0;
	a400.status = 400;
	CHECK_INT(attempts_until_final(a400, 4, 60000, &v), 1);
	/* non-idempotent, 500 after the body was sent: one request, uncertain */
	struct hub_attempt n500 = a500;
	n500.nonidempotent = 1;
	CHECK_INT(attempts_until_final(n500, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_UNCERTAIN);
	/* non-idempotent, timeout after the body was sent: uncertain */
	struct hub_attempt nto = n500;
	nto.status = 0;
	nto.timed_out = 1;
	nto.code = ETIMEDOUT;
	CHECK_INT(attempts_until_final(nto, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_UNCERTAIN);
	/* non-idempotent, connection refused (nothing sent): retried */
	struct hub_attempt nref = n500;
	nref.status = 0;
	nref.body_sent = 0;
	nref.code = ECONNREFUSED;
	CHECK_INT(attempts_until_final(nref, 4, 60000, &v), 4);
	CHECK_INT(v, HUB_GIVE_UP);
	/* non-idempotent, 429: refused before any work, retried */
	struct hub_attempt n429 = n500;
	n429.status = 429;
	n429.retry_after_s = 1;
	CHECK_INT(attempts_until_final(n429, 4, 60000, &v), 4);
	/* Retry-After beyond the deadline: not waited, one request */
	struct hub_attempt a429 = a500;
	a429.status = 429;
	a429.retry_after_s = 120;
	CHECK_INT(attempts_until_final(a429, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_GIVE_UP);
	/* ... and one of exactly the whole budget, even from a reply that came
	 * within the millisecond (it was waited: a listing held for a minute) */
	a429.retry_after_s = 60;
	CHECK_INT(attempts_until_final(a429, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_GIVE_UP);
	/* the deadline stops retries early: 250 + 500 ms of backoff fit in 1 s, 1 s more not */
	CHECK_INT(attempts_until_final(a500, 10, 1000, &v), 3);
	/* an API timeout is not repeated */
	struct hub_attempt ato = a500;
	ato.status = 0;
	ato.timed_out = 1;
	CHECK_INT(attempts_until_final(ato, 4, 60000, &v), 1);
	/* a download stall is not resumed, whether it delivered bytes or not:
	 * its reader is answered at the stall timeout */
	struct hub_attempt dst = {.download = 1,
				  .code = ETIMEDOUT,
				  .transient = 1,
				  .timed_out = 1,
				  .retry_after_s = -1,
				  .got = 4096};
	CHECK_INT(attempts_until_final(dst, 4, 60000, &v), 1);
	dst.got = 0;
	CHECK_INT(attempts_until_final(dst, 4, 60000, &v), 1);
	/* a dropped download that made progress starts its budgets again: ten
	 * drops after 10 MB each, then four without a byte: 14 attempts, and
	 * the time budget counts from the last progress */
	{
		struct hub_attempt ddr = {
		    .download = 1, .code = EIO, .transient = 1, .retry_after_s = -1};
		struct hub_op op = {0, 4, 60000, 60000};
		long long now = 0, d;
		const char *why;
		int n = 0;

		for (;;) {
			op.attempt++;
			n++;
			ddr.got = n <= 10 ? 10 << 20 : 0;
			now += 50000; /* each attempt takes 50 s: beyond the first deadline */
			v = hub_retry_decide(&op, &ddr, now, &d, &why);
			if (v != HUB_RETRY)
				break;
			now += d;
		}
		/* the 12th brought nothing either, 100 s after the last progress */
		CHECK_INT(n, 12);
		CHECK_INT(v, HUB_GIVE_UP);
		op = (struct hub_op){0, 4, 60000, 60000};
		now = 0;
		n = 0;
		for (;;) {
			op.attempt++;
			n++;
			ddr.got = n <= 10 ? 10 << 20 : 0;
			v = hub_retry_decide(&op, &ddr, now, &d, &why);
			if (v != HUB_RETRY)
				break;
			now += d;
		}
		CHECK_INT(n, 14); /* quick attempts: 10 with progress, then 4 without */
	}
	/* a download that never delivers: max_attempts */
	struct hub_attempt dnone = {
	    .download = 1, .code = EIO, .transient = 1, .retry_after_s = -1};
	CHECK_INT(attempts_until_final(dnone, 4, 60000, &v), 4);
	/* cancelled: never retried */
	struct hub_attempt can = a500;
	can.cancelled = 1;
	CHECK_INT(attempts_until_final(can, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_GIVE_UP);
	/* stopped while a non-idempotent POST was sent: uncertain, not resent */
	struct hub_attempt nstop = n500;
	nstop.cancelled = 1;
	nstop.stopped = 1;
	nstop.status = 0;
	CHECK_INT(attempts_until_final(nstop, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_UNCERTAIN);
	nstop.body_sent = 0; /* stopped before the whole body went out */
	CHECK_INT(attempts_until_final(nstop, 4, 60000, &v), 1);
	CHECK_INT(v, HUB_GIVE_UP);
	/* one attempt (background sender): one request */
	CHECK_INT(attempts_until_final(a500, 1, 60000, &v), 1);
	/* backoff: 250 ms doubling, capped at 8 s (+ < 100 ms jitter) */
	CHECK(hub_backoff_ms(0) >= 250 && hub_backoff_ms(0) < 350);
	CHECK(hub_backoff_ms(2) >= 1000 && hub_backoff_ms(2) < 1100);
	CHECK(hub_backoff_ms(9) >= 8000 && hub_backoff_ms(9) < 8100);
	return t_done("hub_retry");
}
