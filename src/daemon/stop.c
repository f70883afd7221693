/*
 * stop.c - how a signal stops the daemon.
 *
 * libfuse's own handlers end the loop at once: a worker that has just read a
 * request drops it, and the unmount that follows drops what the kernel still
 * has queued. Those are typically the RELEASE/RELEASEDIR of files and
 * directories closed just before the stop (`ls` then `systemctl stop`), so
 * libfuse's handles of them leak (a LeakSanitizer report at exit, exit 1
 * under ASan) and nothing of ours gets its release.
 *
 * Design choice: a signal only wakes a stopper thread (self-pipe), which
 * detaches the mount (umount2 MNT_DETACH as root, `fusermount3 -u -z`
 * otherwise), exactly like an unmount from outside: the kernel delivers
 * what is queued, then DESTROY, and the loop ends by itself when the device
 * reports the connection gone. If that has not happened within STOP_GRACE_S
 * (a process keeps a file open on the mount), the loop is ended as libfuse
 * would have ended it. Handlers are installed without SA_RESTART so that
 * waking the loop thread interrupts its wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUSE_USE_VERSION 312
#include <fuse.h>

#include "angofs/log.h"
#include "stop.h"

#define STOP_GRACE_S 5

extern char **environ;

static int sp[2] = {-1, -1};
static pthread_t loop_tid, stopper;
static int started;
static struct fuse *F;
static char *mnt;
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

static void *stopper_main(void *arg)
{
	unsigned char b = 0;
	struct timespec dl;
	int r;

	(void)arg;
	while ((r = (int)read(sp[0], &b, 1)) < 0 && errno == EINTR)
		;
	if (r <= 0 || b == 0)
		return NULL; /* the loop ended without a signal */
	r = lazy_unmount();
	if (r == 0)
		ao_info("signal %d: unmounting %s (queued requests are served first)", b, mnt);
	else
		ao_warn("signal %d: cannot detach %s (%s): stopping now", b, mnt, strerror(-r));
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += STOP_GRACE_S;
	pthread_mutex_lock(&st_lock);
	detached = r == 0;
	while (!loop_done && r == 0)
		if (pthread_cond_timedwait(&st_cond, &st_lock, &dl) == ETIMEDOUT)
			break;
	if (!loop_done) {
		/* files still open on the detached mount, or no detach: end now */
		fuse_exit(F);
		pthread_kill(loop_tid, SIGTERM);
	}
	pthread_mutex_unlock(&st_lock);
	return NULL;
}

int ao_stop_start(struct fuse *fuse, const char *mountpoint)
{
	struct sigaction sa;
	int sigs[] = {SIGTERM, SIGINT, SIGHUP};

	F = fuse;
	loop_tid = pthread_self();
	mnt = strdup(mountpoint);
	if (!mnt || pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* the stopper blocks in read; only the handler's end is non-blocking */
	fcntl(sp[0], F_SETFL, fcntl(sp[0], F_GETFL) & ~O_NONBLOCK);
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
	sp[0] = sp[1] = -1;
	free(mnt);
	mnt = NULL;
	pthread_mutex_lock(&st_lock);
	d = detached;
	pthread_mutex_unlock(&st_lock);
	return d;
}
