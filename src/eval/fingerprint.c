/* fingerprint.c - a SHA-256 fingerprint of a table and its labels that does not depend on the
 * order of samples or features (so a transposed or re-sorted copy of the same data matches);
 * it never reveals an ID, since only the digest leaves this file. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/evaluate.h"
#include "util/error.h"

#define DIGEST_BYTES 32
static const char fingerprint_tag[] = "microlens-fingerprint-v1";

typedef struct fp_ctx {
    const ml_table *t;
    size_t *rank;  /* (n_features) position of each feature in ID order */
    EVP_MD_CTX *md;
    int ok;
} fp_ctx;

static void put_bytes(fp_ctx *c, const void *p, size_t len) {
    if (c->ok && EVP_DigestUpdate(c->md, p, len) != 1) c->ok = 0;
}

/* Length-prefixed (8 bytes little-endian), so that concatenations cannot collide. */
static void put_str(fp_ctx *c, const char *s) {
    uint64_t len = s ? (uint64_t)strlen(s) : UINT64_MAX;
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(len >> (8 * i));
    put_bytes(c, b, sizeof b);
    if (s) put_bytes(c, s, strlen(s));
}

static void put_double(fp_ctx *c, double v) {
    uint64_t bits;
    unsigned char b[8];
    memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(bits >> (8 * i));
    put_bytes(c, b, sizeof b);
}

typedef struct entry {
    size_t rank, feature;
    double value;
} entry;

static int entry_cmp(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

typedef struct named {
    const char *id;
    size_t index;
} named;

static int named_cmp(const void *pa, const void *pb) {
    const named *a = pa, *b = pb;
    return strcmp(a->id, b->id);
}

static int digest_cmp(const void *a, const void *b) { return memcmp(a, b, DIGEST_BYTES); }

/* Digest of sample i: its ID, class name (none: a distinct marker) and entries in ID order. */
static void sample_digest(fp_ctx *c, const ml_join *j, size_t i, entry *scratch,
                          unsigned char *dst) {
    const uint32_t *feat;
    const double *val;
    size_t n;
    int cls = ml_join_class_of(j, i);
    ml_table_row(c->t, i, &feat, &val, &n);
    for (size_t e = 0; e < n; e++) scratch[e] = (entry){c->rank[feat[e]], feat[e], val[e]};
    qsort(scratch, n, sizeof *scratch, entry_cmp);
    if (c->ok && EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) c->ok = 0;
    put_str(c, ml_table_sample_raw_id(c->t, i));
    put_str(c, cls >= 0 ? ml_join_class_name(j, (size_t)cls) : NULL);
    for (size_t e = 0; e < n; e++) {
        put_str(c, ml_table_feature_id(c->t, scratch[e].feature));
        put_double(c, scratch[e].value);
    }
    unsigned int len = 0;
    if (c->ok && (EVP_DigestFinal_ex(c->md, dst, &len) != 1 || len != DIGEST_BYTES)) c->ok = 0;
}

static ml_status feature_ranks(size_t *rank, const ml_table *t) {
    size_t nf = ml_table_n_features(t);
    named *order = malloc((nf ? nf : 1) * sizeof *order);
    if (!order) return ML_NOMEM();
    for (size_t k = 0; k < nf; k++) order[k] = (named){ml_table_feature_id(t, k), k};
    qsort(order, nf, sizeof *order, named_cmp);
    for (size_t k = 0; k < nf; k++) rank[order[k].index] = k;
    free(order);
    return ML_OK;
}

static void to_hex(char *dst, const unsigned char *d) {
    static const char hex[] = "0123456789abcdef";
    memcpy(dst, "sha256:", 7);
    for (size_t i = 0; i < DIGEST_BYTES; i++) {
        dst[7 + 2 * i] = hex[d[i] >> 4];
        dst[8 + 2 * i] = hex[d[i] & 15];
    }
    dst[7 + 2 * DIGEST_BYTES] = '\0';
}

ml_status ml__fingerprint(char *dst, const ml_table *t, const ml_join *j) {
    size_t ns = ml_table_n_samples(t), nf = ml_table_n_features(t), max_row = 1;
    for (size_t i = 0; i < ns; i++) {
        const uint32_t *f;
        const double *v;
        size_t n;
        ml_table_row(t, i, &f, &v, &n);
        if (n > max_row) max_row = n;
    }
    fp_ctx c = {t, malloc((nf ? nf : 1) * sizeof(size_t)), EVP_MD_CTX_new(), 1};
    unsigned char *digests = malloc((ns ? ns : 1) * DIGEST_BYTES), total[DIGEST_BYTES];
    entry *scratch = malloc(max_row * sizeof *scratch);
    ml_status st = ML_OK;
    if (!c.rank || !c.md || !digests || !scratch || feature_ranks(c.rank, t) != ML_OK) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < ns; i++) sample_digest(&c, j, i, scratch, digests + i * DIGEST_BYTES);
    qsort(digests, ns, DIGEST_BYTES, digest_cmp);
    if (c.ok && EVP_DigestInit_ex(c.md, EVP_sha256(), NULL) != 1) c.ok = 0;
    put_str(&c, fingerprint_tag);
    put_str(&c, ml_join_positive(j));
    put_bytes(&c, digests, ns * DIGEST_BYTES);
    unsigned int len = 0;
    if (c.ok && (EVP_DigestFinal_ex(c.md, total, &len) != 1 || len != DIGEST_BYTES)) c.ok = 0;
    if (!c.ok) {
        st = ML_FAIL(ML_ENOMEM, "SHA-256 of the data fingerprint failed (OpenSSL)");
        goto done;
    }
    to_hex(dst, total);
done:
    free(scratch);
    free(digests);
    EVP_MD_CTX_free(c.md);
    free(c.rank);
    return st;
}
