/* mlp.c - the float MLP classifier: tensor layout and names, nn.Linear initialisation, forward,
 * cross-entropy and backward through the linear/pointwise/loss kernels. All memory is
 * allocated in ml_mlp_new; it does not train (microlens/optim.h does) nor read files. */
#include "microlens/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/actstats.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/pointwise.h"
#include "util/error.h"
#include "util/rng.h"

/* Any single size above this is refused as absurd; it keeps GEMM sizes inside blasint. */
#define MAX_DIM ((size_t)1 << 24)
/* Largest total of floats (parameters + gradients + activations): 1 TiB, beyond any machine. */
#define MAX_TOTAL_FLOATS ((size_t)1 << 38)
/* "layers.8.weight" and the like. */
#define NAME_CAP 40 /* "layers." + 20 digits of size_t + ".weight" + NUL */
#define MAX_LAYERS (ML_NN_MLP_MAX_HIDDEN + 1)

struct ml_mlp {
    ml_mlp_config cfg;
    size_t n_layers;               /* linear layers: n_hidden + 1 */
    size_t width[MAX_LAYERS + 1];  /* width[0] = d_in ... width[n_layers] = n_classes */
    size_t w_off[MAX_LAYERS], b_off[MAX_LAYERS]; /* floats into params and grads */
    char names[2 * MAX_LAYERS][NAME_CAP];
    char layer_names[MAX_LAYERS][NAME_CAP]; /* "layers.{i}", for activation statistics */
    size_t n_params;
    float *params, *grads, *acts;
    float *out[MAX_LAYERS]; /* (max_batch, width[l+1]): hidden outputs after ReLU, then logits */
    float *probs;           /* (max_batch, n_classes) softmax, kept for backward */
    float *dlogits;         /* (max_batch, n_classes) */
    float *draw, *dnext;    /* backward scratch, (max_batch, widest hidden layer): the input
                             * gradient being made, the output gradient being read */
    size_t n_rows;          /* of the last forward */
};

static size_t mul_sat(size_t a, size_t b) { return (b && a > SIZE_MAX / b) ? SIZE_MAX : a * b; }
static size_t add_sat(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static ml_status check_size(const char *name, size_t v, size_t lo) {
    if (v < lo)
        return ML_FAIL(ML_EINVAL, "mlp config: %s = %zu (expected >= %zu)", name, v, lo);
    if (v > MAX_DIM)
        return ML_FAIL(ML_EINVAL, "mlp config: %s = %zu (expected <= %zu)", name, v, MAX_DIM);
    return ML_OK;
}

static ml_status check_config(const ml_mlp_config *c) {
    if (!c || c->version != ML_MLP_CONFIG_VERSION)
        return ML_FAIL(ML_EINVAL, "mlp config: version %d (expected %d; start from "
                       "ML_MLP_CONFIG_INIT)", c ? c->version : 0, ML_MLP_CONFIG_VERSION);
    if (c->n_hidden > ML_NN_MLP_MAX_HIDDEN)
        return ML_FAIL(ML_EINVAL, "mlp config: n_hidden = %zu (expected <= %d)", c->n_hidden,
                       ML_NN_MLP_MAX_HIDDEN);
    ML_TRY(check_size("d_in", c->d_in, 1));
    ML_TRY(check_size("n_classes", c->n_classes, 2));
    ML_TRY(check_size("max_batch", c->max_batch, 1));
    for (size_t i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] == 0 || c->hidden[i] > MAX_DIM)
            return ML_FAIL(ML_EINVAL, "mlp config: hidden[%zu] = %zu (expected 1 to %zu)", i,
                           c->hidden[i], MAX_DIM);
    return ML_OK;
}

/* Widths, offsets and block sizes of a valid config; SIZE_MAX totals on overflow. */
static void plan(ml_mlp *m, size_t *n_acts) {
    const ml_mlp_config *c = &m->cfg;
    m->n_layers = c->n_hidden + 1;
    m->width[0] = c->d_in;
    for (size_t i = 0; i < c->n_hidden; i++) m->width[i + 1] = c->hidden[i];
    m->width[m->n_layers] = c->n_classes;
    size_t off = 0, acts = 0, widest = 1;
    for (size_t l = 0; l < m->n_layers; l++) {
        m->w_off[l] = off;
        off = add_sat(off, mul_sat(m->width[l + 1], m->width[l]));
        m->b_off[l] = off;
        off = add_sat(off, m->width[l + 1]);
        acts = add_sat(acts, mul_sat(c->max_batch, m->width[l + 1]));
        if (l + 1 < m->n_layers && m->width[l + 1] > widest) widest = m->width[l + 1];
        snprintf(m->names[2 * l], NAME_CAP, "layers.%zu.weight", l);
        snprintf(m->names[2 * l + 1], NAME_CAP, "layers.%zu.bias", l);
        snprintf(m->layer_names[l], NAME_CAP, "layers.%zu", l);
    }
    m->n_params = off;
    size_t classes = mul_sat(c->max_batch, c->n_classes);
    acts = add_sat(acts, classes); /* probs */
    if (c->has_grad)
        acts = add_sat(acts, add_sat(classes, mul_sat(2, mul_sat(c->max_batch, widest))));
    *n_acts = acts;
}

static void carve(ml_mlp *m) {
    const ml_mlp_config *c = &m->cfg;
    float *p = m->acts;
    size_t widest = 1;
    for (size_t l = 0; l < m->n_layers; l++) {
        m->out[l] = p;
        p += c->max_batch * m->width[l + 1];
        if (l + 1 < m->n_layers && m->width[l + 1] > widest) widest = m->width[l + 1];
    }
    m->probs = p;
    p += c->max_batch * c->n_classes;
    if (c->has_grad) {
        m->dlogits = p;
        p += c->max_batch * c->n_classes;
        m->draw = p;
        p += c->max_batch * widest;
        m->dnext = p;
    }
}

ml_status ml_mlp_new(ml_mlp **out, const ml_mlp_config *cfg) {
    ML_TRY(check_config(cfg));
    ml_mlp *m = calloc(1, sizeof *m);
    if (!m) return ML_NOMEM();
    m->cfg = *cfg;
    size_t n_acts = 0;
    plan(m, &n_acts);
    size_t total = add_sat(add_sat(m->n_params, n_acts), cfg->has_grad ? m->n_params : 0);
    if (total >= MAX_TOTAL_FLOATS) {
        free(m);
        return ML_FAIL(ML_EINVAL, "mlp config: the sizes need more memory than can be "
                       "addressed (lower max_batch or the widths)");
    }
    m->params = calloc(m->n_params, sizeof(float));
    m->acts = malloc(n_acts * sizeof(float));
    if (cfg->has_grad) m->grads = calloc(m->n_params, sizeof(float));
    if (!m->params || !m->acts || (cfg->has_grad && !m->grads)) {
        ml_mlp_free(m);
        return ML_NOMEM();
    }
    carve(m);
    *out = m;
    return ML_OK;
}

void ml_mlp_free(ml_mlp *m) {
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->acts);
    free(m);
}

const ml_mlp_config *ml_mlp_get_config(const ml_mlp *m) { return &m->cfg; }

/* nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) is U(+-1/sqrt(fan_in)), and the
 * bias uses the same bound. */
void ml_mlp_init(ml_mlp *m, uint64_t seed) {
    ml__rng r;
    ml__rng_seed(&r, seed);
    for (size_t l = 0; l < m->n_layers; l++) {
        double bound = 1.0 / sqrt((double)m->width[l]);
        size_t n_w = m->width[l + 1] * m->width[l], n_b = m->width[l + 1];
        float *w = m->params + m->w_off[l], *b = m->params + m->b_off[l];
        for (size_t i = 0; i < n_w; i++) w[i] = (float)((2.0 * ml__rng_uniform(&r) - 1.0) * bound);
        for (size_t i = 0; i < n_b; i++) b[i] = (float)((2.0 * ml__rng_uniform(&r) - 1.0) * bound);
    }
}

size_t ml_mlp_n_tensors(const ml_mlp *m) { return 2 * m->n_layers; }

ml_status ml_mlp_tensor(ml_mlp *m, size_t i, ml_nn_tensor *out) {
    if (i >= 2 * m->n_layers)
        return ML_FAIL(ML_EINVAL, "tensor index %zu out of range (the model has %zu)", i,
                       2 * m->n_layers);
    size_t l = i / 2, off = i % 2 ? m->b_off[l] : m->w_off[l];
    out->name = m->names[i];
    out->n_dims = i % 2 ? 1 : 2;
    out->shape[0] = m->width[l + 1];
    out->shape[1] = i % 2 ? 0 : m->width[l];
    out->numel = i % 2 ? m->width[l + 1] : m->width[l + 1] * m->width[l];
    out->data = m->params + off;
    out->grad = m->grads ? m->grads + off : NULL;
    return ML_OK;
}

ml_status ml_mlp_param(ml_mlp *m, const char *name, float **data, size_t *n) {
    for (size_t i = 0; i < 2 * m->n_layers; i++)
        if (name && strcmp(m->names[i], name) == 0) {
            ml_nn_tensor t;
            ML_TRY(ml_mlp_tensor(m, i, &t));
            *data = t.data;
            *n = t.numel;
            return ML_OK;
        }
    char shown[64];
    snprintf(shown, sizeof shown, "%s", name ? name : ""); /* truncated; ml__fail scrubs */
    return ML_FAIL(ML_ENOTFOUND, "mlp has no tensor named \"%s\"", shown);
}

void ml_mlp_zero_grad(ml_mlp *m) {
    if (m->grads) memset(m->grads, 0, m->n_params * sizeof(float));
}

static ml_status check_rows(const ml_mlp *m, const float *x, size_t n) {
    if (!x) return ML_FAIL(ML_EINVAL, "mlp: x is NULL");
    if (n == 0 || n > m->cfg.max_batch)
        return ML_FAIL(ML_EINVAL, "mlp: %zu rows (expected 1 to max_batch = %zu)", n,
                       m->cfg.max_batch);
    return ML_OK;
}

static void run_forward(ml_mlp *m, const float *x, size_t n) {
    const float *inp = x;
    for (size_t l = 0; l < m->n_layers; l++) {
        ml__linear_forward(m->out[l], inp, m->params + m->w_off[l], m->params + m->b_off[l], n,
                           m->width[l], m->width[l + 1]);
        if (l + 1 < m->n_layers) ml__relu_forward(m->out[l], m->out[l], n * m->width[l + 1]);
        inp = m->out[l];
    }
    m->n_rows = n;
}

ml_status ml_mlp_forward(ml_mlp *m, const float *x, size_t n) {
    ML_TRY(check_rows(m, x, n));
    run_forward(m, x, n);
    return ML_OK;
}

const float *ml_mlp_logits(const ml_mlp *m) { return m->out[m->n_layers - 1]; }

/* ReLU's backward in place: d = d where y > 0, else 0. The kept output y is ReLU(z), positive
 * exactly where z was, so it gates as z would (PyTorch: gradient 0 at 0). The value is loaded
 * before the select so that the compiler emits a mask, not a branch: the signs are random and
 * a mispredicted branch per element cost more than the GEMMs around it (perf, 11% of a set
 * transformer step in ml__relu_backward). */
static void gate_relu(float *restrict d, const float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = d[i];
        d[i] = y[i] > 0.0f ? v : 0.0f;
    }
}

ml_status ml_mlp_forward_backward(ml_mlp *m, const float *x, size_t n, const int *labels,
                                  double *loss) {
    const ml_mlp_config *c = &m->cfg;
    if (!m->grads)
        return ML_FAIL(ML_EINVAL, "mlp: built without gradients (set has_grad = 1)");
    ML_TRY(check_rows(m, x, n));
    if (!labels) return ML_FAIL(ML_EINVAL, "mlp: labels is NULL");
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= c->n_classes)
            return ML_FAIL(ML_EINVAL, "mlp: labels[%zu] = %d (expected 0 to %zu)", i, labels[i],
                           c->n_classes - 1);
    run_forward(m, x, n);
    size_t L = m->n_layers;
    double value = ml__crossentropy_forward(m->probs, m->out[L - 1], labels, n, c->n_classes);
    memset(m->dlogits, 0, n * c->n_classes * sizeof(float));
    ml__crossentropy_backward(m->dlogits, m->probs, labels, n, c->n_classes, 1.0f);
    const float *dout = m->dlogits;
    for (size_t l = L; l-- > 0;) {
        const float *inp = l == 0 ? x : m->out[l - 1];
        size_t d_in = m->width[l], d_out = m->width[l + 1];
        float *dinp = l == 0 ? NULL : m->draw;
        if (dinp) memset(dinp, 0, n * d_in * sizeof(float));
        ml__linear_backward(dinp, m->grads + m->w_off[l], m->grads + m->b_off[l], dout, inp,
                            m->params + m->w_off[l], n, d_in, d_out);
        if (!dinp) break;
        gate_relu(dinp, m->out[l - 1], n * d_in);
        float *tmp = m->draw; /* dout's buffer takes the next layer's input gradient */
        m->draw = m->dnext;
        m->dnext = tmp;
        dout = tmp;
    }
    *loss = value;
    return ML_OK;
}

size_t ml_mlp_n_act_layers(const ml_mlp *m) { return m->cfg.n_hidden; }

ml_status ml_mlp_act_stats(const ml_mlp *m, size_t layer, ml_nn_act_stats *out) {
    if (layer >= m->cfg.n_hidden)
        return ML_FAIL(ML_EINVAL, "mlp: activation layer %zu out of range (%zu hidden layers)",
                       layer, m->cfg.n_hidden);
    if (m->n_rows == 0)
        return ML_FAIL(ML_EINVAL, "mlp: no forward pass yet (activation statistics describe "
                       "the last one)");
    /* out[layer] holds the hidden layer's output after ReLU, kept for backward */
    ml__moments mo = ML__MOMENTS_INIT;
    ml__moments_add(&mo, m->out[layer], m->n_rows * m->width[layer + 1]);
    ml__moments_finish(out, &mo, &mo);
    out->layer = m->layer_names[layer];
    return ML_OK;
}
