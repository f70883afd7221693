/*
 * log.h - one-line logging for the daemon.
 *
 * Lines go to stderr (the foreground terminal, or whatever the daemon's stderr
 * was redirected to) with a UTC timestamp and level, or to syslog (facility
 * daemon) once a background daemon has lost its stderr. Each line is written with
 * one write(2) so lines of concurrent threads never interleave. Lines below the
 * level (-o log_level=error|warn|info|debug, default info; -o debug or -d is
 * debug) are dropped. Callers never pass the API key or a signed URL's query
 * string.
 */
#ifndef ANGOFS_LOG_H
#define ANGOFS_LOG_H

enum ao_log_level { AO_LOG_ERROR, AO_LOG_WARN, AO_LOG_INFO, AO_LOG_DEBUG };

void ao_log_set_debug(int on); /* on: level debug; off: level info */
void ao_log_set_level(enum ao_log_level lvl);
enum ao_log_level ao_log_get_level(void);
/* "error" | "warn" (or "warning") | "info" | "debug" -> level; -1 if unknown. */
int ao_log_level_from_name(const char *name);
const char *ao_log_level_name(enum ao_log_level lvl);
void ao_log_use_syslog(int on);
int ao_log_debug_on(void);
void ao_log(enum ao_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ao_error(...) ao_log(AO_LOG_ERROR, __VA_ARGS__)
#define ao_warn(...) ao_log(AO_LOG_WARN, __VA_ARGS__)
#define ao_info(...) ao_log(AO_LOG_INFO, __VA_ARGS__)
#define ao_debug(...) ao_log(AO_LOG_DEBUG, __VA_ARGS__)

#endif
