/*
 * spool_order.h - last write wins across the daemons that share a spool.
 *
 * Every write of a target (a task's answer: answer.json and answer.next.json
 * of one task are one target; a drop-box or assets/ name; a mask.png) gets a
 * stamp when its content is final (its close, a rename onto the name): a
 * number larger than every earlier stamp of that target by any daemon on the
 * spool, recorded in the target's ledger. Before an entry is delivered, its
 * daemon takes the target's turn (no other daemon delivers a write of that
 * target meanwhile) and reads the ledger: a newer stamp means a newer write
 * exists (pending, sent, refused or discarded: the user replaced this
 * content), and the entry is superseded instead of sent. So an older write a
 * daemon adopted from one that stopped never overwrites a newer one, and two
 * writes of one target are never at the hub at once.
 *
 * On disk, next to the entries (names not starting with 'w' or 't', which
 * spool loading ignores):
 *   order.lock        fcntl locks only, never removed: byte b < 4096 guards
 *                     ledger file b; byte 4096 + t is the turn of the targets
 *                     whose hash maps to t
 *   order/<b>.json    {"<target key>": stamp, ...}: the newest stamp of each
 *                     target of bucket b (4096 buckets by hash), replaced
 *                     (temp file, fsync, rename), never rewritten in place
 * A stamp is max(previous + 1, wall clock in microseconds): ordered under the
 * lock even across machines whose clocks disagree, and still ordered by time
 * if a ledger file is lost. Stamps older than 60 days are forgotten.
 *
 * Locks: o->mu (a leaf: nothing else is taken under it, no network I/O)
 * guards this process's ledger updates and its list of held turns; the fcntl
 * byte of a ledger is held only while o->mu is held (a few file operations).
 * A turn is held across a delivery (network I/O), but by one thread of one
 * daemon for one target: only writes of that same target wait for it. The
 * write side may stamp with w->mu held (w->mu, then o->mu); turns are taken
 * without w->mu.
 */
#ifndef ANGOFS_SPOOL_ORDER_H
#define ANGOFS_SPOOL_ORDER_H

#include <stddef.h>

#include "angofs/err.h"

struct spool_order;

/* Open the spool's order files (created if missing). NULL with err set when
 * the lock file cannot be opened: the caller goes on without ordering. */
struct spool_order *spool_order_open(const char *spool_dir, struct ao_err *err);
void spool_order_free(struct spool_order *o);

/* The target key of an entry: "<project>/<relpath>", answer.next.json
 * folded into answer.json. */
void spool_order_key(const char *project, const char *relpath, char *buf, size_t n);

/* A new stamp for key, newer than every earlier one on the spool, recorded
 * as the target's newest write. Never fails: when the ledger cannot be
 * updated (disk full, lock not granted within 2 s) the stamp is still newer
 * than what the ledger held, and a warning is logged. o NULL: wall clock. */
long long spool_order_stamp(struct spool_order *o, const char *key);

/* The newest stamp recorded for key (0: none, or it cannot be read). */
long long spool_order_newest(struct spool_order *o, const char *key);

/* Take key's turn: wait_ms 0 tries once; otherwise waits up to wait_ms,
 * giving up early when the caller's FUSE request is interrupted. 0, -EAGAIN
 * (held elsewhere) or -EINTR. o NULL: always 0. */
int spool_order_turn(struct spool_order *o, const char *key, long long wait_ms);
/* Give key's turn back. */
void spool_order_turn_end(struct spool_order *o, const char *key);

#endif
