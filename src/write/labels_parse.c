/*
 * labels_parse.c - streaming splitter for label/attachment input files.
 *
 * Design: a byte-level state machine finds item boundaries only (strings,
 * escapes, bracket nesting); it never builds the document. The bytes of one
 * item are collected into a growable buffer and parsed by jansson on their own,
 * so memory is bounded by the largest item, not the file. jansson validates each
 * item's syntax; the splitter validates the structure around the items (array
 * commas, trailing commas, unclosed brackets, data after the document), UTF-8,
 * and refuses binary data (NUL and other control bytes) with its position.
 * Error positions of jansson are mapped back to file line/column by adding the
 * item's start position. A UTF-8 byte-order mark at the start is skipped.
 * (Not the byte scanner of util/jscan.c, which locates values in the hub's
 * own export bytes and validates nothing: this one reads a user's file and
 * must say where it is wrong.)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labels_parse.h"

#define LP_MAX_DEPTH 512

enum top { TOP_NONE, TOP_ARRAY, TOP_OBJ, TOP_BODY_SKIP };
enum elem { EL_FIRST, EL_NEXT, EL_IN, EL_AFTER };
enum keyst { K_NONE, K_EXPECT, K_IN, K_AFTER, K_VALUE };

struct lp {
	const struct lp_opts *o;
	lp_item_fn fn;
	void *ud;
	struct ao_err *err;
	long max_item;

	/* position of the byte being looked at */
	long line, col;
	long long off;
	int utf8_need; /* continuation bytes still expected */
	int bom_checked;

	char stack[LP_MAX_DEPTH];
	long open_line[LP_MAX_DEPTH], open_col[LP_MAX_DEPTH];
	int depth;
	int in_str, esc;

	enum top top;
	int ntop; /* top-level values seen */
	enum lp_form form;
	int base; /* depth of the array whose elements are items (1 or 2) */
	enum elem el;
	int bodies;

	/* key tracking in a top-level object (depth 1) */
	enum keyst ks;
	char key[32];
	size_t keylen;
	int key_trunc;

	/* current item */
	char *buf;
	size_t len, cap;
	int capturing;
	long it_line, it_col;
	long nitems;
};

const char *lp_form_name(enum lp_form f)
{
	switch (f) {
	case LP_ARRAY:
		return "JSON array";
	case LP_OBJECT:
		return "single JSON object";
	case LP_NDJSON:
		return "NDJSON";
	case LP_BODY:
		return "request body";
	default:
		return "nothing";
	}
}

static int bad(struct lp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct lp *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ao_errf(p->err, EINVAL, "line %ld, column %ld: %s", p->line, p->col, msg);
}

static int append(struct lp *p, char c)
{
	if ((long)p->len >= p->max_item)
		return ao_errf(p->err, EFBIG,
			       "line %ld, column %ld: item %ld is larger than %ld bytes; "
			       "split it or check that the file is JSON",
			       p->it_line, p->it_col, p->nitems + 1, p->max_item);
	if (p->len == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 4096;
		char *nb;

		nb = realloc(p->buf, ncap);
		if (!nb)
			return ao_errf(p->err, ENOMEM, "out of memory reading item %ld",
				       p->nitems + 1);
		p->buf = nb;
		p->cap = ncap;
	}
	p->buf[p->len++] = c;
	return 0;
}

static void start_item(struct lp *p)
{
	p->capturing = 1;
	p->len = 0;
	p->it_line = p->line;
	p->it_col = p->col;
}

static const char *type_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* Parse the captured bytes as one item and hand it over. */
static int finish_item(struct lp *p)
{
	json_error_t je;
	json_t *j;
	struct lp_pos pos;
	int r;

	while (p->len && (p->buf[p->len - 1] == ' ' || p->buf[p->len - 1] == '\t' ||
			  p->buf[p->len - 1] == '\n' || p->buf[p->len - 1] == '\r'))
		p->len--;
	p->capturing = 0;
	/* duplicate keys are refused: which one would the hub take? */
	j = json_loadb(p->buf, p->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		long line = p->it_line + (je.line > 0 ? je.line - 1 : 0);
		long col =
		    je.line <= 1 ? p->it_col + (je.column > 0 ? je.column - 1 : 0) : je.column;
		return ao_errf(p->err, EINVAL, "line %ld, column %ld: invalid JSON in item %ld: %s",
			       line, col, p->nitems + 1, je.text);
	}
	if (!json_is_object(j)) {
		r = ao_errf(p->err, EINVAL,
			    "line %ld, column %ld: item %ld is %s; each item must be a JSON object",
			    p->it_line, p->it_col, p->nitems + 1, type_name(j));
		json_decref(j);
		return r;
	}
	/* A top-level object that turns out to be a request body whose list we
	 * did not stream (the key came after other keys is fine; only keys the
	 * caller did not name for streaming end up here as items). */
	pos.index = p->nitems++;
	pos.line = p->it_line;
	pos.col = p->it_col;
	pos.form = p->form;
	pos.raw = p->buf;
	pos.rawlen = p->len;
	r = p->fn ? p->fn(p->ud, j, &pos, p->err) : 0;
	json_decref(j);
	return r < 0 ? r : 0;
}

static int is_body_key(struct lp *p)
{
	const char *const *k;

	if (!p->o || !p->o->body_keys || p->key_trunc)
		return 0;
	for (k = p->o->body_keys; *k; k++)
		if (strlen(*k) == p->keylen && !memcmp(*k, p->key, p->keylen))
			return 1;
	return 0;
}

static int push(struct lp *p, char c)
{
	if (p->depth >= LP_MAX_DEPTH)
		return bad(p, "JSON nested too deeply%s", "");
	p->stack[p->depth] = c;
	p->open_line[p->depth] = p->line;
	p->open_col[p->depth] = p->col;
	p->depth++;
	return 0;
}

static int pop(struct lp *p, char c)
{
	char want = c == ']' ? '[' : '{';

	if (p->depth == 0)
		return bad(p, "unexpected '%s'", c == ']' ? "]" : "}");
	if (p->stack[p->depth - 1] != want)
		return bad(p,
			   "'%s' does not close the open '['/'{' "
			   "(mismatched brackets)",
			   c == ']' ? "]" : "}");
	p->depth--;
	return 0;
}

/* A structural byte inside an item (depth > base or a top-level object). */
static int item_byte(struct lp *p, char c)
{
	int r;

	if (p->capturing && (r = append(p, c)) < 0)
		return r;
	if (p->in_str) {
		if (p->esc)
			p->esc = 0;
		else if (c == '\\')
			p->esc = 1;
		else if (c == '"')
			p->in_str = 0;
		return 0;
	}
	switch (c) {
	case '"':
		p->in_str = 1;
		return 0;
	case '[':
	case '{':
		return push(p, c);
	case ']':
	case '}':
		return pop(p, c);
	default:
		return 0;
	}
}

/* Key tracking for the top-level object (depth 1 only). Called before the
 * byte is otherwise handled; returns 1 if the byte started a body list. */
static int track_keys(struct lp *p, char c)
{
	if (p->in_str) {
		if (p->ks == K_IN) {
			if (p->esc) {
				/* escaped char inside a key: keys we look for have none */
				p->key_trunc = 1;
			} else if (c == '"') {
				p->ks = K_AFTER;
			} else if (c != '\\') {
				if (p->keylen < sizeof(p->key))
					p->key[p->keylen++] = c;
				else
					p->key_trunc = 1;
			}
		}
		return 0;
	}
	if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
		return 0;
	switch (p->ks) {
	case K_EXPECT:
		if (c == '"') {
			p->ks = K_IN;
			p->keylen = 0;
			p->key_trunc = 0;
		}
		return 0;
	case K_AFTER:
		if (c == ':')
			p->ks = K_VALUE;
		return 0;
	case K_VALUE:
		p->ks = K_NONE;
		if (c == '[' && is_body_key(p))
			return 1;
		return 0;
	default:
		if (c == ',')
			p->ks = K_EXPECT;
		return 0;
	}
}

static int top_byte(struct lp *p, unsigned char c)
{
	int r;

	if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
		return 0;
	if (c == '[') {
		if (p->ntop)
			return bad(p,
				   "unexpected '%s' after the first JSON "
				   "value (NDJSON lines must each hold one object)",
				   "[");
		p->top = TOP_ARRAY;
		p->form = LP_ARRAY;
		p->base = 1;
		p->el = EL_FIRST;
		p->ntop++;
		return push(p, '[');
	}
	if (c == '{') {
		if (p->form == LP_ARRAY || p->form == LP_BODY)
			return bad(p,
				   "unexpected data after the end of the "
				   "JSON document%s",
				   "");
		if (p->form == LP_OBJECT)
			p->form = LP_NDJSON;
		else if (p->form == LP_NONE)
			p->form = LP_OBJECT;
		p->top = TOP_OBJ;
		p->ntop++;
		p->ks = K_EXPECT;
		start_item(p);
		if ((r = append(p, '{')) < 0)
			return r;
		return push(p, '{');
	}
	{
		char what[8];

		if (c >= 0x20 && c < 0x7f)
			snprintf(what, sizeof(what), "'%c'", c);
		else
			snprintf(what, sizeof(what), "0x%02x", c);
		if (p->ntop)
			return bad(p,
				   "unexpected %s after the end of the JSON "
				   "document",
				   what);
		return bad(p,
			   "expected a JSON array '[' or object '{', "
			   "found %s",
			   what);
	}
}

/* Inside the array whose elements are items, at its own depth. */
static int elem_byte(struct lp *p, char c)
{
	int r;

	if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
		if (p->capturing)
			return append(p, c);
		return 0;
	}
	if (c == ',') {
		if (p->el == EL_IN) {
			if ((r = finish_item(p)) < 0)
				return r;
			p->el = EL_NEXT;
			return 0;
		}
		return bad(p, "expected an item before '%s'", ",");
	}
	if (c == ']') {
		if (p->el == EL_IN) {
			if ((r = finish_item(p)) < 0)
				return r;
		} else if (p->el == EL_NEXT) {
			return bad(p,
				   "trailing comma before '%s' "
				   "(not allowed in JSON)",
				   "]");
		}
		if ((r = pop(p, ']')) < 0)
			return r;
		p->el = EL_AFTER;
		if (p->top == TOP_OBJ) { /* end of a body list; rest of the body is skipped */
			p->top = TOP_BODY_SKIP;
			p->ks = K_NONE;
		} else {
			p->top = TOP_NONE;
		}
		return 0;
	}
	if (c == '}')
		return bad(p, "unexpected '%s' in a list of items", "}");
	if (!p->capturing) {
		start_item(p);
		p->el = EL_IN;
	}
	return item_byte(p, c);
}

static int byte(struct lp *p, unsigned char c)
{
	int r;

	/* UTF-8 and binary checks apply everywhere. */
	if (p->utf8_need) {
		if ((c & 0xc0) != 0x80)
			return ao_errf(p->err, EINVAL,
				       "line %ld, column %ld: invalid UTF-8 (byte 0x%02x); "
				       "the file must be UTF-8 JSON",
				       p->line, p->col, c);
		p->utf8_need--;
	} else if (c >= 0x80) {
		if (c >= 0xc2 && c <= 0xdf)
			p->utf8_need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			p->utf8_need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			p->utf8_need = 3;
		else
			return ao_errf(p->err, EINVAL,
				       "line %ld, column %ld: invalid UTF-8 (byte 0x%02x); this "
				       "looks like binary data, not a UTF-8 JSON file",
				       p->line, p->col, c);
	} else if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
		return ao_errf(p->err, EINVAL,
			       "line %ld, column %ld: binary data (control byte 0x%02x); "
			       "expected a UTF-8 JSON text file",
			       p->line, p->col, c);
	}

	if (p->top == TOP_NONE) {
		r = top_byte(p, c);
	} else if (p->top == TOP_BODY_SKIP) {
		r = item_byte(p, (char)c);
		if (r == 0 && p->depth == 0)
			p->top = TOP_NONE;
	} else if (p->top == TOP_ARRAY || (p->top == TOP_OBJ && p->form == LP_BODY)) {
		if (p->depth == p->base && !p->in_str)
			r = elem_byte(p, (char)c);
		else
			r = item_byte(p, (char)c);
	} else { /* TOP_OBJ: capturing a top-level object */
		int was_depth = p->depth;

		if (was_depth == 1 && track_keys(p, (char)c)) {
			/* {"project":.., "jsonContent": [  -> stream the list */
			if (p->ntop > 1 || p->bodies)
				return bad(p,
					   "a request body must be the only "
					   "JSON value in the file%s",
					   "");
			p->bodies++;
			p->form = LP_BODY;
			p->capturing = 0;
			p->len = 0;
			p->base = 2;
			p->el = EL_FIRST;
			r = push(p, '[');
		} else {
			r = item_byte(p, (char)c);
			if (r == 0 && p->depth == 0) {
				r = finish_item(p);
				p->top = TOP_NONE;
			}
		}
	}
	if (r < 0)
		return r;
	p->off++;
	if (c == '\n') {
		p->line++;
		p->col = 1;
	} else if ((c & 0xc0) != 0x80) {
		p->col++;
	}
	return 0;
}

static int feed(struct lp *p, const unsigned char *b, size_t n)
{
	size_t i = 0;
	int r;

	if (!p->bom_checked && n) {
		p->bom_checked = 1;
		if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
			i = 3;
	}
	for (; i < n; i++)
		if ((r = byte(p, b[i])) < 0)
			return r;
	return 0;
}

static long finish(struct lp *p, enum lp_form *form)
{
	if (p->utf8_need)
		return ao_errf(p->err, EINVAL,
			       "line %ld, column %ld: file ends inside a UTF-8 character", p->line,
			       p->col);
	if (p->in_str)
		return ao_errf(p->err, EINVAL,
			       "line %ld, column %ld: unexpected end of file inside a string",
			       p->line, p->col);
	if (p->depth > 0)
		return ao_errf(p->err, EINVAL,
			       "line %ld, column %ld: unexpected end of file: the '%c' opened at "
			       "line %ld, column %ld is not closed (file truncated?)",
			       p->line, p->col, p->stack[p->depth - 1], p->open_line[p->depth - 1],
			       p->open_col[p->depth - 1]);
	if (!p->ntop)
		return ao_errf(p->err, EINVAL, "empty file: no JSON data to import");
	if (form)
		*form = p->form;
	return p->nitems;
}

static void lp_init(struct lp *p, const struct lp_opts *o, lp_item_fn fn, void *ud,
		    struct ao_err *err)
{
	memset(p, 0, sizeof(*p));
	p->o = o;
	p->fn = fn;
	p->ud = ud;
	p->err = err;
	p->max_item = o && o->max_item > 0 ? o->max_item : LP_MAX_ITEM;
	p->line = 1;
	p->col = 1;
}

long lp_parse_mem(const char *buf, size_t len, const struct lp_opts *opts, lp_item_fn fn, void *ud,
		  enum lp_form *form, struct ao_err *err)
{
	struct lp p;
	long r;

	lp_init(&p, opts, fn, ud, err);
	r = feed(&p, (const unsigned char *)buf, len);
	if (r == 0)
		r = finish(&p, form);
	free(p.buf);
	return r;
}

long lp_parse_fd(int fd, const struct lp_opts *opts, lp_item_fn fn, void *ud, enum lp_form *form,
		 struct ao_err *err)
{
	enum { BLK = 256 * 1024 };
	unsigned char *blk = malloc(BLK);
	struct lp p;
	long r = 0;

	if (!blk)
		return ao_errf(err, ENOMEM, "out of memory");
	lp_init(&p, opts, fn, ud, err);
	for (;;) {
		ssize_t n = read(fd, blk, BLK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = ao_errf(err, errno, "reading the file: %s", strerror(errno));
			break;
		}
		if (n == 0) {
			r = finish(&p, form);
			break;
		}
		if ((r = feed(&p, blk, (size_t)n)) < 0)
			break;
	}
	free(p.buf);
	free(blk);
	return r;
}
