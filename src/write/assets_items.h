/*
 * assets_items.h - the items of a list copied into <project>/assets/ (the
 * SDK's upload_files_cloud): {"data": URL, "externalId", "metadata"?,
 * "batches"?, "contextData"?, "attachments"?}, checked before anything is
 * sent. labels_prep.c streams the file and calls this per item (DK_ASSETS).
 */
#ifndef ANGOFS_ASSETS_ITEMS_H
#define ANGOFS_ASSETS_ITEMS_H

#include <jansson.h>

#include "schema.h"

/* Check one item; every problem goes to rep, named by where ("line 3 (item
 * 3)"). Returns 1 when the item is good (send it as is), 0 when not. */
int assets_item_check(json_t *item, const char *where, struct sc_report *rep);

#endif
