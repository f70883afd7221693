/*
 * router_int.h - what the router's files share (fs/router.c: paths to sides;
 * fs/handles.c: open files and their kernel caching). Not an interface:
 * include/angofs/router.h is.
 */
#ifndef ANGOFS_ROUTER_INT_H
#define ANGOFS_ROUTER_INT_H

#include "angofs/router.h"

/* Open n on the write side into fh (create: make it); 0 or -errno
 * (-ENOENT: not the write side's, ask the read side). */
int rtr_open_write(const struct ao_router *r, const struct ao_node *n, int flags, int create,
		   mode_t mode, struct ao_fh *fh, struct ao_err *err);
/* Open n on the read side into fh; 0 or -errno. */
int rtr_open_read(const struct ao_router *r, const struct ao_node *n, int flags, struct ao_fh *fh,
		  struct ao_err *err);
/* The kernel caching of fh, opened at path (it may wait, bounded); on
 * failure fh is released. 0 or -ENOMEM. */
int rtr_decide(const struct ao_router *r, const char *path, struct ao_fh *fh, struct ao_err *err);

#endif
