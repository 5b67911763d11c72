/* data.c - what a training run feeds its model: the train/validation split, CLR features or
 * sets of OTU vectors, the batch of each step and the validation metrics. It writes nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/eval.h"
#include "microlens/transform.h"
#include "train/preprocess.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/rng.h"

/* RNG streams of the run's seed, one per purpose, so that one never shifts another. */
#define STREAM_SPLIT 1u
#define STREAM_EPOCH 1000u /* + epoch */
/* CLR pseudocount for count tables (the choice, as evaluate's default). */
#define TRAIN_CLR_PSEUDOCOUNT 1.0

void ml__train_data_free(ml__trainer *tr) {
    free(tr->y);
    free(tr->train);
    free(tr->val);
    free(tr->X);
    free(tr->tok_off);
    free(tr->tok_feat);
    free(tr->perm);
    free(tr->bx);
    free(tr->by);
    free(tr->boff);
    free(tr->eval_score);
    free(tr->eval_y);
    json_decref(tr->preprocess);
}

typedef struct abund {
    double v;
    uint32_t f;
} abund;

static int abund_cmp(const void *pa, const void *pb) {
    const abund *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? 1 : -1; /* most abundant first */
    return (a->f > b->f) - (a->f < b->f);
}

static int u32_cmp(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

/* Each sample's set: present OTUs with a vector, the max_otus most abundant, feature order
 * (as ml_embed builds them). Samples with an empty set lose their class. */
static ml_status build_sets(ml__trainer *tr) {
    const ml_table *t = tr->t;
    size_t ns = ml_table_n_samples(t), total = 0, cap = tr->o->max_otus;
    abund *scratch = malloc((ml_table_n_features(t) + 1) * sizeof *scratch);
    tr->tok_off = calloc(ns + 1, sizeof *tr->tok_off);
    tr->tok_feat = malloc((ns * cap + 1) * sizeof *tr->tok_feat);
    if (!scratch || !tr->tok_off || !tr->tok_feat) {
        free(scratch);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < ns; i++) {
        const uint32_t *feat;
        const double *val;
        size_t n, k = 0;
        ml_table_row(t, i, &feat, &val, &n);
        for (size_t e = 0; e < n && tr->y[i] >= 0; e++)
            if (val[e] > 0 && ml_otuvec_find(tr->o->vectors, ml_table_feature_id(t, feat[e])))
                scratch[k++] = (abund){val[e], feat[e]};
        if (k > cap) {
            qsort(scratch, k, sizeof *scratch, abund_cmp);
            k = cap;
        }
        uint32_t *dst = tr->tok_feat + total;
        for (size_t e = 0; e < k; e++) dst[e] = scratch[e].f;
        qsort(dst, k, sizeof *dst, u32_cmp);
        if (k == 0) tr->y[i] = -1;
        total += k;
        tr->tok_off[i + 1] = total;
    }
    free(scratch);
    return ML_OK;
}

/* Stratified: per class, a seeded share of its samples. Grouped: a seeded share of groups
 * (a sample without a group is a group of its own). */
static ml_status split(ml__trainer *tr, const ml_join *j, const size_t *rows, size_t n) {
    ml__rng r;
    ml__rng_seed_stream(&r, tr->o->seed, STREAM_SPLIT);
    size_t ns = ml_table_n_samples(tr->t), ng = ml_join_n_groups(j);
    size_t n_units = ng > 0 ? ng + ns : tr->n_classes;
    char *is_val = calloc(ns + 1, 1);
    size_t *members = malloc((n + 1) * sizeof *members);
    char *unit_val = calloc(n_units + 1, 1);
    ml_status st = ML_OK;
    if (!is_val || !members || !unit_val) {
        st = ML_NOMEM();
        goto done;
    }
    if (ng > 0) {
        size_t nu = 0;
        char *seen = calloc(n_units + 1, 1);
        if (!seen) {
            st = ML_NOMEM();
            goto done;
        }
        for (size_t k = 0; k < n; k++) {
            long g = ml_join_group_of(j, rows[k]);
            size_t u = g >= 0 ? (size_t)g : ng + rows[k];
            if (!seen[u]) members[nu++] = u;
            seen[u] = 1;
        }
        free(seen);
        ml__rng_shuffle(&r, members, nu);
        size_t n_val = (size_t)floor(tr->o->val_fraction * (double)nu + 0.5);
        if (n_val >= nu) n_val = nu - 1;
        for (size_t k = 0; k < n_val; k++) unit_val[members[k]] = 1;
        for (size_t k = 0; k < n; k++) {
            long g = ml_join_group_of(j, rows[k]);
            is_val[rows[k]] = unit_val[g >= 0 ? (size_t)g : ng + rows[k]];
        }
    } else {
        for (size_t c = 0; c < tr->n_classes; c++) {
            size_t m = 0;
            for (size_t k = 0; k < n; k++)
                if ((size_t)tr->y[rows[k]] == c) members[m++] = rows[k];
            ml__rng_shuffle(&r, members, m);
            size_t n_val = (size_t)floor(tr->o->val_fraction * (double)m + 0.5);
            if (n_val >= m && m > 0) n_val = m - 1;
            for (size_t k = 0; k < n_val; k++) is_val[members[k]] = 1;
        }
    }
    tr->train = malloc((n + 1) * sizeof *tr->train);
    tr->val = malloc((n + 1) * sizeof *tr->val);
    if (!tr->train || !tr->val) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        if (is_val[rows[k]]) tr->val[tr->n_val++] = rows[k];
        else tr->train[tr->n_train++] = rows[k];
    }
done:
    free(is_val);
    free(members);
    free(unit_val);
    return st;
}

/* CLR (pseudocount 1) with standard scaling, fitted on the training split only; recorded in
 * the preprocess document so that checkpoints can be applied to new samples. */
static ml_status build_features(ml__trainer *tr) {
    ml_transform_options to = ML_TRANSFORM_OPTIONS_INIT;
    to.clr_pseudocount = TRAIN_CLR_PSEUDOCOUNT;
    to.scale = true;
    ml_transform *tf = NULL;
    size_t ns = ml_table_n_samples(tr->t);
    ML_TRY(ml_transform_fit(&tf, tr->t, tr->train, tr->n_train, &to));
    size_t d = ml_transform_n_outputs(tf);
    double *row = malloc(d * sizeof *row);
    tr->X = calloc(ns * d + 1, sizeof *tr->X);
    ml_status st = (!row || !tr->X) ? ML_NOMEM() : ML_OK;
    if (st == ML_OK) st = ml__preprocess_set_transform(tr->preprocess, tf, &to);
    for (size_t i = 0; i < ns && st == ML_OK; i++) {
        if (tr->y[i] < 0) continue;
        st = ml_transform_apply(tf, tr->t, &i, 1, row);
        for (size_t k = 0; k < d && st == ML_OK; k++) tr->X[i * d + k] = (float)row[k];
    }
    tr->n_features = d;
    free(row);
    ml_transform_free(tf);
    return st;
}

static ml_status alloc_scratch(ml__trainer *tr) {
    size_t b = tr->o->batch, d = tr->n_features, rows_per = 1;
    if (tr->o->model == ML_TRAIN_SETTRANSFORMER) rows_per = tr->o->max_otus;
    tr->perm = malloc((tr->n_train + 1) * sizeof *tr->perm);
    tr->bx = malloc((b * rows_per * d + 1) * sizeof *tr->bx);
    tr->by = malloc((b + 1) * sizeof *tr->by);
    tr->boff = malloc((b + 1) * sizeof *tr->boff);
    tr->eval_score = malloc((tr->n_val + 1) * sizeof *tr->eval_score);
    tr->eval_y = malloc((tr->n_val + 1) * sizeof *tr->eval_y);
    if (!tr->perm || !tr->bx || !tr->by || !tr->boff || !tr->eval_score || !tr->eval_y)
        return ML_NOMEM();
    tr->perm_epoch = UINT64_MAX;
    return ML_OK;
}

ml_status ml__train_data_prepare(ml__trainer *tr, const ml_join *j) {
    size_t ns = ml_table_n_samples(tr->t), n = 0;
    tr->n_classes = ml_join_n_classes(j);
    if (tr->n_classes < 2)
        return ML_FAIL(ML_EINVAL, "training needs at least 2 classes, the labels have %zu",
                       tr->n_classes);
    tr->y = malloc((ns + 1) * sizeof *tr->y);
    size_t *rows = malloc((ns + 1) * sizeof *rows);
    ml_status st = (!tr->y || !rows) ? ML_NOMEM() : ML_OK;
    for (size_t i = 0; i < ns && st == ML_OK; i++) tr->y[i] = ml_join_class_of(j, i);
    if (st == ML_OK) st = ml__preprocess_new(&tr->preprocess, tr->o, j);
    if (st == ML_OK && tr->o->model == ML_TRAIN_SETTRANSFORMER) {
        tr->n_features = ml_otuvec_dim(tr->o->vectors);
        st = build_sets(tr);
    }
    for (size_t i = 0; i < ns && st == ML_OK; i++)
        if (tr->y[i] >= 0) rows[n++] = i;
    if (st == ML_OK) st = split(tr, j, rows, n);
    free(rows);
    if (st == ML_OK && tr->n_train == 0)
        st = ML_FAIL(ML_EINVAL, "no labelled sample%s to train on",
                     tr->o->model == ML_TRAIN_SETTRANSFORMER ? " with an OTU vector" : "");
    if (st == ML_OK && tr->o->model == ML_TRAIN_MLP) st = build_features(tr);
    if (st == ML_OK) st = alloc_scratch(tr);
    return st;
}

/* Copies samples rows[0..n) into the batch buffers. */
static void gather(ml__trainer *tr, const size_t *rows, size_t n) {
    size_t d = tr->n_features, tok = 0;
    tr->boff[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = rows[k];
        tr->by[k] = tr->y[i];
        if (tr->o->model == ML_TRAIN_MLP) {
            memcpy(tr->bx + k * d, tr->X + i * d, d * sizeof *tr->bx);
            continue;
        }
        for (size_t e = tr->tok_off[i]; e < tr->tok_off[i + 1]; e++, tok++) {
            const char *id = ml_table_feature_id(tr->t, tr->tok_feat[e]);
            memcpy(tr->bx + tok * d, ml_otuvec_find(tr->o->vectors, id), d * sizeof *tr->bx);
        }
        tr->boff[k + 1] = tok;
    }
}

ml_status ml__train_batch(ml__trainer *tr, size_t *n) {
    uint64_t epoch = tr->step / tr->steps_per_epoch, k = tr->step % tr->steps_per_epoch;
    if (epoch != tr->perm_epoch) {
        /* the order of an epoch depends on (seed, epoch) only, so a resumed run needs no
         * RNG state to draw the batches an uninterrupted one would */
        ml__rng r;
        ml__rng_seed_stream(&r, tr->o->seed, STREAM_EPOCH + epoch);
        memcpy(tr->perm, tr->train, tr->n_train * sizeof *tr->perm);
        ml__rng_shuffle(&r, tr->perm, tr->n_train);
        tr->perm_epoch = epoch;
    }
    size_t first = (size_t)k * tr->o->batch, m = tr->n_train - first;
    if (m > tr->o->batch) m = tr->o->batch;
    gather(tr, tr->perm + first, m);
    *n = m;
    return ML_OK;
}

/* Adds the cross-entropy of one row of logits; score gets p(last class). */
static double row_loss(const float *z, size_t c, int y, double *score) {
    double mx = z[0], s = 0;
    for (size_t k = 1; k < c; k++)
        if (z[k] > mx) mx = z[k];
    for (size_t k = 0; k < c; k++) s += exp((double)z[k] - mx);
    double lse = mx + log(s);
    *score = exp((double)z[c - 1] - lse);
    return lse - (double)z[y];
}

static ml_status eval_chunk(ml__trainer *tr, size_t first, size_t m, double *sum) {
    gather(tr, tr->val + first, m);
    const float *logits;
    if (tr->o->model == ML_TRAIN_MLP) {
        ML_TRY(ml_mlp_forward(tr->mlp, tr->bx, m));
        logits = ml_mlp_logits(tr->mlp);
    } else {
        ml_set_batch b = {m, tr->boff, tr->bx};
        ML_TRY(ml_settransformer_forward(tr->st, &b));
        logits = ml_settransformer_class_logits(tr->st);
    }
    for (size_t k = 0; k < m; k++) {
        *sum += row_loss(logits + k * tr->n_classes, tr->n_classes, tr->by[k],
                         &tr->eval_score[first + k]);
        tr->eval_y[first + k] = tr->by[k];
    }
    return ML_OK;
}

ml_status ml__train_evaluate(ml__trainer *tr, double *loss, double *auc) {
    *loss = *auc = NAN;
    if (tr->n_val == 0) return ML_OK;
    double sum = 0;
    ml_status st = ML_OK;
    if (tr->st) ml_settransformer_set_training(tr->st, 0);
    for (size_t first = 0; first < tr->n_val && st == ML_OK; first += tr->o->batch) {
        size_t m = tr->n_val - first < tr->o->batch ? tr->n_val - first : tr->o->batch;
        st = eval_chunk(tr, first, m, &sum);
    }
    if (tr->st) ml_settransformer_set_training(tr->st, 1);
    ML_TRY(st);
    *loss = sum / (double)tr->n_val;
    /* A diverged model scores NaN: its AUC is undefined (NaN), which the analyses read as
     * such, rather than a failed run that hides what happened. */
    int seen[2] = {0, 0}, finite = 1;
    for (size_t k = 0; k < tr->n_val; k++) {
        seen[tr->eval_y[k] == 1] = 1;
        finite &= isfinite(tr->eval_score[k]) != 0;
    }
    if (tr->n_classes == 2 && seen[0] && seen[1] && finite)
        ML_TRY(ml_roc_auc(auc, tr->eval_score, tr->eval_y, tr->n_val));
    return ML_OK;
}
