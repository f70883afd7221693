/*
 * log.c - see include/angofs/log.h. Formats into a stack buffer and emits it
 * with a single write(2): atomic per line for pipes and O_APPEND files, no lock.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "angofs/log.h"

/* Set at start-up (and by tests), read by every thread without a lock:
 * atomics (a torn or stale read of a plain int would be a data race). */
static atomic_int log_level = AO_LOG_INFO, log_syslog;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void ao_log_use_syslog(int on)
{
	if (on && !log_syslog)
		openlog("angofs", LOG_PID, LOG_DAEMON);
	log_syslog = on;
}

void ao_log_set_debug(int on)
{
	log_level = on ? AO_LOG_DEBUG : AO_LOG_INFO;
}

void ao_log_set_level(enum ao_log_level lvl)
{
	if (lvl >= AO_LOG_ERROR && lvl <= AO_LOG_DEBUG)
		log_level = lvl;
}

enum ao_log_level ao_log_get_level(void)
{
	return (enum ao_log_level)log_level;
}

int ao_log_debug_on(void)
{
	return log_level >= AO_LOG_DEBUG;
}

int ao_log_level_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i <= AO_LOG_DEBUG; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	if (strcasecmp(name, "warning") == 0)
		return AO_LOG_WARN;
	return -1;
}

const char *ao_log_level_name(enum ao_log_level lvl)
{
	return lvl >= AO_LOG_ERROR && lvl <= AO_LOG_DEBUG ? level_names[lvl] : "?";
}

void ao_log(enum ao_log_level lvl, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if ((int)lvl > log_level)
		return;
	if (log_syslog) {
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		syslog(prio[lvl], "%s", line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ angofs %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, level_names[lvl]);
	if (n < 0)
		return;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
