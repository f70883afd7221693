/*
 * hub_store.h - the reply store behind -o offline, a client over another
 * client (the seam, angofs/hub.h), as the unit tests' failure client is.
 * While online, it keeps the last successful reply of the GETs that describe
 * the workspace (listProjects pages, /project/{id}, /project/{id}/tasks
 * pages, /task/{id}: small, and only what was looked at) in <cache_dir>/api/,
 * one file per host+path+query. Exports are not here: the export cache has
 * them. Offline, those GETs are answered from the store, and every other
 * request fails at once with ENETUNREACH marked transient (writes stay
 * pending in the spool; a stale cached export is served). No key is ever
 * stored; files are 0600 in a 0700 directory.
 */
#ifndef ANGOFS_HUB_STORE_H
#define ANGOFS_HUB_STORE_H

#include "angofs/err.h"

struct hub;

/* The store over inner (taken over: freed with it, also on failure). dir:
 * where replies are kept (NULL: none kept, and offline answers nothing);
 * base: the hub's API base URL, part of every reply's key; offline: send
 * nothing, answer from dir. */
struct hub *hub_store_new(struct hub *inner, const char *dir, const char *base, int offline,
			  struct ao_err *err);

/* 1 if GET path_and_query (below /v2) is one the store keeps. */
int hub_store_wanted(const char *method, const char *path_and_query);

#endif
