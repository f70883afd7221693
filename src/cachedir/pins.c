/*
 * pins.c - the bytes pinned snapshots hold in the cache directory
 * (<cache_dir>/snapshots; docs/DATASETS.md "Snapshots"), for the size cap.
 *
 * Pins live outside exports/ and media/, so no eviction ever removes them;
 * their bytes still count toward cache_size: the export cache and the media
 * cache add them to what they hold before they evict their own files. A
 * pinned file that is also a file of the export cache (a hard link: the
 * same inode) counts once, there.
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachedir.h"

static long long tree_bytes(int dfd, int depth, int own)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	long long sum = 0;

	if (!d) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 8) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				sum += tree_bytes(sub, depth + 1, own);
		} else if (S_ISREG(st.st_mode) && (!own || st.st_nlink == 1)) {
			sum += (long long)st.st_size;
		}
	}
	closedir(d);
	return sum;
}

long long cd_tree_bytes(int dfd, int own)
{
	return tree_bytes(dfd, 0, own);
}

long long cd_pinned_bytes(const char *root)
{
	DIR *d = root ? opendir(root) : NULL;
	struct dirent *de;
	long long sum = 0;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub >= 0)
			sum += tree_bytes(sub, 0, 1);
	}
	if (d)
		closedir(d);
	return sum;
}
