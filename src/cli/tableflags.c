/* tableflags.c - the shared table-reading flags into ml_table_read_options. */
#include "tableflags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"

static int parse_format(const char *s, ml_table_format *out) {
    static const struct { const char *name; ml_table_format f; } names[] = {
        {"auto", ML_FORMAT_AUTO}, {"tsv", ML_FORMAT_TSV}, {"csv", ML_FORMAT_CSV},
        {"metaphlan", ML_FORMAT_METAPHLAN}, {"biom-json", ML_FORMAT_BIOM_JSON},
        {"biom-hdf5", ML_FORMAT_BIOM_HDF5}};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].f;
            return EXIT_OK;
        }
    }
    return cli_usage_error("--format must be auto, tsv, csv, metaphlan, biom-json or biom-hdf5, "
                           "got \"%s\"", s);
}

int cli_table_read_options(const cli_table_flags *f, ml_table_read_options *ro) {
    if (f->samples_as_rows && f->samples_as_columns)
        return cli_usage_error("--samples-as-rows and --samples-as-columns exclude each other");
    if (f->samples_as_rows) ro->orientation = ML_ORIENT_SAMPLES_AS_ROWS;
    if (f->samples_as_columns) ro->orientation = ML_ORIENT_SAMPLES_AS_COLUMNS;
    ro->allow_negative = f->allow_negative;
    if (f->format) {
        int rc = parse_format(f->format, &ro->format);
        if (rc != EXIT_OK) return rc;
    }
    if (f->rank && ml_rank_parse(&ro->rank, f->rank) != ML_OK)
        return cli_usage_error("--rank: %s", ml_error_last()->message);
    return EXIT_OK;
}

/* The label IDs, then with a key their pseudonyms (in pseud), as orientation hints. */
static const char **label_hints(const ml_labels *l, const ml_pseudonym_key *key, char **pseud,
                                size_t *n_hints) {
    size_t n = ml_labels_count(l), k = 0;
    const char **hints = malloc((n ? 2 * n : 1) * sizeof *hints);
    *pseud = key ? malloc((n ? n : 1) * ML_PSEUDONYM_SIZE) : NULL;
    if (!hints || (key && !*pseud)) {
        free(hints);
        free(*pseud);
        *pseud = NULL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) hints[k++] = ml_labels_raw_id(l, i);
    for (size_t i = 0; key && i < n; i++) {
        const char *id = ml_labels_raw_id(l, i);
        ml_pseudonym_make(key, id, strlen(id), *pseud + i * ML_PSEUDONYM_SIZE);
        hints[k++] = *pseud + i * ML_PSEUDONYM_SIZE;
    }
    *n_hints = k;
    return hints;
}

static bool all_pseudonyms(const ml_table *t) {
    size_t n = ml_table_n_samples(t);
    for (size_t s = 0; s < n; s++)
        if (!ml_pseudonym_is_pseudonym(ml_table_sample_raw_id(t, s))) return false;
    return n > 0;
}

/* The join, with in->key, else a key from in->key_flags resolved for a table of pseudonyms. */
static int join_labels(const cli_label_inputs *in, const ml_table *t, const ml_labels *l,
                       ml_join **j) {
    ml_pseudonym_key *own = NULL;
    const ml_pseudonym_key *key = in->key;
    int st;
    if (!key && in->key_flags && all_pseudonyms(t)) {
        if ((st = cli_idkey_resolve(&own, in->key_flags, in->quiet)) != ML_OK) return cli_fail(st);
        key = own;
    }
    st = ml_join_new_keyed(j, t, l, in->positive, key);
    ml_pseudonym_key_free(own);
    return st == ML_OK ? EXIT_OK : cli_fail(st);
}

int cli_read_labelled_table(const cli_table_flags *f, const char *table_path,
                            const cli_label_inputs *in, ml_table **t, ml_labels **l, ml_join **j) {
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    int rc = cli_table_read_options(f, &ro), st;
    if (rc != EXIT_OK) return rc;
    if (!in->path) return (st = ml_table_read(t, table_path, &ro)) == ML_OK ? EXIT_OK : cli_fail(st);
    ml_labels_options lo = ML_LABELS_OPTIONS_INIT;
    lo.label_col = in->label_col;
    lo.group_col = in->group_col;
    if ((st = ml_labels_read(l, in->path, &lo)) != ML_OK) return cli_fail(st);
    char *pseud = NULL;
    const char **hints = label_hints(*l, in->key, &pseud, &ro.n_hint_sample_ids);
    if (!hints) {
        fprintf(stderr, "microlens: out of memory\n");
        return EXIT_FAILURE_RUNTIME;
    }
    ro.hint_sample_ids = hints;
    st = ml_table_read(t, table_path, &ro);
    free(hints);
    free(pseud);
    if (st != ML_OK) return cli_fail(st);
    return join_labels(in, *t, *l, j);
}
