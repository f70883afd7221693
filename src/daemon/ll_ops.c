/*
 * ll_ops.c - the FUSE adapter's entry operations on libfuse's low-level API
 * (src/daemon/adapter.h): lookup and forget, attributes, directories and
 * their listings, names (unlink, rename, mkdir, ...), statfs, the session's
 * init; the open files are in ll_files.c. Each operation maps its node ids
 * to paths (the inode table, inodes.c) and asks the router, which decides
 * which side answers and what is refused.
 *
 * The low-level API was chosen over the high-level library for what the
 * library hides: node ids (a path whose content identity changes, an
 * export's new generation, gets a new node at its next lookup, while files
 * opened on the older node keep it: the kernel's page cache and, with
 * passthrough, its backing file are per node), a timeout per reply chosen
 * by the kernel-cache policy (ao_kc_ttl), readdirplus entries that carry
 * node ids (a listing costs no LOOKUP per file), and the request itself for
 * interrupts (fuse_req_interrupted).
 *
 * A directory handle holds its listing, gathered at the first READDIR
 * (offset 0) and served from there by index, as the high-level library
 * did; readdirplus entries are learnt by the inode table (their lookup
 * count) only when they fit in the reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "adapter.h"
#include "inval.h"
#include "angofs/cancel.h"
#include "angofs/log.h"

/* d_ino of a name without a node (the high-level library's value) */
#define UNKNOWN_INO 0xffffffffu

static __thread fuse_req_t cur_req; /* the request this thread serves */

void ao_fs_enter(fuse_req_t req)
{
	cur_req = req;
}

void ao_fs_leave(void)
{
	cur_req = NULL;
}

int ao_fs_interrupted(void)
{
	fuse_req_t req = cur_req;

	return req && fuse_req_interrupted(req) && ao_cancel_signal_matters(fuse_req_ctx(req)->pid);
}

int ao_fs_fail(const char *op, const char *path, int rc, const struct ao_err *e)
{
	if (rc < 0 && rc != -ENOENT && e->msg[0])
		ao_warn("%s %s: %s", op, path, e->msg);
	else if (rc < 0 && e->msg[0])
		ao_debug("%s %s: %s", op, path, e->msg);
	return rc;
}

static struct ao_fs *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static const struct ao_router *R(const struct ao_fs *fs)
{
	return &fs->router;
}

static void reply_err(fuse_req_t req, int rc)
{
	ao_fs_leave();
	fuse_reply_err(req, rc < 0 ? -rc : rc);
}

void ao_fs_fix_attr(const struct ao_fs *fs, struct stat *st)
{
	if (fs->set_uid)
		st->st_uid = fs->uid;
	if (fs->set_gid)
		st->st_gid = fs->gid;
	if (fs->set_umask)
		st->st_mode &= ~fs->umask;
}

static enum ao_kc_node node_kind(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? AO_KC_NODE_DIR : AO_KC_NODE_FILE;
}

int ao_fs_stat(struct ao_fs *fs, const char *path, struct fuse_file_info *fi, struct stat *st,
	       uint64_t *key, struct ao_err *e)
{
	struct ao_fh *f = ao_ll_fh(fi);
	int rc;

	memset(st, 0, sizeof(*st));
	ao_kc_seen_clear();
	if (f && ao_router_writable(f)) /* its own size, as written so far */
		rc = ao_router_fgetattr(R(fs), f, st, e);
	else
		rc = ao_router_getattr(R(fs), path, st, e);
	if (key)
		*key = ao_kc_seen();
	ao_fs_fix_attr(fs, st);
	return rc;
}

/* The entry of name for a reply: key, when not 0, instead of the stat's. */
static int entry(struct ao_fs *fs, fuse_ino_t parent, const char *name, const char *path,
		 struct fuse_file_info *fi, uint64_t key, struct fuse_entry_param *ep,
		 struct ao_err *e)
{
	struct ao_kc_ttl t;
	uint64_t seen;

	memset(ep, 0, sizeof(*ep));
	int rc = ao_fs_stat(fs, path, fi, &ep->attr, &seen, e);
	if (rc < 0)
		return rc;
	ep->ino = ao_ino_learn(fs->ino, parent, name, key ? key : seen);
	if (!ep->ino)
		return ao_errf(e, ENOMEM, "out of memory");
	ep->attr.st_ino = ep->ino;
	ao_kc_ttl(&fs->ttl, node_kind(&ep->attr), &t);
	ep->entry_timeout = t.entry;
	ep->attr_timeout = t.attr;
	return 0;
}

int ao_fs_entry_key(struct ao_fs *fs, fuse_ino_t parent, const char *name, const char *path,
		    uint64_t key, struct fuse_entry_param *ep, struct ao_err *e)
{
	return entry(fs, parent, name, path, NULL, key, ep, e);
}

int ao_fs_entry(struct ao_fs *fs, fuse_ino_t parent, const char *name, const char *path,
		struct fuse_file_info *fi, struct fuse_entry_param *ep, struct ao_err *e)
{
	return entry(fs, parent, name, path, fi, 0, ep, e);
}

/* A capability wanted, or not (libfuse >= 3.17: its feature-flag calls,
 * which must not be mixed with the older `want` field). */
static void want(struct fuse_conn_info *conn, uint64_t flag, int yes)
{
#ifdef FUSE_CAP_PASSTHROUGH
	if (yes)
		fuse_set_feature_flag(conn, flag);
	else
		fuse_unset_feature_flag(conn, flag);
#else
	if (yes && (conn->capable & flag))
		conn->want |= (unsigned)flag;
	else if (!yes)
		conn->want &= ~(unsigned)flag;
#endif
}

static void op_init(void *ud, struct fuse_conn_info *conn)
{
	want(conn, FUSE_CAP_READDIRPLUS, 1);
	/* plain readdirplus (not "auto"): ls -l of tasks/ gets attributes at once */
	want(conn, FUSE_CAP_READDIRPLUS_AUTO, 0);
	/* export reads are spliced from the cache file (ao_ll_read) */
	want(conn, FUSE_CAP_SPLICE_WRITE, 1);
	/* complete cached files read by the kernel itself (passthrough.c) */
	ao_fs_pt_init(ud, conn);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ao_fs *fs = FS(req);
	struct fuse_entry_param ep;
	char path[4096];
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_child_path(fs->ino, parent, name, path, sizeof(path));
	if (rc == 0)
		rc = ao_fs_entry_key(fs, parent, name, path,
				     ao_ll_parked_key(path, fuse_req_ctx(req)->pid), &ep, &e);
	if (rc == -ENOENT && fs->ttl.negative > 0) {
		/* a negative entry, remembered for the policy's time */
		struct ao_kc_ttl t;
		ao_kc_ttl(&fs->ttl, AO_KC_NODE_NONE, &t);
		memset(&ep, 0, sizeof(ep));
		ep.entry_timeout = t.entry;
		ao_fs_fail("lookup", path, rc, &e);
		ao_fs_leave();
		fuse_reply_entry(req, &ep);
		return;
	}
	if (rc < 0)
		return reply_err(req, ao_fs_fail("lookup", path, rc, &e));
	ao_fs_leave();
	if (fuse_reply_entry(req, &ep) == -ENOENT) /* interrupted: the kernel never learnt it */
		ao_ino_forget(fs->ino, ep.ino, 1);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ao_ino_forget(FS(req)->ino, ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct ao_fs *fs = FS(req);

	for (size_t i = 0; i < count; i++)
		ao_ino_forget(fs->ino, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* The attributes of node ino for a reply. */
static void reply_attr(fuse_req_t req, struct ao_fs *fs, fuse_ino_t ino, const char *path,
		       struct fuse_file_info *fi)
{
	struct ao_kc_ttl t;
	struct stat st;
	struct ao_err e;

	ao_err_clear(&e);
	int rc = ao_fs_stat(fs, path, fi, &st, NULL, &e);
	if (rc < 0)
		return reply_err(req, ao_fs_fail("getattr", path, rc, &e));
	st.st_ino = ino;
	ao_kc_ttl(&fs->ttl, node_kind(&st), &t);
	ao_fs_leave();
	fuse_reply_attr(req, &st, t.attr);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	char path[4096];

	ao_fs_enter(req);
	int rc = ao_ino_path(fs->ino, ino, path, sizeof(path));
	if (rc < 0)
		return reply_err(req, rc);
	reply_attr(req, fs, ino, path, fi);
}

/* chmod/chown (touch 0) and utimens (touch 1); an open write-side file
 * accepts them as a no-op. *sent: a drop-box file sent a moment ago. */
static int set_meta(struct ao_fs *fs, const char *op, const char *path, struct fuse_file_info *fi,
		    int touch, int *sent)
{
	struct ao_fh *f = ao_ll_fh(fi);
	struct ao_err e;
	int s = 0;

	if (f && ao_router_writable(f))
		return 0;
	ao_err_clear(&e);
	int rc = ao_router_setattr(R(fs), path, touch, &s, &e);
	*sent |= s;
	return ao_fs_fail(op, path, rc, &e);
}

/* In the high-level library's order: mode, owner, size, times; then the
 * attributes (a drop-box file sent a moment ago: its last ones, as chmod
 * and utime after shutil.copy expect). */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct ao_fh *f = ao_ll_fh(fi);
	char path[4096];
	struct ao_err e;
	int sent = 0, rc;

	ao_fs_enter(req);
	ao_err_clear(&e);
	rc = ao_ino_path(fs->ino, ino, path, sizeof(path));
	if (rc == 0 && (to_set & FUSE_SET_ATTR_MODE))
		rc = set_meta(fs, "chmod", path, fi, 0, &sent);
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = set_meta(fs, "chown", path, fi, 0, &sent);
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		rc = f ? ao_router_ftruncate(R(fs), f, attr->st_size, &e)
		       : ao_router_truncate(R(fs), path, attr->st_size, &e);
		rc = ao_fs_fail(f ? "ftruncate" : "truncate", path, rc, &e);
	}
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		rc = set_meta(fs, "utimens", path, fi, 1, &sent);
	if (rc < 0)
		return reply_err(req, rc);
	struct stat st;
	if (sent && ao_router_sent_stat(R(fs), path, &st) == 0) {
		struct ao_kc_ttl t;
		ao_fs_fix_attr(fs, &st);
		st.st_ino = ino;
		ao_kc_ttl(&fs->ttl, AO_KC_NODE_FILE, &t);
		ao_fs_leave();
		fuse_reply_attr(req, &st, t.attr);
		return;
	}
	reply_attr(req, fs, ino, path, fi);
}

/* --- directories ---------------------------------------------------------- */

struct dent {
	char *name;
	struct stat st;
	int has_st;
	uint64_t key; /* the content identity its stat gave (ao_kc_seen) */
};

struct dirh {
	char path[4096];
	struct dent *d;
	size_t n, cap;
	int loaded;
};

static void dir_clear(struct dirh *dh)
{
	for (size_t i = 0; i < dh->n; i++)
		free(dh->d[i].name);
	dh->n = 0;
	dh->loaded = 0;
}

static int gather(void *ctx, const char *name, const struct stat *st)
{
	struct dirh *dh = ctx;

	if (dh->n == dh->cap) {
		size_t nc = dh->cap ? dh->cap * 2 : 64;
		struct dent *nd = realloc(dh->d, nc * sizeof(*nd));
		if (!nd)
			return 1;
		dh->d = nd;
		dh->cap = nc;
	}
	struct dent *de = &dh->d[dh->n];
	if (!(de->name = strdup(name)))
		return 1;
	de->has_st = st != NULL;
	de->key = ao_kc_seen();
	ao_kc_seen_clear();
	if (st)
		de->st = *st;
	else
		memset(&de->st, 0, sizeof(de->st));
	dh->n++;
	return 0;
}

static int dir_load(struct ao_fs *fs, struct dirh *dh, struct ao_err *e)
{
	dir_clear(dh);
	if (gather(dh, ".", NULL) || gather(dh, "..", NULL))
		return ao_errf(e, ENOMEM, "out of memory");
	dh->d[0].st.st_mode = dh->d[1].st.st_mode = S_IFDIR;
	ao_kc_seen_clear();
	int rc = ao_router_readdir(R(fs), dh->path, gather, dh, e);
	if (rc == 0)
		dh->loaded = 1;
	return rc;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ao_fs *fs = FS(req);
	struct dirh *dh = calloc(1, sizeof(*dh));

	ao_fs_enter(req);
	if (!dh)
		return reply_err(req, -ENOMEM);
	int rc = ao_ino_path(fs->ino, ino, dh->path, sizeof(dh->path));
	if (rc < 0) {
		free(dh);
		return reply_err(req, rc);
	}
	fi->fh = (uint64_t)(uintptr_t)dh;
	ao_ll_dir_opened(1);
	ao_fs_leave();
	if (fuse_reply_open(req, fi) == -ENOENT) { /* interrupted: no RELEASEDIR */
		ao_ll_dir_opened(-1);
		free(dh);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *dh = (struct dirh *)(uintptr_t)fi->fh;

	(void)ino;
	if (dh) {
		dir_clear(dh);
		free(dh->d);
		free(dh);
		ao_ll_dir_opened(-1);
	}
	fuse_reply_err(req, 0);
}

/* One entry of a listing into buf (rem bytes left); its size, > rem when it
 * does not fit. A readdirplus entry with attributes is learnt by the inode
 * table only once it fits (the kernel counts its lookup). */
static size_t add_entry(fuse_req_t req, struct ao_fs *fs, fuse_ino_t dir, const struct dent *de,
			char *buf, size_t rem, off_t next, int plus)
{
	struct fuse_entry_param ep;
	struct ao_kc_ttl t;

	memset(&ep, 0, sizeof(ep));
	ep.attr = de->st;
	ep.attr.st_ino = UNKNOWN_INO;
	if (!plus)
		return fuse_add_direntry(req, buf, rem, de->name, &ep.attr, next);
	size_t need = fuse_add_direntry_plus(req, NULL, 0, de->name, NULL, 0);
	if (need > rem)
		return need;
	int dots = !strcmp(de->name, ".") || !strcmp(de->name, "..");
	if (de->has_st && !dots) {
		ao_fs_fix_attr(fs, &ep.attr);
		ep.ino = ao_ino_learn(fs->ino, dir, de->name, de->key);
		ep.attr.st_ino = ep.ino ? ep.ino : UNKNOWN_INO;
		ao_kc_ttl(&fs->ttl, node_kind(&ep.attr), &t);
		ep.entry_timeout = t.entry;
		ep.attr_timeout = t.attr;
	}
	return fuse_add_direntry_plus(req, buf, rem, de->name, &ep, next);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	struct ao_fs *fs = FS(req);
	struct dirh *dh = (struct dirh *)(uintptr_t)fi->fh;
	struct ao_err e;
	size_t used = 0;

	ao_fs_enter(req);
	ao_err_clear(&e);
	if (off == 0 || !dh->loaded) {
		int rc = dir_load(fs, dh, &e);
		if (rc < 0)
			return reply_err(req, ao_fs_fail("readdir", dh->path, rc, &e));
	}
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return reply_err(req, -ENOMEM);
	for (size_t i = off < 0 ? 0 : (size_t)off; i < dh->n; i++) {
		size_t n = add_entry(req, fs, ino, &dh->d[i], buf + used, size - used,
				     (off_t)(i + 1), plus);
		if (n > size - used)
			break;
		used += n;
	}
	ao_fs_leave();
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

/* --- names ---------------------------------------------------------------- */

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct ao_fs *fs = FS(req);
	char from[4096], to[4096];
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_child_path(fs->ino, parent, name, from, sizeof(from));
	if (rc == 0)
		rc = ao_ino_child_path(fs->ino, newparent, newname, to, sizeof(to));
	if (rc == 0)
		rc = ao_router_rename(R(fs), from, to, flags, &e);
	if (rc == 0) {
		ao_ino_move(fs->ino, parent, name, newparent, newname);
		ao_fs_answer_written(fs, to);
	}
	reply_err(req, ao_fs_fail("rename", from, rc, &e));
}

/* A pin or an unpin in <p>/snapshots/ moved `latest`: the kernel's entry of
 * it (perhaps a negative one, from before the first pin) is dropped on the
 * side thread (the kernel holds the directory's lock during this request). */
static void latest_moved(struct ao_fs *fs, const char *path, int rc)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (rc < 0 || n < 10 || n >= sizeof(dir) || strncmp(slash - 10, "/snapshots", 10))
		return;
	memcpy(dir, path, n);
	dir[n] = '\0';
	ao_fs_invalidate_entry(fs, dir, "latest");
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct ao_fs *fs = FS(req);
	struct fuse_entry_param ep;
	char path[4096];
	struct ao_err e;

	(void)mode;
	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_child_path(fs->ino, parent, name, path, sizeof(path));
	if (rc == 0)
		rc = ao_router_mkdir(R(fs), path, &e);
	latest_moved(fs, path, rc);
	if (rc == 0)
		rc = ao_fs_entry(fs, parent, name, path, NULL, &ep, &e);
	if (rc < 0)
		return reply_err(req, ao_fs_fail("mkdir", path, rc, &e));
	ao_fs_leave();
	if (fuse_reply_entry(req, &ep) == -ENOENT)
		ao_ino_forget(fs->ino, ep.ino, 1);
}

/* unlink and rmdir: the router removes, the inode table forgets the name
 * (files still open keep their node: W7, the reader keeps its bytes) */
static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct ao_fs *fs = FS(req);
	char path[4096];
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_child_path(fs->ino, parent, name, path, sizeof(path));
	if (rc == 0)
		rc = dir ? ao_router_rmdir(R(fs), path, &e) : ao_router_unlink(R(fs), path, &e);
	if (dir)
		latest_moved(fs, path, rc);
	if (rc == 0)
		ao_ino_drop(fs->ino, parent, name);
	reply_err(req, ao_fs_fail(dir ? "rmdir" : "unlink", path, rc, &e));
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 1);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct ao_fs *fs = FS(req);
	char path[4096], buf[4096];
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_path(fs->ino, ino, path, sizeof(path));
	if (rc == 0)
		rc = ao_router_readlink(R(fs), path, buf, sizeof(buf), &e);
	if (rc < 0)
		return reply_err(req, ao_fs_fail("readlink", path, rc, &e));
	ao_fs_leave();
	fuse_reply_readlink(req, buf);
}

/* mknod, symlink, link: refused */
static void refuse(fuse_req_t req, const char *op, fuse_ino_t parent, const char *name)
{
	struct ao_fs *fs = FS(req);
	char path[4096];
	struct ao_err e;

	ao_fs_enter(req);
	ao_err_clear(&e);
	int rc = ao_ino_child_path(fs->ino, parent, name, path, sizeof(path));
	if (rc == 0)
		rc = ao_router_refuse(R(fs), op, path, &e);
	reply_err(req, ao_fs_fail(op, path, rc < 0 ? rc : -EPERM, &e));
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)mode;
	(void)rdev;
	refuse(req, "mknod", parent, name);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link;
	refuse(req, "symlink", parent, name);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino;
	refuse(req, "link", newparent, newname);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ao_fs *fs = FS(req);
	struct statvfs sv;

	(void)ino;
	if (statvfs(fs->cache_dir, &sv) < 0)
		memset(&sv, 0, sizeof(sv));
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops ao_ll_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = ao_ll_open,
    .read = ao_ll_read,
    .write = ao_ll_write,
    .flush = ao_ll_flush,
    .release = ao_ll_release,
    .fsync = ao_ll_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .create = ao_ll_create,
    .readdirplus = op_readdirplus,
};

/* --- life cycle ----------------------------------------------------------- */

int ao_fs_init(struct ao_fs *fs)
{
	fs->ino = ao_ino_new();
	ao_fs_inval_init(fs);
	return fs->ino ? 0 : -ENOMEM;
}

int ao_fs_start(struct ao_fs *fs)
{
	return ao_fs_inval_start(fs);
}

void ao_fs_stop(struct ao_fs *fs)
{
	ao_fs_inval_stop(fs);
	ao_ll_sweep(fs); /* handles whose RELEASE never came (the loop has ended) */
}

void ao_fs_destroy(struct ao_fs *fs)
{
	ao_ino_free(fs->ino);
	fs->ino = NULL;
}
