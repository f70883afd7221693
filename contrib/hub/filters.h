/*
 * filters.h - the task filter of angofs-hub (see filters.c): parsed once from
 * the query string, rendered as SQL over "tasks t JOIN assets a".
 */
#ifndef ANGOFS_HUB_FILTERS_H
#define ANGOFS_HUB_FILTERS_H

#include "hubd.h"

struct task_filter_args {
	const char *project;
	const char *stage;   /* JSON array or comma list of stage ids/names */
	const char *batches; /* JSON array or comma list of batch ids/names */
	const char *status;
	const char *assignee;
	const char *task_types; /* JSON array or comma list */
	const char *updated_at; /* {"$gt": ISO, "$lt": ISO} */
	const char *created_at;
};

struct task_filter {
	const char *project;
	json_t *stage_ids, *batch_ids, *task_types, *task_ids;
	json_t *query; /* parsed filter object (owns strings used below) */
	const char *status, *assignee;
	const char *ext_prefix, *ext_exact;
	int has_upd_gt, has_upd_lt, has_cr_gt, has_cr_lt;
	int64_t upd_gt, upd_lt, cr_gt, cr_lt;
};

/* Parse a JSON array of strings or a comma list into a new array. */
int parse_str_list(const char *s, json_t **out, char *err, size_t errlen, const char *what);
int task_filter_parse(struct task_filter *f, json_t *pdoc, struct task_filter_args *a, char *err,
		      size_t errlen);
/* The MongoDB-style filter object of GET /export "filters" and the task list's
 * "filter"/"filters": the keys of the SDK's TaskFilter (models/task_filter.py)
 * that the hub can answer: "_id", "stage" (ids or names), "batches" (ids; names
 * too in lenient), "type" (task type), "status", "assignee" as a string,
 * {"$eq": s} or {"$in": [s]}; "externalId" as s, {"$eq": s} or {"$regex":
 * "^literal-prefix"}; "updatedAt"/"createdAt" as {"$gt"|"$gte"|"$lt"|"$lte":
 * ISO}. A key replaces the same filter given as a query parameter. pdoc
 * resolves stage and batch names. */
int task_filter_parse_query(struct task_filter *f, json_t *pdoc, const char *s, const char *what,
			    char *err, size_t errlen);
/* Strict profile, exports: no taskTypes = ["default"] (the SDK's); task
 * exports also: no stage = the project's Complete stage(s) (the SDK's and the
 * docs' default). Issue exports get no stage default (the SDK sends stage only
 * with type=task). */
void task_filter_strict_defaults(struct task_filter *f, json_t *pdoc, int issues);
void task_filter_where(struct task_filter *f, char *sql, size_t len);
/* Bind all parameters from index 1; returns the next free index. */
int task_filter_bind(struct task_filter *f, sqlite3_stmt *st);
void task_filter_free(struct task_filter *f);

#endif
