/* cmd_evaluate.c - `microlens evaluate`: flags -> table, labels, join -> ml_evaluate (and the
 * final model bundle with --save-model); prints the report. No statistics are computed here. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "idkey.h"
#include "tableflags.h"
#include "progress.h"
#include "microlens/evaluate.h"
#include "microlens/labels.h"
#include "microlens/report.h"
#include "microlens/memory.h"
#include "microlens/table.h"

#define UNSET ((size_t)-1)

typedef struct evaluate_flags {
    const char *features, *labels, *label_col, *group_col, *positive;
    const char *model, *C, *penalty, *l1_ratio, *class_weight, *trees, *max_depth, *hidden,
        *epochs, *lr, *transform, *grid, *folds_out, *save_model, *report;
    double pseudocount;
    bool has_pseudocount_default, no_scale, nested, logo, json, quiet;
    cli_table_flags table;
    cli_idkey_flags key;
    size_t cv, repeats, inner_cv;
    uint64_t seed;
} evaluate_flags;

static const char *const evaluate_examples[] = {
    "microlens evaluate --features data/ecam/feature-table.biom --labels "
    "data/ecam/sample-metadata.tsv --label-col delivery --group-col studyid --model logreg "
    "--transform clr --cv 5 --json",
    "microlens evaluate --features cohort/table.tsv --labels cohort/labels.csv --group-col group "
    "--model logreg --nested --grid 'C=0.01,0.1,1' --save-model cohort/model",
    "microlens evaluate --features cohort/table.tsv --labels cohort/labels.csv --model rf "
    "--trees 300 --cv 5 --repeats 3 --folds-out folds.csv",
    NULL};

static const cli_command evaluate_cmd = {
    "evaluate", "--features TABLE --labels CSV --model KIND [options]",
    "Cross-validates a binary classifier on an abundance table: the transform, the scaler and\n"
    "the classifier are fitted inside each training fold only; with --nested the grid is\n"
    "searched by inner CV on each outer training fold (never on the whole data set).",
    "Folds: stratified K-fold; with a group column (--group-col, or a column named \"group\")\n"
    "stratified group K-fold, so that no group (patient) spans two folds. Metrics per fold and\n"
    "pooled out-of-fold: ROC-AUC (ties 1/2), average precision, F1, accuracy, balanced\n"
    "accuracy and the confusion matrix at the classifier's threshold (0.5; svm 0); mean and\n"
    "sd (n-1) over folds; 95% bootstrap CI of the pooled ROC-AUC (1000 resamples, seeded).\n"
    "--save-model refits on all labelled samples (with --nested, the grid is searched by\n"
    "inner CV on all samples, for the final model only) and writes DIR/model.safetensors and\n"
    "DIR/card.json. Data that cannot be evaluated (one class, too few groups) exits 3.\n"
    "Embeddings (microlens embed --out EMB.tsv): pass --features EMB.tsv --transform none;\n"
    "--transform none accepts negative values. The embeddings' sample IDs are pseudonyms, so\n"
    "the labels' IDs are pseudonymised with the same key (--id-key-file, $MICROLENS_ID_KEY)\n"
    "to join them; with another key no label matches.",
    evaluate_examples, 0};

/* A model flag: the classifier option it sets and the kinds it applies to (bit per kind). */
typedef struct model_flag {
    const char *flag, *field;
    const char *const *value;
    unsigned kinds;
} model_flag;

#define K_LOGREG (1u << ML_CLASSIFIER_LOGREG)
#define K_SVM (1u << ML_CLASSIFIER_SVM)
#define K_RF (1u << ML_CLASSIFIER_RF)
#define K_MLP (1u << ML_CLASSIFIER_MLP)

static int set_model_flags(const evaluate_flags *f, ml_classifier_options *co) {
    const model_flag mf[] = {
        {"--C", "C", &f->C, K_LOGREG | K_SVM},
        {"--penalty", "penalty", &f->penalty, K_LOGREG},
        {"--l1-ratio", "l1_ratio", &f->l1_ratio, K_LOGREG},
        {"--class-weight", "class_weight", &f->class_weight, K_LOGREG | K_SVM | K_RF | K_MLP},
        {"--trees", "n_trees", &f->trees, K_RF},
        {"--max-depth", "max_depth", &f->max_depth, K_RF},
        {"--hidden", "hidden", &f->hidden, K_MLP},
        {"--epochs", "max_epochs", &f->epochs, K_MLP},
        {"--lr", "lr", &f->lr, K_MLP},
    };
    for (size_t i = 0; i < sizeof mf / sizeof *mf; i++) {
        const char *v = *mf[i].value;
        if (!v) continue;
        if (!(mf[i].kinds & (1u << co->kind)))
            return cli_usage_error("%s does not apply to --model %s", mf[i].flag,
                                   ml_classifier_kind_name(co->kind));
        char buf[128];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *p = buf; *p && strcmp(mf[i].field, "hidden") == 0; p++)
            if (*p == ',') *p = 'x'; /* --hidden 64,32 is hidden=64x32 */
        if (ml_classifier_options_set(co, mf[i].field, buf) != ML_OK)
            return cli_usage_error("%s: %s", mf[i].flag, ml_error_last()->message);
    }
    return EXIT_OK;
}

static int set_transform(const evaluate_flags *f, ml_transform_options *to) {
    if (f->transform && ml_transform_kind_parse(&to->kind, f->transform) != ML_OK)
        return cli_usage_error("--transform: %s", ml_error_last()->message);
    to->scale = !f->no_scale;
    if (f->has_pseudocount_default) return EXIT_OK;
    if (!(f->pseudocount > 0))
        return cli_usage_error("--pseudocount must be > 0, got %g", f->pseudocount);
    if (to->kind == ML_TRANSFORM_CLR) to->clr_pseudocount = f->pseudocount;
    else if (to->kind == ML_TRANSFORM_LOG) to->log_pseudocount = f->pseudocount;
    else return cli_usage_error("--pseudocount applies to --transform clr or log");
    return EXIT_OK;
}

static int set_cv(const evaluate_flags *f, ml_evaluate_options *o) {
    if (f->nested != (f->grid != NULL))
        return cli_usage_error("--nested and --grid go together (e.g. --nested --grid "
                               "'C=0.01,0.1,1')");
    if (f->logo && f->cv != UNSET)
        return cli_usage_error("--leave-one-group-out makes one fold per group; drop --cv");
    if (f->cv != UNSET) o->n_folds = f->cv;
    if (f->repeats != UNSET) o->n_repeats = f->repeats;
    if (f->inner_cv != UNSET) o->n_inner_folds = f->inner_cv;
    if (f->inner_cv != UNSET && !f->nested) return cli_usage_error("--inner-cv needs --nested");
    if (o->n_folds < 2) return cli_usage_error("--cv must be >= 2, got %zu", o->n_folds);
    if (o->n_inner_folds < 2)
        return cli_usage_error("--inner-cv must be >= 2, got %zu", o->n_inner_folds);
    if (o->n_repeats < 1 || o->n_repeats > 1000)
        return cli_usage_error("--repeats must be 1 to 1000, got %zu", o->n_repeats);
    if (f->logo && o->n_repeats > 1)
        return cli_usage_error("--repeats with --leave-one-group-out gives identical folds");
    o->seed = f->seed;
    o->model.seed = f->seed;
    o->grid = f->grid;
    return EXIT_OK;
}

static int build_options(const evaluate_flags *f, ml_evaluate_options *o) {
    if (!f->features || !f->labels || !f->model)
        return cli_usage_error("evaluate needs --features TABLE, --labels CSV and --model "
                               "logreg|svm|rf|mlp");
    if (ml_classifier_options_set(&o->model, "kind", f->model) != ML_OK)
        return cli_usage_error("--model must be logreg, svm, rf or mlp, got \"%s\"", f->model);
    int rc = set_model_flags(f, &o->model);
    if (rc == EXIT_OK) rc = set_transform(f, &o->transform);
    if (rc == EXIT_OK) rc = set_cv(f, o);
    return rc;
}

/* Inputs the library cannot know about are added to its JSON document. */
static int print_json(const char *lib_json, const evaluate_flags *f, const ml_labels *l) {
    json_error_t err;
    json_t *doc = json_loads(lib_json, 0, &err), *in = NULL;
    if (!doc) {
        fprintf(stderr, "microlens: internal error: evaluation JSON does not parse\n");
        return EXIT_FAILURE_RUNTIME;
    }
    const char *gcol = ml_labels_group_column(l);
    in = json_pack("{s:s, s:s, s:s, s:o}", "features", f->features, "labels", f->labels,
                   "label_column", ml_labels_label_column(l), "group_column",
                   gcol ? json_string(gcol) : json_null());
    json_object_set_new(doc, "input", in);
    json_object_set_new(doc, "folds_out", f->folds_out ? json_string(f->folds_out) : json_null());
    json_object_set_new(doc, "report", f->report ? json_string(f->report) : json_null());
    json_object_set_new(doc, "saved_model",
                        f->save_model ? json_string(f->save_model) : json_null());
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0
                 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
    fputc('\n', stdout);
    json_decref(doc);
    return rc;
}

static int print_report(const ml_evaluation *e, const evaluate_flags *f, const ml_labels *l) {
    char *text = NULL;
    int st = (int)(f->json ? ml_evaluation_json(e, &text) : ml_evaluation_text(e, &text));
    if (st != ML_OK) return cli_fail(st);
    int rc = EXIT_OK;
    if (f->json) {
        rc = print_json(text, f, l);
    } else {
        fputs(text, stdout);
        if (f->folds_out) printf("folds: %s\n", f->folds_out);
        if (f->report) printf("report: %s\n", f->report);
        if (f->save_model) printf("model bundle: %s/model.safetensors, %s/card.json\n",
                                  f->save_model, f->save_model);
    }
    ml_free(text);
    return rc;
}

/* Library refusals of the data (one class, impossible folds) are input problems: exit 3. */
static int fail_data(int st) {
    int rc = cli_fail(st);
    return st == ML_EINVAL ? EXIT_BAD_INPUT : rc;
}

static int save_outputs(const ml_evaluation *e, const ml_table *t, const ml_join *j,
                        const ml_evaluate_options *o, const evaluate_flags *f) {
    int st;
    if (f->folds_out && (st = ml_evaluation_write_folds(e, f->folds_out)) != ML_OK)
        return cli_fail(st);
    if (f->report && (st = ml_report_evaluation_html(e, j, f->report)) != ML_OK)
        return cli_fail(st);
    if (!f->save_model) return EXIT_OK;
    ml_model_bundle *b = NULL;
    if ((st = ml_model_bundle_fit(&b, t, j, o)) != ML_OK) return fail_data(st);
    st = ml_model_bundle_save(b, f->save_model, e);
    ml_model_bundle_free(b);
    return st == ML_OK ? EXIT_OK : cli_fail(st);
}

/* Reads the table (real-valued under --transform none) and joins it with the labels, by
 * pseudonym when the table's IDs are pseudonyms (only then is the key resolved). */
static int read_inputs(evaluate_flags *f, const ml_evaluate_options *o, ml_table **t,
                       ml_labels **l, ml_join **j) {
    f->table.allow_negative = o->transform.kind == ML_TRANSFORM_NONE;
    cli_label_inputs in = {f->labels, f->label_col, f->group_col, f->positive, NULL, &f->key,
                           f->quiet};
    return cli_read_labelled_table(&f->table, f->features, &in, t, l, j);
}

/* No sample with a label at all is an ID mismatch, not a class problem: say so. */
static int check_matched(const ml_table *t, const ml_join *j) {
    size_t n = ml_table_n_samples(t);
    if (n == 0 || ml_join_n_samples_without_label(j) < n) return EXIT_OK;
    if (ml_pseudonym_is_pseudonym(ml_table_sample_raw_id(t, 0)))
        fprintf(stderr, "microlens: no label file ID matches a sample of the table; its sample "
                "IDs are pseudonyms, so the labels were pseudonymised with this key: was the "
                "table written with another key (--id-key-file, $MICROLENS_ID_KEY)?\n");
    else
        fprintf(stderr, "microlens: no label file ID matches a sample of the table (expected "
                "the table's sample IDs in the labels' ID column)\n");
    return EXIT_BAD_INPUT;
}

/* A group column (named, or the labels' default "group") means grouped folds. */
static void pick_split(ml_evaluate_options *o, const evaluate_flags *f, const ml_labels *l,
                       const ml_join *j) {
    if (f->logo) {
        o->split = ML_SPLIT_LEAVE_ONE_GROUP_OUT;
    } else if (ml_join_n_groups(j) > 0) {
        o->split = ML_SPLIT_STRATIFIED_GROUP_KFOLD;
        if (!f->group_col && !f->quiet)
            fprintf(stderr, "microlens: folds grouped by column \"%s\" (no group spans two "
                    "folds)\n", ml_labels_group_column(l));
    }
}

static int run_evaluate(evaluate_flags *f, ml_evaluate_options *o) {
    ml_table *t = NULL;
    ml_labels *l = NULL;
    ml_join *j = NULL;
    ml_evaluation *e = NULL;
    int rc = read_inputs(f, o, &t, &l, &j), st;
    if (rc != EXIT_OK) goto done;
    if ((rc = check_matched(t, j)) != EXIT_OK) goto done;
    pick_split(o, f, l, j);
    if (ml_join_n_samples_without_label(j) > 0 && !f->quiet)
        fprintf(stderr, "microlens: %zu samples have no label and are left out\n",
                ml_join_n_samples_without_label(j));
    cli_progress bar;
    cli_progress_start(&bar, "evaluate", f->quiet);
    o->progress = cli_progress_callback;
    o->progress_ctx = &bar;
    st = ml_evaluate(&e, t, j, o);
    cli_progress_finish(&bar);
    if (st != ML_OK) {
        rc = fail_data(st);
        goto done;
    }
    if ((rc = save_outputs(e, t, j, o, f)) == EXIT_OK) rc = print_report(e, f, l);
done:
    ml_evaluation_free(e);
    ml_join_free(j);
    ml_table_free(t);
    ml_labels_free(l);
    return rc;
}

int cmd_evaluate(int argc, char **argv) {
    evaluate_flags f = {0};
    f.cv = f.repeats = f.inner_cv = UNSET;
    f.seed = 42;
    f.pseudocount = NAN; /* --pseudocount only takes finite values */
    const cli_flag flags[] = {
        {"--features", "TABLE", CLI_STRING, &f.features,
         "abundance table: TSV/CSV, MetaPhlAn, BIOM 1.0 JSON or BIOM 2.1 HDF5", NULL},
        {"--labels", "CSV", CLI_STRING, &f.labels,
         "sample metadata: CSV sid,label[,group] or QIIME 2 metadata TSV", NULL},
        {"--label-col", "NAME", CLI_STRING, &f.label_col, "label column", "label, else column 2"},
        {"--positive", "VALUE", CLI_STRING, &f.positive, "label value of the positive class",
         "second class in sorted order"},
        {"--group-col", "NAME", CLI_STRING, &f.group_col,
         "group (patient) column: folds never split a group", "group if present"},
        {"--model", "KIND", CLI_STRING, &f.model, "classifier: logreg|svm|rf|mlp", NULL},
        {"--C", "X", CLI_STRING, &f.C, "logreg/svm inverse regularisation strength (> 0)", "1"},
        {"--penalty", "P", CLI_STRING, &f.penalty, "logreg penalty: l2|l1|elasticnet|none", "l2"},
        {"--l1-ratio", "R", CLI_STRING, &f.l1_ratio, "elastic-net mixing in [0, 1]", "0.5"},
        {"--class-weight", "W", CLI_STRING, &f.class_weight, "balanced|none", "none"},
        {"--trees", "N", CLI_STRING, &f.trees, "rf: number of trees", "100"},
        {"--max-depth", "D", CLI_STRING, &f.max_depth, "rf: depth limit (0: none)", "0"},
        {"--hidden", "W1,W2", CLI_STRING, &f.hidden, "mlp: hidden layer widths", "100"},
        {"--epochs", "N", CLI_STRING, &f.epochs, "mlp: most epochs (early stopping)", "200"},
        {"--lr", "X", CLI_STRING, &f.lr, "mlp: AdamW learning rate", "0.001"},
        {"--transform", "T", CLI_STRING, &f.transform,
         "none|relab|log|clr (per training fold); none also reads negative values", "clr"},
        {"--pseudocount", "X", CLI_DOUBLE, &f.pseudocount,
         "added before ln(): clr on raw values, log on relative abundances", "1 (clr), 1e-6 (log)"},
        {"--no-scale", NULL, CLI_BOOL, &f.no_scale,
         "skip standard scaling (fitted per training fold otherwise)", NULL},
        {"--cv", "K", CLI_SIZE, &f.cv, "number of folds", "5"},
        {"--repeats", "R", CLI_SIZE, &f.repeats, "repeated CV, each with a new shuffle", "1"},
        {"--seed", "S", CLI_U64, &f.seed, "seed of folds, bootstrap and the model", "42"},
        {"--nested", NULL, CLI_BOOL, &f.nested, "tune by inner CV inside each training fold",
         NULL},
        {"--grid", "SPEC", CLI_STRING, &f.grid,
         "grid for --nested: NAME=V1,V2[;NAME=...], e.g. 'C=0.01,0.1,1'", NULL},
        {"--inner-cv", "K", CLI_SIZE, &f.inner_cv, "inner folds of --nested", "3"},
        {"--leave-one-group-out", NULL, CLI_BOOL, &f.logo, "one fold per group", NULL},
        {"--folds-out", "FILE", CLI_STRING, &f.folds_out,
         "write sample_index,repeat,fold (0-based table row) as CSV", NULL},
        {"--report", "FILE.html", CLI_STRING, &f.report,
         "write the ROC / precision-recall / confusion page (self-contained HTML)", NULL},
        {"--save-model", "DIR", CLI_STRING, &f.save_model,
         "refit on all labelled samples; write DIR/model.safetensors + DIR/card.json", NULL},
        CLI_TABLE_FLAGS(f.table),
        CLI_IDKEY_FLAGS(f.key),
        {"--json", NULL, CLI_BOOL, &f.json, "print one JSON document on stdout", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "no notices or progress on stderr", NULL},
    };
    int rc = cli_parse(argc, argv, &evaluate_cmd, flags, sizeof flags / sizeof *flags, NULL);
    if (rc != EXIT_OK) return rc < 0 ? EXIT_OK : rc;
    f.has_pseudocount_default = isnan(f.pseudocount);
    ml_evaluate_options o = ML_EVALUATE_OPTIONS_INIT;
    o.transform.clr_pseudocount = ML_EVALUATE_CLR_PSEUDOCOUNT; /* the issue's default: 1 */
    if ((rc = build_options(&f, &o)) != EXIT_OK) return rc;
    return run_evaluate(&f, &o);
}
