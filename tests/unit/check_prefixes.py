#!/usr/bin/env python3
"""Every extern of the core library carries its module's prefix (issue 15).
Reads `nm` of libangofs_core.a member by member: a module (one .c file) may
define its public prefix (ao_<module>_) and its internal prefixes shared with
the module's other files through their _int.h. A file not in PREFIXES
may use ao_<file>_ or <file>_; a symbol without its module's prefix fails."""
import os
import re
import subprocess
import sys

# the export cache: public ao_xcache_; inside, xc_ (the cache) and xm_ (its
# records and their merge); the cache directory's shared protocol: cd_
XCACHE = ("ao_xcache_", "xc_")
MEDIA = ("ao_media_", "mo_", "mf_", "me_")  # media/cache.c, media/download.c, media/evict.c
VIEWS = ("dsv_",)  # the dataset views (read/views/views_int.h)
SNAP = ("snap_",)  # pinned snapshots

PREFIXES = {
    "util/err": ("ao_err",),
    "util/log": ("ao_log",),
    "util/names": ("ao_name",),
    "util/sysutil": ("ao_sys_",),
    "util/cancel": ("ao_cancel",),
    "util/lockfile": ("ao_lock_",),
    "util/hash": ("ao_hash_",),
    "util/jscan": ("ao_jscan_",),
    "util/tools": ("ao_tool",),
    "util/slot": ("ao_slot_",),
    "client/ratelimit": ("ao_ratelimit_",),
    "client/hub_seam": ("hub_",),
    "client/hub_client": ("hub_",),
    "client/hub_retry": ("hub_",),
    "client/hub_store": ("hub_store_",),
    "client/hub_api": ("hub_",),
    "client/hub_msg": ("hub_",),
    "client/hub_pager": ("hub_",),
    "cachedir/*": ("cd_",),
    "exports/cache": XCACHE,
    "exports/key": XCACHE,
    "exports/status": XCACHE,
    "exports/download": XCACHE,
    "exports/discover": XCACHE,
    "exports/incremental": XCACHE,
    "exports/refresh": XCACHE,
    "exports/stream": XCACHE,
    "exports/grow": XCACHE,
    "exports/records": ("xm_",),  # the record merge of an incremental refresh
    "exports/merge": ("xm_",),
    "exports/unzip": ("ao_unzip_",),
    "media/*": MEDIA,
    "read/tree": ("ao_core_",),
    "read/events": ("ao_core_",),  # touch, the write side's callbacks, snapshots' mkdir
    "read/status": ("core_",),
    "read/poll": ("ao_poll_",),
    "read/completeness": ("xcheck_",),
    "read/projects": ("proj_", "ao_core_"),  # and what -o poll watches (poll.h)
    "read/tasks": ("task_",),
    "read/assets": ("asset_", "ao_core_"),
    "read/asset_added": ("asset_",),
    "read/views/views": ("ao_views",),  # the views as the read side's subtrees
    "read/views/snapshots": SNAP,
    "read/views/snapshot_json": SNAP,
    "read/views/snapshot_tree": SNAP,
    "read/views/snapshot_views": SNAP,
    "read/views/*": VIEWS,
    "fs/router": ("ao_route",),
    "fs/handles": ("ao_route", "rtr_"),  # open files of the router
    "fs/kcache": ("ao_kc_",),  # the kernel-cache policy
    "daemon/config": ("ao_config_",),
    "daemon/options": ("ao_opt_",),
    "write/writes": ("ao_writes_", "ws_"),
    "write/writes_io": ("ao_writes_", "ws_"),
    "write/writes_reg": ("ao_writes_", "ws_"),
    "write/writes_send": ("ao_writes_", "ws_"),
    "write/writes_submit": ("ao_writes_", "ws_"),
    "write/writes_stream": ("ao_writes_", "ws_"),
    "write/writes_status": ("ao_writes_", "ws_"),
    "write/writes_bg": ("ao_writes_", "ws_"),
    "write/writes_dirs": ("ao_writes_", "ws_"),
    "write/upload_media": ("ao_writes_", "ws_"),  # the write side's uploads
    "write/upload_mask": ("ao_writes_", "ws_"),
    "write/labels_match": ("ao_writes_", "ws_"),  # which label items matched no asset
    "write/mask_png": ("ao_writes_", "ws_"),
    "write/assets_items": ("assets_item",),
    "write/answer": ("answer_",),
    "write/labels_parse": ("lp_",),
    "write/labels_prep": ("prep_",),
    "write/schema": ("sc_",),
    "write/spool": ("spool_",),
    "datasets/*": ("ao_ds_",),
}

lib = sys.argv[1]
out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True, text=True,
                     check=True).stdout
# meson names members by their path below src/ with '/' as '_' (read/views/x.c:
# read_views_x.c.o): the source tree says which file a member is
src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
by_object = {}
for dp, _, fns in os.walk(src):
    for fn in fns:
        if fn.endswith(".c"):
            rel = os.path.relpath(os.path.join(dp, fn), src)[:-2]
            by_object[rel.replace("/", "_")] = rel
bad, member = [], None
for line in out.splitlines():
    m = re.match(r"^(\S+)\.c\.o:$", line)
    if m:
        obj = m.group(1).rsplit("/", 1)[-1]
        member = by_object.get(obj, obj.replace("_", "/", 1))
        continue
    parts = line.split()
    if len(parts) != 3 or member is None:
        continue
    if parts[2].startswith(("__odr_asan", "__asan", "__ubsan", "__tsan", "__sancov")):
        continue  # sanitizer instrumentation symbols (ASan build), not ours
    allowed = PREFIXES.get(member) or PREFIXES.get(member.rsplit("/", 1)[0] + "/*")
    if allowed is None:  # a new file: its own name is its prefix until declared
        stem = member.rsplit("/", 1)[1]
        allowed = ("ao_%s_" % stem, "%s_" % stem)
    if not parts[2].startswith(allowed):
        bad.append("%s: %s lacks the module prefix %s" % (member, parts[2], " or ".join(allowed)))
for b in bad:
    print(b)
print("check_prefixes: %d problems" % len(bad))
sys.exit(1 if bad else 0)
