/*
 * stop.c - how a signal or an unmount stops the daemon.
 *
 * Stop means stop: the first thing a stop does is ao_cancel_stop(), which
 * aborts every transfer in flight (the hub client's progress callback) and
 * ends every wait of a reader with EINTR (angofs/cancel.h), so no download,
 * stalled or not, holds the exit; writes not delivered stay in the spool.
 *
 * What the kernel queued must still be served: libfuse's own handlers end
 * the loop at once (a worker that has just read a request drops it), and an
 * unmount aborts the connection, dropping every request not yet read. Those
 * are typically the RELEASE/RELEASEDIR of files and directories closed just
 * before the stop (`ls` then `systemctl stop`), also ones queued after the
 * signal; dropped, libfuse's directory handles leak (a LeakSanitizer report,
 * exit 1 under ASan) and nothing of ours gets its release.
 *
 * Design choice: a signal only wakes a stopper thread (self-pipe). It holds
 * the mount's root with an O_PATH descriptor (no FUSE request, no handle),
 * detaches the mount (umount2 MNT_DETACH as root, `fusermount3 -u -z`
 * otherwise: no new path reaches it), and keeps the loop serving /dev/fuse
 * until the kernel has no file or directory of the mount open any more
 * (ao_fs_open_handles: every RELEASE and RELEASEDIR served), at most
 * STOP_GRACE_S. Only then it drops its own reference: the kernel ends the
 * connection with nothing left in its queue, and the loop ends by itself. A
 * process that keeps a file open past the grace (`sleep 60 < file`) does not
 * hold the stop: the loop is ended as libfuse would have ended it.
 *
 * An unmount from outside (`umount -l`, `fusermount3 -u -z`) sends no signal:
 * the stopper also watches /proc/self/mountinfo (poll POLLPRI) and treats the
 * disappearance of this mount (its mount id) like a signal, except that the
 * mount is gone already. Handlers are installed without SA_RESTART so that
 * waking the loop thread interrupts its wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "angofs/cancel.h"
#include "angofs/log.h"
#include "angofs/sysutil.h"
#include "stop.h"

#define STOP_GRACE_S 5

extern char **environ;

/* Set by ao_stop_start before the stopper starts, read-only afterwards. */
static int sp[2] = {-1, -1};
static int minfo = -1; /* /proc/self/mountinfo, or -1 */
static long mount_id = -1;
static pthread_t loop_tid, stopper;
static int started;
static struct fuse_session *F;
static char *mnt;
static int (*open_handles)(void);
/* fields below: st_lock */
static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t st_cond = PTHREAD_COND_INITIALIZER;
static int loop_done, detached;

static void on_signal(int sig)
{
	unsigned char b = (unsigned char)sig;
	int saved = errno;

	if (write(sp[1], &b, 1) < 0) {
		/* pipe full: a stop is under way already */
	}
	errno = saved;
}

static int lazy_unmount(void)
{
	char *argv[] = {"fusermount3", "-u", "-z", "-q", mnt, NULL};
	pid_t pid;
	int st;

	if (geteuid() == 0)
		return umount2(mnt, MNT_DETACH) == 0 ? 0 : -errno;
	if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0)
		return -ENOENT;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* Mount point field of mountinfo with its octal escapes (\040 ...) undone. */
static void unescape(const char *in, char *out, size_t n)
{
	size_t k = 0;

	while (*in && *in != ' ' && k + 1 < n) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			out[k++] = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 4;
		} else {
			out[k++] = *in++;
		}
	}
	out[k] = '\0';
}

/* The whole of /proc/self/mountinfo, read again from its start through the
 * descriptor the stopper polls (which also re-arms the poll): no other
 * descriptor is opened or duplicated, so a mount table that changes often
 * (other mounts on the machine) costs reads only. NUL-terminated, malloc'd;
 * NULL on failure. */
static char *read_mountinfo(void)
{
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	ssize_t n;

	if (!buf || lseek(minfo, 0, SEEK_SET) < 0) {
		free(buf);
		return NULL;
	}
	while ((n = read(minfo, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len - 1 == 0) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* Scan mountinfo: with want < 0, the id of the last FUSE mount on mnt (-1:
 * none); else 1 if mount `want` is still there, 0 if not. */
static long scan_mountinfo(long want)
{
	char path[4096];
	long found = want < 0 ? -1 : 0;
	char *all = minfo >= 0 ? read_mountinfo() : NULL, *line, *save = NULL;

	if (!all)
		return want < 0 ? -1 : 1;
	for (line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		long id = strtol(line, NULL, 10);
		char *p = line;

		if (want >= 0) {
			if (id == want) {
				found = 1;
				break;
			}
			continue;
		}
		/* id parent major:minor root mountpoint opts ... - fstype ... */
		for (int i = 0; i < 4 && p; i++)
			p = strchr(p + 1, ' ');
		char *sep = strstr(line, " - ");
		if (!p || !sep)
			continue;
		unescape(p + 1, path, sizeof(path));
		if (strcmp(path, mnt) == 0 && strncmp(sep + 3, "fuse", 4) == 0)
			found = id;
	}
	free(all);
	return found;
}

/* Wait (st_lock held) until the loop ended or the deadline passed; with
 * idle: also until the kernel has nothing of the mount open. */
static void wait_until(const struct timespec *dl, int idle)
{
	while (!loop_done) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		if (t.tv_sec > dl->tv_sec || (t.tv_sec == dl->tv_sec && t.tv_nsec >= dl->tv_nsec))
			return;
		if (idle && open_handles && open_handles() == 0)
			return;
		t.tv_nsec += 50 * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&st_cond, &st_lock, &t);
	}
}

/* 0: the loop ended by itself; a signal number; -1: unmounted from outside. */
static int wait_for_stop(void)
{
	struct pollfd pf[2] = {{.fd = sp[0], .events = POLLIN}, {.fd = minfo, .events = POLLPRI}};
	unsigned char b = 0;

	for (;;) {
		int n = poll(pf, minfo >= 0 && mount_id >= 0 ? 2 : 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 0;
		if (pf[0].revents) {
			ssize_t r;
			while ((r = read(sp[0], &b, 1)) < 0 && errno == EINTR)
				;
			return r == 1 ? b : 0;
		}
		if (pf[1].revents && !scan_mountinfo(mount_id))
			return -1;
	}
}

static void *stopper_main(void *arg)
{
	struct timespec dl;
	int why, r = 0, root = -1;

	(void)arg;
	why = wait_for_stop();
	if (why == 0)
		return NULL; /* the loop ended without a stop */
	ao_cancel_stop();    /* transfers aborted, waiting readers answered */
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += STOP_GRACE_S;
	if (why > 0) {
		/* our reference keeps the connection up after the detach */
		root = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
		r = lazy_unmount();
		if (r == 0)
			ao_info("signal %d: unmounting %s (transfers aborted; open files and "
				"directories are released first, at most %d s)",
				why, mnt, STOP_GRACE_S);
		else
			ao_warn("signal %d: cannot detach %s (%s): stopping now", why, mnt,
				strerror(-r));
	} else {
		ao_info("%s was unmounted: stopping (transfers aborted)", mnt);
	}
	pthread_mutex_lock(&st_lock);
	detached = why > 0 && r == 0;
	if (r == 0)
		wait_until(&dl, 1);
	pthread_mutex_unlock(&st_lock);
	if (root >= 0)
		close(root); /* the last reference: the kernel ends the connection */
	pthread_mutex_lock(&st_lock);
	if (r == 0)
		wait_until(&dl, 0);
	if (!loop_done) {
		/* files still open on the detached mount, or no detach: end now */
		if (open_handles && open_handles() > 0)
			ao_info("stop: %d files or directories still open after %d s",
				open_handles(), STOP_GRACE_S);
		fuse_session_exit(F);
		pthread_kill(loop_tid, SIGTERM);
	}
	pthread_mutex_unlock(&st_lock);
	return NULL;
}

int ao_stop_start(struct fuse_session *se, const char *mountpoint, int (*busy)(void))
{
	struct sigaction sa;
	int sigs[] = {SIGTERM, SIGINT, SIGHUP};

	F = se;
	open_handles = busy;
	loop_tid = pthread_self();
	mnt = strdup(mountpoint);
	if (!mnt || pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* the stopper blocks in poll; only the handler's end is non-blocking */
	fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) & ~O_NONBLOCK);
	minfo = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	mount_id = scan_mountinfo(-1);
	if (mount_id < 0)
		ao_warn("%s not found in /proc/self/mountinfo: an unmount from outside "
			"will not abort transfers in flight",
			mountpoint);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the loop thread's wait is interrupted */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	if (pthread_create(&stopper, NULL, stopper_main, NULL) != 0)
		return -EAGAIN;
	started = 1;
	return 0;
}

int ao_stop_end(void)
{
	unsigned char quit = 0;
	int d;

	pthread_mutex_lock(&st_lock);
	loop_done = 1;
	pthread_cond_broadcast(&st_cond);
	pthread_mutex_unlock(&st_lock);
	if (started) {
		if (write(sp[1], &quit, 1) < 0) {
			/* full: the stopper has a signal to read and will return */
		}
		pthread_join(stopper, NULL);
		started = 0;
	}
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (sp[0] >= 0)
		close(sp[0]);
	if (sp[1] >= 0)
		close(sp[1]);
	if (minfo >= 0)
		close(minfo);
	sp[0] = sp[1] = minfo = -1;
	free(mnt);
	mnt = NULL;
	pthread_mutex_lock(&st_lock);
	d = detached;
	pthread_mutex_unlock(&st_lock);
	return d;
}
