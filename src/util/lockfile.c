/*
 * lockfile.c - fcntl byte-range locks (see include/angofs/lockfile.h).
 *
 * Design choice: one byte per lock, so one small file can carry several
 * independent locks (the export cache uses byte 0 for "publishing" and byte
 * N for "generation N is open"). EDEADLK from F_SETLKW is a false alarm here:
 * the kernel's detector works per process, and two daemons whose different
 * threads wait on different files look like a cycle. It is retried after a
 * short sleep, never spun on.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "angofs/lockfile.h"

int ao_lock_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

int ao_lock_byte(int fd, off_t byte, int type, int wait)
{
	struct flock fl;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = (short)type;
		fl.l_whence = SEEK_SET;
		fl.l_start = byte;
		fl.l_len = 1;
		if (fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (!wait && (errno == EAGAIN || errno == EACCES))
			return -EAGAIN;
		if (wait && errno == EDEADLK) {
			struct timespec ts = {0, 100 * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		return -errno;
	}
}
