/* Unit test of the error convention helpers. */
#include <errno.h>

#include "angofs/err.h"
#include "t.h"

int main(void)
{
	struct ao_err e;

	ao_err_clear(&e);
	CHECK_INT(e.code, 0);
	CHECK_INT(ao_errf(&e, EINVAL, "bad %s at line %d", "json", 3), -EINVAL);
	CHECK_INT(e.code, EINVAL);
	CHECK_STR(e.msg, "bad json at line 3");
	ao_err_prefix(&e, "labels/%s", "a.json");
	CHECK_STR(e.msg, "labels/a.json: bad json at line 3");
	CHECK_INT(ao_errf(NULL, ENOENT, "x"), -ENOENT);
	return t_done("err");
}
