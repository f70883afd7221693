/*
 * views.h - the dataset views, snapshots and changes of a project
 * (datasets/, snapshots/, changes/; docs/DATASETS.md) as the subtrees the
 * read side hands paths to: whoever builds the read side attaches them
 * (ao_core_cfg.views = ao_views()), so the read side uses nothing of theirs
 * directly and they build on it (src/read/views/views.c).
 */
#ifndef ANGOFS_VIEWS_H
#define ANGOFS_VIEWS_H

struct ao_views;

const struct ao_views *ao_views(void);

#endif
