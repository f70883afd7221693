#!/usr/bin/env python3
"""Put the libcurl client (src/client/hub_client.c) behind the hub seam
(include/angofs/hub.h, src/client/hub_seam.c): its struct becomes struct hubc,
its entry points static hubc_* functions, registered as curl_ops at the end of
the file; hub_post moves to the seam. Idempotent: re-run it after merging
someone else's change to hub_client.c (on a conflict take their text, then
run this again)."""
import re
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "src/client/hub_client.c"
MARK = "/* The seam (include/angofs/hub.h): the libcurl client as struct hub_ops. */"
s = open(path).read()
tail = ""
if MARK in s:  # already converted: rename only above the seam block
    s, tail = s.split(MARK, 1)
    tail = MARK + tail
s = re.sub(r"\bstruct hub\b(?!_)", "struct hubc", s)
s = re.sub(r"^struct hubc \*hub_new\(", "static struct hubc *hubc_new(", s, flags=re.M)
s = re.sub(r"\bhub_free\(h\)", "hubc_free(h)", s)
if "static void hubc_free(struct hubc *h);" not in s:
    s = re.sub(r"^(struct hubc \{.*?\n\};\n)", r"\1\nstatic void hubc_free(struct hubc *h);\n", s,
               count=1, flags=re.M | re.S)
s = re.sub(r"^void hub_free\(struct hubc \*h\)", "static void hubc_free(struct hubc *h)", s,
           flags=re.M)
for fn in ("hub_get", "hub_post_raw", "hub_download"):
    s = re.sub(r"^int %s\(struct hubc \*h," % fn, "static int hubc_%s(struct hubc *h," % fn[4:],
               s, flags=re.M)
    s = re.sub(r"^(\t+)int %s\(struct hubc \*h," % fn, r"\1int hubc_%s(struct hubc *h," % fn[4:],
               s, flags=re.M)
# hub_post lives in the seam (serializes, then post_raw)
s = re.sub(r"\nint hub_post\(struct hubc \*h,.*?\n}\n", "\n", s, flags=re.S)
if not tail:
    s = s.rstrip("\n") + "\n\n" + MARK + """
static int curlc_get(void *self, const char *pq, json_t **data, struct ao_err *err)
{
	return hubc_get(self, pq, data, err);
}

static int curlc_post_raw(void *self, const char *pq, const char *body, size_t len, json_t **data,
			 struct ao_err *err)
{
	return hubc_post_raw(self, pq, body, len, data, err);
}

static int curlc_download(void *self, const char *url, hub_sink_fn sink, hub_progress_fn progress,
			 void *ud, struct ao_err *err)
{
	return hubc_download(self, url, sink, progress, ud, err);
}

static void curlc_free(void *self)
{
	hubc_free(self);
}

static const struct hub_ops curl_ops = {
    .name = "curl",
    .get = curlc_get,
    .post_raw = curlc_post_raw,
    .download = curlc_download,
    .free = curlc_free,
};

struct hub *hub_new(const struct hub_cfg *cfg, struct ao_err *err)
{
	struct hubc *c = hubc_new(cfg, err);
	struct hub *h = c ? hub_wrap(&curl_ops, c, err) : NULL;

	if (c && !h)
		hubc_free(c);
	return h;
}
"""
open(path, "w").write(s + tail)
