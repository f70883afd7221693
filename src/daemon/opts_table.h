/*
 * opts_table.h - the one list of angofs's own mount options. Everything else is
 * generated from it (cmdline.h, cmdline.c): the struct fuse_opt fills, the
 * fuse_opt spec, the names a config file may set, the --help lines, the typed
 * values with their defaults, and the frees. Adding an option is one line
 * here, plus its use where the daemon wires the parts (main.c).
 *
 * X(name, kind, default, metavar, help)
 *   kind     STR   text, kept as given (checked where it is used)
 *            BOOL  true/false/yes/no/on/off/1/0 -> int
 *            LONG  non-negative integer -> long
 *            SIZE  bytes with an optional unit (500M, 10G) -> long long
 *            FLAG  a bare word (-o debug) -> int 0/1
 *            CLI   text, command line only (not in a config file)
 *   default  the value when the option is not given (STR/CLI: a string or NULL)
 *   metavar  what the value looks like, for --help ("" for FLAG)
 *   help     --help text; '\n' starts a continuation line
 *
 * Options that are not angofs's own (FUSE's, the fstab words, the refused
 * api_key=) are listed in cmdline.c.
 */
#ifndef ANGOFS_OPTS_TABLE_H
#define ANGOFS_OPTS_TABLE_H

#include "angofs/options.h" /* AO_DEFAULT_HOST */

/* clang-format off */
#define AO_OPTIONS(X)                                                                     \
	X(host, STR, "eu", "URL|REGION",                                                  \
	  "hub: eu (default, " AO_DEFAULT_HOST "), us, in, test,\n"                       \
	  "or http(s)://host[:port]")                                                     \
	X(api_key_file, STR, NULL, "PATH",                                                \
	  "read the API key from PATH (mode 600 or stricter)")                            \
	X(cache_dir, STR, NULL, "DIR",                                                    \
	  "export cache (default $XDG_CACHE_HOME/angofs\n"                                \
	  "or ~/.cache/angofs; created 0700)")                                            \
	X(cache_size, SIZE, 10LL << 30, "SIZE",                                           \
	  "cap of cached exports and media, e.g. 500M, 10G (default 10G);\n"              \
	  "least recently used ones not open are evicted")                             \
	X(export_ttl, LONG, 3600, "SECONDS",                                              \
	  "refetch exports older than this (default 3600);\n"                             \
	  "`touch FILE` refreshes one export now")                                        \
	X(incremental, LONG, 43200, "SECONDS",                                            \
	  "a stale export asks only for the tasks changed\n"                              \
	  "since the cached copy and merges them; a full\n"                                \
	  "export at least every SECONDS (default 43200;\n"                                \
	  "0 = always a full export)")                                                    \
	X(first_bytes, SIZE, 16LL << 20, "SIZE",                                          \
	  "a cold export whose zip is larger than SIZE is\n"                               \
	  "readable while it downloads (default 16M; 0 = its\n"                           \
	  "open waits for the whole file)")                                               \
	X(meta_ttl, LONG, 60, "SECONDS", "cache project list/projects/tasks (default 60)")\
	X(attr_timeout, LONG, 10, "SECONDS", "kernel attribute cache (default 10)")       \
	X(entry_timeout, LONG, 10, "SECONDS", "kernel name cache (default 10)")           \
	X(include_metadata, BOOL, 1, "BOOL", "export option (default true)")              \
	X(include_history, BOOL, 1, "BOOL", "export option (default true)")               \
	X(include_only_key_frames, BOOL, 0, "BOOL", "export option (default false)")      \
	X(include_idle_blur_durations, BOOL, 0, "BOOL", "export option (default false)")  \
	X(task_types, STR, NULL, "LIST",                                                  \
	  "export taskTypes: default:consensus:benchmark\n"                               \
	  "(',' only in the config file; default: not sent)")                             \
	X(imagefolder_class, STR, NULL, "NAME",                                          \
	  "datasets/imagefolder: the top-level single-choice\n"                           \
	  "classification titled NAME or with schemaId NAME\n"                            \
	  "(default: the first radio/single-dropdown)")                                  \
	X(grace, LONG, 3600, "SECONDS",                                                   \
	  "a dataset file a refresh removed or moved stays\n"                            \
	  "readable by its old path this long (default 3600;\n"                          \
	  "0 = gone at once; listings are always current)")                              \
	X(split, STR, "80:10:10", "T:V:T",                                                \
	  "datasets/splits/: train, val and test parts\n"                                \
	  "(default 80:10:10; a part may be 0)")                                          \
	X(split_by, STR, NULL, "class",                                                   \
	  "split_by=class: each class split in those parts\n"                            \
	  "(default: by a hash of the externalId alone)")                                 \
	X(shard_size, SIZE, 256LL << 20, "SIZE",                                          \
	  "datasets/webdataset/: shards of about SIZE\n"                                 \
	  "(default 256M; a shard holds at least one sample)")                           \
	X(next_stage, BOOL, 0, "BOOL",                                                    \
	  "answer.json writes also submit the task to its\n"                              \
	  "next stage (default false)")                                                   \
	X(rate_limit, LONG, 100, "N",                                                     \
	  "at most N API requests per minute (default 100;\n"                             \
	  "0 = no client-side limit)")                                                    \
	X(stall_timeout, LONG, 30, "SECONDS",                                             \
	  "a download or hub reply that sends no byte for\n"                              \
	  "this long fails: cached copy or error (default 30)")                           \
	X(poll, LONG, 0, "SECONDS",                                                       \
	  "every SECONDS, one request per project read so far\n"                         \
	  "notices changes made elsewhere (default 0 = off)")                             \
	X(passthrough, STR, "auto", "auto|off",                                          \
	  "the kernel reads complete cached files itself\n"                             \
	  "(FUSE passthrough: libfuse >= 3.17, Linux >= 6.9,\n"                          \
	  "CAP_SYS_ADMIN; default auto: when all are there)")                             \
	X(log_level, STR, NULL, "LEVEL",                                                  \
	  "error, warn, info (default: one line per hub\n"                                \
	  "request) or debug")                                                            \
	X(debug, FLAG, 0, "", "log_level=debug (also with -d)")                           \
	X(offline, FLAG, 0, "",                                                           \
	  "send nothing to the hub: projects, project.json\n"                             \
	  "and tasks/ pages as last seen online, cached\n"                                \
	  "exports whatever their age; writes wait in the\n"                              \
	  "spool until a mount without offline sends them")                               \
	X(config, CLI, NULL, "PATH", "read settings from PATH instead of the default")
/* clang-format on */

#endif
