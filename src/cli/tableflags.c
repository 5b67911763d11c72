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
    if (f->format) {
        int rc = parse_format(f->format, &ro->format);
        if (rc != EXIT_OK) return rc;
    }
    if (f->rank && ml_rank_parse(&ro->rank, f->rank) != ML_OK)
        return cli_usage_error("--rank: %s", ml_error_last()->message);
    return EXIT_OK;
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
    size_t n = ml_labels_count(*l);
    const char **hints = malloc((n ? n : 1) * sizeof *hints);
    if (!hints) {
        fprintf(stderr, "microlens: out of memory\n");
        return EXIT_FAILURE_RUNTIME;
    }
    for (size_t i = 0; i < n; i++) hints[i] = ml_labels_raw_id(*l, i);
    ro.hint_sample_ids = hints;
    ro.n_hint_sample_ids = n;
    st = ml_table_read(t, table_path, &ro);
    free(hints);
    if (st != ML_OK) return cli_fail(st);
    if ((st = ml_join_new(j, *t, *l, in->positive)) != ML_OK) return cli_fail(st);
    return EXIT_OK;
}
