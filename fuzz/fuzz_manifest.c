/* fuzz_manifest.c - hostile bytes as the MANIFEST of a small real folder (files "a" = "abc"
 * and "b.txt" empty); whatever is accepted must have matched every listed file. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The folder is made once per process and reused: creating one per input would dominate. */
static char dir[64];
static int dirfd_cached = -1;

static int write_text(const char *name, const char *text) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static void cleanup(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/a", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/b.txt", dir);
    unlink(path);
    rmdir(dir);
}

static int setup(void) {
    snprintf(dir, sizeof dir, "/tmp/ml-fuzz-manifest-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    atexit(cleanup);
    if (write_text("a", "abc") != 0 || write_text("b.txt", "") != 0) return -1;
    dirfd_cached = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dirfd_cached >= 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (dirfd_cached < 0 && setup() != 0) return 0;
    ml_manifest_report r;
    /* The low bit of the size picks the option, so both paths see every kind of input. */
    bool allow_extra = size & 1;
    ml_status st = ml__manifest_check(dirfd_cached, dir, (const char *)data, size, allow_extra, &r);
    if (st == ML_OK && (r.n_checked != r.n_files || r.n_files > 2)) __builtin_trap();
    if (st == ML_OK && !allow_extra && r.n_files != 2) __builtin_trap();
    if (st != ML_OK && st != ML_EINTEGRITY && st != ML_ENOMEM && st != ML_EIO) __builtin_trap();
    return 0;
}
