/*
 * hub_retry.h - the retry policy of the hub client: the one place in angofs
 * that decides whether a failed request is sent again, and when.
 *
 * The layers above (the export cache, the write side) make one client call
 * per operation and do not loop on top of it; the write side's background
 * sender only reschedules a pending entry (one call per turn, see
 * HUB_ONE_ATTEMPT in hub.h). The rules, with their request costs, are in
 * docs/RELIABILITY.md ("What a failure costs"):
 *
 *  - only transient failures are retried: network errors, 5xx, 429, 408;
 *  - at most max_attempts requests per operation, and no retry starts after
 *    the operation's deadline (its start + budget_ms); a wait the hub asks for
 *    (Retry-After) that would cross the deadline is not waited: the call
 *    fails at once (transient), the caller decides when to ask again;
 *  - a download attempt that delivered bytes before it failed starts both
 *    budgets again (attempts and time): a download that keeps moving
 *    finishes, one that stops moving ends after max_attempts attempts
 *    without a byte, or budget_ms after its last byte;
 *  - a request that timed out (the total timeout, or no byte for the stall
 *    timeout) is not repeated, downloads included: the reader waiting for it
 *    is answered now (the cached copy, or ETIMEDOUT), not after another full
 *    wait; the next reader starts a new download;
 *  - a non-idempotent request (POST /attachments, /annotate with nextStage)
 *    is resent only when the hub cannot have applied it: the connection
 *    failed before the whole body was sent, or the hub refused it with 429.
 *    A 5xx, a timeout or a stop after the whole body was sent leaves the
 *    request *uncertain* (err->uncertain): it is never resent blindly;
 *  - a cancelled caller (ao_cancelled: a FUSE interrupt, or the daemon
 *    stopping) is never retried.
 */
#ifndef ANGOFS_HUB_RETRY_H
#define ANGOFS_HUB_RETRY_H

/* Both structs below live on the stack of the thread making the call: owned
 * by that thread, never shared, no lock. */

/* What one attempt came to. */
struct hub_attempt {
	int download;	    /* a pre-signed export download (else an API call) */
	int nonidempotent;  /* the request must not be applied twice */
	int code;	    /* positive errno of the failure */
	int transient;	    /* network error, 5xx, 429, 408 */
	int timed_out;	    /* total or stall timeout */
	int cancelled;	    /* the caller gave up (EINTR) */
	int stopped;	    /* ... because the daemon is stopping */
	int body_sent;	    /* the whole request body reached the connection */
	long status;	    /* HTTP status, 0 if none */
	long retry_after_s; /* Retry-After, -1 if none */
	long long got;	    /* download bytes delivered by this attempt */
};

/* The state of one operation across its attempts. */
struct hub_op {
	int attempt;	     /* attempts made since the start or the last progress */
	int max_attempts;    /* per operation, including the first */
	long long budget_ms; /* time budget: from the start, or the last progress */
	long long deadline;  /* ms (ao_sys_now_ms clock): no retry starts after it */
};

enum hub_verdict {
	HUB_RETRY,     /* wait *delay_ms, then try again */
	HUB_GIVE_UP,   /* final failure; why says why (for the message) */
	HUB_UNCERTAIN, /* final: the hub may have applied the request */
};

/* Decide after a failed attempt a of operation op at time now_ms. On
 * HUB_RETRY *delay_ms is the wait before the next attempt. *why is a short
 * text for the error message ("" when the failure was simply final). */
enum hub_verdict hub_retry_decide(struct hub_op *op, const struct hub_attempt *a, long long now_ms,
				  long long *delay_ms, const char **why);

/* Backoff before retry number n (0-based) without a Retry-After: 250 ms
 * doubling, at most 8 s, plus up to 100 ms of jitter. */
long long hub_backoff_ms(int n);

#endif
