/* logreg.c - binary logistic regression minimising scikit-learn's objective exactly (Newton-CG
 * for L2/none, proximal Newton with coordinate descent for L1/elastic-net); binary only. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify/classifier.h"
#include "util/error.h"

/* Armijo sufficient-decrease constants (Nocedal & Wright use 1e-4; glmnet's proximal Newton
 * line search uses a looser 1e-2 so long steps survive the nonsmooth term). */
#define ARMIJO_SMOOTH 1e-4
#define ARMIJO_PROX 1e-2
#define LINE_SEARCH_HALVINGS 60
/* Coordinate-descent passes per proximal Newton step, at most. */
#define CD_MAX_PASSES 1000

/* The problem: f(theta) = 1/2 l2 |w|^2 + l1 |w|_1 + C sum_i s_i logloss(t_i, x_i.w + b).
 * theta = (w[0..d), b). */
typedef struct lr_problem {
    const double *X; /* (n, d) */
    double *Xt;      /* (d, n) copy for column access in coordinate descent; NULL otherwise */
    const int *t;
    const double *s;
    size_t n, d;
    double C, l2, l1;
    int has_b;
    double *z, *h, *u; /* (n): margins, Hessian weights C s p (1-p), scratch */
} lr_problem;

static double softplus(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

static double sigmoid(double z) {
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* u (n) = X v_w + v_b */
static void apply_x(const lr_problem *P, const double *v, double *u) {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)P->n, (int)P->d, 1.0, P->X, (int)P->d, v, 1,
                0.0, u, 1);
    double b = P->has_b ? v[P->d] : 0.0;
    if (b != 0)
        for (size_t i = 0; i < P->n; i++) u[i] += b;
}

/* out (d+1) = X~^T r: the features' rows and, for the intercept, sum r. */
static void apply_xt(const lr_problem *P, const double *r, double *out) {
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)P->n, (int)P->d, 1.0, P->X, (int)P->d, r, 1,
                0.0, out, 1);
    double sum = 0;
    if (P->has_b)
        for (size_t i = 0; i < P->n; i++) sum += r[i];
    out[P->d] = sum;
}

/* Objective at theta; leaves the margins in P->z. */
static double objective(lr_problem *P, const double *theta) {
    apply_x(P, theta, P->z);
    double loss = 0, ww = 0, w1 = 0;
    for (size_t i = 0; i < P->n; i++)
        loss += P->s[i] * (softplus(P->z[i]) - (P->t[i] ? P->z[i] : 0.0));
    for (size_t j = 0; j < P->d; j++) {
        ww += theta[j] * theta[j];
        w1 += fabs(theta[j]);
    }
    return P->C * loss + 0.5 * P->l2 * ww + P->l1 * w1;
}

/* Gradient of the smooth part (d+1) and Hessian weights from the margins in P->z. */
static void gradient(lr_problem *P, const double *theta, double *g) {
    for (size_t i = 0; i < P->n; i++) {
        double p = sigmoid(P->z[i]);
        P->u[i] = P->C * P->s[i] * (p - (double)P->t[i]);
        P->h[i] = P->C * P->s[i] * p * (1.0 - p);
    }
    apply_xt(P, P->u, g);
    for (size_t j = 0; j < P->d; j++) g[j] += P->l2 * theta[j];
}

/* out = H v, H = X~^T diag(h) X~ + l2 I (intercept row unpenalised). */
static void hess_vec(lr_problem *P, const double *v, double *out) {
    apply_x(P, v, P->u);
    for (size_t i = 0; i < P->n; i++) P->u[i] *= P->h[i];
    apply_xt(P, P->u, out);
    for (size_t j = 0; j < P->d; j++) out[j] += P->l2 * v[j];
}

static double dot(const double *a, const double *b, size_t m) {
    double s = 0;
    for (size_t i = 0; i < m; i++) s += a[i] * b[i];
    return s;
}

static double max_abs(const double *a, size_t m) {
    double s = 0;
    for (size_t i = 0; i < m; i++) s = fmax(s, fabs(a[i]));
    return s;
}

/* Conjugate gradient for H p = -g to relative residual rtol; work: 3 (m) vectors. */
static void newton_direction(lr_problem *P, const double *g, double *p, double rtol,
                             double *work) {
    size_t m = P->d + 1;
    double *r = work, *dir = work + m, *Hd = work + 2 * m;
    for (size_t j = 0; j < m; j++) {
        p[j] = 0;
        r[j] = -g[j];
        dir[j] = r[j];
    }
    double rr = dot(r, r, m), stop = rtol * rtol * rr;
    for (size_t k = 0; k < 2 * m + 10 && rr > stop; k++) {
        hess_vec(P, dir, Hd);
        double dHd = dot(dir, Hd, m);
        if (!(dHd > 0)) break; /* flat direction (penalty none): keep what we have */
        double alpha = rr / dHd;
        for (size_t j = 0; j < m; j++) {
            p[j] += alpha * dir[j];
            r[j] -= alpha * Hd[j];
        }
        double rr_new = dot(r, r, m);
        for (size_t j = 0; j < m; j++) dir[j] = r[j] + (rr_new / rr) * dir[j];
        rr = rr_new;
    }
    if (dot(p, g, m) >= 0) /* CG broke down at once: fall back to steepest descent */
        for (size_t j = 0; j < m; j++) p[j] = -g[j];
}

/* Backtracking along p from theta (objective F, model decrease delta < 0); theta and *F are
 * updated, P->z left at the new point. Returns 0 if no step decreased the objective. */
static int line_search(lr_problem *P, double *theta, double *F, const double *p, double delta,
                       double sigma, double *trial) {
    size_t m = P->d + 1;
    double step = 1.0;
    for (int k = 0; k < LINE_SEARCH_HALVINGS; k++, step *= 0.5) {
        for (size_t j = 0; j < m; j++) trial[j] = theta[j] + step * p[j];
        if (!P->has_b) trial[P->d] = 0;
        double Fn = objective(P, trial);
        /* Near the optimum the decrease drops below rounding of F; a full step that does not
         * increase F beyond that is the Newton step we want. */
        int rounding_tie = k == 0 && Fn <= *F + 8 * 2.2e-16 * fabs(*F);
        if (Fn <= *F + sigma * step * delta || rounding_tie) {
            memcpy(theta, trial, m * sizeof *theta);
            *F = Fn;
            return 1;
        }
    }
    objective(P, theta); /* restore the margins */
    return 0;
}

static void solve_newton_cg(lr_problem *P, double *theta, double *work, ml_classifier *c) {
    size_t m = P->d + 1;
    double *g = work, *p = work + m, *trial = work + 2 * m, *cg = work + 3 * m;
    double F = objective(P, theta);
    gradient(P, theta, g);
    double g0 = max_abs(g, m);
    c->is_converged = 0;
    for (c->n_iter = 0; c->n_iter < c->opts.max_iter; c->n_iter++) {
        double gmax = max_abs(g, m);
        if (gmax <= c->opts.tol * g0) {
            c->is_converged = 1;
            break;
        }
        newton_direction(P, g, p, fmin(0.5, sqrt(gmax / g0)), cg);
        if (!line_search(P, theta, &F, p, dot(g, p, m), ARMIJO_SMOOTH, trial)) break;
        gradient(P, theta, g);
    }
}

/* Distance from optimality of the composite objective: the minimum-norm subgradient. */
static double prox_violation(const lr_problem *P, const double *theta, const double *g) {
    double v = P->has_b ? fabs(g[P->d]) : 0.0;
    for (size_t j = 0; j < P->d; j++) {
        double e = theta[j] != 0 ? fabs(g[j] + P->l1 * (theta[j] > 0 ? 1 : -1))
                                 : fmax(0.0, fabs(g[j]) - P->l1);
        v = fmax(v, e);
    }
    return v;
}

static double soft_threshold(double x, double k) {
    return x > k ? x - k : x < -k ? x + k : 0.0;
}

/* One coordinate of the quadratic model; returns |change| times its curvature. */
static double cd_coordinate(lr_problem *P, size_t j, const double *theta, const double *g,
                            double a, double *delta, double *q) {
    const double *x = P->Xt + j * P->n;
    double grad = g[j] + P->l2 * delta[j];
    for (size_t i = 0; i < P->n; i++) grad += P->h[i] * x[i] * q[i];
    double u = theta[j] + delta[j];
    double un = a > 0 ? soft_threshold(u - grad / a, P->l1 / a) : (P->l1 > 0 ? 0.0 : u);
    double step = un - u;
    if (step == 0) return 0;
    delta[j] += step;
    for (size_t i = 0; i < P->n; i++) q[i] += step * x[i];
    return fabs(step) * a;
}

static double cd_intercept(lr_problem *P, const double *g, double *delta, double *q) {
    double grad = g[P->d], a = 0;
    for (size_t i = 0; i < P->n; i++) {
        grad += P->h[i] * q[i];
        a += P->h[i];
    }
    if (!(a > 0)) return 0;
    double step = -grad / a;
    delta[P->d] += step;
    for (size_t i = 0; i < P->n; i++) q[i] += step;
    return fabs(step) * a;
}

/* Minimises g.D + 1/2 D^T H D + l1 |w + D|_1 by cyclic coordinate descent until no coordinate
 * moves the gradient by more than inner_tol. curv: (d) scratch; q: (n) scratch. */
static void cd_direction(lr_problem *P, const double *theta, const double *g, double *delta,
                         double *curv, double *q, double inner_tol) {
    memset(delta, 0, (P->d + 1) * sizeof *delta);
    memset(q, 0, P->n * sizeof *q);
    for (size_t j = 0; j < P->d; j++) {
        const double *x = P->Xt + j * P->n;
        double a = P->l2;
        for (size_t i = 0; i < P->n; i++) a += P->h[i] * x[i] * x[i];
        curv[j] = a;
    }
    for (int pass = 0; pass < CD_MAX_PASSES; pass++) {
        double moved = P->has_b ? cd_intercept(P, g, delta, q) : 0.0;
        for (size_t j = 0; j < P->d; j++)
            moved = fmax(moved, cd_coordinate(P, j, theta, g, curv[j], delta, q));
        if (moved <= inner_tol) break;
    }
}

static void solve_prox_newton(lr_problem *P, double *theta, double *work, ml_classifier *c) {
    size_t m = P->d + 1;
    double *g = work, *p = work + m, *trial = work + 2 * m, *curv = work + 3 * m;
    double *q = work + 4 * m;
    double F = objective(P, theta);
    gradient(P, theta, g);
    double g0 = max_abs(g, m);
    c->is_converged = 0;
    for (c->n_iter = 0; c->n_iter < c->opts.max_iter; c->n_iter++) {
        double viol = prox_violation(P, theta, g);
        if (viol <= c->opts.tol * g0) {
            c->is_converged = 1;
            break;
        }
        cd_direction(P, theta, g, p, curv, q, 0.1 * viol);
        double l1_change = 0;
        for (size_t j = 0; j < P->d; j++) l1_change += fabs(theta[j] + p[j]) - fabs(theta[j]);
        double delta = dot(g, p, m) + P->l1 * l1_change;
        if (!(delta < 0)) break;
        if (!line_search(P, theta, &F, p, delta, ARMIJO_PROX, trial)) break;
        gradient(P, theta, g);
    }
}

static double *transpose(const double *X, size_t n, size_t d) {
    double *T = malloc(n * d * sizeof *T);
    if (!T) return NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) T[j * n + i] = X[i * d + j];
    return T;
}

static void set_penalty(lr_problem *P, const ml_classifier_options *o) {
    P->C = o->C;
    switch (o->penalty) {
    case ML_PENALTY_L2: P->l2 = 1.0; P->l1 = 0.0; break;
    case ML_PENALTY_L1: P->l2 = 0.0; P->l1 = 1.0; break;
    case ML_PENALTY_ELASTICNET: P->l2 = 1.0 - o->l1_ratio; P->l1 = o->l1_ratio; break;
    case ML_PENALTY_NONE: P->l2 = 0.0; P->l1 = 0.0; break;
    }
}

ml_status ml__logreg_fit(ml_classifier *c, const double *X, size_t n, const int *y,
                         const double *w) {
    size_t d = c->n_features, m = d + 1;
    lr_problem P = {X, NULL, y, w, n, d, 0, 0, 0, c->opts.has_intercept, NULL, NULL, NULL};
    set_penalty(&P, &c->opts);
    ml_status st = ML_OK;
    double *theta = calloc(m, sizeof *theta);
    double *work = malloc((6 * m + n) * sizeof *work);
    double *nbuf = malloc(3 * n * sizeof *nbuf);
    if (P.l1 > 0) P.Xt = transpose(X, n, d);
    if (!theta || !work || !nbuf || (P.l1 > 0 && !P.Xt)) {
        st = ML_NOMEM();
        goto done;
    }
    P.z = nbuf;
    P.h = nbuf + n;
    P.u = nbuf + 2 * n;
    if (P.l1 > 0) solve_prox_newton(&P, theta, work, c);
    else solve_newton_cg(&P, theta, work, c);
    double *coef = ml__classifier_add(c, "coef", ML_DTYPE_F64, 2, 1, d);
    double *icpt = coef ? ml__classifier_add(c, "intercept", ML_DTYPE_F64, 1, 1, 0) : NULL;
    if (!icpt) {
        st = ml_error_last()->code;
        goto done;
    }
    memcpy(coef, theta, d * sizeof *coef);
    *icpt = P.has_b ? theta[d] : 0.0;
done:
    free(P.Xt);
    free(nbuf);
    free(work);
    free(theta);
    return st;
}
