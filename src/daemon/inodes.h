/*
 * inodes.h - the adapter's inode table (src/daemon/inodes.c): the kernel's
 * node ids and the paths the router (angofs/router.h) understands. A node
 * is a name in a parent node, with the number of times the kernel learnt it
 * (LOOKUP, readdirplus, create, mkdir) minus what it forgot. Node ids are
 * never reused (a 64-bit counter), so an id the kernel forgot cannot name
 * another node later.
 */
#ifndef ANGOFS_INODES_H
#define ANGOFS_INODES_H

#include <stddef.h>
#include <stdint.h>

#define AO_INO_ROOT 1 /* FUSE_ROOT_ID */

struct ao_inodes;

struct ao_inodes *ao_ino_new(void);
void ao_ino_free(struct ao_inodes *t);

/* The path of node ino ("/" for the root; a node the name of which was
 * unlinked, renamed over or replaced keeps its last path). 0, -ENOENT (no
 * such node) or -ENAMETOOLONG. */
int ao_ino_path(struct ao_inodes *t, uint64_t ino, char *buf, size_t n);
/* The path of name in directory node parent. */
int ao_ino_child_path(struct ao_inodes *t, uint64_t parent, const char *name, char *buf, size_t n);
/*
 * The kernel learns name in parent (a reply that carries a node id): the
 * node, its lookup count one more. key: the identity of the content the
 * name serves now (an export's generation; 0: not known, the node stays).
 * A node whose known key differs is replaced: the name means a new node
 * from now on, and the old one lives on, with its open files, until the
 * kernel forgets it. 0: out of memory, or parent unknown.
 */
uint64_t ao_ino_learn(struct ao_inodes *t, uint64_t parent, const char *name, uint64_t key);
/* The kernel forgot n lookups of ino. */
void ao_ino_forget(struct ao_inodes *t, uint64_t ino, uint64_t n);
/* name in parent is gone (unlink, rmdir): its node no longer answers to it. */
void ao_ino_drop(struct ao_inodes *t, uint64_t parent, const char *name);
/* rename: the node of name in parent is now newname in newparent (a node
 * there before is dropped). */
void ao_ino_move(struct ao_inodes *t, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname);
/* The node path names now (0: the kernel knows none). */
uint64_t ao_ino_find(struct ao_inodes *t, const char *path);
/* Nodes in the table, the root included. */
size_t ao_ino_count(struct ao_inodes *t);

#endif
