/* cmd_report.c - `microlens report PATH [--compare PATH2] --format html|md|json --out FILE`:
 * opens and analyses the run(s), writes the report with ml_report_write and prints its path
 * and size. No analysis or rendering happens here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "flags.h"
#include "microlens/analyze.h"
#include "microlens/report.h"

typedef struct report_flags {
    const char *compare, *format, *out, *steps, *title;
    bool no_lora, quiet;
} report_flags;

static const char *const report_examples[] = {
    "microlens report runs/st --out report.html",
    "microlens report runs/st --format md --out summary.md",
    "microlens report runs/a --compare runs/b --format html --out a-vs-b.html", NULL};

static const cli_command report_cmd = {
    "report", "PATH [--compare PATH2] [--format html|md|json] --out FILE",
    "Writes the report of a training run (or of two side by side): an executive summary\n"
    "(verdict, key numbers, top recommendations), plots and every diagnostic with its evidence.",
    "PATH (and PATH2) as for `microlens analyze`: a microlens run folder or a Hugging Face\n"
    "Trainer output folder. html: one self-contained page with inline SVG plots (loss, learning\n"
    "rate, gradient norm with spike markers, gradient cosine, per-tensor heat maps, weight\n"
    "norms, update ratios, LoRA effective rank, energy and spectra); it loads nothing from the\n"
    "network and renders offline. Plots of series the run did not collect are left out and\n"
    "listed as \"not collected\". md: the summary and diagnostics in Markdown. json: the\n"
    "analysis (as `analyze --json`) plus run metadata, metrics and checkpoints. With --compare:\n"
    "loss curves overlaid, metric deltas and which run converged first. The format defaults to\n"
    "the extension of --out (.html, .md, .json), else html. Layout: docs/report.md.",
    report_examples, 1};

/* "A:B", "A:", ":B" or "A"; non-negative decimal steps. */
static int parse_bound(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 18 || strspn(s, "0123456789") < len) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) v = v * 10 + (s[i] - '0');
    *out = v;
    return 0;
}

static int parse_steps(const char *spec, ml_analyze_options *o) {
    const char *colon = strchr(spec, ':');
    size_t a_len = colon ? (size_t)(colon - spec) : strlen(spec);
    int bad = (a_len && parse_bound(spec, a_len, &o->first_step) != 0) || (!colon && !a_len);
    if (colon && colon[1]) bad |= parse_bound(colon + 1, strlen(colon + 1), &o->last_step) != 0;
    if (!colon && !bad) o->last_step = o->first_step;
    if (bad)
        return cli_usage_error("--steps expects A:B, A: or :B with non-negative integers, got "
                               "\"%.40s\"", spec);
    if (o->last_step < o->first_step)
        return cli_usage_error("--steps %.40s: the first step is after the last", spec);
    return EXIT_OK;
}

/* --format, else the extension of --out, else html. */
static int pick_format(const report_flags *f, ml_report_format *fmt) {
    if (f->format) {
        if (ml_report_format_parse(fmt, f->format) != ML_OK)
            return cli_usage_error("--format must be html, md or json, got \"%.40s\"", f->format);
        return EXIT_OK;
    }
    const char *dot = strrchr(f->out, '.');
    *fmt = ML_REPORT_HTML;
    if (dot && (strcmp(dot, ".md") == 0 || strcmp(dot, ".markdown") == 0))
        *fmt = ML_REPORT_MARKDOWN;
    else if (dot && strcmp(dot, ".json") == 0) *fmt = ML_REPORT_JSON;
    return EXIT_OK;
}

static int open_and_analyze(const char *path, const ml_analyze_options *o, ml_run_source **s,
                            ml_analysis **a) {
    int st = ml_run_source_open(s, path);
    if (st == ML_OK) st = ml_analyze(a, *s, o);
    return st == ML_OK ? EXIT_OK : cli_fail(st);
}

static int print_written(const char *path, ml_report_format fmt) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "microlens: %s: written but cannot be read back\n", path);
        return EXIT_FAILURE_RUNTIME;
    }
    printf("report (%s): %s (%lld bytes)\n", ml_report_format_name(fmt), path,
           (long long)sb.st_size);
    return EXIT_OK;
}

static int run_report(const report_flags *f, const char *path, const ml_analyze_options *o,
                      ml_report_format fmt) {
    ml_run_source *s[2] = {NULL, NULL};
    ml_analysis *a[2] = {NULL, NULL};
    int rc = open_and_analyze(path, o, &s[0], &a[0]);
    if (rc == EXIT_OK && f->compare) rc = open_and_analyze(f->compare, o, &s[1], &a[1]);
    if (rc == EXIT_OK) {
        ml_report_run run = {s[0], a[0]}, cmp = {s[1], a[1]};
        ml_report_options ro = ML_REPORT_OPTIONS_INIT;
        ro.format = fmt;
        ro.title = f->title;
        int st = ml_report_write(&run, f->compare ? &cmp : NULL, &ro, f->out);
        rc = st != ML_OK ? cli_fail(st) : f->quiet ? EXIT_OK : print_written(f->out, fmt);
    }
    for (size_t i = 0; i < 2; i++) {
        ml_analysis_free(a[i]);
        ml_run_source_free(s[i]);
    }
    return rc;
}

int cmd_report(int argc, char **argv) {
    report_flags f = {NULL, NULL, NULL, NULL, NULL, false, false};
    const cli_flag flags[] = {
        {"--out", "FILE", CLI_STRING, &f.out, "write the report here (atomically)", NULL},
        {"--format", "F", CLI_STRING, &f.format, "html|md|json", "from --out's extension, else html"},
        {"--compare", "PATH2", CLI_STRING, &f.compare,
         "a second run, reported side by side with PATH", NULL},
        {"--steps", "A:B", CLI_STRING, &f.steps, "report steps A..B only (A: or :B open)", "all"},
        {"--title", "TEXT", CLI_STRING, &f.title, "page title", "Training report: <run folder>"},
        {"--no-lora", NULL, CLI_BOOL, &f.no_lora, "skip LoRA spectra of the checkpoints", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "print nothing on success", NULL},
    };
    const char *pos[1] = {NULL};
    int rc = cli_parse(argc, argv, &report_cmd, flags, sizeof flags / sizeof *flags, pos);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    if (!f.out) return cli_usage_error("report needs --out FILE (e.g. --out report.html)");
    ml_report_format fmt;
    if ((rc = pick_format(&f, &fmt)) != EXIT_OK) return rc;
    ml_analyze_options o = ML_ANALYZE_OPTIONS_INIT;
    o.lora = !f.no_lora;
    if (f.steps && (rc = parse_steps(f.steps, &o)) != EXIT_OK) return rc;
    return run_report(&f, pos[0], &o, fmt);
}
