/*
 * hub_store.h - the reply store behind -o offline. While online, the hub
 * client keeps the last successful reply of the GETs that describe the
 * workspace (listProjects pages, /project/{id}, /project/{id}/tasks pages,
 * /task/{id}: small, and only what was looked at) in <cache_dir>/api/, one
 * file per host+path+query. Exports are not here: the export cache has them. Offline, those GETs
 * are answered from the store, and every other request fails at once with ENETUNREACH marked
 * transient (writes stay pending in the spool; a stale cached export is served). No key is ever
 * stored; files are 0600 in a 0700 directory.
 */
#ifndef ANGOFS_HUB_STORE_H
#define ANGOFS_HUB_STORE_H

#include <stddef.h>

#include "angofs/err.h"

/* 1 if GET path_and_query (below /v2) is one the store keeps. */
int hub_store_wanted(const char *method, const char *path_and_query);

/* Keep body as the reply of base+path_and_query (atomic replace; best effort:
 * failures are logged at debug level only). */
void hub_store_put(const char *dir, const char *base, const char *path_and_query, const char *body,
		   size_t len);

/* The stored reply (malloc'd) or -ENETUNREACH (transient) naming the request. */
int hub_store_get(const char *dir, const char *base, const char *method, const char *path_and_query,
		  char **body, size_t *len, struct ao_err *err);

#endif
