/* mlp.c - multilayer perceptron classifier: ReLU layers through cblas_dgemm, sigmoid output,
 * weighted BCE, AdamW with early stopping on an inner stratified split; binary only. */
#include "classify/mlp.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classifier.h"
#include "util/error.h"
#include "util/rng.h"

/* Adam's moment decay rates and denominator epsilon (Kingma & Ba 2015; PyTorch defaults). */
#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8
/* Rows per forward pass when predicting. */
#define PREDICT_CHUNK 256

ml_status ml__mlp_init(ml__mlp *net, size_t d, const size_t *hidden, size_t n_hidden,
                       size_t batch_cap) {
    memset(net, 0, sizeof *net);
    net->n_layers = n_hidden + 1;
    net->width[0] = d;
    for (size_t l = 0; l < n_hidden; l++) net->width[l + 1] = hidden[l];
    net->width[net->n_layers] = 1;
    size_t p = 0, a = 0, mw = 0;
    for (size_t l = 0; l < net->n_layers; l++) {
        net->w_off[l] = p;
        p += net->width[l + 1] * net->width[l];
        net->b_off[l] = p;
        p += net->width[l + 1];
    }
    for (size_t l = 0; l <= net->n_layers; l++) {
        net->act_off[l] = a;
        a += batch_cap * net->width[l];
        if (net->width[l] > mw) mw = net->width[l];
    }
    net->n_params = p;
    net->batch_cap = batch_cap;
    net->max_width = mw;
    net->act = malloc(a * sizeof *net->act);
    net->delta = malloc(2 * batch_cap * mw * sizeof *net->delta);
    if (!net->act || !net->delta) {
        ml__mlp_free(net);
        return ML_NOMEM();
    }
    return ML_OK;
}

void ml__mlp_free(ml__mlp *net) {
    free(net->act);
    free(net->delta);
    net->act = net->delta = NULL;
}

void ml__mlp_forward(ml__mlp *net, const double *params, const double *X, const size_t *idx,
                     size_t B, double *logit) {
    size_t d = net->width[0];
    double *a0 = net->act + net->act_off[0];
    for (size_t r = 0; r < B; r++) memcpy(a0 + r * d, X + (idx ? idx[r] : r) * d, d * sizeof *a0);
    for (size_t l = 0; l < net->n_layers; l++) {
        size_t in = net->width[l], out = net->width[l + 1];
        const double *A = net->act + net->act_off[l], *W = params + net->w_off[l];
        const double *b = params + net->b_off[l];
        double *Z = net->act + net->act_off[l + 1];
        for (size_t r = 0; r < B; r++) memcpy(Z + r * out, b, out * sizeof *Z);
        /* Z (B, out) += A (B, in) W^T, W (out, in) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)out, (int)in, 1.0, A,
                    (int)in, W, (int)in, 1.0, Z, (int)out);
        if (l + 1 < net->n_layers)
            for (size_t k = 0; k < B * out; k++) Z[k] = Z[k] > 0 ? Z[k] : 0.0;
    }
    memcpy(logit, net->act + net->act_off[net->n_layers], B * sizeof *logit);
}

static double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

/* Backward through layer l: dW += dZ^T A, db += colsum dZ, and dA = dZ W masked by the ReLU
 * of the input activations (skipped for the first layer). */
static void layer_backward(ml__mlp *net, const double *params, double *grad, size_t l,
                           const double *dZ, double *dA, size_t B) {
    size_t in = net->width[l], out = net->width[l + 1];
    const double *A = net->act + net->act_off[l], *W = params + net->w_off[l];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)B, 1.0, dZ,
                (int)out, A, (int)in, 1.0, grad + net->w_off[l], (int)in);
    double *db = grad + net->b_off[l];
    for (size_t r = 0; r < B; r++)
        for (size_t k = 0; k < out; k++) db[k] += dZ[r * out + k];
    if (l == 0) return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)in, (int)out, 1.0, dZ,
                (int)out, W, (int)in, 0.0, dA, (int)in);
    for (size_t k = 0; k < B * in; k++)
        if (!(A[k] > 0)) dA[k] = 0;
}

double ml__mlp_loss_backward(ml__mlp *net, const double *params, double *grad,
                             const double *logit, const int *y, const double *w,
                             const size_t *idx, size_t B) {
    double wsum = 0, loss = 0;
    for (size_t r = 0; r < B; r++) wsum += w[idx ? idx[r] : r];
    if (!(wsum > 0)) return 0;
    double *dZ = net->delta, *dA = net->delta + net->batch_cap * net->max_width;
    for (size_t r = 0; r < B; r++) {
        size_t i = idx ? idx[r] : r;
        loss += w[i] * (softplus(logit[r]) - (y[i] ? logit[r] : 0.0));
        dZ[r] = w[i] * (sigmoid(logit[r]) - (double)y[i]) / wsum;
    }
    if (!grad) return loss / wsum;
    for (size_t l = net->n_layers; l-- > 0;) {
        layer_backward(net, params, grad, l, dZ, dA, B);
        double *t = dZ;
        dZ = dA;
        dA = t;
    }
    return loss / wsum;
}

/* PyTorch nn.Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b. */
static void init_params(const ml__mlp *net, double *params, ml__rng *rng) {
    for (size_t l = 0; l < net->n_layers; l++) {
        double bound = 1.0 / sqrt((double)net->width[l]);
        size_t end = net->b_off[l] + net->width[l + 1];
        for (size_t k = net->w_off[l]; k < end; k++)
            params[k] = (2.0 * ml__rng_uniform(rng) - 1.0) * bound;
    }
}

/* AdamW (Loshchilov & Hutter) as torch.optim.AdamW: decay, then the Adam step. */
static void adamw_step(double *p, const double *g, double *m, double *v, size_t n, size_t t,
                       const ml_classifier_options *o) {
    double bc1 = 1.0 - pow(ADAM_BETA1, (double)t), bc2 = 1.0 - pow(ADAM_BETA2, (double)t);
    for (size_t k = 0; k < n; k++) {
        p[k] -= o->lr * o->weight_decay * p[k];
        m[k] = ADAM_BETA1 * m[k] + (1 - ADAM_BETA1) * g[k];
        v[k] = ADAM_BETA2 * v[k] + (1 - ADAM_BETA2) * g[k] * g[k];
        p[k] -= o->lr * (m[k] / bc1) / (sqrt(v[k] / bc2) + ADAM_EPS);
    }
}

/* Stratified holdout: per class, round(fraction * count) shuffled samples go to validation.
 * Returns the validation count, or 0 when a class would be left with none on either side. */
static size_t holdout(const int *y, size_t n, double fraction, ml__rng *rng, size_t *train,
                      size_t *n_train, size_t *val, size_t *scratch) {
    size_t nv = 0, nt = 0;
    for (int c = 0; c < 2; c++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (y[i] == c) scratch[m++] = i;
        ml__rng_shuffle(rng, scratch, m);
        size_t k = (size_t)floor(fraction * (double)m + 0.5);
        if (k == 0 || k >= m) return 0;
        for (size_t j = 0; j < m; j++) {
            if (j < k) val[nv++] = scratch[j];
            else train[nt++] = scratch[j];
        }
    }
    *n_train = nt;
    return nv;
}

static double mean_loss(ml__mlp *net, const double *params, const double *X, const int *y,
                        const double *w, const size_t *idx, size_t m, double *logit) {
    double num = 0, den = 0;
    for (size_t s = 0; s < m; s += net->batch_cap) {
        size_t B = m - s < net->batch_cap ? m - s : net->batch_cap;
        ml__mlp_forward(net, params, X, idx + s, B, logit);
        double bw = 0;
        for (size_t r = 0; r < B; r++) bw += w[idx[s + r]];
        num += bw * ml__mlp_loss_backward(net, params, NULL, logit, y, w, idx + s, B);
        den += bw;
    }
    return den > 0 ? num / den : 0.0;
}

typedef struct trainer {
    ml__mlp net;
    double *block; /* params, grad, m, v, best: n_params each */
    size_t *train, *val, *scratch;
    double *logit;
} trainer;

static void train_epoch(trainer *T, const double *X, const int *y, const double *w,
                        size_t n_train, ml__rng *rng, size_t *step,
                        const ml_classifier_options *o) {
    size_t P = T->net.n_params;
    double *params = T->block, *grad = params + P, *m = grad + P, *v = m + P;
    ml__rng_shuffle(rng, T->train, n_train);
    for (size_t s = 0; s < n_train; s += o->batch_size) {
        size_t B = n_train - s < o->batch_size ? n_train - s : o->batch_size;
        memset(grad, 0, P * sizeof *grad);
        ml__mlp_forward(&T->net, params, X, T->train + s, B, T->logit);
        ml__mlp_loss_backward(&T->net, params, grad, T->logit, y, w, T->train + s, B);
        adamw_step(params, grad, m, v, P, ++*step, o);
    }
}

static void train(trainer *T, ml_classifier *c, const double *X, size_t n, const int *y,
                  const double *w, ml__rng *rng) {
    const ml_classifier_options *o = &c->opts;
    size_t P = T->net.n_params, n_train = n, n_val = 0, step = 0, since_best = 0;
    double *params = T->block, *best = params + 4 * P, best_loss = INFINITY;
    if (o->validation_fraction > 0)
        n_val = holdout(y, n, o->validation_fraction, rng, T->train, &n_train, T->val, T->scratch);
    if (n_val == 0) {
        n_train = n;
        for (size_t i = 0; i < n; i++) T->train[i] = i;
    }
    c->is_converged = 0;
    for (c->n_iter = 0; c->n_iter < o->max_epochs;) {
        train_epoch(T, X, y, w, n_train, rng, &step, o);
        c->n_iter++;
        if (n_val == 0) continue;
        double loss = mean_loss(&T->net, params, X, y, w, T->val, n_val, T->logit);
        if (loss < best_loss) {
            best_loss = loss;
            since_best = 0;
            memcpy(best, params, P * sizeof *best);
        } else if (++since_best >= o->patience) {
            c->is_converged = 1;
            break;
        }
    }
    if (n_val > 0) memcpy(params, best, P * sizeof *params);
}

static ml_status store(ml_classifier *c, const ml__mlp *net, const double *params) {
    char name[ML__PARAM_NAME_MAX];
    for (size_t l = 0; l < net->n_layers; l++) {
        size_t in = net->width[l], out = net->width[l + 1];
        snprintf(name, sizeof name, "layers.%zu.weight", l);
        double *W = ml__classifier_add(c, name, ML_DTYPE_F64, 2, out, in);
        snprintf(name, sizeof name, "layers.%zu.bias", l);
        double *b = W ? ml__classifier_add(c, name, ML_DTYPE_F64, 1, out, 0) : NULL;
        if (!b) return ml_error_last()->code;
        memcpy(W, params + net->w_off[l], out * in * sizeof *W);
        memcpy(b, params + net->b_off[l], out * sizeof *b);
    }
    return ML_OK;
}

ml_status ml__mlp_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                      const double *w) {
    const ml_classifier_options *o = &c->opts;
    trainer T = {0};
    size_t cap = o->batch_size > PREDICT_CHUNK ? o->batch_size : PREDICT_CHUNK;
    ML_TRY(ml__mlp_init(&T.net, c->n_features, o->hidden, o->n_hidden, cap));
    ml_status st = ML_OK;
    size_t P = T.net.n_params;
    T.block = calloc(5 * P, sizeof *T.block);
    T.train = malloc(n * sizeof *T.train);
    T.val = malloc(n * sizeof *T.val);
    T.scratch = malloc(n * sizeof *T.scratch);
    T.logit = malloc(cap * sizeof *T.logit);
    if (!T.block || !T.train || !T.val || !T.scratch || !T.logit) {
        st = ML_NOMEM();
        goto done;
    }
    ml__rng rng;
    ml__rng_seed(&rng, o->seed);
    init_params(&T.net, T.block, &rng);
    train(&T, c, X, n, y, w, &rng);
    st = store(c, &T.net, T.block);
done:
    free(T.logit);
    free(T.scratch);
    free(T.val);
    free(T.train);
    free(T.block);
    ml__mlp_free(&T.net);
    return st;
}

ml_status ml__mlp_predict(const ml_classifier *c, const double *X, size_t n, double *score) {
    const ml_classifier_options *o = &c->opts;
    ml__mlp net;
    ML_TRY(ml__mlp_init(&net, c->n_features, o->hidden, o->n_hidden, PREDICT_CHUNK));
    ml_status st = ML_OK;
    double *params = malloc(net.n_params * sizeof *params);
    if (!params) {
        st = ML_NOMEM();
        goto done;
    }
    for (size_t l = 0; l < net.n_layers; l++) { /* tensors in order: weight, bias per layer */
        const ml__param *W = &c->params[2 * l], *b = &c->params[2 * l + 1];
        memcpy(params + net.w_off[l], W->data, W->shape[0] * W->shape[1] * sizeof *params);
        memcpy(params + net.b_off[l], b->data, b->shape[0] * sizeof *params);
    }
    for (size_t s = 0; s < n; s += PREDICT_CHUNK) {
        size_t B = n - s < PREDICT_CHUNK ? n - s : PREDICT_CHUNK;
        ml__mlp_forward(&net, params, X + s * c->n_features, NULL, B, score + s);
        for (size_t r = 0; r < B; r++) score[s + r] = sigmoid(score[s + r]);
    }
done:
    free(params);
    ml__mlp_free(&net);
    return st;
}
