/* optim.c - AdamW and SGD steps as PyTorch 1.13 computes them (AdamW up to float rounding), global-norm clipping,
 * learning-rate schedules and the optimizer state as named tensors, and the same steps
 * measuring each tensor's change for the training collectors (nn/optim.h); it never allocates
 * after ml_optim_new and never looks at how gradients were computed. */
#include "microlens/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim.h"
#include "nn/simd.h"
#include "util/error.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* torch.nn.utils.clip_grad_norm_ adds this to the norm before dividing (1.13, clip_grad.py). */
#define CLIP_NORM_EPS 1e-6
/* Longest state-name prefix ("exp_avg_sq.") plus the tensor name and its NUL. */
#define STATE_NAME_CAP (ML_OPTIM_MAX_NAME + 16)
/* Partial sums of the squared-norm loop: independent chains the CPU can overlap. */
#define NORM_LANES 8
/* Values per block of a measured step: the block's weights are copied first (4 KiB, which stays
 * in L1 through the update) and compared after it, so ||dw|| needs no copy of the model. */
#define MEASURE_BLOCK 1024
/* Double accumulator chains of the change sum: GCC vectorises 8 in every clone. */
#define MEASURE_LANES 8
/* M_PI is not C11 (POSIX XSI only). */
#define PI 3.14159265358979323846

typedef struct optim_param {
    float *data;
    float *grad;
    size_t numel, n_dims, shape[2];
} optim_param;

struct ml_optim {
    ml_optim_config cfg;
    optim_param *params;
    size_t n_params;
    size_t n_bufs;        /* state buffers per tensor: AdamW 2, SGD momentum 1, plain SGD 0 */
    float *state;         /* n_bufs buffers per tensor, tensor by tensor, buffer by buffer */
    float **bufs;         /* n_params * n_bufs views into state */
    char (*names)[STATE_NAME_CAP]; /* n_params * n_bufs state names */
    int64_t step;         /* completed steps; int64 so that "step" can be lent as I64 */
};

static const char *const adamw_prefixes[] = {"exp_avg.", "exp_avg_sq."};
static const char *const sgd_prefixes[] = {"momentum_buffer."};

/* ---- construction ----------------------------------------------------------------------- */

static ml_status check_config(const ml_optim_config *c) {
    if (!c || c->version != ML_OPTIM_CONFIG_VERSION)
        return ML_FAIL(ML_EINVAL, "optimizer config: version %d (expected %d; start from "
                       "ML_OPTIM_CONFIG_INIT)", c ? c->version : 0, ML_OPTIM_CONFIG_VERSION);
    if (c->kind != ML_OPTIM_ADAMW && c->kind != ML_OPTIM_SGD)
        return ML_FAIL(ML_EINVAL, "optimizer config: kind %d (expected ML_OPTIM_ADAMW or "
                       "ML_OPTIM_SGD)", (int)c->kind);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return ML_FAIL(ML_EINVAL, "optimizer config: weight_decay %g (expected a finite value "
                       ">= 0)", c->weight_decay);
    if (c->kind == ML_OPTIM_ADAMW) {
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
            return ML_FAIL(ML_EINVAL, "optimizer config: beta1 %g (expected 0 <= beta1 < 1)",
                           c->beta1);
        if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return ML_FAIL(ML_EINVAL, "optimizer config: beta2 %g (expected 0 <= beta2 < 1)",
                           c->beta2);
        if (!(c->eps >= 0.0) || !isfinite(c->eps))
            return ML_FAIL(ML_EINVAL, "optimizer config: eps %g (expected a finite value >= 0)",
                           c->eps);
    } else {
        if (!(c->momentum >= 0.0) || !isfinite(c->momentum))
            return ML_FAIL(ML_EINVAL, "optimizer config: momentum %g (expected a finite value "
                           ">= 0)", c->momentum);
        if (c->is_nesterov && c->momentum == 0.0)
            return ML_FAIL(ML_EINVAL, "optimizer config: Nesterov momentum needs momentum > 0");
    }
    return ML_OK;
}

static size_t bufs_per_tensor(const ml_optim_config *c) {
    if (c->kind == ML_OPTIM_ADAMW) return 2;
    return c->momentum != 0.0 ? 1 : 0;
}

static const char *const *prefixes(const ml_optim *o) {
    return o->cfg.kind == ML_OPTIM_ADAMW ? adamw_prefixes : sgd_prefixes;
}

/* Checks the trainable tensors' names and counts them and their floats. */
static ml_status scan_tensors(const ml_nn_tensor *t, size_t n, size_t *n_train,
                              size_t *n_floats) {
    size_t k = 0, floats = 0;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].grad) continue;
        size_t len = t[i].name ? strlen(t[i].name) : 0;
        if (len == 0 || len > ML_OPTIM_MAX_NAME)
            return ML_FAIL(ML_EINVAL, "optimizer: tensor %zu has an empty name or one over %d "
                           "bytes", i, ML_OPTIM_MAX_NAME);
        if (!t[i].data && t[i].numel > 0)
            return ML_FAIL(ML_EINVAL, "optimizer: tensor \"%s\" has no data", t[i].name);
        for (size_t j = 0; j < i; j++)
            if (t[j].grad && strcmp(t[j].name, t[i].name) == 0)
                return ML_FAIL(ML_EINVAL, "optimizer: tensor name \"%s\" appears twice (at %zu "
                               "and %zu)", t[i].name, j, i);
        if (floats > SIZE_MAX / 4 - t[i].numel)
            return ML_FAIL(ML_EINVAL, "optimizer: the tensors hold too many values");
        floats += t[i].numel;
        k++;
    }
    if (k == 0) return ML_FAIL(ML_EINVAL, "optimizer: no trainable tensor (every grad is NULL)");
    *n_train = k;
    *n_floats = floats;
    return ML_OK;
}

/* Fills params, bufs and names once the blocks exist. */
static void lay_out(ml_optim *o, const ml_nn_tensor *t, size_t n) {
    size_t k = 0, off = 0;
    const char *const *pre = prefixes(o);
    for (size_t i = 0; i < n; i++) {
        if (!t[i].grad) continue;
        optim_param *p = &o->params[k];
        p->data = t[i].data;
        p->grad = t[i].grad;
        p->numel = t[i].numel;
        p->n_dims = t[i].n_dims;
        p->shape[0] = t[i].shape[0];
        p->shape[1] = t[i].shape[1];
        for (size_t b = 0; b < o->n_bufs; b++) {
            o->bufs[k * o->n_bufs + b] = o->state + off;
            off += p->numel;
            /* both parts fit: the prefix is short and the name was checked in scan_tensors */
            char *dst = o->names[k * o->n_bufs + b];
            size_t plen = strlen(pre[b]), nlen = strlen(t[i].name);
            memcpy(dst, pre[b], plen);
            memcpy(dst + plen, t[i].name, nlen + 1);
        }
        k++;
    }
}

ml_status ml_optim_new(ml_optim **out, const ml_optim_config *cfg, const ml_nn_tensor *tensors,
                       size_t n_tensors) {
    ML_TRY(check_config(cfg));
    if (!tensors && n_tensors > 0)
        return ML_FAIL(ML_EINVAL, "optimizer: tensors is NULL");
    size_t n_train = 0, n_floats = 0;
    ML_TRY(scan_tensors(tensors, n_tensors, &n_train, &n_floats));
    ml_optim *o = calloc(1, sizeof *o);
    if (!o) return ML_NOMEM();
    o->cfg = *cfg;
    o->n_params = n_train;
    o->n_bufs = bufs_per_tensor(cfg);
    o->params = calloc(n_train, sizeof *o->params);
    size_t n_slots = n_train * o->n_bufs;
    if (n_slots > 0) {
        o->state = calloc(n_floats * o->n_bufs, sizeof(float));
        o->bufs = calloc(n_slots, sizeof *o->bufs);
        o->names = calloc(n_slots, sizeof *o->names);
    }
    if (!o->params || (n_slots > 0 && (!o->bufs || !o->names || (n_floats > 0 && !o->state)))) {
        ml_optim_free(o);
        return ML_NOMEM();
    }
    lay_out(o, tensors, n_tensors);
    *out = o;
    return ML_OK;
}

void ml_optim_free(ml_optim *o) {
    if (!o) return;
    free(o->params);
    free(o->state);
    free(o->bufs);
    free(o->names);
    free(o);
}

/* ---- steps ------------------------------------------------------------------------------ */

/* Scalars of one AdamW step (computed in double, applied in float as torch applies Python
 * numbers to float32 tensors). */
typedef struct adamw_scalars {
    float decay, b1, one_minus_b1, b2, one_minus_b2, neg_step, eps_hat;
} adamw_scalars;

/* torch 1.13 _single_tensor_adamw: param.mul_(1 - lr*wd); exp_avg.mul_(b1).add_(g, 1 - b1);
 * exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2); denom = exp_avg_sq.sqrt() / bc2_sqrt + eps;
 * param.addcdiv_(exp_avg, denom, -lr / bc1). One fused pass instead of torch's seven, and the
 * bias correction folded as in Kingma & Ba's efficient form (section 2): the update is
 * -(lr bc2_sqrt / bc1) m / (sqrt(v) + eps bc2_sqrt), the same value up to float rounding with
 * one division per element instead of two (the divider bounds this loop). */
#if defined(__SSE2__)
/* Four lanes at a time with the scalar loop's operations in the same order (no FMA), so the
 * results are bit-identical to it; the release build's baseline (-O2, x86-64) does not
 * vectorise sqrtf, whose errno handling blocks the vectoriser, and the square root and the
 * division were half of an MLP training step. Returns the elements done. */
static size_t adamw_update_sse2(float *restrict w, const float *restrict g, float *restrict m,
                                float *restrict v, size_t n, const adamw_scalars *s) {
    const __m128 b1 = _mm_set1_ps(s->b1), omb1 = _mm_set1_ps(s->one_minus_b1);
    const __m128 b2 = _mm_set1_ps(s->b2), omb2 = _mm_set1_ps(s->one_minus_b2);
    const __m128 decay = _mm_set1_ps(s->decay), step = _mm_set1_ps(s->neg_step);
    const __m128 eps = _mm_set1_ps(s->eps_hat);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m128 gi = _mm_loadu_ps(g + i);
        __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), b1), _mm_mul_ps(gi, omb1));
        __m128 vi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), b2),
                               _mm_mul_ps(omb2, _mm_mul_ps(gi, gi)));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        __m128 denom = _mm_add_ps(_mm_sqrt_ps(vi), eps);
        __m128 wi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(w + i), decay),
                               _mm_mul_ps(step, _mm_div_ps(mi, denom)));
        _mm_storeu_ps(w + i, wi);
    }
    return i;
}
#endif

static void adamw_update(float *restrict w, const float *restrict g, float *restrict m,
                         float *restrict v, size_t n, const adamw_scalars *s) {
    const adamw_scalars k = *s;
    size_t start = 0;
#if defined(__SSE2__)
    start = adamw_update_sse2(w, g, m, v, n, s);
#endif
    for (size_t i = start; i < n; i++) {
        float gi = g[i];
        float mi = m[i] * k.b1 + gi * k.one_minus_b1;
        float vi = v[i] * k.b2 + k.one_minus_b2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) + k.eps_hat;
        w[i] = w[i] * k.decay + k.neg_step * (mi / denom);
    }
}

/* Sum of (after - before)^2, each difference taken in float (the change as stored) and
 * squared and summed in double, MEASURE_LANES chains added in a fixed order. */
ML_MULTIVERSION
static double change_sq(const float *restrict after, const float *restrict before, size_t n) {
    double lane[MEASURE_LANES] = {0};
    size_t i = 0;
    for (; i + MEASURE_LANES <= n; i += MEASURE_LANES)
        for (size_t j = 0; j < MEASURE_LANES; j++) {
            double d = (double)(after[i + j] - before[i + j]);
            lane[j] += d * d;
        }
    double s = 0.0;
    for (size_t j = 0; j < MEASURE_LANES; j++) s += lane[j];
    for (; i < n; i++) {
        double d = (double)(after[i] - before[i]);
        s += d * d;
    }
    return s;
}

static void adamw_step(ml_optim *o, double lr, double *update_sq) {
    const ml_optim_config *c = &o->cfg;
    double t = (double)o->step; /* already incremented, as torch's step_t += 1 comes first */
    adamw_scalars s;
    s.decay = (float)(1.0 - lr * c->weight_decay);
    s.b1 = (float)c->beta1;
    s.one_minus_b1 = (float)(1.0 - c->beta1);
    s.b2 = (float)c->beta2;
    s.one_minus_b2 = (float)(1.0 - c->beta2);
    double bc2_sqrt = sqrt(1.0 - pow(c->beta2, t));
    s.neg_step = (float)(-lr * bc2_sqrt / (1.0 - pow(c->beta1, t)));
    s.eps_hat = (float)(c->eps * bc2_sqrt);
    float before[MEASURE_BLOCK];
    for (size_t k = 0; k < o->n_params; k++) {
        const optim_param *p = &o->params[k];
        float *m = o->bufs[2 * k], *v = o->bufs[2 * k + 1];
        if (!update_sq) {
            adamw_update(p->data, p->grad, m, v, p->numel, &s);
            continue;
        }
        /* element by element, so block by block gives the same bits as one call */
        for (size_t b = 0; b < p->numel; b += MEASURE_BLOCK) {
            size_t n = p->numel - b < MEASURE_BLOCK ? p->numel - b : MEASURE_BLOCK;
            memcpy(before, p->data + b, n * sizeof *before);
            adamw_update(p->data + b, p->grad + b, m + b, v + b, n, &s);
            update_sq[k] += change_sq(p->data + b, before, n);
        }
    }
}

/* torch 1.13 _single_tensor_sgd with dampening 0: d = g + wd w; buf = momentum buf + d (buf
 * starts at zero, which equals torch's clone of d on the first step); d = buf, or
 * d + momentum buf with Nesterov; param.add_(d, alpha=-lr). */
static void sgd_update(float *restrict w, const float *restrict g, float *restrict buf, size_t n,
                       float wd, float momentum, int is_nesterov, float neg_lr) {
    for (size_t i = 0; i < n; i++) {
        float d = wd != 0.0f ? g[i] + wd * w[i] : g[i];
        if (buf) {
            float b = buf[i] * momentum + d;
            buf[i] = b;
            d = is_nesterov ? d + momentum * b : b;
        }
        w[i] = w[i] + neg_lr * d;
    }
}

static void sgd_step(ml_optim *o, double lr, double *update_sq) {
    const ml_optim_config *c = &o->cfg;
    float before[MEASURE_BLOCK];
    for (size_t k = 0; k < o->n_params; k++) {
        const optim_param *p = &o->params[k];
        float *buf = o->n_bufs ? o->bufs[k] : NULL;
        size_t step = update_sq ? MEASURE_BLOCK : p->numel;
        for (size_t b = 0; b < p->numel; b += step) {
            size_t n = p->numel - b < step ? p->numel - b : step;
            if (update_sq) memcpy(before, p->data + b, n * sizeof *before);
            sgd_update(p->data + b, p->grad + b, buf ? buf + b : NULL, n,
                       (float)c->weight_decay, (float)c->momentum, c->is_nesterov, (float)-lr);
            if (update_sq) update_sq[k] += change_sq(p->data + b, before, n);
        }
    }
}

static ml_status step(ml_optim *o, double lr, double *update_sq) {
    if (!(lr >= 0.0) || !isfinite(lr))
        return ML_FAIL(ML_EINVAL, "optimizer step: learning rate %g (expected a finite value "
                       ">= 0)", lr);
    if (update_sq)
        for (size_t k = 0; k < o->n_params; k++) update_sq[k] = 0.0;
    o->step++;
    if (o->cfg.kind == ML_OPTIM_ADAMW)
        adamw_step(o, lr, update_sq);
    else
        sgd_step(o, lr, update_sq);
    return ML_OK;
}

ml_status ml_optim_step(ml_optim *o, double lr) { return step(o, lr, NULL); }

ml_status ml__optim_step_measured(ml_optim *o, double lr, double *update_sq) {
    return step(o, lr, update_sq);
}

size_t ml__optim_n_trainable(const ml_optim *o) { return o->n_params; }

uint64_t ml_optim_step_count(const ml_optim *o) { return (uint64_t)o->step; }

/* ---- clipping --------------------------------------------------------------------------- */

static double sum_squares(const float *g, size_t n) {
    double lane[NORM_LANES] = {0};
    size_t i = 0;
    for (; i + NORM_LANES <= n; i += NORM_LANES)
        for (size_t j = 0; j < NORM_LANES; j++) lane[j] += (double)g[i + j] * (double)g[i + j];
    double s = 0.0;
    for (; i < n; i++) s += (double)g[i] * (double)g[i];
    for (size_t j = 0; j < NORM_LANES; j++) s += lane[j];
    return s;
}

static void scale(float *g, size_t n, float f) {
    for (size_t i = 0; i < n; i++) g[i] *= f;
}

ml_status ml_optim_clip_grad_norm(ml_optim *o, double max_norm, double *norm) {
    if (!(max_norm > 0.0))
        return ML_FAIL(ML_EINVAL, "clip_grad_norm: max_norm %g (expected > 0)", max_norm);
    double total = 0.0;
    for (size_t k = 0; k < o->n_params; k++)
        total += sum_squares(o->params[k].grad, o->params[k].numel);
    double value = sqrt(total);
    double coef = max_norm / (value + CLIP_NORM_EPS);
    if (isfinite(value) && coef < 1.0)
        for (size_t k = 0; k < o->n_params; k++)
            scale(o->params[k].grad, o->params[k].numel, (float)coef);
    *norm = value;
    return ML_OK;
}

/* ---- state ------------------------------------------------------------------------------ */

size_t ml_optim_n_state(const ml_optim *o) { return o->n_params * o->n_bufs + 1; }

static void param_view(const optim_param *p, ml_tensor_view *v) {
    v->dtype = ML_DTYPE_F32;
    v->n_dims = p->n_dims;
    for (size_t d = 0; d < ML_TENSOR_MAX_DIMS; d++)
        v->shape[d] = d < p->n_dims && d < 2 ? p->shape[d] : 0;
}

ml_status ml_optim_state(const ml_optim *o, size_t i, ml_tensor_view *out) {
    size_t n = ml_optim_n_state(o);
    if (i >= n)
        return ML_FAIL(ML_EINVAL, "optimizer state index %zu out of range (there are %zu)", i,
                       n);
    ml_tensor_view v;
    memset(&v, 0, sizeof v);
    if (i == n - 1) {
        v.name = "step";
        v.dtype = ML_DTYPE_I64;
        v.n_dims = 0;
        v.data = &o->step;
    } else {
        param_view(&o->params[i / o->n_bufs], &v);
        v.name = o->names[i];
        v.data = o->bufs[i];
    }
    *out = v;
    return ML_OK;
}

/* Little-endian bytes, any alignment (safetensors data need not be aligned). */
static float read_f32_le(const unsigned char *b) {
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static int64_t read_i64_le(const unsigned char *b) {
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = u << 8 | b[k];
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* The one tensor named name among t[0..n), or NULL with the error set. */
static const ml_tensor_view *find_once(const ml_tensor_view *t, size_t n, const char *name) {
    const ml_tensor_view *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].name || strcmp(t[i].name, name) != 0) continue;
        if (found) {
            ML_FAIL(ML_EFORMAT, "optimizer state: tensor \"%s\" appears twice", name);
            return NULL;
        }
        found = &t[i];
    }
    if (!found) ML_FAIL(ML_EFORMAT, "optimizer state: tensor \"%s\" is missing", name);
    return found;
}

static int same_shape(const ml_tensor_view *a, const ml_tensor_view *b) {
    if (a->n_dims != b->n_dims) return 0;
    for (size_t d = 0; d < a->n_dims && d < ML_TENSOR_MAX_DIMS; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

static ml_status check_buffer(const ml_tensor_view *want, const ml_tensor_view *got,
                              size_t numel) {
    if (got->dtype != ML_DTYPE_F32 || !same_shape(want, got))
        return ML_FAIL(ML_EFORMAT, "optimizer state: tensor \"%s\" is %s with %zu dims "
                       "(expected F32 with the shape of its parameter, %zu values)", want->name,
                       ml_dtype_name(got->dtype), got->n_dims, numel);
    if (numel > 0 && !got->data)
        return ML_FAIL(ML_EFORMAT, "optimizer state: tensor \"%s\" has no data", want->name);
    const unsigned char *b = got->data;
    for (size_t j = 0; j < numel; j++)
        if (!isfinite(read_f32_le(b + 4 * j)))
            return ML_FAIL(ML_EFORMAT, "optimizer state: tensor \"%s\" holds a non-finite value "
                           "at index %zu", want->name, j);
    return ML_OK;
}

static ml_status check_step(const ml_tensor_view *got, int64_t *step) {
    int is_scalar = got->n_dims == 0 || (got->n_dims == 1 && got->shape[0] == 1);
    if (got->dtype != ML_DTYPE_I64 || !is_scalar || !got->data)
        return ML_FAIL(ML_EFORMAT, "optimizer state: tensor \"step\" is %s with %zu dims "
                       "(expected an I64 scalar)", ml_dtype_name(got->dtype), got->n_dims);
    int64_t v = read_i64_le(got->data);
    if (v < 0)
        return ML_FAIL(ML_EFORMAT, "optimizer state: step %lld (expected >= 0)", (long long)v);
    *step = v;
    return ML_OK;
}

ml_status ml_optim_load_state(ml_optim *o, const ml_tensor_view *tensors, size_t n) {
    size_t n_state = ml_optim_n_state(o);
    if (!tensors && n > 0) return ML_FAIL(ML_EINVAL, "optimizer state: tensors is NULL");
    int64_t step = 0;
    for (size_t i = 0; i < n_state; i++) {
        ml_tensor_view want;
        ML_TRY(ml_optim_state(o, i, &want));
        const ml_tensor_view *got = find_once(tensors, n, want.name);
        if (!got) return ml_error_last()->code;
        if (i == n_state - 1)
            ML_TRY(check_step(got, &step));
        else
            ML_TRY(check_buffer(&want, got, o->params[i / o->n_bufs].numel));
    }
    /* every expected name was found exactly once; any extra tensor is unexpected */
    if (n != n_state)
        for (size_t i = 0; i < n; i++) {
            int known = 0;
            for (size_t j = 0; j + 1 < n_state && !known; j++)
                known = tensors[i].name && strcmp(tensors[i].name, o->names[j]) == 0;
            if (!known && !(tensors[i].name && strcmp(tensors[i].name, "step") == 0))
                return ML_FAIL(ML_EFORMAT, "optimizer state: unexpected tensor \"%.100s\" (not "
                               "a state of this optimizer's tensors)",
                               tensors[i].name ? tensors[i].name : "");
        }
    for (size_t i = 0; i + 1 < n_state; i++) {
        const ml_tensor_view *got = find_once(tensors, n, o->names[i]);
        const unsigned char *b = got->data;
        float *dst = o->bufs[i];
        for (size_t j = 0; j < o->params[i / o->n_bufs].numel; j++) dst[j] = read_f32_le(b + 4 * j);
    }
    o->step = step;
    return ML_OK;
}

/* ---- schedules -------------------------------------------------------------------------- */

ml_status ml_lr_schedule_check(const ml_lr_schedule *s) {
    if (!s) return ML_FAIL(ML_EINVAL, "lr schedule: NULL");
    if (s->kind != ML_SCHEDULE_CONSTANT && s->kind != ML_SCHEDULE_LINEAR &&
        s->kind != ML_SCHEDULE_COSINE)
        return ML_FAIL(ML_EINVAL, "lr schedule: kind %d (expected constant, linear or cosine)",
                       (int)s->kind);
    if (s->kind == ML_SCHEDULE_CONSTANT) return ML_OK;
    if (s->total_steps == 0)
        return ML_FAIL(ML_EINVAL, "lr schedule: total_steps is 0 (expected >= 1 for a decaying "
                       "schedule)");
    if (s->warmup_steps > s->total_steps)
        return ML_FAIL(ML_EINVAL, "lr schedule: warmup_steps %llu exceeds total_steps %llu",
                       (unsigned long long)s->warmup_steps,
                       (unsigned long long)s->total_steps);
    if (s->kind == ML_SCHEDULE_COSINE && (!(s->num_cycles >= 0.0) || !isfinite(s->num_cycles)))
        return ML_FAIL(ML_EINVAL, "lr schedule: num_cycles %g (expected a finite value >= 0)",
                       s->num_cycles);
    return ML_OK;
}

static double max1(uint64_t v) { return v > 0 ? (double)v : 1.0; }

double ml_lr_schedule_factor(const ml_lr_schedule *s, uint64_t step) {
    if (step < s->warmup_steps) return (double)step / max1(s->warmup_steps);
    if (s->kind == ML_SCHEDULE_CONSTANT) return 1.0;
    double span = max1(s->total_steps - s->warmup_steps);
    if (s->kind == ML_SCHEDULE_LINEAR) {
        if (step >= s->total_steps) return 0.0;
        return (double)(s->total_steps - step) / span;
    }
    double progress = (double)(step - s->warmup_steps) / span;
    double f = 0.5 * (1.0 + cos(PI * s->num_cycles * 2.0 * progress));
    return f > 0.0 ? f : 0.0;
}
