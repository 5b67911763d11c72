/* ml_tmp.h - for tests that make temporary folders: removing a whole tree, without a shell. */
#ifndef ML_TMP_H
#define ML_TMP_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Removes path and, for a folder, everything below it; links are removed, never followed.
 * Best effort: a test's leftovers in its own temporary folder are no failure. */
static inline void ml_test_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char child[1024];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        ml_test_remove_tree(child);
    }
    if (d) closedir(d);
    rmdir(path);
}

#endif
