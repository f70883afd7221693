/*
 * answer.h - tasks/<id>/answer.json as written by the user -> the body of
 * POST /annotate/{taskId}.
 *
 * Accepts what `cat answer.json` shows (the stored answer: "tools",
 * "classifications", "relations"), the same with "objects" (what the SDK
 * sends), or either wrapped as {"answer": …} (e.g. a task.json); translates
 * "tools" to "objects" and checks the content against the categorySchema.
 */
#ifndef ANGOFS_ANSWER_H
#define ANGOFS_ANSWER_H

#include <jansson.h>
#include <stddef.h>

#include "angofs/err.h"
#include "schema.h"

/* On success *body = {"answer":{"objects":[..],"classifications":[..],
 * "relations":[..]}[, "brushDataUrl", "medicalBrushDataUrl", "duration"]}.
 * Refused input: -EINVAL, err->msg names the problem, rep (may be NULL) gets
 * all problems. s may be NULL (no schema check). */
int answer_prepare(const char *buf, size_t len, struct schema *s, json_t **body,
		   struct sc_report *rep, struct ao_err *err);

/* "/annotate/<escaped id>?nextStage=true|false"; malloc'd. */
char *answer_path(const char *task_id, int next_stage);

#endif
