/* join.c - matches table samples with label rows on raw IDs (or, for a table of pseudonyms,
 * on the labels' pseudonyms) and numbers classes and groups; it never prints an ID. */
#include "microlens/labels.h"
#include "microlens/pseudonym.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strmap.h"
#include "util/text.h"

/* How much of the class list an "unknown positive class" message shows. */
#define ML_JOIN_CLASS_LIST_BYTES 400

struct ml_join {
    size_t n_samples;
    size_t n_classes;
    char **class_names;  /* (n_classes) sorted by strcmp, positive last */
    size_t *class_count; /* (n_classes) */
    bool has_positive;   /* the caller named one */
    int *class_of;       /* (n_samples), -1: no label */
    long *group_of;      /* (n_samples), -1: no group */
    size_t n_groups;
    size_t n_without_label;
    size_t *unmatched;   /* label rows whose ID is not in the table */
    size_t n_unmatched;
};

void ml_join_free(ml_join *j) {
    if (!j) return;
    if (j->class_names)
        for (size_t c = 0; c < j->n_classes; c++) free(j->class_names[c]);
    free(j->class_names);
    free(j->class_count);
    free(j->class_of);
    free(j->group_of);
    free(j->unmatched);
    free(j);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static ml_status unknown_positive(const ml_join *j, const char *positive) {
    char list[ML_JOIN_CLASS_LIST_BYTES] = "none";
    size_t used = 0;
    for (size_t c = 0; c < j->n_classes && used + 8 < sizeof list; c++) {
        char name[64];
        ml__sanitize(name, sizeof name, j->class_names[c], strlen(j->class_names[c]));
        int w = snprintf(list + used, sizeof list - used, "%s\"%s\"", c ? ", " : "", name);
        if (w < 0 || (size_t)w >= sizeof list - used) {
            snprintf(list + used, sizeof list - used, ", ...");
            break;
        }
        used += (size_t)w;
    }
    char shown[128];
    ml__sanitize(shown, sizeof shown, positive, strlen(positive));
    return ML_FAIL(ML_EINVAL, "positive class \"%s\" is not a label of any sample in the "
                   "table (classes: %s)", shown, list);
}

/* Distinct label values of the matched rows, sorted, copied into j->class_names. */
static ml_status collect_classes(ml_join *j, const ml_labels *l, const size_t *row_of) {
    const char **vals = malloc((j->n_samples ? j->n_samples : 1) * sizeof *vals);
    if (!vals) return ML_NOMEM();
    size_t n = 0;
    for (size_t s = 0; s < j->n_samples; s++) {
        const char *v = row_of[s] == SIZE_MAX ? NULL : ml_labels_value(l, row_of[s]);
        if (v) vals[n++] = v;
    }
    qsort(vals, n, sizeof *vals, cmp_str);
    ml_status st = ML_OK;
    j->class_names = calloc(n ? n : 1, sizeof *j->class_names);
    if (!j->class_names) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(vals[i], vals[i - 1]) == 0) continue;
        if (!(j->class_names[j->n_classes] = str_dup(vals[i]))) {
            st = ML_NOMEM();
            goto done;
        }
        j->n_classes++;
    }
    if (j->n_classes > INT_MAX) st = ML_FAIL(ML_EUNSUPPORTED, "more than %d classes", INT_MAX);
done:
    free(vals);
    return st;
}

static ml_status move_positive_last(ml_join *j, const char *positive) {
    size_t p = SIZE_MAX;
    for (size_t c = 0; c < j->n_classes; c++)
        if (strcmp(j->class_names[c], positive) == 0) p = c;
    if (p == SIZE_MAX) return unknown_positive(j, positive);
    char *name = j->class_names[p];
    memmove(j->class_names + p, j->class_names + p + 1,
            (j->n_classes - p - 1) * sizeof *j->class_names);
    j->class_names[j->n_classes - 1] = name;
    j->has_positive = true;
    return ML_OK;
}

static ml_status assign_classes(ml_join *j, const ml_labels *l, const size_t *row_of) {
    ml__strmap index = ML__STRMAP_INIT;
    ml_status st = ML_OK;
    size_t existing;
    j->class_count = calloc(j->n_classes ? j->n_classes : 1, sizeof *j->class_count);
    if (!j->class_count) return ML_NOMEM();
    for (size_t c = 0; c < j->n_classes && st == ML_OK; c++)
        st = ml__strmap_put(&index, j->class_names[c], strlen(j->class_names[c]), c, &existing);
    for (size_t s = 0; s < j->n_samples && st == ML_OK; s++) {
        const char *v = row_of[s] == SIZE_MAX ? NULL : ml_labels_value(l, row_of[s]);
        size_t c;
        if (v && ml__strmap_get(&index, v, strlen(v), &c)) {
            j->class_of[s] = (int)c;
            j->class_count[c]++;
        } else {
            j->class_of[s] = -1;
            j->n_without_label++;
        }
    }
    ml__strmap_free(&index);
    return st;
}

/* Group numbers in order of first appearance among the table's samples. */
static ml_status assign_groups(ml_join *j, const ml_labels *l, const size_t *row_of) {
    ml__strmap index = ML__STRMAP_INIT;
    ml_status st = ML_OK;
    for (size_t s = 0; s < j->n_samples && st == ML_OK; s++) {
        const char *g = row_of[s] == SIZE_MAX ? NULL : ml_labels_group(l, row_of[s]);
        j->group_of[s] = -1;
        if (!g) continue;
        size_t existing;
        st = ml__strmap_put(&index, g, strlen(g), j->n_groups, &existing);
        if (st != ML_OK) break;
        if (existing == SIZE_MAX) existing = j->n_groups++;
        j->group_of[s] = (long)existing;
    }
    ml__strmap_free(&index);
    return st;
}

/* row_of[s]: the label row of table sample s (SIZE_MAX: none); fills j->unmatched.
 * label_ids[r] is the ID label row r is matched by. */
static ml_status match_rows(ml_join *j, const ml_table *t, const char *const *label_ids,
                            size_t n_rows, size_t *row_of) {
    ml__strmap by_label = ML__STRMAP_INIT, by_sample = ML__STRMAP_INIT;
    ml_status st = ML_OK;
    size_t existing;
    for (size_t r = 0; r < n_rows && st == ML_OK; r++) {
        const char *id = label_ids[r];
        st = ml__strmap_put(&by_label, id, strlen(id), r, &existing);
    }
    for (size_t s = 0; s < j->n_samples && st == ML_OK; s++) {
        const char *id = ml_table_sample_raw_id(t, s);
        if (!ml__strmap_get(&by_label, id, strlen(id), &row_of[s])) row_of[s] = SIZE_MAX;
        st = ml__strmap_put(&by_sample, id, strlen(id), s, &existing);
    }
    if (st == ML_OK && !(j->unmatched = malloc((n_rows ? n_rows : 1) * sizeof *j->unmatched)))
        st = ML_NOMEM();
    for (size_t r = 0; r < n_rows && st == ML_OK; r++) {
        const char *id = label_ids[r];
        size_t s;
        if (!ml__strmap_get(&by_sample, id, strlen(id), &s)) j->unmatched[j->n_unmatched++] = r;
    }
    ml__strmap_free(&by_label);
    ml__strmap_free(&by_sample);
    return st;
}

/* A table whose every sample ID is a pseudonym (an embeddings file) was written with some
 * key; with that key the labels' raw IDs turn into the same pseudonyms. */
static bool table_is_pseudonymised(const ml_table *t) {
    size_t n = ml_table_n_samples(t);
    for (size_t s = 0; s < n; s++)
        if (!ml_pseudonym_is_pseudonym(ml_table_sample_raw_id(t, s))) return false;
    return n > 0;
}

/* The ID each label row is matched by: its raw ID, or with key its pseudonym (an ID that
 * already is one is kept: hashing a pseudonym again would never match). *buf holds them. */
static ml_status label_match_ids(const ml_labels *l, const ml_pseudonym_key *key,
                                 const char ***ids, char **buf) {
    size_t n = ml_labels_count(l);
    *ids = malloc((n ? n : 1) * sizeof **ids);
    *buf = key ? malloc((n ? n : 1) * ML_PSEUDONYM_SIZE) : NULL;
    if (!*ids || (key && !*buf)) return ML_NOMEM();
    for (size_t r = 0; r < n; r++) {
        const char *raw = ml_labels_raw_id(l, r);
        (*ids)[r] = raw;
        if (!key || ml_pseudonym_is_pseudonym(raw)) continue;
        char *p = *buf + r * ML_PSEUDONYM_SIZE;
        ml_pseudonym_make(key, raw, strlen(raw), p);
        (*ids)[r] = p;
    }
    return ML_OK;
}

static ml_status join_build(ml_join *j, const ml_table *t, const ml_labels *l,
                            const char *positive, const ml_pseudonym_key *key, size_t *row_of) {
    const char **ids = NULL;
    char *buf = NULL;
    ml_status st = label_match_ids(l, key, &ids, &buf);
    if (st == ML_OK) st = match_rows(j, t, ids, ml_labels_count(l), row_of);
    free(ids);
    free(buf);
    if (st != ML_OK) return st;
    ML_TRY(collect_classes(j, l, row_of));
    if (positive) ML_TRY(move_positive_last(j, positive));
    ML_TRY(assign_classes(j, l, row_of));
    return assign_groups(j, l, row_of);
}

ml_status ml_join_new_keyed(ml_join **out, const ml_table *t, const ml_labels *l,
                            const char *positive, const ml_pseudonym_key *key) {
    if (!t || !l) return ML_FAIL(ML_EINVAL, "ml_join_new: table and labels are required");
    ml_status st = ML_OK;
    size_t *row_of = NULL;
    ml_join *j = calloc(1, sizeof *j);
    if (!j) return ML_NOMEM();
    j->n_samples = ml_table_n_samples(t);
    size_t n = j->n_samples ? j->n_samples : 1;
    row_of = malloc(n * sizeof *row_of);
    j->class_of = malloc(n * sizeof *j->class_of);
    j->group_of = malloc(n * sizeof *j->group_of);
    if (!row_of || !j->class_of || !j->group_of) {
        st = ML_NOMEM();
        goto done;
    }
    if (key && !table_is_pseudonymised(t)) key = NULL;
    if ((st = join_build(j, t, l, positive, key, row_of)) != ML_OK) goto done;
    *out = j;
    j = NULL;
done:
    free(row_of);
    ml_join_free(j);
    return st;
}

ml_status ml_join_new(ml_join **out, const ml_table *t, const ml_labels *l, const char *positive) {
    return ml_join_new_keyed(out, t, l, positive, NULL);
}

size_t ml_join_n_samples(const ml_join *j) { return j->n_samples; }
size_t ml_join_n_classes(const ml_join *j) { return j->n_classes; }
const char *ml_join_class_name(const ml_join *j, size_t c) { return j->class_names[c]; }
const char *ml_join_positive(const ml_join *j) {
    if (j->has_positive || j->n_classes == 2) return j->class_names[j->n_classes - 1];
    return NULL;
}
int ml_join_class_of(const ml_join *j, size_t sample) { return j->class_of[sample]; }
size_t ml_join_class_count(const ml_join *j, size_t c) { return j->class_count[c]; }
size_t ml_join_n_groups(const ml_join *j) { return j->n_groups; }
long ml_join_group_of(const ml_join *j, size_t sample) { return j->group_of[sample]; }
size_t ml_join_n_samples_without_label(const ml_join *j) { return j->n_without_label; }
size_t ml_join_n_labels_without_sample(const ml_join *j) { return j->n_unmatched; }
size_t ml_join_label_without_sample(const ml_join *j, size_t k) { return j->unmatched[k]; }
