/* testutil.h -- small helpers shared by the unit tests: removing a temporary tree, counting a directory's
 * entries. No shell: the paths are removed with nftw. */
#ifndef REFLEX_TESTUTIL_H
#define REFLEX_TESTUTIL_H

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>

static inline int tu_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Removes path and everything under it; 0 on success (also when it does not exist). */
static inline int tu_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return 0;
	return nftw(path, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Entries of dir other than . and .., or -1 when it cannot be read. */
static inline int tu_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

#endif
