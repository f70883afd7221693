/*
 * fuzz_labels.c - libFuzzer harness for the label-file splitter (src/write/labels_parse.c).
 *
 * The input is one file dropped into labels/ or attachments/. It goes through
 * both entry points: lp_parse_mem (whole buffer) and lp_parse_fd (the daemon's
 * path: a pipe-free memfd read in blocks), with the request-body keys the write
 * side uses and a small max_item so the "item too large" path is reachable.
 * The two must agree on the outcome (item count or errno) - a divergence is a
 * finding (abort) - and every error must carry a message. Items handed to the
 * callback are serialized once so the fuzzer also walks them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "labels_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const body_keys[] = {"jsonContent", "labels", NULL};

static int on_item(void *ud, json_t *item, const struct lp_pos *pos, struct ao_err *err)
{
	long *count = ud;
	char *s = json_dumps(item, JSON_COMPACT);

	if (!json_is_object(item) || pos->index != *count || pos->line < 1 || pos->col < 1)
		abort();
	free(s);
	(*count)++;
	return 0;
}

static void check_err(long rc, const struct ao_err *err)
{
	if (rc < 0 && (err->code != -rc || !err->msg[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct lp_opts opts = {body_keys, 4096};
	struct ao_err e1, e2;
	enum lp_form f1 = LP_NONE, f2 = LP_NONE;
	long n1 = 0, n2 = 0;

	ao_err_clear(&e1);
	ao_err_clear(&e2);
	long r1 = lp_parse_mem((const char *)data, size, &opts, on_item, &n1, &f1, &e1);
	check_err(r1, &e1);
	if (r1 >= 0 && r1 != n1)
		abort();

	if (fd < 0 && (fd = memfd_create("fuzz", 0)) < 0)
		abort();
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();
	long r2 = lp_parse_fd(fd, &opts, on_item, &n2, &f2, &e2);
	check_err(r2, &e2);
	if (r1 != r2 || (r1 >= 0 && f1 != f2)) {
		fprintf(stderr, "mem: %ld (%s) fd: %ld (%s)\n", r1, e1.msg, r2, e2.msg);
		abort();
	}
	(void)lp_form_name(f1);
	return 0;
}
