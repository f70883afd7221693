/*
 * snap.c - pinned snapshots: `mkdir <project>/snapshots/NAME` (issue 24;
 * docs/DATASETS.md "Snapshots"). The store: pin, unpin, list, find.
 *
 * Design: a snapshot is a directory of the cache directory,
 *   <cache_dir>/snapshots/<project id>/<NAME>/
 *     snapshot.json     what it is: when, generation, hub counts, fingerprints
 *     export/tasks.ndjson  the project's export generation (a hard link of
 *                       the export cache's data file when it still has a
 *                       name, else a copy: either way bytes nobody modifies)
 *     export/tasks.json    the same records as one JSON array
 *     export/issues.json   the issues export of the same moment
 *     project.json, schema.json   the project and the categorySchema the
 *                       views were built with
 *     images.tsv        per image: record number, width, height, name: the
 *                       names and sizes the live views gave, so the pinned
 *                       views never ask the hub (names of colliding images)
 *                       nor read an image header again
 *     derived/          the views' pass-2 files (label packs,
 *                       annotations.json), copied (linked) from the live
 *                       generation's, and those of splits built later
 * built whole under a temp name (.tmp-XXXXXX) and renamed into place, so
 * every daemon sharing the cache directory sees a snapshot complete or
 * not at all, and a second pin of the same name fails (EEXIST) in every
 * daemon. Nothing in it is modified afterwards: a reader's files never
 * change nor vanish (an unpin renames the directory away and removes it;
 * open descriptors keep their bytes). The pin is what the live views show
 * at that moment: their current generation (the export fetched first if it
 * is not fresh, as a read would), whose pass-2 files are built if needed.
 *
 * Pinned bytes live outside exports/ and media/, so no eviction touches
 * them; they count toward cache_size (ao_snap_pinned_bytes) unless a file
 * is also the export cache's (a hard link, counted there).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core_int.h"
#include "dsview_int.h"
#include "angofs/export_cache.h"
#include "angofs/log.h"
#include "angofs/snapshots.h"
#include "angofs/sysutil.h"

/* ---- names ---------------------------------------------------------------------- */

int snap_check_name(const char *name, struct ao_err *err)
{
	size_t len = strlen(name);

	if (!len)
		return ao_errf(err, EINVAL, "a snapshot needs a name");
	if (len > SNAP_NAME_MAX)
		return ao_errf(err, ENAMETOOLONG, "snapshot name of %zu bytes: at most %d", len,
			       SNAP_NAME_MAX);
	if (name[0] == '.')
		return ao_errf(err, EINVAL, "snapshot '%s': names starting with '.' are reserved",
			       name);
	if (!strcmp(name, "latest") || !strcmp(name, "live"))
		return ao_errf(err, EINVAL,
			       "snapshot '%s': reserved (snapshots/latest, changes/<A>..live)",
			       name);
	if (strstr(name, ".."))
		return ao_errf(err, EINVAL,
			       "snapshot '%s': '..' separates the sides of changes/<A>..<B>", name);
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
			return ao_errf(err, EINVAL,
				       "snapshot name: control characters, '/' and '\\' are "
				       "refused");
	if (!ao_name_utf8_valid(name))
		return ao_errf(err, EINVAL, "snapshot name: not valid UTF-8");
	return 0;
}

int snap_path(struct ao_core *c, const char *project_id, const char *name, char *buf, size_t n)
{
	if (!c->cfg.snap_dir)
		return -ENOTSUP;
	int k = name ? snprintf(buf, n, "%s/%s/%s", c->cfg.snap_dir, project_id, name)
		     : snprintf(buf, n, "%s/%s", c->cfg.snap_dir, project_id);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

int snap_find(struct ao_core *c, const char *project_id, const char *name, unsigned long long *ino,
	      struct ao_err *err)
{
	char p[4096];
	struct stat st;

	if (name[0] == '.' || snap_path(c, project_id, name, p, sizeof(p)) < 0 ||
	    stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
		return ao_errf(err, ENOENT, "no snapshot '%s'", name);
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

/* ---- listing ------------------------------------------------------------------------ */

/* Bytes of the files below dfd (closed); own: only those no other
 * directory links (a hard link shared with the export cache counts there). */
static long long tree_bytes(int dfd, int depth, int own)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	long long sum = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 8) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				sum += tree_bytes(sub, depth + 1, own);
		} else if (S_ISREG(st.st_mode) && (!own || st.st_nlink == 1)) {
			sum += (long long)st.st_size;
		}
	}
	closedir(d);
	return sum;
}

static void rm_tree(const char *path);

/* A pin a dead daemon left half made (.tmp-, an hour old) or half removed
 * (.rm-): removed. */
static void sweep(int pdfd, const char *pdir, const char *name)
{
	struct stat st;
	char p[4400];

	if (fstatat(pdfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return;
	if (name[1] == 't' && time(NULL) - st.st_mtime < 3600)
		return;
	snprintf(p, sizeof(p), "%s/%s", pdir, name);
	rm_tree(p);
}

static int cmp_ent(const void *a, const void *b)
{
	const struct snap_ent *x = a, *y = b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* created_ms of a pinned snapshot (its snapshot.json), 0 if unreadable. */
static long long created_of(int pdfd, const char *name)
{
	char rel[SNAP_NAME_MAX + 32];
	long long ms = 0;

	snprintf(rel, sizeof(rel), "%.*s/snapshot.json", SNAP_NAME_MAX, name);
	int fd = openat(pdfd, rel, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t len;
	if (fd >= 0 && ao_sys_read_fd(fd, 1 << 20, &buf, &len) == 0) {
		json_t *j = json_loadb(buf, len, 0, NULL);
		ms = json_integer_value(json_object_get(j, "created_ms"));
		json_decref(j);
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	return ms;
}

int snap_list(struct ao_core *c, const char *project_id, int sizes, struct snap_ent **out,
	      size_t *nout)
{
	char p[4096];
	struct snap_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;

	*out = NULL;
	*nout = 0;
	if (snap_path(c, project_id, NULL, p, sizeof(p)) < 0 || !(d = opendir(p)))
		return 0;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, ".tmp-", 5) || !strncmp(de->d_name, ".rm-", 4))
			sweep(dirfd(d), p, de->d_name);
		if (de->d_name[0] == '.' || strlen(de->d_name) > SNAP_NAME_MAX ||
		    fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			struct snap_ent *nv = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		struct snap_ent *e = &v[n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", de->d_name);
		e->ino = (unsigned long long)st.st_ino;
		e->created_ms = created_of(dirfd(d), de->d_name);
		if (sizes) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			e->bytes = sub >= 0 ? tree_bytes(sub, 0, 0) : 0;
		}
	}
	closedir(d);
	if (v)
		qsort(v, n, sizeof(*v), cmp_ent);
	*out = v;
	*nout = n;
	return 0;
}

/* ---- writing the pin ---------------------------------------------------------------- */

/* dst = the bytes of fd: a hard link of the file it reads when it still has
 * a name (the same inode: no copy), else a copy. */
static int link_or_copy(int fd, const char *dst, struct ao_err *err)
{
	char proc[64];
	char buf[1 << 16];
	off_t off = 0;
	ssize_t r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, dst, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return ao_errf(err, errno, "%s: %s", dst, strerror(errno));
	while ((r = pread(fd, buf, sizeof(buf), off)) > 0) {
		if (ao_sys_write_all(out, buf, (size_t)r) < 0)
			break;
		off += r;
	}
	int rc = r == 0 && fsync(out) == 0 ? 0 : -errno;
	close(out);
	if (rc < 0)
		return ao_errf(err, -rc ? -rc : EIO, "copying into %s: %s", dst, strerror(-rc));
	return 0;
}

static int link_path(const char *src, const char *dst, struct ao_err *err)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ao_errf(err, errno, "%s: %s", src, strerror(errno));
	int rc = link_or_copy(fd, dst, err);
	close(fd);
	return rc;
}

static int write_file(const char *path, const char *data, size_t len, struct ao_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = fd < 0 ? -errno : ao_sys_write_all(fd, data, len);

	if (fd >= 0 && rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	return rc < 0 ? ao_errf(err, -rc, "%s: %s", path, strerror(-rc)) : 0;
}

/* export/tasks.json: the records of tasks.ndjson as one JSON array, one
 * record a line (what the hub's JSON export looks like). */
static int write_json_array(int ndfd, const char *dst, struct ao_err *err)
{
	int fd = dup(ndfd);
	FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL, *out = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int first = 1, rc = 0;

	if (in && fseeko(in, 0, SEEK_SET) == 0) {
		int ofd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		out = ofd >= 0 ? fdopen(ofd, "w") : NULL;
	}
	if (!in || !out) {
		rc = ao_errf(err, errno ? errno : ENOMEM, "%s: %s", dst, strerror(errno));
		goto out;
	}
	fputs("[\n", out);
	while ((len = getline(&line, &cap, in)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		fputs(first ? "" : ",\n", out);
		fwrite(line, 1, (size_t)len, out);
		first = 0;
	}
	fputs(first ? "]\n" : "\n]\n", out);
	if (ferror(in) || fflush(out) != 0 || ferror(out) || fsync(fileno(out)) != 0)
		rc = ao_errf(err, EIO, "%s: write error", dst);
out:
	free(line);
	if (in)
		fclose(in);
	else if (fd >= 0)
		close(fd);
	if (out && fclose(out) != 0 && rc == 0)
		rc = ao_errf(err, EIO, "%s: write error", dst);
	return rc;
}

/* The names and sizes of the live views (the snapshot's views use them). */
static int write_images(const struct dsv_gen *g, const char *dst, struct ao_err *err)
{
	int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int rc = 0;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return ao_errf(err, errno, "%s: %s", dst, strerror(errno));
	}
	fputs("# rec_no\twidth\theight\tname (angofs snapshot: the views' names and sizes)\n", f);
	for (size_t i = 0; i < ao_ds_index_count(g->idx); i++) {
		const struct ao_ds_image *im = ao_ds_index_get(g->idx, i);
		fprintf(f, "%llu\t%d\t%d\t%s\n", im->rec_no, im->width, im->height, im->name);
	}
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
		rc = ao_errf(err, EIO, "%s: write error", dst);
	fclose(f);
	return rc;
}

/* The project detail as project.json shows it now (cached). */
static int write_project(struct ao_core *c, const char *project_id, const char *dst,
			 json_t **detail, struct ao_err *err)
{
	struct project *p = proj_by_id(c, project_id);
	char *text = NULL;
	size_t len = 0;
	int rc = p ? proj_detail(c, p, err) : ao_errf(err, ENOENT, "project gone");

	if (rc < 0)
		return rc;
	pthread_mutex_lock(&c->lock);
	text = p->detail_text ? strdup(p->detail_text) : NULL;
	len = p->detail_len;
	*detail = p->detail ? json_deep_copy(p->detail) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!text || !*detail) {
		free(text);
		return ao_errf(err, ENOMEM, "out of memory");
	}
	rc = write_file(dst, text, len, err);
	free(text);
	return rc;
}

/* The issues export of this moment (fetched if not fresh). */
static int pin_issues(struct ao_core *c, const char *project_id, const char *dst,
		      struct ao_err *err)
{
	struct ao_xspec s = {.project_id = project_id, .type = AO_X_ISSUE};
	struct ao_xentry *x = ao_xcache_get(c->cfg.xc, &s, err);
	struct ao_xopen o;

	if (!x)
		return -ENOMEM;
	int rc = ao_xcache_open(c->cfg.xc, x, &o, err);
	if (rc < 0)
		return rc;
	rc = link_or_copy(o.fd, dst, err);
	ao_xcache_close(c->cfg.xc, x, o.fd);
	return rc;
}

/* The live generation's pass-2 files, into <tmp>/derived. */
static int pin_derived(struct ao_core *c, struct dsv_gen *g, const char *tmp, struct ao_err *err)
{
	char src[4400], dst[4400];

	for (int k = 0; k <= DSV_OUT_COCO; k++) {
		int rc = dsv_ensure(c, g, k, err);
		if (rc < 0)
			return rc;
		for (int rep = 0; rep < (k == DSV_OUT_COCO ? 2 : 1); rep++) {
			snprintf(src, sizeof(src), "%s/%s.%s%s", g->out_dir, g->ident,
				 dsv_out_name(k), rep ? ".txt" : "");
			snprintf(dst, sizeof(dst), "%s/derived/snapshot.%s%s", tmp, dsv_out_name(k),
				 rep ? ".txt" : "");
			rc = link_path(src, dst, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char p[4096];
	struct stat st;

	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

/* Everything of the pin but snapshot.json, into tmp. */
static int pin_files(struct ao_core *c, struct dsv_gen *g, const char *project_id, const char *tmp,
		     json_t **detail, struct ao_err *err)
{
	char p[4400], q[4400];
	int rc;

	snprintf(p, sizeof(p), "%s/export", tmp);
	snprintf(q, sizeof(q), "%s/derived", tmp);
	if (mkdir(p, 0700) < 0 || mkdir(q, 0700) < 0)
		return ao_errf(err, errno, "%s: %s", tmp, strerror(errno));
	snprintf(p, sizeof(p), "%s/export/tasks.ndjson", tmp);
	if ((rc = link_or_copy(g->xfd, p, err)) < 0)
		return rc;
	snprintf(q, sizeof(q), "%s/export/tasks.json", tmp);
	if ((rc = write_json_array(g->xfd, q, err)) < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/export/issues.json", tmp);
	if ((rc = pin_issues(c, project_id, p, err)) < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/project.json", tmp);
	if ((rc = write_project(c, project_id, p, detail, err)) < 0)
		return rc;
	snprintf(p, sizeof(p), "%s/schema.json", tmp);
	if (json_dump_file(g->cs, p, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
		return ao_errf(err, EIO, "%s: write error", p);
	snprintf(p, sizeof(p), "%s/images.tsv", tmp);
	if ((rc = write_images(g, p, err)) < 0)
		return rc;
	if ((rc = snap_pin_subviews(g, *detail, tmp, err)) < 0) /* stage/, batch/ (snapsub.c) */
		return rc;
	return pin_derived(c, g, tmp, err);
}

int snap_create(struct ao_core *c, const char *project_id, const char *name, struct ao_err *err)
{
	char pdir[4096], final[4096], tmp[4200];
	json_t *detail = NULL, *doc = NULL;
	struct stat st;
	int rc = snap_check_name(name, err);

	if (rc < 0)
		return rc;
	if (!c->cfg.snap_dir || !c->cfg.ds_dir)
		return ao_errf(err, ENOTSUP, "snapshots need a cache directory");
	if (snap_path(c, project_id, NULL, pdir, sizeof(pdir)) < 0 ||
	    snap_path(c, project_id, name, final, sizeof(final)) < 0)
		return ao_errf(err, ENAMETOOLONG, "snapshot path too long");
	if (lstat(final, &st) == 0)
		return ao_errf(err, EEXIST, "snapshot '%s' exists (rmdir it first)", name);
	mkdir(c->cfg.snap_dir, 0700);
	mkdir(pdir, 0700);
	long long t0 = ao_sys_now_ms();
	struct dsv_gen *g = dsv_acquire_live(c, project_id, err);
	if (!g)
		return err->code ? -err->code : -EIO;
	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", pdir);
	if (!mkdtemp(tmp)) {
		dsv_put(c, g);
		return ao_errf(err, errno, "%s: %s", pdir, strerror(errno));
	}
	rc = pin_files(c, g, project_id, tmp, &detail, err);
	if (rc == 0)
		rc = snap_describe(c, g, name, detail, tmp, &doc, err);
	if (rc == 0 && rename(tmp, final) != 0)
		rc = errno == EEXIST || errno == ENOTEMPTY
			 ? ao_errf(err, EEXIST, "snapshot '%s' exists (pinned meanwhile)", name)
			 : ao_errf(err, errno, "%s: %s", final, strerror(errno));
	if (rc < 0)
		rm_tree(tmp);
	else
		ao_info("snapshot %s of project %s pinned: generation %s, %zu images (%lld ms)",
			name, project_id, g->ident, ao_ds_index_count(g->idx),
			ao_sys_now_ms() - t0);
	json_decref(detail);
	json_decref(doc);
	dsv_put(c, g);
	return rc;
}

int snap_remove(struct ao_core *c, const char *project_id, const char *name, struct ao_err *err)
{
	char final[4096], gone[4200];
	unsigned long long ino;

	if (snap_find(c, project_id, name, &ino, err) < 0)
		return -ENOENT;
	snap_path(c, project_id, name, final, sizeof(final));
	snprintf(gone, sizeof(gone), "%s/../.rm-%s-%llx", final, name, ino);
	if (rename(final, gone) != 0)
		return ao_errf(err, errno, "%s: %s", final, strerror(errno));
	rm_tree(gone);
	dsv_snap_gone(c, project_id, name);
	ao_info("snapshot %s of project %s unpinned", name, project_id);
	return 0;
}

/* ---- cache_size ------------------------------------------------------------------ */

long long ao_snap_pinned_bytes(const char *root)
{
	DIR *d = root ? opendir(root) : NULL;
	struct dirent *de;
	long long sum = 0;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub >= 0)
			sum += tree_bytes(sub, 0, 1);
	}
	if (d)
		closedir(d);
	return sum;
}
