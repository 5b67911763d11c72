/* cmd_train.c - `microlens train`: flags (over an optional JSON config) -> table, labels and
 * OTU vectors -> ml_train into a run folder; SIGINT/SIGTERM stop after a checkpoint. */
#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "flags.h"
#include "microlens/train.h"
#include "progress.h"
#include "tableflags.h"

/* Set by the handler, polled by the library after each step. */
static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig) { stop_signal = sig; }

typedef struct train_flags {
    const char *table, *labels, *label_col, *positive, *group_col, *model, *vectors, *init;
    const char *lora, *hidden, *optimizer, *schedule, *out, *config, *pubkey;
    const char *collect, *snapshot;
    uint64_t steps, epochs, warmup, eval_every, ckpt_every, seed, collect_every, snapshot_every;
    size_t batch, keep, max_otus, d_model, layers, heads, ff;
    double lr, weight_decay, momentum, clip_grad, val_fraction;
    bool resume, require_signature, json, quiet;
    cli_table_flags tf;
} train_flags;

static const char *const train_examples[] = {
    "microlens synth --out cohort --samples 200 --dim 32 && microlens train --table "
    "cohort/table.tsv --labels cohort/labels.csv --model mlp --steps 300 --out runs/mlp",
    "microlens train --table cohort/table.tsv --labels cohort/labels.csv --model settransformer "
    "--otu-vectors cohort/otu_vectors.safetensors --steps 100 --batch 16 --collect all "
    "--collect-every 1 --snapshot grads --snapshot-every 50 --out runs/st",
    "microlens train --config run.json --out runs/mlp --resume",
    NULL};

static const cli_command train_cmd = {
    "train",
    "--table TABLE --labels CSV --model mlp|settransformer --out RUN_DIR [options]",
    "Trains a classifier and records the run: RUN_DIR/run.sqlite (config, data fingerprint,\n"
    "metrics, events, checkpoints) and RUN_DIR/checkpoints/step-NNNNNNN/ (weights, optimizer\n"
    "state, trainer_state.json, MANIFEST). Same inputs and seed give bit-identical weights.",
    "mlp: CLR features (pseudocount 1, standard scaling) fitted on the training split only.\n"
    "settransformer: each sample is the set of its OTUs' vectors (--otu-vectors, at most\n"
    "--max-otus most abundant), with a classification head; --init loads base weights (a\n"
    "MANIFEST beside them is verified), --lora trains PEFT-style adapters on top of them:\n"
    "--lora r=8,alpha=16,targets=q,v[,dropout=0.1] (targets: q k v out linear1 linear2).\n"
    "Validation: --val-fraction of the labelled samples, of whole groups with --group-col,\n"
    "stratified by class otherwise; evaluated at --eval-every, every checkpoint and the end.\n"
    "--config FILE.json: an object whose keys are flag names without \"--\" (\"steps\": 300);\n"
    "flags given on the command line override it; TOML is not supported. The resolved\n"
    "configuration is stored with the run.\n"
    "--resume continues RUN_DIR from its newest checkpoint that verifies (signatures required\n"
    "with --require-signature or MICROLENS_REQUIRE_SIGNATURE=1) with the same settings; the\n"
    "final weights equal an uninterrupted run's. SIGINT/SIGTERM finish the step, write a\n"
    "checkpoint, mark the run interrupted and exit 128+signal (130, 143).\n"
    "Collectors read each step's gradients after backward, before clipping and the optimizer:\n"
    "loss, learning rate and global grad_norm every step, the rest every --collect-every steps\n"
    "(per-tensor gradient and weight norms, update ratios, cosine with the previous collected\n"
    "gradient, LoRA norms, activation statistics, peak RSS, step time). --snapshot writes raw\n"
    "tensors to RUN_DIR/snapshots/step-NNNNNNN.safetensors every --snapshot-every steps.\n"
    "See docs/training.md.",
    train_examples, 0};

/* ---- JSON config ------------------------------------------------------------------------- */

static int apply_config_value(const cli_flag *f, json_t *v, const char *path) {
    switch (f->type) {
    case CLI_STRING:
        if (!json_is_string(v)) break;
        *(const char **)f->dst = json_string_value(v);
        return EXIT_OK;
    case CLI_SIZE:
    case CLI_U64:
        if (!json_is_integer(v) || json_integer_value(v) < 0) break;
        if (f->type == CLI_SIZE) *(size_t *)f->dst = (size_t)json_integer_value(v);
        else *(uint64_t *)f->dst = (uint64_t)json_integer_value(v);
        return EXIT_OK;
    case CLI_DOUBLE:
        if (!json_is_number(v)) break;
        *(double *)f->dst = json_number_value(v);
        return EXIT_OK;
    case CLI_BOOL:
        if (!json_is_boolean(v)) break;
        *(bool *)f->dst = json_is_true(v);
        return EXIT_OK;
    }
    return cli_usage_error("%s: \"%s\" has the wrong type (expected %s)", path, f->name + 2,
                           f->type == CLI_STRING ? "a string" : f->type == CLI_DOUBLE
                           ? "a number" : f->type == CLI_BOOL ? "true or false"
                           : "a non-negative integer");
}

/* Keys that only make sense on a command line. */
static bool is_cli_only(const char *name) {
    static const char *const only[] = {"--config", "--resume", "--json", "--quiet", NULL};
    for (size_t i = 0; only[i]; i++)
        if (strcmp(name, only[i]) == 0) return true;
    return false;
}

static int apply_config(json_t **doc, const char *path, const cli_flag *flags, size_t n) {
    json_error_t err;
    *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!*doc) {
        fprintf(stderr, "microlens: %s:%d:%d: %s (expected a JSON object; TOML is not "
                "supported)\n", path, err.line, err.column, err.text);
        return EXIT_BAD_INPUT;
    }
    if (!json_is_object(*doc)) {
        fprintf(stderr, "microlens: %s: not a JSON object (expected {\"steps\": 300, ...})\n",
                path);
        return EXIT_BAD_INPUT;
    }
    const char *key;
    json_t *v;
    json_object_foreach(*doc, key, v) {
        const cli_flag *f = NULL;
        for (size_t i = 0; i < n && !f; i++)
            if (strcmp(flags[i].name + 2, key) == 0 && !is_cli_only(flags[i].name)) f = &flags[i];
        if (!f) return cli_usage_error("%s: unknown key \"%.60s\" (expected flag names without "
                                       "\"--\")", path, key);
        int rc = apply_config_value(f, v, path);
        if (rc != EXIT_OK) return rc;
    }
    return EXIT_OK;
}

static const char *find_config(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
    }
    return NULL;
}

/* The resolved settings, in flag order: what the run store keeps and resume compares. */
static char *resolved_config(const cli_flag *flags, size_t n) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        const cli_flag *f = &flags[i];
        /* where the run lives and how it is checked are not settings of the run */
        if (is_cli_only(f->name) || strcmp(f->name, "--require-signature") == 0 ||
            strcmp(f->name, "--pubkey") == 0 || strcmp(f->name, "--out") == 0)
            continue;
        json_t *v = NULL;
        switch (f->type) {
        case CLI_STRING: {
            const char *s = *(const char **)f->dst;
            v = s ? json_string(s) : json_null();
            break;
        }
        case CLI_SIZE: v = json_integer((json_int_t) * (size_t *)f->dst); break;
        case CLI_U64: v = json_integer((json_int_t) * (uint64_t *)f->dst); break;
        case CLI_DOUBLE: v = json_real(*(double *)f->dst); break;
        case CLI_BOOL: v = json_boolean(*(bool *)f->dst); break;
        }
        json_object_set_new(o, f->name + 2, v);
    }
    char *s = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* ---- Flag checks ------------------------------------------------------------------------- */

static int parse_lora(const char *spec, ml_settransformer_config *c) {
    char buf[256];
    if (strlen(spec) >= sizeof buf) return cli_usage_error("--lora: spec too long");
    snprintf(buf, sizeof buf, "%s", spec);
    c->lora_targets = 0;
    int in_targets = 0;
    for (char *tok = buf, *next; tok; tok = next) {
        char *comma = strchr(tok, ','), *eq, *end;
        if (comma) *comma = '\0';
        next = comma ? comma + 1 : NULL;
        eq = strchr(tok, '=');
        const char *val = eq ? eq + 1 : tok;
        if (eq) *eq = '\0';
        in_targets = eq ? strcmp(tok, "targets") == 0 : in_targets;
        if (in_targets) {
            static const char *const names[] = {"q", "k", "v", "out", "linear1", "linear2"};
            unsigned bit = 0;
            for (unsigned k = 0; k < 6; k++)
                if (strcmp(val, names[k]) == 0) bit = 1u << k;
            if (!bit) return cli_usage_error("--lora: unknown target \"%.20s\" (expected q, k, v, "
                                             "out, linear1, linear2)", val);
            c->lora_targets |= bit;
            continue;
        }
        if (!eq) return cli_usage_error("--lora: \"%.20s\" is not KEY=VALUE", tok);
        double v = strtod(val, &end);
        if (*end || !isfinite(v) || v < 0)
            return cli_usage_error("--lora: %s expects a non-negative number", tok);
        if (strcmp(tok, "r") == 0 && v >= 1 && v == floor(v)) c->lora_rank = (size_t)v;
        else if (strcmp(tok, "alpha") == 0 && v > 0) c->lora_alpha = (float)v;
        else if (strcmp(tok, "dropout") == 0 && v < 1) c->lora_dropout = (float)v;
        else return cli_usage_error("--lora: bad %s (expected r >= 1 integer, alpha > 0, "
                                    "dropout in [0, 1))", tok);
    }
    if (c->lora_rank == 0) return cli_usage_error("--lora needs r=RANK");
    if (c->lora_targets == 0) c->lora_targets = ML_LORA_Q | ML_LORA_V;
    return EXIT_OK;
}

static int parse_hidden(const char *spec, ml_train_options *o) {
    const char *p = spec;
    o->n_hidden = 0;
    if (strcmp(spec, "none") == 0) return EXIT_OK;
    while (*p) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v == 0 || v > (1ul << 20) || o->n_hidden == ML_NN_MLP_MAX_HIDDEN ||
            (*end && *end != ','))
            return cli_usage_error("--hidden expects up to %d widths like 64,32 (or none), got "
                                   "\"%.40s\"", ML_NN_MLP_MAX_HIDDEN, spec);
        o->hidden[o->n_hidden++] = (size_t)v;
        p = *end ? end + 1 : end;
    }
    return EXIT_OK;
}

static int pick_enum(const char *s, const char *flag, const char *const *names, int *out) {
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return EXIT_OK;
        }
    return cli_usage_error("%s: unknown value \"%.40s\"", flag, s);
}

static int parse_collectors(const train_flags *f, ml_train_options *o) {
    if (ml_collect_parse(&o->collect, f->collect) != ML_OK)
        return cli_usage_error("--collect: %s", ml_error_last()->message);
    if (ml_snapshot_parse(&o->snapshot, f->snapshot) != ML_OK)
        return cli_usage_error("--snapshot: %s", ml_error_last()->message);
    if (f->collect_every == 0 || f->snapshot_every == 0)
        return cli_usage_error("--collect-every and --snapshot-every must be at least 1");
    if ((o->snapshot & ML_SNAPSHOT_LORA) && o->st.lora_rank == 0)
        return cli_usage_error("--snapshot lora needs --lora");
    o->collect_every = f->collect_every;
    o->snapshot_every = f->snapshot_every;
    return EXIT_OK;
}

static int build_options(const train_flags *f, ml_train_options *o) {
    static const char *const optims[] = {"adamw", "sgd", NULL};
    static const char *const scheds[] = {"constant", "linear", "cosine", NULL};
    int k = 0, rc;
    if (!f->table || !f->labels || !f->model || !f->out)
        return cli_usage_error("train needs --table, --labels, --model and --out");
    if (ml_train_model_parse(&o->model, f->model) != ML_OK)
        return cli_usage_error("--model must be mlp or settransformer, got \"%.40s\"", f->model);
    if (f->steps && f->epochs) return cli_usage_error("give --steps or --epochs, not both");
    if (o->model == ML_TRAIN_SETTRANSFORMER && !f->vectors)
        return cli_usage_error("--model settransformer needs --otu-vectors");
    if (o->model == ML_TRAIN_MLP && (f->vectors || f->init || f->lora))
        return cli_usage_error("--otu-vectors, --init and --lora are for --model settransformer");
    if (f->lora && !f->init) return cli_usage_error("--lora needs --init (the base weights)");
    if (f->batch == 0 || f->max_otus == 0) return cli_usage_error("--batch and --max-otus must "
                                                                  "be at least 1");
    if (!(f->lr >= 0) || !isfinite(f->lr)) return cli_usage_error("--lr must be >= 0 and finite");
    if (!(f->val_fraction >= 0 && f->val_fraction < 1))
        return cli_usage_error("--val-fraction must be in [0, 1)");
    if (f->clip_grad < 0 || f->weight_decay < 0 || f->momentum < 0)
        return cli_usage_error("--clip-grad, --weight-decay and --momentum must be >= 0");
    if ((rc = pick_enum(f->optimizer, "--optimizer", optims, &k)) != EXIT_OK) return rc;
    o->optim.kind = k ? ML_OPTIM_SGD : ML_OPTIM_ADAMW;
    if ((rc = pick_enum(f->schedule, "--schedule", scheds, &k)) != EXIT_OK) return rc;
    o->schedule = (ml_schedule_kind)k;
    if (f->warmup > 0 && o->schedule != ML_SCHEDULE_CONSTANT && f->steps && f->warmup > f->steps)
        return cli_usage_error("--warmup must not exceed --steps");
    o->steps = f->steps;
    o->epochs = f->steps ? 0 : (f->epochs ? f->epochs : 1);
    o->batch = f->batch;
    o->lr = f->lr;
    o->optim.weight_decay = f->weight_decay;
    o->optim.momentum = f->momentum;
    o->warmup_steps = f->warmup;
    o->clip_grad = f->clip_grad;
    o->val_fraction = f->val_fraction;
    o->eval_every = f->eval_every;
    o->checkpoint_every = f->ckpt_every;
    o->keep = f->keep;
    o->seed = f->seed;
    o->max_otus = f->max_otus;
    o->st.d_model = f->d_model;
    o->st.n_layers = f->layers;
    o->st.n_heads = f->heads;
    o->st.d_ff = f->ff;
    o->init_path = f->init;
    o->resume = f->resume;
    o->verify.pubkey_path = f->pubkey;
    o->verify.require_signature =
        f->require_signature || cli_env_flag("MICROLENS_REQUIRE_SIGNATURE");
    if (f->lora && (rc = parse_lora(f->lora, &o->st)) != EXIT_OK) return rc;
    if ((rc = parse_collectors(f, o)) != EXIT_OK) return rc;
    return parse_hidden(f->hidden, o);
}

/* ---- Running ----------------------------------------------------------------------------- */

static int read_inputs(const train_flags *f, const ml_train_options *o, ml_table **t,
                       ml_labels **l, ml_join **j, ml_otuvec **v) {
    cli_label_inputs in = {f->labels, f->label_col, f->group_col, f->positive, NULL, NULL, false};
    int rc = cli_read_labelled_table(&f->tf, f->table, &in, t, l, j), st;
    if (rc != EXIT_OK) return rc;
    if (o->model == ML_TRAIN_SETTRANSFORMER && (st = ml_otuvec_read(v, f->vectors)) != ML_OK)
        return cli_fail(st);
    return EXIT_OK;
}

static int report(const train_flags *f, const ml_train_result *r, const ml_train_options *o) {
    if (f->json) {
        json_t *doc = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:s, s:s?, s:b}",
            "run_dir", f->out, "store", "run.sqlite", "model", ml_train_model_name(o->model),
            "start_step", (json_int_t)r->start_step, "steps", (json_int_t)r->steps,
            "total_steps", (json_int_t)r->total_steps, "n_train", (json_int_t)r->n_train,
            "n_val", (json_int_t)r->n_val, "n_classes", (json_int_t)r->n_classes, "n_features",
            (json_int_t)r->n_features, "last_loss",
            isnan(r->last_loss) ? json_null() : json_real(r->last_loss), "val_loss",
            isnan(r->val_loss) ? json_null() : json_real(r->val_loss), "val_roc_auc",
            isnan(r->val_auc) ? json_null() : json_real(r->val_auc), "last_checkpoint",
            r->last_checkpoint, "best_checkpoint",
            r->best_checkpoint[0] ? r->best_checkpoint : NULL, "interrupted", r->interrupted);
        if (!doc || json_dumpf(doc, stdout, JSON_PRESERVE_ORDER) != 0) {
            json_decref(doc);
            fprintf(stderr, "microlens: cannot write JSON summary\n");
            return EXIT_FAILURE_RUNTIME;
        }
        fputc('\n', stdout);
        json_decref(doc);
    } else if (!f->quiet) {
        printf("run %s: %s, step %llu of %llu (%zu train, %zu validation samples, %zu inputs)\n",
               f->out, ml_train_model_name(o->model), (unsigned long long)r->steps,
               (unsigned long long)r->total_steps, r->n_train, r->n_val, r->n_features);
        printf("last loss %.6g, validation loss %.6g, ROC-AUC %.4g\n", r->last_loss, r->val_loss,
               r->val_auc);
        printf("last checkpoint %s/%s%s%s\n", f->out, r->last_checkpoint,
               r->best_checkpoint[0] ? ", best " : "", r->best_checkpoint);
    }
    if (r->interrupted) {
        fprintf(stderr, "microlens: interrupted by signal %d at step %llu; checkpoint written, "
                "continue with --resume\n", (int)stop_signal, (unsigned long long)r->steps);
        return 128 + (int)stop_signal;
    }
    return EXIT_OK;
}

static void install_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int run_train(const train_flags *f, ml_train_options *o, char *config) {
    ml_table *t = NULL;
    ml_labels *l = NULL;
    ml_join *j = NULL;
    ml_otuvec *v = NULL;
    int rc = read_inputs(f, o, &t, &l, &j, &v), st;
    if (rc != EXIT_OK) goto done;
    o->vectors = v;
    o->config_json = config;
    o->info_json = "{\"blas_threads\": 1}";
    o->stop = &stop_signal;
    /* determinism: the same result whatever the machine's core count */
    openblas_set_num_threads(1);
    install_handlers();
    cli_progress bar;
    cli_progress_start(&bar, "train", f->quiet || f->json);
    o->progress = cli_progress_callback;
    o->progress_ctx = &bar;
    ml_train_result r;
    st = ml_train(f->out, t, j, o, &r);
    cli_progress_finish(&bar);
    if (st != ML_OK) {
        rc = cli_fail(st);
        if (st == ML_EINVAL) rc = EXIT_BAD_INPUT; /* flags were checked: the data don't fit */
        goto done;
    }
    rc = report(f, &r, o);
done:
    ml_otuvec_free(v);
    ml_join_free(j);
    ml_table_free(t);
    ml_labels_free(l);
    return rc;
}

int cmd_train(int argc, char **argv) {
    train_flags f = {0};
    f.model = NULL;
    f.hidden = "64";
    f.optimizer = "adamw";
    f.schedule = "constant";
    f.batch = 32;
    f.lr = 1e-3;
    f.weight_decay = 0.01;
    f.val_fraction = 0.2;
    f.seed = 42;
    f.max_otus = 256;
    f.d_model = 20;
    f.layers = 3;
    f.heads = 5;
    f.ff = 80;
    f.collect = "default";
    f.collect_every = 10;
    f.snapshot = "none";
    f.snapshot_every = 100;
    const cli_flag flags[] = {
        {"--table", "TABLE", CLI_STRING, &f.table,
         "abundance table: TSV/CSV, MetaPhlAn, BIOM JSON/HDF5", NULL},
        {"--labels", "CSV", CLI_STRING, &f.labels,
         "sample metadata: CSV sid,label[,group] or QIIME 2 metadata TSV", NULL},
        {"--label-col", "NAME", CLI_STRING, &f.label_col, "label column", "label, else column 2"},
        {"--positive", "VALUE", CLI_STRING, &f.positive, "label value of the positive class",
         "second class in sorted order"},
        {"--group-col", "NAME", CLI_STRING, &f.group_col,
         "group column: validation takes whole groups", "group if present"},
        {"--model", "KIND", CLI_STRING, &f.model, "mlp|settransformer", NULL},
        {"--hidden", "W1,W2", CLI_STRING, &f.hidden, "mlp: hidden layer widths (none: linear)",
         "64"},
        {"--otu-vectors", "V", CLI_STRING, &f.vectors,
         "settransformer: OTU vectors (safetensors or HDF5)", NULL},
        {"--max-otus", "N", CLI_SIZE, &f.max_otus, "settransformer: most OTUs per sample",
         "256"},
        {"--d-model", "D", CLI_SIZE, &f.d_model, "settransformer: width (without --init)", "20"},
        {"--layers", "L", CLI_SIZE, &f.layers, "settransformer: encoder layers", "3"},
        {"--heads", "H", CLI_SIZE, &f.heads, "settransformer: attention heads", "5"},
        {"--ff", "F", CLI_SIZE, &f.ff, "settransformer: feed-forward width", "80"},
        {"--init", "W", CLI_STRING, &f.init,
         "settransformer: base weights (safetensors, upstream names)", "random"},
        {"--lora", "SPEC", CLI_STRING, &f.lora,
         "settransformer: r=8,alpha=16,targets=q,v[,dropout=0.1]", "none"},
        {"--steps", "N", CLI_U64, &f.steps, "optimizer steps", "from --epochs"},
        {"--epochs", "E", CLI_U64, &f.epochs, "passes over the training split", "1"},
        {"--batch", "B", CLI_SIZE, &f.batch, "samples per step", "32"},
        {"--lr", "X", CLI_DOUBLE, &f.lr, "base learning rate", "0.001"},
        {"--optimizer", "O", CLI_STRING, &f.optimizer, "adamw|sgd", "adamw"},
        {"--weight-decay", "W", CLI_DOUBLE, &f.weight_decay, "AdamW decoupled / SGD L2",
         "0.01"},
        {"--momentum", "M", CLI_DOUBLE, &f.momentum, "SGD momentum", "0"},
        {"--schedule", "S", CLI_STRING, &f.schedule, "constant|linear|cosine", "constant"},
        {"--warmup", "N", CLI_U64, &f.warmup, "linear warm-up steps", "0"},
        {"--clip-grad", "X", CLI_DOUBLE, &f.clip_grad, "global gradient-norm limit (0: none)",
         "0"},
        {"--val-fraction", "F", CLI_DOUBLE, &f.val_fraction,
         "share of samples (groups) held out for validation", "0.2"},
        {"--eval-every", "N", CLI_U64, &f.eval_every,
         "validate every N steps (also at checkpoints and the end)", "0"},
        {"--checkpoint-every", "N", CLI_U64, &f.ckpt_every,
         "checkpoint every N steps (always at the last)", "0"},
        {"--keep", "K", CLI_SIZE, &f.keep, "keep the last K checkpoints + the best (0: all)",
         "0"},
        {"--seed", "S", CLI_U64, &f.seed, "initialisation, split, batch order, dropout", "42"},
        {"--collect", "LIST", CLI_STRING, &f.collect,
         "collectors: loss,lr,grad,grad-cosine,weights,lora,activations,memory,time|all|none",
         "all but activations"},
        {"--collect-every", "N", CLI_U64, &f.collect_every,
         "per-tensor/LoRA/activation/memory/time metrics every N steps", "10"},
        {"--snapshot", "LIST", CLI_STRING, &f.snapshot,
         "raw tensors to RUN_DIR/snapshots/: lora,grads,weights|none", "none"},
        {"--snapshot-every", "N", CLI_U64, &f.snapshot_every, "snapshot every N steps", "100"},
        {"--out", "RUN_DIR", CLI_STRING, &f.out, "run folder", NULL},
        {"--resume", NULL, CLI_BOOL, &f.resume,
         "continue RUN_DIR from its newest verified checkpoint", NULL},
        {"--require-signature", NULL, CLI_BOOL, &f.require_signature,
         "refuse unsigned checkpoints and --init (also MICROLENS_REQUIRE_SIGNATURE=1)", NULL},
        {"--pubkey", "KEY.pub", CLI_STRING, &f.pubkey, "public key to check signatures", NULL},
        {"--config", "FILE.json", CLI_STRING, &f.config,
         "settings as a JSON object of flag names; flags override it", NULL},
        CLI_TABLE_FLAGS(f.tf),
        {"--json", NULL, CLI_BOOL, &f.json, "print one JSON document on stdout", NULL},
        {"--quiet", NULL, CLI_BOOL, &f.quiet, "no notices or progress on stderr", NULL},
    };
    size_t n_flags = sizeof flags / sizeof *flags;
    json_t *doc = NULL;
    char *config = NULL;
    int rc = EXIT_OK;
    const char *cfg_path = find_config(argc, argv);
    bool wants_help = false;
    for (int i = 0; i < argc; i++) wants_help |= strcmp(argv[i], "--help") == 0;
    if (cfg_path && !wants_help) rc = apply_config(&doc, cfg_path, flags, n_flags);
    if (rc == EXIT_OK) rc = cli_parse(argc, argv, &train_cmd, flags, n_flags, NULL);
    if (rc != EXIT_OK) {
        json_decref(doc);
        return rc < 0 ? EXIT_OK : rc;
    }
    ml_train_options o = ML_TRAIN_OPTIONS_INIT;
    if ((rc = build_options(&f, &o)) == EXIT_OK) {
        if (!(config = resolved_config(flags, n_flags))) {
            fprintf(stderr, "microlens: out of memory\n");
            rc = EXIT_FAILURE_RUNTIME;
        } else {
            rc = run_train(&f, &o, config);
        }
    }
    free(config);
    json_decref(doc);
    return rc;
}
