/*
 * kcache.h - the kernel-cache policy: how the kernel may cache an open
 * file, decided in one place (src/fs/kcache.c; docs/SEMANTICS.md E1-E5,
 * S1-S4; docs/DESIGN-NOTES.md "Exports").
 *
 * The kernel has one inode per path while the path's content keeps its
 * identity (the adapter gives an export's new generation a new node at its
 * next lookup, src/daemon/inodes.c; until then its opens still reach the
 * older node): one size, one page cache, shared by every handle of the
 * path. A handle served through the page cache must
 * read the bytes the pages hold at the size the kernel holds; one that
 * cannot is served with direct_io, which is correct with any cached size
 * and pages but refuses a shared mmap (ENODEV: libfuse 3.14 cannot ask for
 * FUSE_DIRECT_IO_ALLOW_MMAP). Facts about the path go in, the way and its
 * flags come out (ao_kc_decide, pure); the table of paths that gathers the
 * facts and waits when the answer is "wait" is the router's (struct ao_kc).
 * Types: angofs/fh.h.
 */
#ifndef ANGOFS_KCACHE_H
#define ANGOFS_KCACHE_H

#include <sys/stat.h>

#include "angofs/fh.h"

/* The facts of one open. */
struct ao_kc_facts {
	enum ao_kc_rule rule;
	/* the content has an identity now (a complete file, a known size; an
	 * in-memory snapshot always has) */
	int identified;
	/* other handles of the path that constrain it: PATH every open one;
	 * EXPORT the page-cache ones; IMAGE every open one of the image */
	int others;
	/* all of those are closed already (FLUSH seen, RELEASE on its way) */
	int others_closed;
	/* the page-cache handles open read this very content ... */
	int same;
	/* ... and their drop of the kernel's attributes is done */
	int ready;
	/* a wait is allowed: the bound (2 s) not reached, not a -s loop */
	int may_wait;
	/* EXPORT: an open of this generation of the path waited in vain before */
	int gave_up;
	/* EXPORT, no other handle: the kernel's attributes are of another
	 * generation, size or mtime (stat gave another) */
	int kernel_stale;
	/* EXPORT, no other handle: the inode's pages are this generation's */
	int kernel_pages;
	/* PATH: a direct_io open still drops the kernel's old size */
	int drop_when_direct;
	/* ... before it returns */
	int drop_first;
};

/* The way for one open (pure: no state, no lock). */
void ao_kc_decide(const struct ao_kc_facts *f, struct ao_kc_flags *out);

/*
 * The kernel's entry and attribute timeouts of one reply (pure). The
 * options give them (-o entry_timeout, attr_timeout; a name found missing
 * is remembered `negative` seconds); what the node is decides which apply.
 */
struct ao_kc_ttl_cfg {
	double entry, attr, negative;
};
enum ao_kc_node {
	AO_KC_NODE_NONE, /* no such name (a negative entry) */
	AO_KC_NODE_DIR,
	AO_KC_NODE_FILE,
};
struct ao_kc_ttl {
	double entry, attr;
};
void ao_kc_ttl(const struct ao_kc_ttl_cfg *c, enum ao_kc_node node, struct ao_kc_ttl *out);

/* The identity of the content the calling thread's last stat described
 * (ao_kc_stat: an export's generation as the kernel will hold it; 0: none),
 * and clearing it before a stat. For the adapter's node ids: a new
 * identity, a new node. */
unsigned long ao_kc_seen(void);
void ao_kc_seen_clear(void);

/*
 * FUSE passthrough (libfuse >= 3.17, Linux >= 6.9): the kernel reads an
 * open file straight from a backing file. The kernel keeps one backing file
 * per inode; while it has one, every open of the inode must pass through
 * with it (any other open fails with EIO), and while the inode has other
 * opens none may pass through. The adapter gives a new content identity a
 * new node (an export's generation), so these are the facts of the node
 * being opened (pure).
 */
struct ao_kc_pt_facts {
	int on;		  /* the session has passthrough and may use it */
	int eligible;	  /* the owner's pt_ok: complete, fresh, read-only */
	int node_backing; /* the node has a backing file (passthrough handles open) */
	int node_same;	  /* ... of the very content this open reads */
	int node_others;  /* the node has other handles open (page cache, direct_io) */
	/* the node stands for other content (its lookup saw another generation:
	 * its attributes describe that one) */
	int node_other_content;
};
enum ao_kc_pt {
	AO_KC_PT_NO,	/* the normal way (ao_kc_flags) */
	AO_KC_PT_NEW,	/* passthrough, with a backing file made for the node */
	AO_KC_PT_JOIN,	/* passthrough, with the node's backing file */
	AO_KC_PT_RETRY, /* neither can open this node: the name gets a new node
			   and the open is retried (ESTALE: the kernel looks up
			   again and opens the new one) */
};
enum ao_kc_pt ao_kc_pt_decide(const struct ao_kc_pt_facts *f);

/* The table of paths (one kernel inode each; a hidden alias is another
 * path): what their page-cache handles read, what the kernel was told. */
struct ao_kc;

/* open_wait_ms: the bound of an open's wait (0: never wait, -s) */
struct ao_kc *ao_kc_new(long open_wait_ms);
void ao_kc_free(struct ao_kc *kc);
/* Decide fh's way (fh->id filled by its owner) into fh->kc, waiting as the
 * policy says. path NULL: direct_io. 0 or -ENOMEM. */
int ao_kc_open(struct ao_kc *kc, const char *path, struct ao_fh *fh);
/* The adapter waited for the drop fh->kc.must_invalidate asked for: done
 * (served through the page cache) or not in time (direct_io after all). */
void ao_kc_cached(struct ao_kc *kc, struct ao_fh *fh, int done);
/* fh was closed (FLUSH): its RELEASE is on its way. */
void ao_kc_flushed(struct ao_kc *kc, struct ao_fh *fh);
/* fh released. 1: it was an export's last page-cache handle of its path and
 * the kernel holds attributes of a generation other than cur_gen (drop
 * them, no wait). */
int ao_kc_release(struct ao_kc *kc, struct ao_fh *fh, unsigned long cur_gen);
/* stat of path as the owner gave it (st), for content id (NULL: nothing
 * to adjust): an export's generation is recorded as what the kernel holds,
 * and while page-cache handles of the path are open st shows the size of
 * what they read (an export's generation, an in-memory file's bytes). */
void ao_kc_stat(struct ao_kc *kc, const char *path, const struct ao_kc_id *id, struct stat *st);

#endif
