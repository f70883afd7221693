/*
 * snapshots.h - what pinned snapshots hold on disk, for the size cap
 * (src/core/snap.c; docs/DATASETS.md "Snapshots").
 *
 * Pins live in <cache_dir>/snapshots/, outside exports/ and media/, so no
 * eviction ever removes them; their bytes still count toward cache_size
 * (the export cache and the media cache add them to what they hold before
 * they evict their own files). A pinned file that is also a file of the
 * export cache (a hard link: the same inode) counts once, there.
 */
#ifndef ANGOFS_SNAPSHOTS_H
#define ANGOFS_SNAPSHOTS_H

/* Bytes (sizes) of the files below root that no other directory
 * links; 0 if root is NULL or missing. Walks the tree: call it when the
 * cap is checked, not per access. */
long long ao_snap_pinned_bytes(const char *root);

#endif
