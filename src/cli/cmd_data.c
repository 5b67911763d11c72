/* cmd_data.c - `microlens data inspect`: flags -> read labels, table, join -> ml_inspect. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "tableflags.h"
#include "idkey.h"
#include "microlens/inspect.h"
#include "microlens/labels.h"
#include "microlens/memory.h"
#include "microlens/table.h"

typedef struct inspect_flags {
    const char *labels, *label_col, *group_col, *positive;
    bool json, per_sample, show_raw_ids, quiet;
    cli_table_flags table;
    size_t max_listed;
    cli_idkey_flags key;
} inspect_flags;

static const char *const inspect_examples[] = {
    "microlens data inspect data/ecam/feature-table.biom --labels data/ecam/sample-metadata.tsv "
    "--label-col delivery --group-col studyid",
    "microlens data inspect cohort/table.tsv --labels cohort/labels.csv --json",
    "microlens data inspect merged_abundance.txt --rank genus",
    NULL};

static const cli_command inspect_cmd = {
    "data inspect", "TABLE [--labels CSV] [options]",
    "Reads an abundance table (TSV/CSV, MetaPhlAn, BIOM 1.0 JSON, BIOM 2.1 HDF5) and reports\n"
    "its size, depths, label balance, groups, unmatched IDs, duplicate and outlier samples.",
    "Sample IDs are shown as pseudonyms (s_ + 16 hex digits of HMAC-SHA-256) keyed by\n"
    "--id-key-file, else $MICROLENS_ID_KEY (hex or text), else a per-user key created once in\n"
    "$XDG_CONFIG_HOME/microlens/id.key. Outliers: modified z-score > 3.5 of each sample's\n"
    "Aitchison distance (CLR, pseudocount 0.5) to the median profile.",
    inspect_examples, 1};

/* The report's JSON gains the table path, which only the caller knows. */
static int print_json(const ml_inspect_report *r, const char *path) {
    char *text = NULL;
    int st = ml_inspect_report_json(r, &text);
    if (st != ML_OK) return cli_fail(st);
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    ml_free(text);
    json_t *table = doc ? json_object_get(doc, "table") : NULL;
    if (!table) {
        json_decref(doc);
        fprintf(stderr, "microlens: internal error: inspect report is not a JSON object\n");
        return EXIT_FAILURE_RUNTIME;
    }
    json_t *with_path = json_object();
    json_object_set_new(with_path, "path", json_string(path));
    json_object_update(with_path, table);
    json_object_set_new(doc, "table", with_path);
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? EXIT_OK
                                                                                : EXIT_FAILURE_RUNTIME;
    fputc('\n', stdout);
    json_decref(doc);
    return rc;
}

static int print_text(const ml_inspect_report *r, const char *path) {
    char *text = NULL;
    int st = ml_inspect_report_text(r, &text);
    if (st != ML_OK) return cli_fail(st);
    size_t n = strlen(text);
    printf("table: %s\n%s%s", path, text, n > 0 && text[n - 1] == '\n' ? "" : "\n");
    ml_free(text);
    return EXIT_OK;
}

static int run_inspect(const inspect_flags *f, const char *path) {
    if (!f->labels && (f->label_col || f->group_col || f->positive))
        return cli_usage_error("--label-col, --group-col and --positive need --labels");
    int rc = EXIT_OK, st;
    ml_pseudonym_key *key = NULL;
    ml_labels *labels = NULL;
    ml_table *table = NULL;
    ml_join *join = NULL;
    ml_inspect_report *report = NULL;
    if ((st = cli_idkey_resolve(&key, &f->key, f->quiet)) != ML_OK) {
        rc = cli_fail(st);
        goto done;
    }
    cli_label_inputs in = {f->labels, f->label_col, f->group_col, f->positive, key, NULL,
                           f->quiet};
    if ((rc = cli_read_labelled_table(&f->table, path, &in, &table, &labels, &join)) != EXIT_OK)
        goto done;
    ml_inspect_options io = ML_INSPECT_OPTIONS_INIT;
    io.show_raw_ids = f->show_raw_ids;
    io.per_sample = f->per_sample;
    if (f->max_listed != (size_t)-1) io.max_listed = f->max_listed;
    if ((st = ml_inspect(&report, table, labels, join, key, &io)) != ML_OK) {
        rc = cli_fail(st);
        goto done;
    }
    rc = f->json ? print_json(report, path) : print_text(report, path);
done:
    ml_inspect_report_free(report);
    ml_join_free(join);
    ml_table_free(table);
    ml_labels_free(labels);
    ml_pseudonym_key_free(key);
    return rc;
}

int cmd_data_inspect(int argc, char **argv) {
    inspect_flags f = {0};
    f.max_listed = (size_t)-1;
    const cli_flag flags[] = {
        {"--labels", "CSV", CLI_STRING, &f.labels,
         "sample metadata: CSV sid,label[,group] or QIIME 2 metadata TSV", NULL},
        {"--label-col", "NAME", CLI_STRING, &f.label_col, "label column", "label, else column 2"},
        {"--group-col", "NAME", CLI_STRING, &f.group_col, "group (patient) column",
         "group if present"},
        {"--positive", "VALUE", CLI_STRING, &f.positive, "label value of the positive class",
         "second class in sorted order"},
        CLI_TABLE_FLAGS(f.table),
        {"--json", NULL, CLI_BOOL, &f.json, "print one JSON document on stdout", NULL},
        {"--per-sample", NULL, CLI_BOOL, &f.per_sample,
         "also list every sample: pseudonym, depth, observed features", NULL},
        {"--max-listed", "N", CLI_SIZE, &f.max_listed, "samples listed per finding", "20"},
        {"--show-raw-ids", NULL, CLI_BOOL, &f.show_raw_ids,
         "print raw sample IDs beside pseudonyms (sensitive)", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "no notices or progress on stderr", NULL},
        CLI_IDKEY_FLAGS(f.key),
    };
    const char *pos[1] = {NULL};
    int rc = cli_parse(argc, argv, &inspect_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    return run_inspect(&f, pos[0]);
}
