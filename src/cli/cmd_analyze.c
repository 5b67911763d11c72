/* cmd_analyze.c - `microlens analyze PATH`: opens a microlens run folder or a Hugging Face
 * Trainer folder, runs every analysis over a step window and prints text or JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "microlens/analyze.h"
#include "microlens/memory.h"

typedef struct analyze_flags {
    const char *steps;
    bool json, no_lora;
} analyze_flags;

static const char *const analyze_examples[] = {
    "microlens analyze runs/mlp",
    "microlens analyze runs/st --steps 100:500 --json > analysis.json",
    "microlens analyze hf-output/ --no-lora", NULL};

static const cli_command analyze_cmd = {
    "analyze", "PATH [--json] [--steps A:B]",
    "Reads a training run and says how it went: loss (reduction, smoothness, plateau,\n"
    "convergence), overfitting (best checkpoint, early-stop advice), gradient health\n"
    "(explosion, non-finite steps, vanishing, per-tensor flow), weight stability, the\n"
    "learning-rate schedule, LoRA spectra over checkpoints, and a verdict with findings.",
    "PATH is a microlens run folder (run.sqlite, opened read-only) or a Hugging Face Trainer\n"
    "output folder (checkpoint-N/ with trainer_state.json and adapter_model.safetensors or\n"
    "model.safetensors), or one checkpoint-N folder. Pickled files (.bin, .pt, .pth, .pkl,\n"
    ".ckpt) are named in the notes and never opened. Every rule and threshold:\n"
    "docs/analyze.md. Verdict: any critical finding makes it poor; otherwise 100 - 15 per\n"
    "warning (100 excellent, 85 good, 55-70 moderate, below poor).",
    analyze_examples, 1};

/* "A:B", "A:", ":B" or "A" (a single step); steps are non-negative decimal integers. */
static int parse_bound(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_steps(const char *spec, ml_analyze_options *o) {
    const char *colon = strchr(spec, ':');
    size_t a_len = colon ? (size_t)(colon - spec) : strlen(spec);
    int bad = a_len && parse_bound(spec, a_len, &o->first_step) != 0;
    if (colon && colon[1]) bad |= parse_bound(colon + 1, strlen(colon + 1), &o->last_step) != 0;
    if (!colon && !bad && a_len) o->last_step = o->first_step;
    if (bad || (!colon && !a_len))
        return cli_usage_error("--steps expects A:B, A: or :B with non-negative integers, got "
                               "\"%.40s\"", spec);
    if (o->last_step < o->first_step)
        return cli_usage_error("--steps %.40s: the first step is after the last", spec);
    return EXIT_OK;
}

static int print_result(const ml_analysis *a, const ml_run_source *s, bool json) {
    char *out = NULL;
    ml_status st = json ? ml_analysis_json(a, s, &out) : ml_analysis_text(a, s, &out);
    if (st != ML_OK) return cli_fail((int)st);
    int rc = fputs(out, stdout) < 0 || (json && fputc('\n', stdout) == EOF) ? EXIT_FAILURE_RUNTIME
                                                                             : EXIT_OK;
    ml_free(out);
    if (rc != EXIT_OK) fprintf(stderr, "microlens: cannot write to stdout (%s)\n", strerror(errno));
    return rc;
}

int cmd_analyze(int argc, char **argv) {
    analyze_flags f = {NULL, false, false};
    const cli_flag flags[] = {
        {"--steps", "A:B", CLI_STRING, &f.steps, "analyse steps A..B only (A: or :B open)",
         "all"},
        {"--json", NULL, CLI_BOOL, &f.json, "print one JSON document on stdout", NULL},
        {"--no-lora", NULL, CLI_BOOL, &f.no_lora, "skip LoRA spectra of the checkpoints", NULL},
    };
    const char *pos[1] = {NULL};
    int rc = cli_parse(argc, argv, &analyze_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    ml_analyze_options o = ML_ANALYZE_OPTIONS_INIT;
    o.lora = !f.no_lora;
    if (f.steps && (rc = parse_steps(f.steps, &o)) != EXIT_OK) return rc;
    ml_run_source *s = NULL;
    ml_status st = ml_run_source_open(&s, pos[0]);
    if (st != ML_OK) return cli_fail((int)st);
    ml_analysis *a = NULL;
    st = ml_analyze(&a, s, &o);
    rc = st != ML_OK ? cli_fail((int)st) : print_result(a, s, f.json);
    ml_analysis_free(a);
    ml_run_source_free(s);
    return rc;
}
