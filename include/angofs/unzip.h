/*
 * unzip.h - extract the one member of an export zip to a file descriptor.
 *
 * The hub delivers each export as a zip holding one file (the SDK reads
 * namelist()[0]); we take the first regular-file member the same way. The zip
 * is read from disk with libarchive in blocks, so memory stays bounded for any
 * export size. Hostile archives are refused: member names that are absolute
 * or climb with "..", declared sizes beyond AO_UNZIP_MAX_SIZE, and output
 * growing past AO_UNZIP_MAX_RATIO times the zip's size (a zip bomb).
 */
#ifndef ANGOFS_UNZIP_H
#define ANGOFS_UNZIP_H

#include "angofs/err.h"

#define AO_UNZIP_MAX_SIZE (1LL << 40)	  /* 1 TiB */
#define AO_UNZIP_MAX_RATIO 400LL	  /* output bytes per zip byte ... */
#define AO_UNZIP_RATIO_FLOOR (64LL << 20) /* ... enforced only above 64 MiB */

/* Extract into out_fd (written from its current offset); *size = bytes written. */
int ao_unzip_first(const char *zip_path, int out_fd, long long *size, struct ao_err *err);

#endif
