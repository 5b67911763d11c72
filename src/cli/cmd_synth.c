/* cmd_synth.c - `microlens synth`: flags -> ml_synth_write, then says what it wrote. */
#include <jansson.h>
#include <stdio.h>

#include "commands.h"
#include "flags.h"
#include "progress.h"
#include "microlens/synth.h"

static const char *const synth_examples[] = {
    "microlens synth --out cohort",
    "microlens synth --out big --samples 2000 --patients 400 --otus 1500 --dim 384 --seed 7",
    NULL};

static const cli_command synth_cmd = {
    "synth", "--out DIR [options]",
    "Writes a synthetic cohort: Dirichlet-multinomial counts with per-patient effects and a\n"
    "planted label signal (table.tsv), labels with patient groups (labels.csv), one vector\n"
    "per OTU (otu_vectors.safetensors) and SOURCE.md. Same options, same bytes.",
    NULL, synth_examples, 0};

int cmd_synth(int argc, char **argv) {
    ml_synth_options o = ML_SYNTH_OPTIONS_INIT;
    const char *out = NULL;
    bool json = false, quiet = false;
    const cli_flag flags[] = {
        {"--out", "DIR", CLI_STRING, &out, "output folder (created if missing)", NULL},
        {"--samples", "N", CLI_SIZE, &o.n_samples, "number of samples", "240"},
        {"--patients", "P", CLI_SIZE, &o.n_patients, "number of patients (groups)", "60"},
        {"--otus", "K", CLI_SIZE, &o.n_otus, "number of OTUs (features)", "500"},
        {"--dim", "D", CLI_SIZE, &o.dim, "length of each OTU vector", "384"},
        {"--signal-otus", "N", CLI_SIZE, &o.n_signal_otus, "OTUs that carry the label signal",
         "8"},
        {"--signal-fold", "X", CLI_DOUBLE, &o.signal_log_fold,
         "log fold change of signal OTUs in positives (natural log)", "1.5"},
        {"--seed", "S", CLI_U64, &o.seed, "random seed", "42"},
        {"--json", NULL, CLI_BOOL, &json, "print a JSON summary on stdout", NULL},
        {"--quiet", NULL, CLI_BOOL, &quiet, "no messages on stderr", NULL},
    };
    int rc = cli_parse(argc, argv, &synth_cmd, flags, sizeof flags / sizeof *flags, NULL);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (!out) return cli_usage_error("synth needs --out DIR");
    ml_synth_summary s;
    cli_progress bar;
    cli_progress_start(&bar, "synth", quiet);
    o.progress = cli_progress_callback;
    o.progress_ctx = &bar;
    int st = ml_synth_write(out, &o, &s);
    cli_progress_finish(&bar);
    if (st != ML_OK) return cli_fail(st);
    if (json) {
        json_t *doc = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "out", out, "n_samples",
                                (json_int_t)s.n_samples, "n_patients", (json_int_t)s.n_patients,
                                "n_otus", (json_int_t)s.n_otus, "dim", (json_int_t)s.dim,
                                "n_positive", (json_int_t)s.n_positive, "nnz",
                                (json_int_t)s.nnz);
        if (!doc || json_dumpf(doc, stdout, JSON_PRESERVE_ORDER) != 0) {
            json_decref(doc);
            fprintf(stderr, "microlens: cannot write JSON summary\n");
            return EXIT_FAILURE_RUNTIME;
        }
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        printf("wrote %s/table.tsv (%zu OTUs x %zu samples, %zu non-zero), %s/labels.csv "
               "(%zu patients, %zu positive samples), %s/otu_vectors.safetensors (%zu x %zu), "
               "%s/SOURCE.md\n", out, s.n_otus, s.n_samples, s.nnz, out, s.n_patients,
               s.n_positive, out, s.n_otus, s.dim, out);
    }
    return EXIT_OK;
}
