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
 * "relations":[..]}[, "brushDataUrl", "medicalBrushDataUrl", "duration"]}:
 * the mask URLs as written (string or null; top level of the object, next
 * to the answer), absent when not mentioned.
 * Refused input: -EINVAL, err->msg names the problem, rep (may be NULL) gets
 * all problems. s may be NULL (no schema check). */
int answer_prepare(const char *buf, size_t len, struct schema *s, json_t **body,
		   struct sc_report *rep, struct ao_err *err);

/* 1 if body (from answer_prepare) does not mention brushDataUrl or
 * medicalBrushDataUrl (neither a URL nor null). */
int answer_masks_missing(const json_t *body);
/* Copy the mask URLs of current ({"brushDataUrl"?, ...}: the task's, read
 * from the hub just now) that body does not mention into body, null for the
 * ones the task does not have; returns how many URLs were copied. */
int answer_carry_masks(json_t *body, json_t *current);

/* The body as the SDK sends it: mask URLs bare (a signature query
 * stripped), "duration": 0 when absent. 0 or -ENOMEM. */
int answer_sdk_body(json_t *body);
/* url without its query when the query signs it (Expires, Signature,
 * X-Amz-*, X-Goog-*, sig, ...: a pre-signed link), else a copy; malloc'd. */
char *answer_bare_url(const char *url);

#endif
