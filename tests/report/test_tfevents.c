/* test_tfevents.c - what tfevents.c promises: CRC-32C matches its published check values and
 * the bitwise definition, masking follows TFRecord, varints and fields encode as protoc does
 * (goldens below from `protoc --encode=tensorboard.Event tests/oracle/tensorboard_min.proto`,
 * libprotoc 3.21.12), records are framed with both CRCs, histograms count like numpy, and a
 * failed or aborted file leaves nothing behind. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ml_test.h"
#include "report/tfevents.h"
#include "util/fileio.h"

static char dir[64];

/* The definition: reflected CRC with polynomial 0x82F63B78, one bit at a time. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc & 1u) ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void test_tfevents__crc32c_check_values(void) {
    CHECK_EQ_INT(ml__crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_INT(ml__crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) appendix B.4 vectors. */
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    CHECK_EQ_INT(ml__crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof buf);
    CHECK_EQ_INT(ml__crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK_EQ_INT(ml__crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    CHECK_EQ_INT(ml__crc32c(0, buf, 32), 0x113FDB5Cu);
}

static void test_tfevents__crc32c_table_matches_bitwise_definition(void) {
    int bad = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        bad += ml__crc32c(0, &byte, 1) != crc32c_bitwise(&byte, 1);
    }
    CHECK_EQ_INT(bad, 0);
    uint8_t data[1000];
    uint32_t x = 12345u;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u; /* LCG: any bytes will do */
        data[i] = (uint8_t)(x >> 24);
    }
    CHECK_EQ_INT(ml__crc32c(0, data, sizeof data), crc32c_bitwise(data, sizeof data));
    /* Continuing from a previous CRC equals one pass. */
    CHECK_EQ_INT(ml__crc32c(ml__crc32c(0, data, 337), data + 337, sizeof data - 337),
                 ml__crc32c(0, data, sizeof data));
}

static void test_tfevents__mask_follows_tfrecord(void) {
    /* ((c >> 15) | (c << 17)) + 0xa282ead8 mod 2^32, computed by hand for two values. */
    CHECK_EQ_INT(ml__crc32c_mask(0), 0xa282ead8u);
    CHECK_EQ_INT(ml__crc32c_mask(0xE3069283u), (uint32_t)(0x2507C60Du + 0xa282ead8u));
    CHECK_EQ_INT(ml__crc32c_mask(0x00008000u), (uint32_t)(1u + 0xa282ead8u));
}

static void test_tfevents__varints_encode_as_protobuf(void) {
    ml__pbuf b = {0};
    ml__pb_varint(&b, 0);
    ml__pb_varint(&b, 1);
    ml__pb_varint(&b, 300);
    ml__pb_int64(&b, 2, -1);
    static const uint8_t want[] = {0x00, 0x01, 0xac, 0x02, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0x01};
    CHECK_EQ_INT(b.len, sizeof want);
    CHECK(b.len == sizeof want && memcmp(b.p, want, sizeof want) == 0);
    CHECK_STATUS(b.status, ML_OK);
    ml__pbuf_free(&b);
}

/* Reads the file at path and splits it into records, checking both CRCs of each. Returns the
 * number of records; data of record i in rec[i] / rec_len[i] (pointers into *file). */
static size_t read_records(const char *path, char **file, const uint8_t **rec, size_t *rec_len,
                           size_t max_rec) {
    size_t len = 0, n = 0, pos = 0;
    CHECK_STATUS(ml__file_read(path, 1 << 24, file, &len), ML_OK);
    if (!*file) return 0;
    const uint8_t *p = (const uint8_t *)*file;
    while (pos + 12 <= len && n < max_rec) {
        uint64_t dlen = le64(p + pos);
        CHECK_EQ_INT(le32(p + pos + 8), ml__crc32c_mask(crc32c_bitwise(p + pos, 8)));
        if (pos + 16 + dlen > len) break;
        CHECK_EQ_INT(le32(p + pos + 12 + dlen),
                     ml__crc32c_mask(crc32c_bitwise(p + pos + 12, (size_t)dlen)));
        rec[n] = p + pos + 12;
        rec_len[n++] = (size_t)dlen;
        pos += 16 + (size_t)dlen;
    }
    CHECK_EQ_INT(pos, len); /* no trailing bytes, no torn record */
    return n;
}

static void test_tfevents__events_encode_as_protoc_and_frame_with_crcs(void) {
    char path[160];
    snprintf(path, sizeof path, "%s/events.out.tfevents.1.localhost.microlens", dir);
    ml__tfevents w;
    CHECK_STATUS(ml__tfevents_open(&w, path, 1700000000.25), ML_OK);
    CHECK_STATUS(ml__tfevents_scalar(&w, 1.5, 3, "loss", 0.25f), ML_OK);
    ml__histogram h = {.min = -1, .max = 1, .num = 2, .sum = 0, .sum_squares = 2,
                       .n_buckets = 2, .limit = {0, 1}, .count = {1, 1}};
    CHECK_STATUS(ml__tfevents_histogram(&w, 2.0, 300, "w", &h), ML_OK);
    CHECK(access(path, F_OK) != 0); /* invisible until commit */
    CHECK_STATUS(ml__tfevents_commit(&w), ML_OK);

    static const uint8_t version[] = {
        0x09, 0x00, 0x00, 0x10, 0x40, 0xfc, 0x54, 0xd9, 0x41, 0x1a, 0x0d, 0x62, 0x72,
        0x61, 0x69, 0x6e, 0x2e, 0x45, 0x76, 0x65, 0x6e, 0x74, 0x3a, 0x32};
    static const uint8_t scalar[] = {
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, 0x10, 0x03, 0x2a, 0x0d,
        0x0a, 0x0b, 0x0a, 0x04, 0x6c, 0x6f, 0x73, 0x73, 0x15, 0x00, 0x00, 0x80, 0x3e};
    static const uint8_t histo[] = {
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x10, 0xac, 0x02, 0x2a, 0x4f,
        0x0a, 0x4d, 0x0a, 0x01, 0x77, 0x2a, 0x48, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xf0, 0xbf, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x19, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x29, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x40, 0x32, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0xf0, 0x3f, 0x3a, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0,
        0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f};
    const uint8_t *want[] = {version, scalar, histo};
    const size_t want_len[] = {sizeof version, sizeof scalar, sizeof histo};
    char *file = NULL;
    const uint8_t *rec[4];
    size_t rec_len[4];
    size_t n = read_records(path, &file, rec, rec_len, 4);
    CHECK_EQ_INT(n, 3);
    for (size_t i = 0; i < n && i < 3; i++) {
        CHECK_EQ_INT(rec_len[i], want_len[i]);
        CHECK(rec_len[i] == want_len[i] && memcmp(rec[i], want[i], want_len[i]) == 0);
    }
    free(file);
    unlink(path);
}

static void test_tfevents__abort_leaves_nothing(void) {
    char path[160];
    snprintf(path, sizeof path, "%s/aborted", dir);
    ml__tfevents w;
    CHECK_STATUS(ml__tfevents_open(&w, path, 1.0), ML_OK);
    CHECK_STATUS(ml__tfevents_scalar(&w, 1.0, 1, "x", 1.0f), ML_OK);
    ml__tfevents_abort(&w);
    ml__tfevents_abort(&w); /* twice is harmless */
    CHECK(access(path, F_OK) != 0);
    CHECK(rmdir(dir) == 0); /* no temporary file either */
    CHECK(mkdir(dir, 0700) == 0);
    CHECK_STATUS(ml__tfevents_open(&w, "/nonexistent-dir/x/events", 1.0), ML_EIO);
    ml__tfevents_abort(&w);
}

static void test_tfevents__file_name_hides_the_host(void) {
    char name[96];
    CHECK_STATUS(ml__tfevents_file_name(name, sizeof name, 1700000000), ML_OK);
    CHECK_STR(name, "events.out.tfevents.1700000000.localhost.microlens");
    CHECK_STATUS(ml__tfevents_file_name(name, 10, 1), ML_EINVAL);
}

static void test_tfevents__histogram_counts_like_numpy(void) {
    /* 0..29 and 30 over 30 bins of [0, 30]: numpy puts each integer i < 30 in bin i and 30
     * (the right edge) in the last bin; NaN and inf are left out. */
    float v[33];
    for (int i = 0; i <= 30; i++) v[i] = (float)i;
    v[31] = NAN;
    v[32] = -INFINITY;
    ml__histogram h;
    ml__histogram_compute(&h, v, 33);
    CHECK_EQ_INT(h.n_buckets, ML__HISTO_BUCKETS);
    CHECK_EQ_INT(h.n_nonfinite, 2);
    CHECK_NEAR(h.num, 31, 0);
    CHECK_NEAR(h.min, 0, 0);
    CHECK_NEAR(h.max, 30, 0);
    CHECK_NEAR(h.sum, 465, 0);
    CHECK_NEAR(h.sum_squares, 9455, 0);
    double total = 0;
    for (size_t i = 0; i < h.n_buckets; i++) total += h.count[i];
    CHECK_NEAR(total, 31, 0);
    CHECK_NEAR(h.count[0], 1, 0);
    CHECK_NEAR(h.count[28], 1, 0);
    CHECK_NEAR(h.count[29], 2, 0);
    CHECK_NEAR(h.limit[0], 1, 0);
    CHECK_NEAR(h.limit[29], 30, 0);
    /* All equal: one bucket at the value. */
    float same[3] = {2.5f, 2.5f, 2.5f};
    ml__histogram_compute(&h, same, 3);
    CHECK_EQ_INT(h.n_buckets, 1);
    CHECK_NEAR(h.limit[0], 2.5, 0);
    CHECK_NEAR(h.count[0], 3, 0);
    /* Nothing finite: num 0, which callers skip. */
    float none[2] = {NAN, INFINITY};
    ml__histogram_compute(&h, none, 2);
    CHECK_NEAR(h.num, 0, 0);
    CHECK_EQ_INT(h.n_buckets, 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/ml_tfevents_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_tfevents__crc32c_check_values);
    RUN(test_tfevents__crc32c_table_matches_bitwise_definition);
    RUN(test_tfevents__mask_follows_tfrecord);
    RUN(test_tfevents__varints_encode_as_protobuf);
    RUN(test_tfevents__events_encode_as_protoc_and_frame_with_crcs);
    RUN(test_tfevents__abort_leaves_nothing);
    RUN(test_tfevents__file_name_hides_the_host);
    RUN(test_tfevents__histogram_counts_like_numpy);
    rmdir(dir);
    TEST_MAIN_END();
}
