/*
 * writes.c - the write side of a mount (see include/angofs/writes.h).
 *
 * First version: every entry point exists so the daemon links; the write paths
 * are refused with -EROFS and the message "not implemented yet" until the
 * parser, spool and sender modules are wired in.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "angofs/writes.h"

struct ao_writes {
	struct ao_writes_cfg cfg;
};

#define NOT_YET(err) ao_errf(err, EROFS, "write side: not implemented yet")

struct ao_writes *ao_writes_new(const struct ao_writes_cfg *cfg, struct ao_err *err)
{
	struct ao_writes *w = calloc(1, sizeof(*w));

	if (!w) {
		ao_errf(err, ENOMEM, "out of memory");
		return NULL;
	}
	w->cfg = *cfg;
	return w;
}

int ao_writes_start(struct ao_writes *w, struct ao_err *err)
{
	return 0;
}

void ao_writes_free(struct ao_writes *w)
{
	free(w);
}

int ao_writes_owns(const char *relpath)
{
	const char *s;

	if (!strncmp(relpath, "labels/", 7) || !strncmp(relpath, "attachments/", 12))
		return relpath[relpath[0] == 'l' ? 7 : 12] != '\0';
	if (strncmp(relpath, "tasks/", 6))
		return 0;
	s = strchr(relpath + 6, '/');
	if (!s || s == relpath + 6 || !s[1] || strchr(s + 1, '/'))
		return 0;
	return strcmp(s + 1, "task.json") != 0;
}

int ao_writes_getattr(struct ao_writes *w, const char *project_id, const char *relpath,
		      struct stat *st, struct ao_err *err)
{
	return ao_errf(err, ENOENT, "%s: no such file", relpath);
}

int ao_writes_readdir(struct ao_writes *w, const char *project_id, const char *relpath,
		      ao_fill_fn fill, void *ctx, struct ao_err *err)
{
	return 0;
}

int ao_writes_create(struct ao_writes *w, const char *project_id, const char *relpath,
		     mode_t mode, int flags, uint64_t *fh, struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_open(struct ao_writes *w, const char *project_id, const char *relpath, int flags,
		   uint64_t *fh, struct ao_err *err)
{
	return ao_errf(err, ENOENT, "%s: no such file", relpath);
}

int ao_writes_unlink(struct ao_writes *w, const char *project_id, const char *relpath,
		     struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_rename(struct ao_writes *w, const char *project_id, const char *from,
		     const char *to, unsigned int flags, struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_truncate(struct ao_writes *w, const char *project_id, const char *relpath,
		       off_t size, struct ao_err *err)
{
	return NOT_YET(err);
}

ssize_t ao_writes_read(struct ao_writes *w, uint64_t fh, char *buf, size_t size, off_t off,
		       struct ao_err *err)
{
	return NOT_YET(err);
}

ssize_t ao_writes_write(struct ao_writes *w, uint64_t fh, const char *buf, size_t size, off_t off,
			struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_ftruncate(struct ao_writes *w, uint64_t fh, off_t size, struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_fgetattr(struct ao_writes *w, uint64_t fh, struct stat *st, struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_flush(struct ao_writes *w, uint64_t fh, struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_fsync(struct ao_writes *w, uint64_t fh, struct ao_err *err)
{
	return NOT_YET(err);
}

int ao_writes_release(struct ao_writes *w, uint64_t fh)
{
	return 0;
}

json_t *ao_writes_status(struct ao_writes *w)
{
	return json_pack("{s:[],s:[],s:i}", "pending", "failed", "sent", 0);
}
