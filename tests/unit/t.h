/*
 * t.h - minimal assertion helpers for the C unit tests (one executable per
 * module, run by `meson test`). A failed check prints file:line and the
 * expression, and makes the test exit non-zero at the end.
 */
#ifndef ANGOFS_T_H
#define ANGOFS_T_H

#include <stdio.h>
#include <string.h>

static int t_failed;
static int t_checks;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		t_checks++;                                                                        \
		if (!(cond)) {                                                                     \
			t_failed++;                                                                \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *t_a = (a), *t_b = (b);                                                 \
		t_checks++;                                                                        \
		if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                                       \
			t_failed++;                                                                \
			fprintf(stderr, "%s:%d: CHECK_STR failed: %s = \"%s\", want \"%s\"\n",     \
				__FILE__, __LINE__, #a, t_a ? t_a : "(null)",                      \
				t_b ? t_b : "(null)");                                             \
		}                                                                                  \
	} while (0)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long t_a = (long long)(a), t_b = (long long)(b);                              \
		t_checks++;                                                                        \
		if (t_a != t_b) {                                                                  \
			t_failed++;                                                                \
			fprintf(stderr, "%s:%d: CHECK_INT failed: %s = %lld, want %lld\n",         \
				__FILE__, __LINE__, #a, t_a, t_b);                                 \
		}                                                                                  \
	} while (0)

static inline int t_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, t_checks, t_failed);
	return t_failed ? 1 : 0;
}

#endif
