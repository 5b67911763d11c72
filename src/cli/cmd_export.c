/* cmd_export.c - `microlens export`: writes a run's metrics, checkpoints, analysis and
 * snapshot tensors as CSV, JSON Lines, NumPy .npy or a TensorBoard event file (ml_export). */
#include <jansson.h>
#include <stdio.h>

#include "commands.h"
#include "flags.h"
#include "microlens/export.h"

typedef struct export_flags {
    const char *format, *out, *metrics;
    bool no_snapshots, no_analysis, json, quiet;
} export_flags;

static const char *const export_examples[] = {
    "microlens export runs/r1 --format csv --out exports/r1-csv",
    "microlens export runs/r1 --format npy --out exports/r1-npy --metrics 'grad_norm/*'",
    "microlens export runs/r1 --format tensorboard --out tb/r1 && tensorboard --logdir tb",
    NULL};

static const cli_command export_cmd = {
    "export", "PATH --format csv|jsonl|npy|tensorboard --out DIR [--metrics GLOB]",
    "Writes a run (a microlens run folder, or a Hugging Face Trainer output folder) as files\n"
    "other tools read: csv / jsonl (metrics in long form: step, name, value, wall_time;\n"
    "checkpoints; events; the analysis), npy (one array per metric series and per snapshot\n"
    "tensor, with index.csv) or tensorboard (an events.out.tfevents file: scalars, and\n"
    "histograms of snapshot tensors).",
    "DIR must not exist or be empty: exports never overwrite. The export is written into a\n"
    "temporary folder beside DIR and renamed to DIR only when complete, so DIR either holds a\n"
    "whole export or does not appear. --metrics is an fnmatch(3) pattern in which '*' also\n"
    "matches '/'; it selects metric series only (not snapshots, checkpoints or the analysis).\n"
    "Exports hold no raw sample ID, host or user name, or absolute path. Formats and file\n"
    "naming: docs/export.md.",
    export_examples, 1};

static int print_result(const export_flags *f, const ml_export_result *r) {
    if (f->json) {
        json_t *doc = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "out", f->out,
                                "format", f->format, "n_files", (json_int_t)r->n_files,
                                "n_metrics", (json_int_t)r->n_metrics, "n_points",
                                (json_int_t)r->n_points, "n_checkpoints",
                                (json_int_t)r->n_checkpoints, "n_snapshots",
                                (json_int_t)r->n_snapshots, "n_tensors",
                                (json_int_t)r->n_tensors);
        if (!doc || json_dumpf(doc, stdout, JSON_PRESERVE_ORDER) != 0) {
            json_decref(doc);
            fprintf(stderr, "microlens: cannot write JSON summary\n");
            return EXIT_FAILURE_RUNTIME;
        }
        fputc('\n', stdout);
        json_decref(doc);
    } else if (!f->quiet) {
        printf("exported %s to %s: %zu files, %zu metrics (%zu values), %zu checkpoints, "
               "%zu snapshot tensors from %zu snapshots\n", f->format, f->out, r->n_files,
               r->n_metrics, r->n_points, r->n_checkpoints, r->n_tensors, r->n_snapshots);
    }
    return EXIT_OK;
}

int cmd_export(int argc, char **argv) {
    export_flags f = {0};
    const cli_flag flags[] = {
        {"--format", "FMT", CLI_STRING, &f.format, "csv, jsonl, npy or tensorboard (required)",
         NULL},
        {"--out", "DIR", CLI_STRING, &f.out, "output folder, new or empty (required)", NULL},
        {"--metrics", "GLOB", CLI_STRING, &f.metrics,
         "export only metrics whose name matches, e.g. 'loss' or 'grad_norm/*'", "all"},
        {"--no-snapshots", NULL, CLI_BOOL, &f.no_snapshots,
         "npy, tensorboard: leave out snapshot tensors", NULL},
        {"--no-analysis", NULL, CLI_BOOL, &f.no_analysis,
         "csv, jsonl: leave out the analysis (analysis.json, findings.csv)", NULL},
        {"--json", NULL, CLI_BOOL, &f.json, "print a JSON summary on stdout", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "print nothing on success", NULL},
    };
    const char *pos[1] = {NULL};
    int rc = cli_parse(argc, argv, &export_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (!f.format || !f.out) return cli_usage_error("export needs --format and --out");
    ml_export_options o = ML_EXPORT_OPTIONS_INIT;
    ml_status st = ml_export_format_parse(&o.format, f.format);
    if (st != ML_OK) return cli_fail((int)st);
    o.metrics = f.metrics;
    o.snapshots = !f.no_snapshots;
    o.analysis = !f.no_analysis;
    ml_export_result r;
    if ((st = ml_export(pos[0], f.out, &o, &r)) != ML_OK) return cli_fail((int)st);
    return print_result(&f, &r);
}
