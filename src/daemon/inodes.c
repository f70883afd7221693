/*
 * inodes.c - the adapter's inode table (src/daemon/inodes.h). The router
 * is path-based; the low-level FUSE API speaks node ids. A node stores its
 * name and a pointer to its parent node, not its whole path, so a rename of
 * a directory moves everything below it at once; a path is built by
 * walking up to the root. Two chained hash tables: by node id (every node)
 * and by (parent, name) (only the node a name means now: "linked").
 *
 * A node lives while the kernel holds lookups of it (nlookup) or a node
 * below it lives (nref: children pointing at it), so a path can always be
 * built for a node the kernel may still name (an unlinked file still open,
 * a replaced generation of an export still read). An unlinked or replaced
 * node keeps its parent and name: requests on it (a GETATTR of an open
 * file) are answered for that path.
 *
 * Locks: `mu` guards everything in the table (both hash tables, every
 * node's fields, the counter); a leaf, held only for table work (no I/O,
 * no call out).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "inodes.h"

struct node {
	uint64_t ino, nlookup, key;	   /* [mu] key: the content identity (0: none known) */
	struct node *parent;		   /* [mu] holds one nref of it; NULL: the root */
	char *name;			   /* [mu] in parent */
	unsigned long nref;		   /* [mu] nodes whose parent this is */
	int linked;			   /* [mu] in the name table: the name means it */
	struct node *next_ino, *next_name; /* [mu] hash chains */
};

struct ao_inodes {
	pthread_mutex_t mu;
	struct node **by_ino, **by_name; /* [mu] nb buckets each */
	size_t nb, count;		 /* [mu] */
	uint64_t next;			 /* [mu] the next node id */
	struct node root;
};

static size_t h_ino(uint64_t ino, size_t nb)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 17) & (nb - 1);
}

static size_t h_name(const struct node *parent, const char *name, size_t nb)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29)) & (nb - 1);
}

static struct node *by_ino(struct ao_inodes *t, uint64_t ino)
{
	if (ino == AO_INO_ROOT)
		return &t->root;
	for (struct node *n = t->by_ino[h_ino(ino, t->nb)]; n; n = n->next_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

static struct node *by_name(struct ao_inodes *t, const struct node *parent, const char *name)
{
	for (struct node *n = t->by_name[h_name(parent, name, t->nb)]; n; n = n->next_name)
		if (n->parent == parent && strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static void unlink_name(struct ao_inodes *t, struct node *n)
{
	struct node **pp = &t->by_name[h_name(n->parent, n->name, t->nb)];

	if (!n->linked)
		return;
	while (*pp && *pp != n)
		pp = &(*pp)->next_name;
	if (*pp)
		*pp = n->next_name;
	n->linked = 0;
}

static void link_name(struct ao_inodes *t, struct node *n)
{
	size_t b = h_name(n->parent, n->name, t->nb);

	n->next_name = t->by_name[b];
	t->by_name[b] = n;
	n->linked = 1;
}

/* Free n if nothing holds it, and its parents that it held (mu held). */
static void release(struct ao_inodes *t, struct node *n)
{
	while (n && n != &t->root && n->nlookup == 0 && n->nref == 0) {
		struct node *p = n->parent, **pp = &t->by_ino[h_ino(n->ino, t->nb)];

		unlink_name(t, n);
		while (*pp && *pp != n)
			pp = &(*pp)->next_ino;
		if (*pp)
			*pp = n->next_ino;
		free(n->name);
		free(n);
		t->count--;
		if (p)
			p->nref--;
		n = p;
	}
}

/* Double the buckets when the table is full (mu held); failing is fine. */
static void grow(struct ao_inodes *t)
{
	size_t nb = t->nb * 2;
	struct node **bi = calloc(nb, sizeof(*bi)), **bn = calloc(nb, sizeof(*bn));

	if (!bi || !bn) {
		free(bi);
		free(bn);
		return;
	}
	for (size_t i = 0; i < t->nb; i++) {
		for (struct node *n = t->by_ino[i], *next; n; n = next) {
			next = n->next_ino;
			size_t b = h_ino(n->ino, nb);
			n->next_ino = bi[b];
			bi[b] = n;
		}
		for (struct node *n = t->by_name[i], *next; n; n = next) {
			next = n->next_name;
			size_t b = h_name(n->parent, n->name, nb);
			n->next_name = bn[b];
			bn[b] = n;
		}
	}
	free(t->by_ino);
	free(t->by_name);
	t->by_ino = bi;
	t->by_name = bn;
	t->nb = nb;
}

struct ao_inodes *ao_ino_new(void)
{
	struct ao_inodes *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nb = 1024;
	t->by_ino = calloc(t->nb, sizeof(*t->by_ino));
	t->by_name = calloc(t->nb, sizeof(*t->by_name));
	if (!t->by_ino || !t->by_name) {
		ao_ino_free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->root.ino = AO_INO_ROOT;
	t->root.name = "";
	t->next = AO_INO_ROOT + 1;
	t->count = 1;
	return t;
}

void ao_ino_free(struct ao_inodes *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->by_ino && i < t->nb; i++)
		for (struct node *n = t->by_ino[i], *next; n; n = next) {
			next = n->next_ino;
			free(n->name);
			free(n);
		}
	free(t->by_ino);
	free(t->by_name);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* Put s in front of buf[*at..] with a '/' before it (right to left). */
static int push(char *buf, size_t *at, const char *s)
{
	size_t k = strlen(s);

	if (*at < k + 1)
		return -ENAMETOOLONG;
	*at -= k;
	memcpy(buf + *at, s, k);
	buf[--*at] = '/';
	return 0;
}

/* n's path into buf, name appended when not NULL (mu held). */
static int build(const struct node *n, const char *name, char *buf, size_t cap)
{
	size_t at;

	if (cap < 2)
		return -ENAMETOOLONG;
	at = cap - 1;
	buf[at] = '\0';
	if (name && push(buf, &at, name) < 0)
		return -ENAMETOOLONG;
	for (; n && n->parent; n = n->parent)
		if (push(buf, &at, n->name) < 0)
			return -ENAMETOOLONG;
	if (at == cap - 1)
		buf[--at] = '/';
	memmove(buf, buf + at, cap - at);
	return 0;
}

int ao_ino_path(struct ao_inodes *t, uint64_t ino, char *buf, size_t n)
{
	pthread_mutex_lock(&t->mu);
	struct node *nd = by_ino(t, ino);
	int rc = nd ? build(nd, NULL, buf, n) : -ENOENT;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int ao_ino_child_path(struct ao_inodes *t, uint64_t parent, const char *name, char *buf, size_t n)
{
	pthread_mutex_lock(&t->mu);
	struct node *p = by_ino(t, parent);
	int rc = p ? build(p, name, buf, n) : -ENOENT;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

uint64_t ao_ino_learn(struct ao_inodes *t, uint64_t parent, const char *name, uint64_t key)
{
	uint64_t ino = 0;

	pthread_mutex_lock(&t->mu);
	struct node *p = by_ino(t, parent), *n = p ? by_name(t, p, name) : NULL;
	if (n && key && n->key && n->key != key) {
		unlink_name(t, n); /* another content: a new node from now on */
		n = NULL;
	}
	if (!n && p) {
		n = calloc(1, sizeof(*n));
		if (n && !(n->name = strdup(name))) {
			free(n);
			n = NULL;
		}
		if (n) {
			if (t->count >= t->nb)
				grow(t);
			n->ino = t->next++;
			n->parent = p;
			p->nref++;
			size_t b = h_ino(n->ino, t->nb);
			n->next_ino = t->by_ino[b];
			t->by_ino[b] = n;
			link_name(t, n);
			t->count++;
		}
	}
	if (n) {
		if (!n->key)
			n->key = key;
		n->nlookup++;
		ino = n->ino;
	}
	pthread_mutex_unlock(&t->mu);
	return ino;
}

void ao_ino_forget(struct ao_inodes *t, uint64_t ino, uint64_t n)
{
	pthread_mutex_lock(&t->mu);
	struct node *nd = by_ino(t, ino);
	if (nd && nd != &t->root) {
		nd->nlookup = nd->nlookup > n ? nd->nlookup - n : 0;
		release(t, nd);
	}
	pthread_mutex_unlock(&t->mu);
}

void ao_ino_drop(struct ao_inodes *t, uint64_t parent, const char *name)
{
	pthread_mutex_lock(&t->mu);
	struct node *p = by_ino(t, parent), *n = p ? by_name(t, p, name) : NULL;
	if (n)
		unlink_name(t, n);
	pthread_mutex_unlock(&t->mu);
}

void ao_ino_move(struct ao_inodes *t, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname)
{
	pthread_mutex_lock(&t->mu);
	struct node *p = by_ino(t, parent), *np = by_ino(t, newparent);
	struct node *n = p ? by_name(t, p, name) : NULL;
	struct node *old = np ? by_name(t, np, newname) : NULL;
	char *nm = n && np ? strdup(newname) : NULL;

	if (old && old != n && nm)
		unlink_name(t, old);
	if (nm) {
		unlink_name(t, n);
		free(n->name);
		n->name = nm;
		if (n->parent != np) {
			struct node *was = n->parent;
			n->parent = np;
			np->nref++;
			was->nref--;
			link_name(t, n);
			release(t, was);
		} else {
			link_name(t, n);
		}
	} else if (n) {
		unlink_name(t, n); /* out of memory: the name is looked up again */
	}
	pthread_mutex_unlock(&t->mu);
}

uint64_t ao_ino_find(struct ao_inodes *t, const char *path)
{
	char comp[256];
	uint64_t ino = 0;

	pthread_mutex_lock(&t->mu);
	struct node *n = &t->root;
	for (const char *p = path; n && *p;) {
		while (*p == '/')
			p++;
		size_t k = strcspn(p, "/");
		if (!k)
			break;
		if (k >= sizeof(comp)) {
			n = NULL;
			break;
		}
		memcpy(comp, p, k);
		comp[k] = '\0';
		n = by_name(t, n, comp);
		p += k;
	}
	if (n)
		ino = n->ino;
	pthread_mutex_unlock(&t->mu);
	return ino;
}

size_t ao_ino_count(struct ao_inodes *t)
{
	pthread_mutex_lock(&t->mu);
	size_t n = t->count;
	pthread_mutex_unlock(&t->mu);
	return n;
}
