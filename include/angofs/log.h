/*
 * log.h - one-line logging for the daemon.
 *
 * Lines go to stderr (the foreground terminal, or whatever the daemon's stderr
 * was redirected to) with a UTC timestamp and level, or to syslog (facility
 * daemon) once a background daemon has lost its stderr. Each line is written with
 * one write(2) so lines of concurrent threads never interleave. Debug lines are
 * dropped unless debug is on (-o debug or -d). Callers never pass the API key
 * or a signed URL's query string.
 */
#ifndef ANGOFS_LOG_H
#define ANGOFS_LOG_H

enum ao_log_level { AO_LOG_ERROR, AO_LOG_WARN, AO_LOG_INFO, AO_LOG_DEBUG };

void ao_log_set_debug(int on);
void ao_log_use_syslog(int on);
int ao_log_debug_on(void);
void ao_log(enum ao_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ao_error(...) ao_log(AO_LOG_ERROR, __VA_ARGS__)
#define ao_warn(...) ao_log(AO_LOG_WARN, __VA_ARGS__)
#define ao_info(...) ao_log(AO_LOG_INFO, __VA_ARGS__)
#define ao_debug(...) ao_log(AO_LOG_DEBUG, __VA_ARGS__)

#endif
