/* tableflags.h - the flags every command that reads an abundance table shares (--format,
 * --samples-as-rows/--samples-as-columns, --rank) and their translation into read options. */
#ifndef ML_CLI_TABLEFLAGS_H
#define ML_CLI_TABLEFLAGS_H

#include <stdbool.h>

#include "idkey.h"
#include "microlens/labels.h"
#include "microlens/pseudonym.h"
#include "microlens/table.h"

typedef struct cli_table_flags {
    const char *format, *rank;
    bool samples_as_rows, samples_as_columns;
    bool allow_negative; /* set by the command, not a flag: real-valued feature matrices */
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

/* Fills ro's format, orientation, rank and allow_negative; prints the problem and returns EXIT_USAGE on a bad
 * value or contradictory flags, EXIT_OK otherwise. */
int cli_table_read_options(const cli_table_flags *f, ml_table_read_options *ro);

/* The label-file side of a command's inputs. */
typedef struct cli_label_inputs {
    const char *path;      /* --labels; NULL: no labels (then *l and *j stay NULL) */
    const char *label_col; /* --label-col */
    const char *group_col; /* --group-col */
    const char *positive;  /* --positive */
    /* The pseudonym key, or NULL: a table of pseudonyms (an embeddings file) then joins the
     * labels by their pseudonyms under it (ml_join_new_keyed). Borrowed. */
    const ml_pseudonym_key *key;
    /* Without key: where to get one, only if every sample ID of the table is a pseudonym (so
     * that raw tables never create a key file); NULL: raw join. */
    const cli_idkey_flags *key_flags;
    bool quiet; /* no notice when key_flags creates a key */
} cli_label_inputs;

/* Reads the labels (if any), then the table with the labels' IDs (and, with a key, their
 * pseudonyms) as orientation hints, then joins them. Prints the failure and returns its exit code; on failure the caller still frees
 * whatever of *t, *l, *j was set. */
int cli_read_labelled_table(const cli_table_flags *f, const char *table_path,
                            const cli_label_inputs *in, ml_table **t, ml_labels **l, ml_join **j);

#endif
