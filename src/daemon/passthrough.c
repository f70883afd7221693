/*
 * passthrough.c - FUSE passthrough for the adapter (adapter.h): with
 * libfuse >= 3.17 and Linux >= 6.9 the kernel reads an open file straight
 * from a backing file the daemon names, so reads of a complete cached
 * export or media object cost what a local read does (no request per
 * 128 KiB, no second copy, the cache file's own page cache across
 * remounts).
 *
 * The kernel keeps one backing file per inode, and while it has one every
 * open of that inode must pass through with it. The adapter gives a path's
 * new content (an export's new generation) a new node id, so the decision
 * is per node (angofs/kcache.h ao_kc_pt_decide, over the node's open files
 * that the inode table counts): a newer generation opened on a node an
 * older one still passes through is answered ESTALE after the name was
 * given up by that node; the kernel then looks the name up again (its
 * retry of an open that met a stale inode), gets a new node and opens that.
 * Files opened on the older node keep reading their generation.
 *
 * fuse_passthrough_open gives a backing id for the cache file's descriptor
 * at the node's first passthrough open; the open's reply carries it
 * (fi->backing_id: FOPEN_PASSTHROUGH); fuse_passthrough_close drops it at
 * the node's last release (the id must live until the kernel has taken it,
 * after the reply). The connection asks for FUSE_CAP_PASSTHROUGH at init;
 * libfuse's max_backing_stack_depth 0 means cache files on a stacked file
 * system such as overlayfs are refused (ELOOP) and served the normal way.
 * The backing open needs CAP_SYS_ADMIN: refused once (EPERM), passthrough
 * is off for the mount and .status says why.
 *
 * Built against libfuse < 3.17 (no FUSE_CAP_PASSTHROUGH): every open takes
 * the normal way and .status says so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "adapter.h"
#include "angofs/log.h"

#define STR_(x) #x
#define STR(x) STR_(x)

static void why(struct ao_fs *fs, const char *msg)
{
	snprintf(fs->pt_why, sizeof(fs->pt_why), "%s", msg);
}

void ao_fs_pt_init(struct ao_fs *fs, struct fuse_conn_info *conn)
{
	fs->pt_on = 0;
	if (!fs->pt_want)
		return why(fs, "-o passthrough=off");
#ifdef FUSE_CAP_PASSTHROUGH
	if (!(conn->capable & FUSE_CAP_PASSTHROUGH))
		return why(fs, "the kernel does not offer it (needs Linux >= 6.9 with "
			       "CONFIG_FUSE_PASSTHROUGH)");
	if (!fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH))
		return why(fs, "libfuse refused FUSE_CAP_PASSTHROUGH");
	fs->pt_on = 1;
	why(fs, "");
#else
	(void)conn;
	why(fs, "built against libfuse " STR(FUSE_MAJOR_VERSION) "." STR(
		    FUSE_MINOR_VERSION) " (passthrough needs libfuse >= 3.17)");
#endif
}

static int on(struct ao_fs *fs)
{
	return fs->pt_on && !__atomic_load_n(&fs->pt_denied, __ATOMIC_RELAXED);
}

/* The content's identity, as the inode table keys nodes: an export's
 * generation (ao_kc_seen), a complete file's identity hashed (top bit set:
 * never a generation). */
static uint64_t key_of(const struct ao_kc_id *id)
{
	uint64_t h = 1469598103934665603ULL;

	if (id->rule == AO_KC_EXPORT)
		return id->gen;
	for (size_t i = 0; i < id->len && i < sizeof(id->ident); i++)
		h = (h ^ id->ident[i]) * 1099511628211ULL;
	return h | (1ULL << 63);
}

uint64_t ao_fs_pt_key(const struct ao_fh *f)
{
	return key_of(&f->id);
}

#ifdef FUSE_CAP_PASSTHROUGH
struct mk_ctx {
	struct ao_fs *fs;
	fuse_req_t req;
	int fd;
};

static int mk_backing(void *ud)
{
	struct mk_ctx *c = ud;
	int id;

	errno = 0;
	id = fuse_passthrough_open(c->req, c->fd);
	if (id > 0)
		return id;
	int e = errno ? errno : EIO;
	if (e == EPERM && !__atomic_exchange_n(&c->fs->pt_denied, 1, __ATOMIC_RELAXED))
		ao_warn("passthrough: the kernel refused a backing file (%s): the daemon needs "
			"CAP_SYS_ADMIN; served the normal way from now on",
			strerror(e));
	else if (e != EPERM)
		ao_debug("passthrough: backing file refused (%s): this open the normal way",
			 strerror(e));
	return -e;
}

struct rm_ctx {
	struct ao_fs *fs;
	fuse_req_t req; /* NULL: none at hand (an open whose reply was lost) */
};

/* FUSE_DEV_IOC_BACKING_CLOSE (Linux >= 6.9's <linux/fuse.h>), for a close
 * without a request; fuse_passthrough_close wants one. */
#define PT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

static void rm_backing(void *ud, int id)
{
	struct rm_ctx *c = ud;
	uint32_t u = (uint32_t)id;
	int r = c->req ? fuse_passthrough_close(c->req, id)
		       : ioctl(fuse_session_fd(c->fs->se), PT_IOC_BACKING_CLOSE, &u);

	if (r < 0)
		ao_debug("passthrough: closing backing id %d: %s", id, strerror(errno));
}
#endif

int ao_fs_pt_open(struct ao_fs *fs, fuse_req_t req, fuse_ino_t ino, const struct ao_fh *f,
		  struct fuse_file_info *fi, int *pt)
{
	int eligible = f->id.pt_ok && f->id.pt_fd >= 0 && !ao_router_writable(f);
	int id = 0;
	enum ao_kc_pt way;

	*pt = 0;
#ifdef FUSE_CAP_PASSTHROUGH
	struct mk_ctx c = {fs, req, f->id.pt_fd};
	way = ao_ino_io_open(fs->ino, ino, on(fs), eligible, key_of(&f->id), mk_backing, &c, &id);
#else
	(void)req;
	way = ao_ino_io_open(fs->ino, ino, on(fs), eligible, key_of(&f->id), NULL, NULL, &id);
#endif
	if (way == AO_KC_PT_RETRY)
		return -ESTALE;
	if (id > 0) {
		*pt = 1;
#ifdef FUSE_CAP_PASSTHROUGH
		fi->backing_id = id;
#endif
		fi->direct_io = 0; /* it would override passthrough */
		fi->keep_cache = 0;
	}
	return 0;
}

void ao_fs_pt_release(struct ao_fs *fs, fuse_req_t req, fuse_ino_t ino, int pt)
{
#ifdef FUSE_CAP_PASSTHROUGH
	struct rm_ctx c = {fs, req};
	ao_ino_io_close(fs->ino, ino, pt, rm_backing, &c);
#else
	(void)req;
	ao_ino_io_close(fs->ino, ino, pt, NULL, NULL);
#endif
}

json_t *ao_fs_pt_status(struct ao_fs *fs)
{
	int denied = __atomic_load_n(&fs->pt_denied, __ATOMIC_RELAXED);
	const char *w = denied ? "the kernel refused a backing file: the daemon needs CAP_SYS_ADMIN"
			       : fs->pt_why;

	return on(fs) ? json_pack("{s:b}", "on", 1) : json_pack("{s:b,s:s}", "on", 0, "why_not", w);
}
