/* tableflags.c - the shared table-reading flags into ml_table_read_options. */
#include "tableflags.h"

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
