/* test_outbuf.c - what outbuf.c promises: buffered pieces land in order (small, large, over
 * the buffer size), failures are sticky, and nothing is left behind on abort or failure. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ml_test.h"
#include "util/fileio.h"
#include "util/outbuf.h"

static char dir[64];

static void test_outbuf__pieces_of_any_size_arrive_in_order(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    size_t big_len = ML__OUTBUF_BYTES + 123;
    char *big = malloc(big_len);
    CHECK(big != NULL);
    if (!big) return;
    for (size_t i = 0; i < big_len; i++) big[i] = (char)('a' + i % 26);
    ml__outbuf b;
    CHECK_STATUS(ml__outbuf_open(&b, path, 0600), ML_OK);
    CHECK_STATUS(ml__outbuf_puts(&b, "head "), ML_OK);
    CHECK_STATUS(ml__outbuf_printf(&b, "%d-%s|", 42, "x"), ML_OK);
    CHECK_STATUS(ml__outbuf_write(&b, big, big_len), ML_OK);
    char long_arg[700];
    memset(long_arg, 'z', sizeof long_arg - 1);
    long_arg[sizeof long_arg - 1] = '\0';
    CHECK_STATUS(ml__outbuf_printf(&b, "%s.", long_arg), ML_OK); /* over the 512-byte stack path */
    CHECK(access(path, F_OK) != 0); /* not visible before commit */
    CHECK_STATUS(ml__outbuf_commit(&b), ML_OK);
    char *got = NULL;
    size_t len = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 20, &got, &len), ML_OK);
    size_t want_len = 5 + 5 + big_len + 699 + 1;
    CHECK_EQ_INT(len, want_len);
    if (got && len == want_len) {
        CHECK(memcmp(got, "head 42-x|", 10) == 0);
        CHECK(memcmp(got + 10, big, big_len) == 0);
        CHECK(got[len - 1] == '.' && got[len - 2] == 'z');
    }
    free(got);
    free(big);
    unlink(path);
}

static void test_outbuf__failed_open_is_sticky(void) {
    ml__outbuf b;
    CHECK_STATUS(ml__outbuf_open(&b, "/nonexistent-dir/x/out.txt", 0644), ML_EIO);
    CHECK_STATUS(ml__outbuf_puts(&b, "ignored"), ML_EIO);
    CHECK_STATUS(ml__outbuf_commit(&b), ML_EIO);
    ml__outbuf_abort(&b);
}

static void test_outbuf__abort_leaves_nothing(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/aborted.txt", dir);
    ml__outbuf b;
    CHECK_STATUS(ml__outbuf_open(&b, path, 0644), ML_OK);
    CHECK_STATUS(ml__outbuf_puts(&b, "data"), ML_OK);
    ml__outbuf_abort(&b);
    ml__outbuf_abort(&b); /* twice is harmless */
    CHECK(access(path, F_OK) != 0);
    CHECK(rmdir(dir) == 0); /* no temporary file left either */
    CHECK(mkdir(dir, 0700) == 0);
}

static void test_outbuf__write_after_commit_is_refused(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/closed.txt", dir);
    ml__outbuf b;
    CHECK_STATUS(ml__outbuf_open(&b, path, 0644), ML_OK);
    CHECK_STATUS(ml__outbuf_commit(&b), ML_OK);
    b.status = ML_OK;
    CHECK_STATUS(ml__outbuf_puts(&b, "late"), ML_EINVAL);
    CHECK_ERR_CONTAINS("closed output");
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ml_outbuf_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_outbuf__pieces_of_any_size_arrive_in_order);
    RUN(test_outbuf__failed_open_is_sticky);
    RUN(test_outbuf__abort_leaves_nothing);
    RUN(test_outbuf__write_after_commit_is_refused);
    rmdir(dir);
    TEST_MAIN_END();
}
