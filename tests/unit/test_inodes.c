/*
 * test_inodes.c - the adapter's inode table (src/daemon/inodes.c): paths of
 * nodes, lookup counts and forget, a new node for a new content identity
 * while the old one lives on, unlink and rename, path -> node.
 */
#include <errno.h>
#include <stdint.h>

#include "../../src/daemon/inodes.h"
#include "t.h"

static const char *path_of(struct ao_inodes *t, uint64_t ino)
{
	static char buf[256];
	return ao_ino_path(t, ino, buf, sizeof(buf)) == 0 ? buf : "(none)";
}

static void test_paths_and_forget(void)
{
	struct ao_inodes *t = ao_ino_new();
	char buf[64];

	CHECK_STR(path_of(t, AO_INO_ROOT), "/");
	uint64_t p = ao_ino_learn(t, AO_INO_ROOT, "proj", 0);
	uint64_t f = ao_ino_learn(t, p, "tasks.json", 0);
	CHECK(p > AO_INO_ROOT && f > p);
	CHECK_STR(path_of(t, f), "/proj/tasks.json");
	CHECK_INT(ao_ino_child_path(t, p, "x", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "/proj/x");
	CHECK_INT(ao_ino_child_path(
		      t, p, "a-name-much-longer-than-the-buffer-allows-here-xxxxxxxxxxxx", buf, 16),
		  -ENAMETOOLONG);
	CHECK_INT(ao_ino_learn(t, p, "tasks.json", 0), f); /* the same node, twice looked up */
	CHECK_INT(ao_ino_find(t, "/proj/tasks.json"), f);
	CHECK_INT(ao_ino_count(t), 3);
	/* the parent forgotten first: it lives while its child does */
	ao_ino_forget(t, p, 1);
	CHECK_STR(path_of(t, f), "/proj/tasks.json");
	ao_ino_forget(t, f, 1);
	CHECK_STR(path_of(t, f), "/proj/tasks.json");
	ao_ino_forget(t, f, 1);
	CHECK_STR(path_of(t, f), "(none)");
	CHECK_STR(path_of(t, p), "(none)");
	CHECK_INT(ao_ino_count(t), 1);
	CHECK_INT(ao_ino_learn(t, 999, "x", 0), 0); /* unknown parent */
	ao_ino_free(t);
}

static void test_new_identity_new_node(void)
{
	struct ao_inodes *t = ao_ino_new();
	uint64_t d = ao_ino_learn(t, AO_INO_ROOT, "export", 0);
	uint64_t g1 = ao_ino_learn(t, d, "tasks.json", 7);

	CHECK_INT(ao_ino_learn(t, d, "tasks.json", 0), g1); /* not known: the same */
	CHECK_INT(ao_ino_learn(t, d, "tasks.json", 7), g1);
	uint64_t g2 = ao_ino_learn(t, d, "tasks.json", 8); /* a new generation */
	CHECK(g2 != g1 && g2 > g1);
	CHECK_INT(ao_ino_find(t, "/export/tasks.json"), g2);
	/* the old node still answers for its path (its open files) */
	CHECK_STR(path_of(t, g1), "/export/tasks.json");
	for (int i = 0; i < 3; i++)
		ao_ino_forget(t, g1, 1);
	CHECK_STR(path_of(t, g1), "(none)");
	CHECK_INT(ao_ino_find(t, "/export/tasks.json"), g2);
	/* a node learnt without an identity takes the first one it sees */
	uint64_t a = ao_ino_learn(t, d, "issues.json", 0);
	CHECK_INT(ao_ino_learn(t, d, "issues.json", 3), a);
	CHECK(ao_ino_learn(t, d, "issues.json", 4) != a);
	ao_ino_free(t);
}

static void test_unlink_and_rename(void)
{
	struct ao_inodes *t = ao_ino_new();
	uint64_t a = ao_ino_learn(t, AO_INO_ROOT, "a", 0);
	uint64_t b = ao_ino_learn(t, AO_INO_ROOT, "b", 0);
	uint64_t f = ao_ino_learn(t, a, "f", 0);
	uint64_t g = ao_ino_learn(t, b, "g", 0);

	ao_ino_move(t, a, "f", b, "g"); /* over g */
	CHECK_STR(path_of(t, f), "/b/g");
	CHECK_INT(ao_ino_find(t, "/b/g"), f);
	CHECK_INT(ao_ino_find(t, "/a/f"), 0);
	CHECK_STR(path_of(t, g), "/b/g"); /* replaced, still named for its handles */
	ao_ino_move(t, AO_INO_ROOT, "b", AO_INO_ROOT, "c"); /* a directory: all below */
	CHECK_STR(path_of(t, f), "/c/g");
	ao_ino_drop(t, b, "g");
	CHECK_INT(ao_ino_find(t, "/c/g"), 0);
	CHECK_STR(path_of(t, f), "/c/g");
	CHECK(ao_ino_learn(t, b, "g", 0) != f); /* the name again: another node */
	/* many nodes: the tables grow */
	char name[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ao_ino_learn(t, a, name, 0);
	}
	CHECK_INT(ao_ino_find(t, "/a/n4321") > 0, 1);
	CHECK_STR(path_of(t, ao_ino_find(t, "/a/n17")), "/a/n17");
	ao_ino_free(t);
}

int main(void)
{
	test_paths_and_forget();
	test_new_identity_new_node();
	test_unlink_and_rename();
	return t_done("inodes");
}
