/* train.c - the training loop: options, model and optimizer set-up, the run store, one step
 * at a time with its metrics, validation and checkpoints. Data preparation lives in data.c and
 * checkpoint files in checkpoint.c; it parses no command line and handles no signal. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "eval/evaluate.h"
#include "microlens/manifest.h"
#include "nn/optim.h"
#include "train/collect.h"
#include "train/snapshot.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/json.h"

/* Dropout masks of step s come from this mix of (seed, s), so that resume needs no RNG state
 * (splitmix64's increment, the golden ratio). */
#define DROPOUT_STEP_MIX 0x9E3779B97F4A7C15ull
/* Steps between flushes of the metric buffer when no checkpoint flushes it: bounds what a
 * crash loses (those steps are replayed by resume anyway) and the buffer's size. */
#define FLUSH_EVERY_STEPS 200u

ml_status ml_train_model_parse(ml_train_model *out, const char *name) {
    if (name && strcmp(name, "mlp") == 0) *out = ML_TRAIN_MLP;
    else if (name && strcmp(name, "settransformer") == 0) *out = ML_TRAIN_SETTRANSFORMER;
    else return ML_FAIL(ML_EINVAL, "unknown model (expected mlp or settransformer)");
    return ML_OK;
}

const char *ml_train_model_name(ml_train_model m) {
    return m == ML_TRAIN_MLP ? "mlp" : m == ML_TRAIN_SETTRANSFORMER ? "settransformer"
                                                                     : "unknown";
}

static ml_status check_options(const ml_train_options *o) {
    if (!o || o->version != ML_TRAIN_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "train options: unknown version (expected %d)",
                       ML_TRAIN_OPTIONS_VERSION);
    if (o->model != ML_TRAIN_MLP && o->model != ML_TRAIN_SETTRANSFORMER)
        return ML_FAIL(ML_EINVAL, "train options: unknown model");
    if (o->steps == 0 && o->epochs == 0)
        return ML_FAIL(ML_EINVAL, "train options: steps and epochs are both 0 (expected one)");
    if (o->batch == 0 || o->batch > (1u << 16))
        return ML_FAIL(ML_EINVAL, "train options: batch must be in [1, 65536]");
    if (!(o->lr >= 0) || !isfinite(o->lr))
        return ML_FAIL(ML_EINVAL, "train options: lr must be >= 0 and finite");
    if (!(o->clip_grad >= 0) || !isfinite(o->clip_grad))
        return ML_FAIL(ML_EINVAL, "train options: clip_grad must be >= 0 and finite");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return ML_FAIL(ML_EINVAL, "train options: val_fraction must be in [0, 1)");
    if (o->n_hidden > ML_NN_MLP_MAX_HIDDEN)
        return ML_FAIL(ML_EINVAL, "train options: n_hidden over %d", ML_NN_MLP_MAX_HIDDEN);
    if (!o->config_json) return ML_FAIL(ML_EINVAL, "train options: config_json is required");
    if ((o->collect & ~ML_COLLECT_ALL) || o->collect_every == 0)
        return ML_FAIL(ML_EINVAL, "train options: collect must hold ML_COLLECT_* bits and "
                       "collect_every must be >= 1");
    if ((o->snapshot & ~ML_SNAPSHOT_ALL) || (o->snapshot && o->snapshot_every == 0))
        return ML_FAIL(ML_EINVAL, "train options: snapshot must hold ML_SNAPSHOT_* bits and "
                       "snapshot_every must be >= 1");
    if ((o->snapshot & ML_SNAPSHOT_LORA) && o->st.lora_rank == 0)
        return ML_FAIL(ML_EINVAL, "train options: snapshot lora needs a LoRA run (lora_rank > 0)");
    if (o->model == ML_TRAIN_SETTRANSFORMER) {
        if (!o->vectors)
            return ML_FAIL(ML_EINVAL, "train options: the set transformer needs OTU vectors");
        if (o->max_otus == 0 || o->max_otus > (1u << 16))
            return ML_FAIL(ML_EINVAL, "train options: max_otus must be in [1, 65536]");
        if (o->st.lora_rank > 0 && !o->init_path)
            return ML_FAIL(ML_EINVAL, "train options: LoRA needs base weights (init_path)");
    } else if (o->init_path || o->st.lora_rank > 0) {
        return ML_FAIL(ML_EINVAL, "train options: init weights and LoRA are for the set "
                       "transformer only");
    }
    return ML_OK;
}

size_t ml__trainer_n_tensors(ml__trainer *tr) {
    return tr->mlp ? ml_mlp_n_tensors(tr->mlp) : ml_settransformer_n_tensors(tr->st);
}

ml_status ml__trainer_tensor(ml__trainer *tr, size_t i, ml_nn_tensor *out) {
    return tr->mlp ? ml_mlp_tensor(tr->mlp, i, out) : ml_settransformer_tensor(tr->st, i, out);
}

static ml_status build_mlp(ml__trainer *tr) {
    ml_mlp_config c = ML_MLP_CONFIG_INIT;
    c.d_in = tr->n_features;
    c.n_hidden = tr->o->n_hidden;
    memcpy(c.hidden, tr->o->hidden, sizeof c.hidden);
    c.n_classes = tr->n_classes;
    c.max_batch = tr->o->batch;
    ML_TRY(ml_mlp_new(&tr->mlp, &c));
    ml_mlp_init(tr->mlp, tr->o->seed);
    return ML_OK;
}

/* Base weights from init_path into the training model, by name. */
static ml_status load_init(ml__trainer *tr, ml_settransformer_config *c) {
    ML_TRY(ml_weights_verify(tr->o->init_path, &tr->o->verify, NULL));
    ml_settransformer_load_options lo = ML_SETTRANSFORMER_LOAD_OPTIONS_INIT;
    lo.n_heads = c->n_heads;
    lo.max_tokens = lo.max_set_tokens = 1;
    lo.max_sets = 1;
    ml_settransformer *base = NULL;
    ML_TRY(ml_settransformer_load(&base, tr->o->init_path, &lo));
    const ml_settransformer_config *bc = ml_settransformer_get_config(base);
    ml_status st = ML_OK;
    if (bc->d_in != c->d_in)
        st = ML_FAIL(ML_EINVAL, "%s: d_in %zu differs from the OTU vectors' length %zu",
                     tr->o->init_path, bc->d_in, c->d_in);
    if (st == ML_OK && bc->n_classes != 0 && bc->n_classes != c->n_classes)
        st = ML_FAIL(ML_EINVAL, "%s: classifier has %zu classes, the labels %zu",
                     tr->o->init_path, bc->n_classes, c->n_classes);
    c->d_model = bc->d_model;
    c->n_layers = bc->n_layers;
    c->d_ff = bc->d_ff;
    if (st == ML_OK) st = ml_settransformer_new(&tr->st, c);
    if (st == ML_OK) ml_settransformer_init(tr->st, tr->o->seed);
    size_t n = ml_settransformer_n_tensors(base);
    for (size_t i = 0; i < n && st == ML_OK; i++) {
        ml_nn_tensor src;
        float *dst;
        size_t m;
        if ((st = ml_settransformer_tensor(base, i, &src)) != ML_OK) break;
        if ((st = ml_settransformer_param(tr->st, src.name, &dst, &m)) != ML_OK) break;
        memcpy(dst, src.data, m * sizeof *dst);
    }
    ml_settransformer_free(base);
    return st;
}

static ml_status build_settransformer(ml__trainer *tr) {
    ml_settransformer_config c = tr->o->st;
    c.version = ML_SETTRANSFORMER_CONFIG_VERSION;
    c.d_in = tr->n_features;
    c.n_classes = tr->n_classes;
    c.has_grad = 1;
    /* The trainer's loss is the classifier's only; the per-token head stays as loaded. */
    c.freeze_token_head = 1;
    c.max_sets = tr->o->batch;
    c.max_set_tokens = tr->o->max_otus;
    c.max_tokens = tr->o->batch * tr->o->max_otus;
    if (tr->o->init_path) return load_init(tr, &c);
    ML_TRY(ml_settransformer_new(&tr->st, &c));
    ml_settransformer_init(tr->st, tr->o->seed);
    return ML_OK;
}

static ml_status build_optimizer(ml__trainer *tr) {
    size_t n = ml__trainer_n_tensors(tr);
    ml_nn_tensor *ts = malloc((n + 1) * sizeof *ts);
    if (!ts) return ML_NOMEM();
    ml_status st = ML_OK;
    for (size_t i = 0; i < n && st == ML_OK; i++) st = ml__trainer_tensor(tr, i, &ts[i]);
    if (st == ML_OK) st = ml_optim_new(&tr->opt, &tr->o->optim, ts, n);
    free(ts);
    return st;
}

static ml_status plan_steps(ml__trainer *tr) {
    const ml_train_options *o = tr->o;
    tr->steps_per_epoch = (tr->n_train + o->batch - 1) / o->batch;
    if (o->steps == 0 && o->epochs > UINT64_MAX / tr->steps_per_epoch)
        return ML_FAIL(ML_EINVAL, "train options: epochs too large");
    tr->total_steps = o->steps ? o->steps : o->epochs * tr->steps_per_epoch;
    tr->sched = (ml_lr_schedule)ML_LR_SCHEDULE_INIT;
    tr->sched.kind = o->schedule;
    tr->sched.warmup_steps = o->warmup_steps;
    tr->sched.total_steps = tr->total_steps;
    return ml_lr_schedule_check(&tr->sched);
}

/* A new run, or the run in run_dir when resuming (created when there is none yet: a run
 * killed before its store was committed left nothing to resume). */
static ml_status open_store(ml__trainer *tr, const ml_table *t, const ml_join *j) {
    char fp[ML__FINGERPRINT_SIZE];
    ML_TRY(ml__fingerprint(fp, t, j));
    const char *hex = strncmp(fp, "sha256:", 7) == 0 ? fp + 7 : fp;
    ml_run_info info = ML_RUN_INFO_INIT;
    info.config_json = tr->o->config_json;
    info.dataset_sha256 = hex;
    info.seed = tr->o->seed;
    info.info_json = tr->o->info_json;
    if (tr->o->resume) {
        ml_status st = ml_runstore_open(&tr->rs, tr->run_dir, ML_RUNSTORE_APPEND, NULL);
        if (st != ML_ENOTFOUND && st != ML_EFORMAT) {
            ML_TRY(st);
            const ml_run_row *row;
            ML_TRY(ml_runstore_run(tr->rs, &row));
            if (strcmp(row->config_json, tr->o->config_json) != 0)
                return ML_FAIL(ML_EINVAL, "%s: the configuration differs from the run's "
                               "(resume with the same settings; stored: %.300s)", tr->run_dir,
                               row->config_json);
            if (!row->dataset_sha256 || strcmp(row->dataset_sha256, hex) != 0)
                return ML_FAIL(ML_EINVAL, "%s: the data differ from the run's (dataset "
                               "fingerprint %s, the run's %s)", tr->run_dir, hex,
                               row->dataset_sha256 ? row->dataset_sha256 : "unknown");
            return ml_runstore_set_status(tr->rs, ML_RUN_RUNNING);
        }
    }
    return ml_runstore_open(&tr->rs, tr->run_dir, ML_RUNSTORE_CREATE, &info);
}

/* ---- The loop ------------------------------------------------------------------------------ */

static double epoch_of(const ml__trainer *tr) {
    return (double)tr->step / (double)tr->steps_per_epoch;
}

static ml_status log_step(ml__trainer *tr, double loss, double lr, double norm) {
    int64_t s = (int64_t)tr->step;
    unsigned mask = tr->o->collect;
    if (mask & ML_COLLECT_LOSS) ML_TRY(ml_runstore_log_metric(tr->rs, s, "loss", loss));
    if (mask & ML_COLLECT_LR) ML_TRY(ml_runstore_log_metric(tr->rs, s, "learning_rate", lr));
    if (mask & ML_COLLECT_GRAD) ML_TRY(ml_runstore_log_metric(tr->rs, s, "grad_norm", norm));
    json_t *e = json_pack("{s:f, s:o, s:f, s:o, s:I}", "epoch", epoch_of(tr), "grad_norm",
                          ml__json_number(norm), "learning_rate", lr, "loss",
                          ml__json_number(loss), "step", (json_int_t)tr->step);
    if (!e || json_array_append_new(tr->history, e) != 0) return ML_NOMEM();
    if (tr->step % FLUSH_EVERY_STEPS == 0) ML_TRY(ml_runstore_flush(tr->rs));
    return ML_OK;
}

static ml_status evaluate(ml__trainer *tr) {
    ML_TRY(ml__train_evaluate(tr, &tr->last_val_loss, &tr->last_val_auc));
    if (tr->n_val == 0) return ML_OK;
    int64_t s = (int64_t)tr->step;
    if (tr->o->collect & ML_COLLECT_LOSS) {
        ML_TRY(ml_runstore_log_metric(tr->rs, s, "eval_loss", tr->last_val_loss));
        ML_TRY(ml_runstore_log_metric(tr->rs, s, "eval_roc_auc", tr->last_val_auc));
    }
    json_t *e = json_pack("{s:f, s:o, s:o, s:I}", "epoch", epoch_of(tr), "eval_loss",
                          ml__json_number(tr->last_val_loss), "eval_roc_auc",
                          ml__json_number(tr->last_val_auc), "step", (json_int_t)tr->step);
    if (!e || json_array_append_new(tr->history, e) != 0) return ML_NOMEM();
    return ML_OK;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ml_status forward_backward(ml__trainer *tr, double *loss) {
    size_t n;
    ML_TRY(ml__train_batch(tr, &n));
    if (tr->mlp) {
        ml_mlp_zero_grad(tr->mlp);
        return ml_mlp_forward_backward(tr->mlp, tr->bx, n, tr->by, loss);
    }
    ml_settransformer_zero_grad(tr->st);
    ml_settransformer_seed_dropout(tr->st, tr->o->seed ^ (DROPOUT_STEP_MIX * (tr->step + 1)));
    ml_set_batch b = {n, tr->boff, tr->bx};
    ml_settransformer_targets tg = {tr->by, NULL, NULL};
    return ml_settransformer_forward_backward(tr->st, &b, &tg, loss);
}

/* One step: batch, forward and backward; on collection steps the collectors read the fresh
 * gradients (and snapshots are written) before clipping and the optimizer touch them; then
 * clipping, the step (measuring each tensor's change when update ratios are collected) and
 * the step's metrics. */
static ml_status one_step(ml__trainer *tr) {
    double loss = NAN, norm = NAN, t0 = seconds_now();
    uint64_t s = tr->step + 1;
    ML_TRY(forward_backward(tr, &loss));
    bool collect = tr->collector && ml__collect_due(tr->collector, s);
    if (collect) ML_TRY(ml__collect_gradients(tr->collector, tr));
    if (tr->snapshot && ml__snapshot_due(tr->snapshot, s))
        ML_TRY(ml__snapshot_write(tr->snapshot, s));
    ML_TRY(ml_optim_clip_grad_norm(tr->opt, tr->o->clip_grad > 0 ? tr->o->clip_grad : INFINITY,
                                   &norm));
    double lr = tr->o->lr * ml_lr_schedule_factor(&tr->sched, tr->step);
    double *update_sq = collect ? ml__collect_update_buffer(tr->collector) : NULL;
    bool stepped = isfinite(norm);
    if (stepped && update_sq) {
        ML_TRY(ml__optim_step_measured(tr->opt, lr, update_sq));
    } else if (stepped) {
        ML_TRY(ml_optim_step(tr->opt, lr));
    } else {
        ML_TRY(ml_runstore_log_event(tr->rs, (int64_t)s, ML_EVENT_WARNING,
                                     "non-finite gradient norm: optimizer step skipped"));
    }
    double seconds = seconds_now() - t0;
    tr->step++;
    ML_TRY(log_step(tr, loss, lr, norm));
    if (collect) ML_TRY(ml__collect_log(tr->collector, tr->rs, (int64_t)s, stepped, seconds));
    return ML_OK;
}

static ml_status checkpoint(ml__trainer *tr) {
    bool is_best = false;
    if (tr->n_val > 0 && tr->last_val_loss < tr->best_loss) {
        tr->best_loss = tr->last_val_loss;
        is_best = true;
    }
    ML_TRY(ml__ckpt_write(tr, is_best));
    return ml__ckpt_retain(tr);
}

static ml_status loop(ml__trainer *tr, ml_train_result *r, double *last_loss) {
    const ml_train_options *o = tr->o;
    while (tr->step < tr->total_steps) {
        ML_TRY(one_step(tr));
        json_t *last = json_array_get(tr->history, json_array_size(tr->history) - 1);
        json_t *lv = json_object_get(last, "loss");
        *last_loss = json_is_number(lv) ? json_number_value(lv) : NAN;
        bool stop = o->stop && *o->stop;
        bool end = tr->step == tr->total_steps || stop;
        bool ckpt = end || (o->checkpoint_every && tr->step % o->checkpoint_every == 0);
        if (ckpt || (o->eval_every && tr->step % o->eval_every == 0)) ML_TRY(evaluate(tr));
        if (ckpt) ML_TRY(checkpoint(tr));
        if (o->progress) o->progress(o->progress_ctx, (size_t)tr->step, (size_t)tr->total_steps);
        if (stop && tr->step < tr->total_steps) {
            r->interrupted = true;
            return ml_runstore_log_event(tr->rs, (int64_t)tr->step, ML_EVENT_INFO,
                                         "stopped by a signal after a checkpoint");
        }
    }
    return ML_OK;
}

static ml_status setup(ml__trainer *tr, const ml_join *j, int *resumed) {
    ML_TRY(ml__train_data_prepare(tr, j));
    ML_TRY(plan_steps(tr));
    if (tr->o->model == ML_TRAIN_MLP) ML_TRY(build_mlp(tr));
    else ML_TRY(build_settransformer(tr));
    ML_TRY(build_optimizer(tr));
    if (tr->o->collect) ML_TRY(ml__collect_new(&tr->collector, tr));
    if (tr->o->snapshot) ML_TRY(ml__snapshot_new(&tr->snapshot, tr));
    if (!(tr->history = json_array())) return ML_NOMEM();
    *resumed = 0;
    if (tr->o->resume) {
        ML_TRY(ml__ckpt_clean_tmp(tr));
        ML_TRY(ml__ckpt_resume(tr, resumed));
    }
    char msg[128];
    snprintf(msg, sizeof msg, "%s at step %" PRIu64 " of %" PRIu64 " (%zu train, %zu validation)",
             *resumed ? "resumed" : "started", tr->step, tr->total_steps, tr->n_train, tr->n_val);
    return ml_runstore_log_event(tr->rs, (int64_t)tr->step, ML_EVENT_INFO, msg);
}

static void fill_result(ml_train_result *r, const ml__trainer *tr, uint64_t start, double loss) {
    r->start_step = start;
    r->steps = tr->step;
    r->total_steps = tr->total_steps;
    r->n_train = tr->n_train;
    r->n_val = tr->n_val;
    r->n_classes = tr->n_classes;
    r->n_features = tr->n_features;
    r->last_loss = loss;
    r->val_loss = tr->last_val_loss;
    r->val_auc = tr->last_val_auc;
    snprintf(r->last_checkpoint, sizeof r->last_checkpoint, ML__CKPT_DIR "/" ML__CKPT_NAME_FMT,
             tr->step);
    snprintf(r->best_checkpoint, sizeof r->best_checkpoint, "%s", tr->best_ckpt);
}

ml_status ml_train(const char *run_dir, const ml_table *t, const ml_join *j,
                   const ml_train_options *o, ml_train_result *result) {
    ML_TRY(check_options(o));
    if (!run_dir || !t || !j) return ML_FAIL(ML_EINVAL, "ml_train: run_dir, table and join "
                                             "are required");
    ml__trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = o;
    tr.t = t;
    tr.best_loss = INFINITY;
    tr.last_val_loss = tr.last_val_auc = NAN;
    ml_train_result r;
    memset(&r, 0, sizeof r);
    double last_loss = NAN;
    int resumed = 0;
    ml_status st = (tr.run_dir = strdup(run_dir)) ? ML_OK : ML_NOMEM();
    if (st == ML_OK) st = open_store(&tr, t, j);
    if (st == ML_OK) st = setup(&tr, j, &resumed);
    uint64_t start = tr.step;
    if (st == ML_OK) st = loop(&tr, &r, &last_loss);
    if (st == ML_OK && tr.step == start) st = ml__train_evaluate(&tr, &tr.last_val_loss,
                                                                 &tr.last_val_auc);
    if (tr.rs) {
        ml_run_status rs = st != ML_OK ? ML_RUN_FAILED
                           : r.interrupted ? ML_RUN_INTERRUPTED : ML_RUN_COMPLETED;
        if (st != ML_OK) {
            ml_error saved = *ml_error_last();
            (void)ml_runstore_log_event(tr.rs, (int64_t)tr.step, ML_EVENT_ERROR, saved.message);
            (void)ml_runstore_set_status(tr.rs, rs);
            (void)ml_runstore_close(tr.rs);
            st = ml__fail(saved.code, saved.file, saved.line, "%s", saved.message);
        } else {
            st = ml_runstore_set_status(tr.rs, rs);
            ml_status cs = ml_runstore_close(tr.rs);
            if (st == ML_OK) st = cs;
        }
    }
    if (st == ML_OK && result) {
        fill_result(&r, &tr, start, last_loss);
        *result = r;
    }
    json_decref(tr.history);
    ml__collect_free(tr.collector);
    ml__snapshot_free(tr.snapshot);
    ml_optim_free(tr.opt);
    ml_mlp_free(tr.mlp);
    ml_settransformer_free(tr.st);
    ml__train_data_free(&tr);
    free(tr.run_dir);
    return st;
}
