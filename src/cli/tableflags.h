/* tableflags.h - the flags every command that reads an abundance table shares (--format,
 * --samples-as-rows/--samples-as-columns, --rank) and their translation into read options. */
#ifndef ML_CLI_TABLEFLAGS_H
#define ML_CLI_TABLEFLAGS_H

#include <stdbool.h>

#include "microlens/labels.h"
#include "microlens/table.h"

typedef struct cli_table_flags {
    const char *format, *rank;
    bool samples_as_rows, samples_as_columns;
} cli_table_flags;

#define CLI_TABLE_FLAGS(f)                                                                   \
    {"--format", "FMT", CLI_STRING, &(f).format, "auto|tsv|csv|metaphlan|biom-json|biom-hdf5", \
     "auto"},                                                                                \
    {"--samples-as-rows", NULL, CLI_BOOL, &(f).samples_as_rows,                              \
     "TSV/CSV: each row is a sample (skip detection)", NULL},                                \
    {"--samples-as-columns", NULL, CLI_BOOL, &(f).samples_as_columns,                        \
     "TSV/CSV: each column is a sample (skip detection)", NULL},                             \
    {"--rank", "RANK", CLI_STRING, &(f).rank,                                                \
     "MetaPhlAn rank: kingdom|phylum|class|order|family|genus|species|strain", "species"}

/* Fills ro's format, orientation and rank; prints the problem and returns EXIT_USAGE on a bad
 * value or contradictory flags, EXIT_OK otherwise. */
int cli_table_read_options(const cli_table_flags *f, ml_table_read_options *ro);

/* The label-file side of a command's inputs. */
typedef struct cli_label_inputs {
    const char *path;      /* --labels; NULL: no labels (then *l and *j stay NULL) */
    const char *label_col; /* --label-col */
    const char *group_col; /* --group-col */
    const char *positive;  /* --positive */
} cli_label_inputs;

/* Reads the labels (if any), then the table with the labels' IDs as orientation hints, then
 * joins them. Prints the failure and returns its exit code; on failure the caller still frees
 * whatever of *t, *l, *j was set. */
int cli_read_labelled_table(const cli_table_flags *f, const char *table_path,
                            const cli_label_inputs *in, ml_table **t, ml_labels **l, ml_join **j);

#endif
