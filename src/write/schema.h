/*
 * schema.h - a project's categorySchema as a lookup index, and the checks of
 * label/answer content against it (schemaIds, geometry key vs tool type,
 * classification answer types and options, relations), with optional mapping
 * by title for content that comes from another project (Ango export records).
 *
 * Problems are collected into a report (one line each, capped) rather than
 * stopping at the first, so a user fixing a 100k-item file sees them together.
 */
#ifndef ANGOFS_SCHEMA_H
#define ANGOFS_SCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "angofs/err.h"

struct schema;

/* Build the index from a categorySchema object ({"tools":[..],"classifications":
 * [..],"relations":[..]}); NULL or an empty object gives an empty schema, which
 * refuses every schemaId. Keeps a reference to cs. */
struct schema *sc_new(json_t *cs, struct ao_err *err);
void sc_free(struct schema *s);

/* The report of problems found in one file. */
struct sc_report {
	char *text; /* lines "where: problem\n" (malloc'd, may be NULL) */
	size_t len, cap;
	long count;	/* problems found (may exceed the lines kept) */
	long max_lines; /* keep at most this many lines (0 = 50) */
	/* names that could not be mapped by title, with how often they occurred */
	struct sc_unmapped {
		char *name;
		long n;
	} * unmapped;
	size_t nunmapped;
};

void sc_report_init(struct sc_report *r);
void sc_report_free(struct sc_report *r);
void sc_problem(struct sc_report *r, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append the "could not be mapped" summary as problem lines (call once). */
void sc_report_unmapped(struct sc_report *r);
/* A one-line summary for err->msg: the first problem and how many there are. */
void sc_report_summary(const struct sc_report *r, char *buf, size_t n);

/* Check an answer-like object in place: "objects" (or "tools"), "classifications",
 * "relations" arrays (each optional); s == NULL checks the structure only. map != 0: schemaIds not
 * found (or naming a category of another title) are replaced by the category with the same title
 * (and tool type); what cannot be mapped is recorded in r->unmapped.
 * where prefixes every problem ("line 3 (item 2)"). Returns problems added. */
long sc_check_answer(struct schema *s, json_t *ans, int map, const char *where,
		     struct sc_report *r);

#endif
