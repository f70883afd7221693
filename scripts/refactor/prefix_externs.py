#!/usr/bin/env python3
"""One prefix per module for the externs of the core library (issue 15):
renames the old names to the new ones in every C file and header under src/,
include/, tests/ and in docs/. Idempotent: re-run it after merging someone
else's change that still uses an old name (on a conflict take their text,
then run this again). tests/unit/check_prefixes.py checks the result with nm.
"""
import os
import re
import sys

RENAMES = {
    # src/core/projects.c: proj_
    "pretty_json": "proj_pretty_json",
    # src/core/tasks.c: task_
    "tasks_list": "task_list",
    "tasks_drop_list": "task_drop_list",
    "tasks_drop_project": "task_drop_project",
    "tasklist_put": "task_list_put",
    # src/write/labels_prep.c: prep_
    "labels_chunk_body": "prep_chunk_body",
    "labels_prepare": "prep_labels",
    # src/write/schema.c: sc_
    "schema_new": "sc_new",
    "schema_free": "sc_free",
    "schema_check_answer": "sc_check_answer",
    "schema_geometry_keys": "sc_geometry_keys",
    # src/write/spool.c: spool_
    "entry_clear_chunks": "spool_entry_clear_chunks",
    "entry_set_detail": "spool_entry_set_detail",
    "entry_set_msg": "spool_entry_set_msg",
    "entry_state_name": "spool_entry_state_name",
    # src/daemon/options.c: ao_opt_
    "ao_parse_host": "ao_opt_host",
    "ao_parse_size": "ao_opt_size",
    "ao_parse_bool": "ao_opt_bool",
    "ao_parse_long": "ao_opt_long",
    "ao_parse_task_types": "ao_opt_task_types",
    "ao_load_key_file": "ao_opt_key_file",
    "ao_default_cache_dir": "ao_opt_default_cache_dir",
    "ao_mkdir_private": "ao_opt_mkdir_private",
    # src/util/sysutil.c: ao_sys_
    "ao_write_all": "ao_sys_write_all",
    "ao_read_fd": "ao_sys_read_fd",
    "ao_now_ms": "ao_sys_now_ms",
    "ao_sleep_ms": "ao_sys_sleep_ms",
    # src/core/export_cache.c and its x*.c: ao_xcache_ public; inside, xc_ (the
    # cache) and xs_ (its files, shared between daemons); an earlier run of
    # this script renamed xc_is_fresh, undone
    "xs_is_fresh": "xc_is_fresh",
    # src/util/hash.c: the one FNV-1a (issue 25)
    "ao_xcache_hash": "ao_hash_str",
    # src/datasets/ds_geom.c: ao_ds_
    "ds_each_shape": "ao_ds_each_shape",
    "ds_record_task": "ao_ds_record_task",
}
PAT = re.compile(r"\b(%s)\b" % "|".join(sorted(RENAMES, key=len, reverse=True)))
root = sys.argv[1] if len(sys.argv) > 1 else "."
changed = 0
for top in ("src", "include", "tests", "docs", "contrib", "bench"):
    for dp, _, fns in os.walk(os.path.join(root, top)):
        for fn in fns:
            if not fn.endswith((".c", ".h", ".md")):
                continue
            if top == "contrib" and not fn.endswith(".md"):
                continue  # the local hub has its own names
            p = os.path.join(dp, fn)
            s = open(p).read()
            t = PAT.sub(lambda m: RENAMES[m.group(1)], s)
            if t != s:
                open(p, "w").write(t)
                changed += 1
print("prefix_externs: %d files changed" % changed)
