/*
 * views.c - the views as the read side's subtrees (include/angofs/views.h):
 * the table of struct ao_views (read/read_int.h) over read/views/tree.c (datasets/),
 * snap*.c (snapshots/) and read/views/changes.c (changes/), and the state they keep in
 * the core (c->dsv), made and freed with it.
 */
#include <errno.h>
#include <stdlib.h>

#include "angofs/views.h"
#include "../read_int.h"
#include "views_int.h"

static int views_init(struct ao_core *c)
{
	c->dsv = calloc(1, sizeof(*c->dsv));
	if (!c->dsv)
		return -ENOMEM;
	pthread_mutex_init(&c->dsv->lock, NULL);
	return 0;
}

static void views_free(struct ao_core *c)
{
	if (!c->dsv)
		return;
	dsv_free_all(c);
	dsv_changes_free(c);
	pthread_mutex_destroy(&c->dsv->lock);
	free(c->dsv);
	c->dsv = NULL;
}

static const struct ao_views table = {
    .init = views_init,
    .free = views_free,
    .lookup = dsv_lookup,
    .getattr = dsv_getattr,
    .readdir = dsv_readdir,
    .open = dsv_open,
    .read = dsv_read,
    .release = dsv_release,
    .status = dsv_status,
    .snap_find = snap_find,
    .snap_has_latest = snap_has_latest,
    .snap_sub_pinned = snap_sub_pinned,
    .snap_getattr = snap_getattr,
    .snap_readdir = snap_readdir,
    .snap_open = snap_open,
    .snap_readlink = snap_readlink,
    .snap_create = snap_create,
    .snap_remove = snap_remove,
    .snap_status = snap_status,
    .changes_lookup = dsv_changes_lookup,
    .changes_readdir = dsv_changes_readdir,
    .changes_getattr = dsv_changes_getattr,
    .changes_open = dsv_changes_open,
};

const struct ao_views *ao_views(void)
{
	return &table;
}
