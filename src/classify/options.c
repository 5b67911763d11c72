/* options.c - classifier options from text: one field by name, range checks, and
 * hyper-parameter grids ("C=0.01,0.1,1"); it fits nothing. */
#include "microlens/classify.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/text.h"

/* Longest option name or value echoed in a message. */
#define ECHO_MAX 48
/* Most combinations a grid may expand to: beyond this a search is surely a typo. */
#define GRID_MAX_POINTS 100000

typedef enum field_type {
    F_DOUBLE, F_SIZE, F_BOOL, F_U64, F_KIND, F_PENALTY, F_HIDDEN, F_CLASS_WEIGHT
} field_type;

typedef struct field {
    const char *name;
    field_type type;
    size_t offset;
    const char *accepts; /* for messages */
} field;

#define FIELD(name, type, accepts) {#name, type, offsetof(ml_classifier_options, name), accepts}
static const field fields[] = {
    FIELD(kind, F_KIND, "logreg, svm, rf or mlp"),
    FIELD(C, F_DOUBLE, "a number > 0"),
    FIELD(penalty, F_PENALTY, "l2, l1, elasticnet or none"),
    FIELD(l1_ratio, F_DOUBLE, "a number in [0, 1]"),
    FIELD(has_intercept, F_BOOL, "0 or 1"),
    FIELD(is_balanced, F_BOOL, "0 or 1"),
    {"class_weight", F_CLASS_WEIGHT, offsetof(ml_classifier_options, is_balanced),
     "balanced or none"},
    FIELD(tol, F_DOUBLE, "a number >= 0"),
    FIELD(max_iter, F_SIZE, "an integer >= 0"),
    FIELD(n_trees, F_SIZE, "an integer >= 1"),
    FIELD(max_depth, F_SIZE, "an integer >= 0 (0: unlimited)"),
    FIELD(max_features, F_SIZE, "an integer >= 0 (0: sqrt of the feature count)"),
    FIELD(min_samples_leaf, F_SIZE, "an integer >= 1"),
    {"hidden", F_HIDDEN, offsetof(ml_classifier_options, hidden),
     "1 to 8 widths >= 1 joined by 'x', e.g. 256x64"},
    FIELD(lr, F_DOUBLE, "a number > 0"),
    FIELD(weight_decay, F_DOUBLE, "a number >= 0"),
    FIELD(batch_size, F_SIZE, "an integer >= 1"),
    FIELD(max_epochs, F_SIZE, "an integer >= 1"),
    FIELD(patience, F_SIZE, "an integer >= 1"),
    FIELD(validation_fraction, F_DOUBLE, "a number in [0, 0.5]"),
    FIELD(seed, F_U64, "an unsigned 64-bit integer"),
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static const char *const kind_names[] = {"logreg", "svm", "rf", "mlp"};
static const char *const penalty_names[] = {"l2", "l1", "elasticnet", "none"};

const char *ml_classifier_kind_name(ml_classifier_kind k) {
    return (unsigned)k < 4 ? kind_names[k] : "unknown";
}

const char *ml_penalty_name(ml_penalty p) {
    return (unsigned)p < 4 ? penalty_names[p] : "unknown";
}

static const field *find_field(const char *name, size_t len) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
            return &fields[i];
    return NULL;
}

static int parse_word(const char *s, size_t len, const char *const *words, size_t n_words) {
    for (size_t i = 0; i < n_words; i++)
        if (ml__field_eq_nocase(s, len, words[i])) return (int)i;
    return -1;
}

static int parse_size(const char *s, size_t len, size_t *out) {
    double v;
    if (!ml__parse_double(s, len, &v) || v < 0 || v != floor(v) || v > 9.0e15) return 0;
    *out = (size_t)v;
    return 1;
}

static int parse_u64(const char *s, size_t len, uint64_t *out) {
    char buf[32];
    ml__trim(&s, &len);
    if (len == 0 || len >= sizeof buf) return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, 10);
    if (errno) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int parse_hidden(const char *s, size_t len, ml_classifier_options *o) {
    size_t widths[ML_MLP_MAX_HIDDEN], k = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != 'x') continue;
        if (k == ML_MLP_MAX_HIDDEN || !parse_size(s + start, i - start, &widths[k]) ||
            widths[k] == 0)
            return 0;
        k++;
        start = i + 1;
    }
    o->n_hidden = k;
    memcpy(o->hidden, widths, k * sizeof widths[0]);
    return 1;
}

/* Applies value to the field; returns 0 when the text does not parse. */
static int apply(ml_classifier_options *o, const field *f, const char *v, size_t len) {
    char *base = (char *)o + f->offset;
    double d;
    int w;
    switch (f->type) {
    case F_DOUBLE:
        if (!ml__parse_double(v, len, &d)) return 0;
        memcpy(base, &d, sizeof d);
        return 1;
    case F_SIZE: return parse_size(v, len, (size_t *)(void *)base);
    case F_U64: return parse_u64(v, len, (uint64_t *)(void *)base);
    case F_BOOL: {
        size_t b;
        if (!parse_size(v, len, &b) || b > 1) return 0;
        *(int *)(void *)base = (int)b;
        return 1;
    }
    case F_CLASS_WEIGHT: {
        static const char *const cw[] = {"none", "balanced"};
        if ((w = parse_word(v, len, cw, 2)) < 0) return 0;
        *(int *)(void *)base = w;
        return 1;
    }
    case F_KIND:
        if ((w = parse_word(v, len, kind_names, 4)) < 0) return 0;
        o->kind = (ml_classifier_kind)w;
        return 1;
    case F_PENALTY:
        if ((w = parse_word(v, len, penalty_names, 4)) < 0) return 0;
        o->penalty = (ml_penalty)w;
        return 1;
    case F_HIDDEN: return parse_hidden(v, len, o);
    }
    return 0;
}

static ml_status set_n(ml_classifier_options *o, const char *name, size_t name_len,
                       const char *value, size_t value_len) {
    char ename[ECHO_MAX], evalue[ECHO_MAX];
    ml__trim(&name, &name_len);
    ml__trim(&value, &value_len);
    const field *f = find_field(name, name_len);
    if (!f) {
        ml__sanitize(ename, sizeof ename, name, name_len);
        return ML_FAIL(ML_EINVAL, "unknown classifier option \"%s\" (expected one of C, "
                       "penalty, l1_ratio, class_weight, n_trees, max_depth, hidden, lr, ...)",
                       ename);
    }
    ml_classifier_options tmp = *o;
    if (!apply(&tmp, f, value, value_len) || ml_classifier_options_check(&tmp) != ML_OK) {
        ml__sanitize(evalue, sizeof evalue, value, value_len);
        return ML_FAIL(ML_EINVAL, "option %s=\"%s\" (expected %s)", f->name, evalue,
                       f->accepts);
    }
    *o = tmp;
    return ML_OK;
}

ml_status ml_classifier_options_set(ml_classifier_options *o, const char *name,
                                    const char *value) {
    return set_n(o, name, strlen(name), value, strlen(value));
}

static ml_status bad(const char *name, const char *accepts) {
    return ML_FAIL(ML_EINVAL, "classifier option %s out of range (expected %s)", name, accepts);
}

ml_status ml_classifier_options_check(const ml_classifier_options *o) {
    if (!o || o->version != ML_CLASSIFIER_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "classifier options: version %d (expected %d)",
                       o ? o->version : 0, ML_CLASSIFIER_OPTIONS_VERSION);
    if ((unsigned)o->kind > ML_CLASSIFIER_MLP) return bad("kind", fields[0].accepts);
    if (!(o->C > 0) || !isfinite(o->C)) return bad("C", "a finite number > 0");
    if ((unsigned)o->penalty > ML_PENALTY_NONE) return bad("penalty", fields[2].accepts);
    if (!(o->l1_ratio >= 0 && o->l1_ratio <= 1)) return bad("l1_ratio", "a number in [0, 1]");
    if ((o->has_intercept | o->is_balanced) & ~1) return bad("has_intercept/is_balanced", "0 or 1");
    if (!(o->tol >= 0) || !isfinite(o->tol)) return bad("tol", "a finite number >= 0");
    if (o->n_trees == 0 || o->n_trees > 1000000) return bad("n_trees", "1 to 1000000");
    if (o->min_samples_leaf == 0) return bad("min_samples_leaf", "an integer >= 1");
    if (o->n_hidden > ML_MLP_MAX_HIDDEN) return bad("hidden", "at most 8 layers");
    for (size_t l = 0; l < o->n_hidden; l++)
        if (o->hidden[l] == 0 || o->hidden[l] > 1000000)
            return bad("hidden", "widths 1 to 1000000");
    if (!(o->lr > 0) || !isfinite(o->lr)) return bad("lr", "a finite number > 0");
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return bad("weight_decay", "a finite number >= 0");
    if (o->batch_size == 0) return bad("batch_size", "an integer >= 1");
    if (o->max_epochs == 0) return bad("max_epochs", "an integer >= 1");
    if (o->patience == 0) return bad("patience", "an integer >= 1");
    if (!(o->validation_fraction >= 0 && o->validation_fraction <= 0.5))
        return bad("validation_fraction", "a number in [0, 0.5]");
    return ML_OK;
}

/* ---- Grids ---- */

typedef struct grid_axis {
    const field *f;
    size_t n_values;
    char **values; /* owned, trimmed copies */
} grid_axis;

struct ml_grid {
    size_t n_axes, size;
    grid_axis *axes;
};

void ml_grid_free(ml_grid *g) {
    if (!g) return;
    for (size_t a = 0; a < g->n_axes; a++) {
        for (size_t v = 0; v < g->axes[a].n_values; v++) free(g->axes[a].values[v]);
        free(g->axes[a].values);
    }
    free(g->axes);
    free(g);
}

static char *dup_trimmed(const char *s, size_t len) {
    ml__trim(&s, &len);
    char *p = malloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static size_t count_char(const char *s, size_t len, char c) {
    size_t k = 0;
    for (size_t i = 0; i < len; i++) k += (size_t)(s[i] == c);
    return k;
}

/* Parses "name=v1,v2" into axis; values are checked against base. */
static ml_status parse_axis(grid_axis *axis, const char *s, size_t len,
                            const ml_classifier_options *base) {
    char echo[ECHO_MAX];
    const char *eq = memchr(s, '=', len);
    ml__sanitize(echo, sizeof echo, s, len);
    if (!eq) return ML_FAIL(ML_EINVAL, "grid: \"%s\" has no '=' (expected NAME=V1,V2,...)", echo);
    const char *name = s, *vals = eq + 1;
    size_t name_len = (size_t)(eq - s), vals_len = len - name_len - 1;
    ml__trim(&name, &name_len);
    axis->f = find_field(name, name_len);
    if (!axis->f) {
        ml__sanitize(echo, sizeof echo, name, name_len);
        return ML_FAIL(ML_EINVAL, "grid: unknown option \"%s\" (expected a classifier option "
                       "such as C, l1_ratio, n_trees, hidden, lr)", echo);
    }
    axis->values = calloc(count_char(vals, vals_len, ',') + 1, sizeof *axis->values);
    if (!axis->values) return ML_NOMEM();
    size_t start = 0;
    for (size_t i = 0; i <= vals_len; i++) {
        if (i < vals_len && vals[i] != ',') continue;
        ml_classifier_options probe = *base;
        ml_status st = set_n(&probe, axis->f->name, strlen(axis->f->name), vals + start,
                             i - start);
        if (st != ML_OK) {
            ml__error_prefix("grid");
            return st;
        }
        char *v = dup_trimmed(vals + start, i - start);
        if (!v) return ML_NOMEM();
        axis->values[axis->n_values++] = v;
        start = i + 1;
    }
    return ML_OK;
}

static ml_status check_axes(const ml_grid *g) {
    for (size_t a = 0; a < g->n_axes; a++)
        for (size_t b = 0; b < a; b++)
            if (g->axes[a].f->offset == g->axes[b].f->offset)
                return ML_FAIL(ML_EINVAL, "grid: option %s given twice (expected one list per "
                               "option)", g->axes[a].f->name);
    return ML_OK;
}

ml_status ml_grid_parse(ml_grid **out, const char *spec, const ml_classifier_options *base) {
    ML_TRY(ml_classifier_options_check(base));
    size_t len = strlen(spec);
    ml_status st = ML_OK;
    ml_grid *g = calloc(1, sizeof *g);
    if (!g) return ML_NOMEM();
    g->axes = calloc(count_char(spec, len, ';') + 1, sizeof *g->axes);
    if (!g->axes) {
        st = ML_NOMEM();
        goto done;
    }
    g->size = 1;
    size_t start = 0;
    for (size_t i = 0; i <= len && st == ML_OK; i++) {
        if (i < len && spec[i] != ';') continue;
        const char *part = spec + start;
        size_t part_len = i - start;
        start = i + 1;
        ml__trim(&part, &part_len);
        if (part_len == 0) continue;
        st = parse_axis(&g->axes[g->n_axes++], part, part_len, base);
        if (st == ML_OK) g->size *= g->axes[g->n_axes - 1].n_values;
        if (st == ML_OK && g->size > GRID_MAX_POINTS)
            st = ML_FAIL(ML_EINVAL, "grid: more than %d combinations", GRID_MAX_POINTS);
    }
    if (st == ML_OK) st = check_axes(g);
    if (st == ML_OK) {
        *out = g;
        g = NULL;
    }
done:
    ml_grid_free(g);
    return st;
}

size_t ml_grid_size(const ml_grid *g) { return g->size; }

ml_status ml_grid_point(const ml_grid *g, size_t k, const ml_classifier_options *base,
                        ml_classifier_options *o) {
    if (k >= g->size) return ML_FAIL(ML_EINVAL, "grid point %zu of %zu requested", k, g->size);
    ml_classifier_options tmp = *base;
    for (size_t a = g->n_axes; a-- > 0;) { /* last axis varies fastest */
        const grid_axis *ax = &g->axes[a];
        const char *v = ax->values[k % ax->n_values];
        k /= ax->n_values;
        ML_TRY(set_n(&tmp, ax->f->name, strlen(ax->f->name), v, strlen(v)));
    }
    *o = tmp;
    return ML_OK;
}

size_t ml_grid_describe(const ml_grid *g, size_t k, char *buf, size_t buf_capacity) {
    size_t idx[N_FIELDS], need = 0, kk = k % (g->size ? g->size : 1);
    for (size_t a = g->n_axes; a-- > 0;) {
        idx[a] = kk % g->axes[a].n_values;
        kk /= g->axes[a].n_values;
    }
    if (buf_capacity) buf[0] = '\0';
    for (size_t a = 0; a < g->n_axes; a++) {
        const char *sep = a ? ";" : "";
        int w = snprintf(buf ? buf + (need < buf_capacity ? need : buf_capacity) : NULL,
                         need < buf_capacity ? buf_capacity - need : 0, "%s%s=%s", sep,
                         g->axes[a].f->name, g->axes[a].values[idx[a]]);
        if (w > 0) need += (size_t)w;
    }
    return need;
}
