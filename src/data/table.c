/* table.c - ml_table accessors and the builder that sorts reader output into CSR.
 * It does not parse anything: readers validate bytes, the builder only arranges them. */
#include "data/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/error.h"

typedef struct entry {
    uint32_t sample, feature;
    double value;
} entry;

typedef struct id_list {
    char **ids;
    char **taxonomy; /* features only; NULL until a taxonomy is given */
    size_t n, cap;
    ml__strmap index;
} id_list;

struct ml__table_builder {
    id_list samples, features;
    entry *entries;
    size_t n_entries, cap_entries;
};

ml_status ml__tb_new(ml__table_builder **out) {
    ml__table_builder *tb = calloc(1, sizeof *tb);
    if (!tb) return ML_NOMEM();
    *out = tb;
    return ML_OK;
}

static void free_strings(char **s, size_t n) {
    if (!s) return;
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

static void id_list_free(id_list *l) {
    free_strings(l->ids, l->n);
    free_strings(l->taxonomy, l->n);
    ml__strmap_free(&l->index);
}

void ml__tb_free(ml__table_builder *tb) {
    if (!tb) return;
    id_list_free(&tb->samples);
    id_list_free(&tb->features);
    free(tb->entries);
    free(tb);
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static ml_status id_list_add(id_list *l, const char *id, size_t len, const char *taxonomy,
                             size_t *idx, size_t *dup_of) {
    if (l->n >= UINT32_MAX) return ML_FAIL(ML_EUNSUPPORTED, "more than 2^32-1 rows or columns");
    size_t existing;
    if (ml__strmap_get(&l->index, id, len, &existing)) {
        *dup_of = existing;
        return ML_OK;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        char **ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) return ML_NOMEM();
        l->ids = ids;
        if (l->taxonomy) {
            char **tax = realloc(l->taxonomy, cap * sizeof *tax);
            if (!tax) return ML_NOMEM();
            l->taxonomy = tax;
        }
        l->cap = cap;
    }
    char *copy = dup_n(id, len);
    if (!copy) return ML_NOMEM();
    char *tax_copy = NULL;
    if (taxonomy && !(tax_copy = dup_n(taxonomy, strlen(taxonomy)))) {
        free(copy);
        return ML_NOMEM();
    }
    if (tax_copy && !l->taxonomy) {
        l->taxonomy = calloc(l->cap, sizeof *l->taxonomy);
        if (!l->taxonomy) {
            free(copy);
            free(tax_copy);
            return ML_NOMEM();
        }
    }
    ml_status st = ml__strmap_put(&l->index, copy, len, l->n, &existing);
    if (st != ML_OK) {
        free(copy);
        free(tax_copy);
        return st;
    }
    l->ids[l->n] = copy;
    if (l->taxonomy) l->taxonomy[l->n] = tax_copy;
    *idx = l->n++;
    *dup_of = SIZE_MAX;
    return ML_OK;
}

ml_status ml__tb_add_sample(ml__table_builder *tb, const char *id, size_t id_len, size_t *idx,
                            size_t *dup_of) {
    return id_list_add(&tb->samples, id, id_len, NULL, idx, dup_of);
}

ml_status ml__tb_add_feature(ml__table_builder *tb, const char *id, size_t id_len,
                             const char *taxonomy, size_t *idx, size_t *dup_of) {
    return id_list_add(&tb->features, id, id_len, taxonomy, idx, dup_of);
}

ml_status ml__tb_add_value(ml__table_builder *tb, size_t sample, size_t feature, double v) {
    if (v == 0.0) return ML_OK;
    if (sample >= tb->samples.n || feature >= tb->features.n)
        return ML_FAIL(ML_EINVAL, "table builder: entry (%zu, %zu) outside %zu x %zu", sample,
                       feature, tb->samples.n, tb->features.n);
    if (tb->n_entries == tb->cap_entries) {
        size_t cap = tb->cap_entries ? tb->cap_entries * 2 : 1024;
        entry *e = realloc(tb->entries, cap * sizeof *e);
        if (!e) return ML_NOMEM();
        tb->entries = e;
        tb->cap_entries = cap;
    }
    tb->entries[tb->n_entries++] = (entry){(uint32_t)sample, (uint32_t)feature, v};
    return ML_OK;
}

size_t ml__tb_n_samples(const ml__table_builder *tb) { return tb->samples.n; }
size_t ml__tb_n_features(const ml__table_builder *tb) { return tb->features.n; }

/* Two stable counting-sort passes (by feature, then by sample) give rows with ascending
 * feature indices in O(nnz + n_samples + n_features). */
static ml_status counting_sort(entry *dst, const entry *src, size_t n, size_t n_keys,
                               int by_sample) {
    size_t *count = calloc(n_keys + 1, sizeof *count);
    if (!count) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) count[(by_sample ? src[i].sample : src[i].feature) + 1]++;
    for (size_t k = 0; k < n_keys; k++) count[k + 1] += count[k];
    for (size_t i = 0; i < n; i++) dst[count[by_sample ? src[i].sample : src[i].feature]++] = src[i];
    free(count);
    return ML_OK;
}

static void table_free_parts(ml_table *t) {
    free_strings(t->sample_ids, t->n_samples);
    free_strings(t->feature_ids, t->n_features);
    free_strings(t->feature_taxonomy, t->n_features);
    free(t->row_ptr);
    free(t->col_idx);
    free(t->values);
}

ml_status ml__tb_finish(ml__table_builder *tb, const char *source, const char *format,
                        const char *note, ml_table **out) {
    ml_status st = ML_OK;
    size_t n = tb->n_entries;
    entry *tmp = malloc((n ? n : 1) * sizeof *tmp);
    ml_table *t = calloc(1, sizeof *t);
    if (!tmp || !t) {
        st = ML_NOMEM();
        goto done;
    }
    if ((st = counting_sort(tmp, tb->entries, n, tb->features.n, 0)) != ML_OK) goto done;
    if ((st = counting_sort(tb->entries, tmp, n, tb->samples.n, 1)) != ML_OK) goto done;
    for (size_t i = 1; i < n; i++) {
        const entry *a = &tb->entries[i - 1], *b = &tb->entries[i];
        if (a->sample == b->sample && a->feature == b->feature) {
            st = ML_FAIL(ML_EFORMAT, "%s: feature \"%s\" has two values for sample #%u "
                         "(expected one value per sample and feature)", source,
                         tb->features.ids[a->feature], a->sample + 1);
            goto done;
        }
    }
    t->row_ptr = calloc(tb->samples.n + 1, sizeof *t->row_ptr);
    t->col_idx = malloc((n ? n : 1) * sizeof *t->col_idx);
    t->values = malloc((n ? n : 1) * sizeof *t->values);
    if (!t->row_ptr || !t->col_idx || !t->values) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        t->row_ptr[tb->entries[i].sample + 1]++;
        t->col_idx[i] = tb->entries[i].feature;
        t->values[i] = tb->entries[i].value;
    }
    for (size_t s = 0; s < tb->samples.n; s++) t->row_ptr[s + 1] += t->row_ptr[s];
    t->n_samples = tb->samples.n;
    t->n_features = tb->features.n;
    t->nnz = n;
    t->sample_ids = tb->samples.ids;
    t->feature_ids = tb->features.ids;
    t->feature_taxonomy = tb->features.taxonomy;
    tb->samples.ids = tb->features.ids = tb->features.taxonomy = NULL;
    tb->samples.n = tb->features.n = 0;
    snprintf(t->format, sizeof t->format, "%s", format);
    snprintf(t->layout_note, sizeof t->layout_note, "%s", note ? note : "");
    *out = t;
    t = NULL;
done:
    free(tmp);
    if (t) {
        table_free_parts(t);
        free(t);
    }
    ml__tb_free(tb);
    return st;
}

void ml_table_free(ml_table *t) {
    if (!t) return;
    table_free_parts(t);
    free(t);
}

size_t ml_table_n_samples(const ml_table *t) { return t->n_samples; }
size_t ml_table_n_features(const ml_table *t) { return t->n_features; }
size_t ml_table_nnz(const ml_table *t) { return t->nnz; }
const char *ml_table_sample_raw_id(const ml_table *t, size_t i) { return t->sample_ids[i]; }
const char *ml_table_feature_id(const ml_table *t, size_t j) { return t->feature_ids[j]; }
const char *ml_table_feature_taxonomy(const ml_table *t, size_t j) {
    return t->feature_taxonomy ? t->feature_taxonomy[j] : NULL;
}
const char *ml_table_format_name(const ml_table *t) { return t->format; }
const char *ml_table_layout_note(const ml_table *t) { return t->layout_note; }

void ml_table_row(const ml_table *t, size_t i, const uint32_t **features,
                  const double **values, size_t *n) {
    size_t a = t->row_ptr[i], b = t->row_ptr[i + 1];
    *features = t->col_idx + a;
    *values = t->values + a;
    *n = b - a;
}

double ml_table_row_sum(const ml_table *t, size_t i) {
    double s = 0.0;
    for (size_t k = t->row_ptr[i]; k < t->row_ptr[i + 1]; k++) s += t->values[k];
    return s;
}

void ml_table_dense_row(const ml_table *t, size_t i, double *dst) {
    memset(dst, 0, t->n_features * sizeof *dst);
    for (size_t k = t->row_ptr[i]; k < t->row_ptr[i + 1]; k++) dst[t->col_idx[k]] = t->values[k];
}

static const char *const rank_names[] = {"kingdom", "phylum", "class", "order",
                                         "family", "genus", "species", "strain"};

ml_status ml_rank_parse(ml_rank *out, const char *name) {
    for (size_t i = 0; i < sizeof rank_names / sizeof *rank_names; i++) {
        if (strcasecmp(name, rank_names[i]) == 0) {
            *out = (ml_rank)i;
            return ML_OK;
        }
    }
    return ML_FAIL(ML_EINVAL, "unknown rank \"%s\" (expected kingdom, phylum, class, order, "
                   "family, genus, species or strain)", name);
}

const char *ml_rank_name(ml_rank r) {
    return (unsigned)r < sizeof rank_names / sizeof *rank_names ? rank_names[r] : "unknown";
}
