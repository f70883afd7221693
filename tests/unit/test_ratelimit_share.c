/*
 * Unit test of the shared rate limiter's locking (src/client/ratelimit.c):
 * while another process holds the budget file's fcntl lock, threads of this
 * process that reserve wait for it without holding the limiter's mutex (so
 * nothing else of the process blocks behind the other daemon), and once it
 * lets go they take their turns one at a time: with a budget of 2, two
 * reservations go through and a third is told to wait. A state file that
 * cannot be written (disk full) falls back to a budget per daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "angofs/lockfile.h"
#include "angofs/ratelimit.h"
#include "t.h"

static struct ao_ratelimit rl;
static long long got[2];

static void *reserver(void *arg)
{
	long i = (long)arg;

	got[i] = ao_ratelimit_reserve(&rl, ao_ratelimit_now(&rl));
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int main(void)
{
	char dir[] = "/tmp/angofs-rls-XXXXXX", path[96], lpath[112];
	int up[2], down[2], fd; /* child -> parent, parent -> child */
	pthread_t th[2];
	pid_t child;
	char c = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/budget", dir);
	snprintf(lpath, sizeof(lpath), "%s.lock", path);
	CHECK_INT(ao_ratelimit_init(&rl, 2), 0);
	CHECK_INT(ao_ratelimit_share(&rl, path), 0);
	CHECK(pipe(up) == 0 && pipe(down) == 0);

	/* another daemon: holds the lock until told to let go */
	child = fork();
	if (child == 0) {
		int cfd = ao_lock_open(lpath);

		if (cfd < 0 || ao_lock_byte(cfd, 0, F_WRLCK, 1) < 0)
			_exit(1);
		if (write(up[1], "l", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	CHECK(child > 0);
	CHECK(read(up[0], &c, 1) == 1 && c == 'l');

	for (long i = 0; i < 2; i++)
		CHECK(pthread_create(&th[i], NULL, reserver, (void *)i) == 0);
	sleep_ms(300); /* both are now waiting: one for the lock, one for its turn */
	CHECK_INT(got[0] + got[1], 0);
	/* the mutex is free while they wait on the other process */
	for (int k = 0; k < 5; k++) {
		int r = pthread_mutex_trylock(&rl.lock);

		CHECK_INT(r, 0);
		if (r == 0) {
			CHECK_INT(rl.file_busy, 1);
			pthread_mutex_unlock(&rl.lock);
		}
		sleep_ms(20);
	}
	CHECK(write(down[1], "u", 1) == 1); /* the other daemon lets go */
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	waitpid(child, NULL, 0);
	CHECK_INT(got[0], 0);
	CHECK_INT(got[1], 0);
	CHECK_INT(rl.file_busy, 0);
	/* both were recorded in the file: the budget of 2 is spent */
	CHECK(ao_ratelimit_reserve(&rl, ao_ratelimit_now(&rl)) > 0);

	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	ao_ratelimit_destroy(&rl);
	unlink(path);
	unlink(lpath);
	snprintf(lpath, sizeof(lpath), "%s.tmp", path);
	unlink(lpath);

	/* a state file that cannot be replaced (the disk is full; here its temp
	 * name is a directory, which even root cannot open for writing): the
	 * budget still holds, per daemon, instead of letting everything through */
	{
		char p2[112], l2[128], t2[128];

		snprintf(p2, sizeof(p2), "%s/full", dir);
		snprintf(l2, sizeof(l2), "%s.lock", p2);
		snprintf(t2, sizeof(t2), "%s.tmp", p2);
		CHECK(mkdir(t2, 0700) == 0);
		CHECK_INT(ao_ratelimit_init(&rl, 2), 0);
		CHECK_INT(ao_ratelimit_share(&rl, p2), 0);
		long long now = ao_ratelimit_now(&rl);
		CHECK_INT(ao_ratelimit_reserve(&rl, now), 0);
		CHECK_INT(ao_ratelimit_reserve(&rl, now + 1), 0);
		CHECK(ao_ratelimit_reserve(&rl, now + 2) > 0);
		CHECK_INT(rl.shared_failed, 1);
		/* writable again: the shared file counts (and is enforced) again */
		CHECK(rmdir(t2) == 0);
		CHECK_INT(ao_ratelimit_reserve(&rl, now + 61000), 0);
		CHECK_INT(rl.shared_failed, 0);
		ao_ratelimit_destroy(&rl);
		unlink(p2);
		unlink(l2);
	}
	rmdir(dir);
	return t_done("ratelimit_share");
}
