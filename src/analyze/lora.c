/* lora.c - LoRA spectra and update cosines of PEFT adapters: pairs lora_A with lora_B, applies
 * adapter_config.json's scale, and gets the singular values of W = scale·B·A from thin QR
 * factors of B and A^T and an SVD of an r x r core. It never forms B·A (d_out x d_in) nor
 * decomposes anything larger than r x r besides the thin factors themselves.
 *
 * Why the core has W's singular values: QR of B (d_out x r) gives B = Q_B R_B with Q_B
 * (d_out x k_B) orthonormal columns, k_B = min(r, d_out); QR of A^T (d_in x r) gives
 * A = R_A^T Q_A^T likewise. So W = Q_B (scale R_B R_A^T) Q_A^T and the orthonormal factors leave
 * singular values alone: sigma(W) = sigma(core), core = scale R_B R_A^T (k_B x k_A). W has at
 * most min(r, d_out, d_in) nonzero singular values; a spectrum lists r of them, the rest exact
 * zeros. The QRs are LAPACK's dgeqrt (compact-WY blocks, BLAS-3 within a panel), twice as fast
 * as dgeqrf on these tall, thin matrices; both factors are kept column-major so that each QR
 * reads contiguous memory: row-major A (r, d_in) already is A^T column-major, and B is
 * transposed once when it is read. */
#include "analyze/lora.h"

#include <cblas.h>
#include <float.h>
#include <jansson.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

/* adapter_config.json is a few hundred bytes; a rank_pattern naming every module of a very
 * large model stays far below this. */
#define LORA_CONFIG_MAX_BYTES (16u << 20)
/* rank_pattern / alpha_pattern keys are module names or short suffix patterns (PEFT's docs:
 * "model.decoder.layers.0.encoder_attn.k_proj"); a key longer than this is not one. The bound,
 * with the refusals in pattern_check, keeps a hostile key from costing glibc's regcomp and
 * regexec more than about a millisecond. */
#define LORA_PATTERN_MAX_BYTES 512
/* Bound on glibc's parse tree for one key, estimated as (bytes + wrapper) * 2^(number of '+'):
 * glibc compiles x+ as x x*, a copy of x, so each '+' at most doubles the tree and nested ones
 * ("a++++", "((a+)+)+") grow it exponentially (the fuzzer's first out-of-memory: a key with 70
 * '+' in a row made regcomp allocate gigabytes). 4096 nodes compile and match in well under a
 * millisecond and leave room for every PEFT key (one or two '+' at most). */
#define LORA_PATTERN_MAX_NODES 4096
/* Repetition operators ('*', '+', '?') per key. glibc's regcomp computes epsilon closures in
 * time that grows with about the fourth power of nested repetitions: 150 nested "(...)*"
 * took 19 s, 90 stars in a row inside 10 groups timed the fuzzer out. With 8 the slowest key
 * found (7 nested stars around an alternation, 200 more alternatives) compiles in 15 ms;
 * PEFT keys use one or two ("layers.*.q_proj"). */
#define LORA_PATTERN_MAX_REPEATS 8
/* PEFT's LoraConfig defaults (peft/tuners/lora/config.py), taken when a field is absent, so
 * that a config reads as PEFT itself would read it. */
#define PEFT_DEFAULT_R 8
#define PEFT_DEFAULT_ALPHA 8.0
/* PEFT saves tensors under its wrapper; rank_pattern / alpha_pattern keys are matched against
 * the module's name in the base model, i.e. without this prefix. */
#define PEFT_PREFIX "base_model.model."
/* A singular value at or below sigma_max * max(d_out, d_in) * DBL_EPSILON is numerically zero
 * (numpy.linalg.matrix_rank's default tolerance, after Press et al., Numerical Recipes): the
 * condition number is then reported as infinite instead of as a ratio of rounding noise. */
#define SIGMA_ZERO_EPS DBL_EPSILON
/* Column block of the QRs (dgeqrt's NB), at most r: on a 2304 x 64 QR (OpenBLAS, one
 * thread) NB 16 and 32 ran in 1.3 ms against dgeqrf's 2.8 ms, NB 64 in 1.5 ms. */
#define QR_BLOCK 32
/* Tile edge of the transpose of B: two 32 x 32 tiles of doubles (16 KiB) stay in L1. */
#define TRANSPOSE_TILE 32
/* Shapes in messages: "(" + up to ML_TENSOR_MAX_DIMS numbers of 20 digits + ", " + ")". */
#define SHAPE_TEXT_BYTES (2 + ML_TENSOR_MAX_DIMS * 22)

/* ---- adapter_config.json ------------------------------------------------------------------- */

/* One rank_pattern / alpha_pattern entry: key (a regex over module names, as in PEFT) and its
 * value. */
typedef struct pattern {
    const char *key; /* borrowed from the config's JSON */
    regex_t re;      /* ^(.*\.)?(key)$, PEFT's get_pattern_key */
    double value;
} pattern;

typedef struct lora_config {
    const char *path; /* NULL: no config, scale 1 */
    json_t *root;
    double r, alpha;
    bool use_rslora;
    pattern *ranks, *alphas; /* in file order: the first match wins, as in PEFT */
    size_t n_ranks, n_alphas;
} lora_config;

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A rank: a positive integer LAPACK can index (a real with an integral value is accepted, as
 * Python's json writes 8.0 for a float 8). */
static ml_status config_rank(double *out, const json_t *v, const char *path, const char *field,
                             const char *key) {
    double x = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : NAN;
    if (x >= 1 && x <= INT_MAX && x == floor(x)) {
        *out = x;
        return ML_OK;
    }
    return ML_FAIL(ML_EFORMAT, "%s: %s%s%s%s: found %s (expected a positive integer rank)", path,
                   field, key ? "[\"" : "", key ? key : "", key ? "\"]" : "", json_kind(v));
}

static ml_status config_alpha(double *out, const json_t *v, const char *path, const char *field,
                              const char *key) {
    if (json_is_number(v) && isfinite(json_number_value(v))) {
        *out = json_number_value(v);
        return ML_OK;
    }
    return ML_FAIL(ML_EFORMAT, "%s: %s%s%s%s: found %s (expected a finite number)", path, field,
                   key ? "[\"" : "", key ? key : "", key ? "\"]" : "", json_kind(v));
}

static void patterns_free(pattern *p, size_t n) {
    for (size_t i = 0; i < n; i++) regfree(&p[i].re);
    free(p);
}

/* Refuses the keys that make glibc's regex engine slow or huge, so that a config cannot stall
 * or exhaust a scan (fuzz/fuzz_adapter_config.c feeds it hostile keys): a back-reference
 * (\1 .. \9) takes glibc's backtracking matcher, exponential in the worst case; an interval
 * {m,n} makes regcomp copy the repeated part n times, so nested intervals (((a{99}){99}){99})
 * grow the automaton without bound; '+' copies once, bounded by LORA_PATTERN_MAX_NODES; and
 * nested repetitions make regcomp slow, bounded by LORA_PATTERN_MAX_REPEATS. PEFT
 * keys are module names and suffix patterns: none of this occurs in them. The scan is
 * conservative: a backslash always takes the next byte, and '{' and '+' count even inside a
 * bracket expression, where they would be harmless; escaped "\{" and "\+" are literals. */
static ml_status pattern_check(const char *key, const char *path, const char *field) {
    size_t len = strlen(key), nodes = len + 16, repeats = 0; /* 16: ^(.*\.)?( )$ */
    if (len > LORA_PATTERN_MAX_BYTES)
        return ML_FAIL(ML_EFORMAT, "%s: %s: a key of %zu bytes (expected a module name or "
                       "suffix pattern of at most %d bytes)", path, field, len,
                       LORA_PATTERN_MAX_BYTES);
    for (size_t i = 0; i < len; i++) {
        if (strchr("*+?", key[i]) && ++repeats > LORA_PATTERN_MAX_REPEATS)
            return ML_FAIL(ML_EFORMAT, "%s: %s[\"%s\"]: more than %d repetitions (*, + or ?; "
                           "expected a module name or suffix pattern)", path, field, key,
                           LORA_PATTERN_MAX_REPEATS);
        if (key[i] == '+' && (nodes *= 2) > LORA_PATTERN_MAX_NODES)
            return ML_FAIL(ML_EFORMAT, "%s: %s[\"%s\"]: too many '+' repetitions (each copies "
                           "what it repeats; expected a module name or suffix pattern)", path,
                           field, key);
        if (key[i] == '\\' && key[i + 1] >= '1' && key[i + 1] <= '9')
            return ML_FAIL(ML_EFORMAT, "%s: %s[\"%s\"]: back-reference \\%c refused (matching "
                           "it can take exponential time; expected a module name or suffix "
                           "pattern)", path, field, key, key[i + 1]);
        if (key[i] == '{')
            return ML_FAIL(ML_EFORMAT, "%s: %s[\"%s\"]: interval repetition {m,n} refused (it "
                           "is compiled as n copies; expected a module name or suffix "
                           "pattern)", path, field, key);
        if (key[i] == '\\' && key[i + 1]) i++; /* the escaped byte is a literal */
    }
    return ML_OK;
}

/* PEFT matches re.match(rf"(.*\.)?({key})$", name): the key, as a regex, must match a whole
 * dotted suffix of the module name. Keys are compiled as POSIX extended regexes, which agree
 * with Python's for the names and dots, '.*', classes and alternations configs use. */
static ml_status pattern_compile(pattern *p, const char *key, const char *path,
                                 const char *field) {
    ML_TRY(pattern_check(key, path, field));
    size_t len = strlen(key) + 16;
    char *re = malloc(len);
    if (!re) return ML_NOMEM();
    snprintf(re, len, "^(.*\\.)?(%s)$", key);
    int rc = regcomp(&p->re, re, REG_EXTENDED | REG_NOSUB);
    free(re);
    if (rc != 0)
        return ML_FAIL(ML_EFORMAT, "%s: %s[\"%s\"]: not a regular expression PEFT and POSIX "
                       "agree on (expected a module name or a suffix pattern)", path, field, key);
    p->key = key;
    return ML_OK;
}

static ml_status config_patterns(lora_config *c, const char *field, bool is_rank) {
    json_t *obj = json_object_get(c->root, field);
    if (!obj || json_is_null(obj)) return ML_OK;
    if (!json_is_object(obj))
        return ML_FAIL(ML_EFORMAT, "%s: %s: found %s (expected an object of module patterns)",
                       c->path, field, json_kind(obj));
    size_t n = json_object_size(obj), i = 0;
    if (n == 0) return ML_OK;
    pattern *p = calloc(n, sizeof *p);
    if (!p) return ML_NOMEM();
    const char *key;
    json_t *v;
    ml_status st = ML_OK;
    json_object_foreach(obj, key, v) {
        st = is_rank ? config_rank(&p[i].value, v, c->path, field, key)
                     : config_alpha(&p[i].value, v, c->path, field, key);
        if (st == ML_OK) st = pattern_compile(&p[i], key, c->path, field);
        if (st != ML_OK) break;
        i++;
    }
    if (st != ML_OK) {
        patterns_free(p, i);
        return st;
    }
    if (is_rank) {
        c->ranks = p;
        c->n_ranks = n;
    } else {
        c->alphas = p;
        c->n_alphas = n;
    }
    return ML_OK;
}

static void config_free(lora_config *c) {
    patterns_free(c->ranks, c->n_ranks);
    patterns_free(c->alphas, c->n_alphas);
    json_decref(c->root);
}

static ml_status config_fields(lora_config *c) {
    json_t *v = json_object_get(c->root, "peft_type");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return ML_FAIL(ML_EFORMAT, "%s: peft_type: found %s (expected a string)", c->path,
                           json_kind(v));
        if (strcmp(json_string_value(v), "LORA") != 0)
            return ML_FAIL(ML_EUNSUPPORTED, "%s: peft_type: \"%s\" (only LORA adapters have "
                           "spectra here: other types add factors B·A leaves out)", c->path,
                           json_string_value(v));
    }
    c->r = PEFT_DEFAULT_R;
    c->alpha = PEFT_DEFAULT_ALPHA;
    if ((v = json_object_get(c->root, "r")) && !json_is_null(v))
        ML_TRY(config_rank(&c->r, v, c->path, "r", NULL));
    if ((v = json_object_get(c->root, "lora_alpha")) && !json_is_null(v))
        ML_TRY(config_alpha(&c->alpha, v, c->path, "lora_alpha", NULL));
    if ((v = json_object_get(c->root, "use_rslora")) && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return ML_FAIL(ML_EFORMAT, "%s: use_rslora: found %s (expected true or false)",
                           c->path, json_kind(v));
        c->use_rslora = json_is_true(v);
    }
    ML_TRY(config_patterns(c, "rank_pattern", true));
    return config_patterns(c, "alpha_pattern", false);
}

/* Fills *c from len bytes at text (path: the file they came from, borrowed by *c for messages);
 * on failure *c holds nothing to free. */
static ml_status config_parse(lora_config *c, const char *text, size_t len, const char *path) {
    memset(c, 0, sizeof *c);
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return ML_FAIL(ML_EFORMAT, "%s:%d:%d: %s (expected adapter_config.json as written by "
                       "PEFT)", path, err.line, err.column, err.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ML_FAIL(ML_EFORMAT, "%s: the document is not a JSON object (expected "
                       "adapter_config.json as written by PEFT)", path);
    }
    c->path = path;
    c->root = root;
    ml_status st = config_fields(c);
    if (st != ML_OK) {
        config_free(c);
        memset(c, 0, sizeof *c);
    }
    return st;
}

/* Fills *c from path; on failure *c holds nothing to free. */
static ml_status config_read(lora_config *c, const char *path) {
    memset(c, 0, sizeof *c);
    if (!path) return ML_OK;
    char *text = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(path, LORA_CONFIG_MAX_BYTES, &text, &len));
    ml_status st = config_parse(c, text, len, path);
    free(text);
    return st;
}

static const pattern *pattern_find(const pattern *p, size_t n, const char *module) {
    size_t skip = strlen(PEFT_PREFIX);
    if (strncmp(module, PEFT_PREFIX, skip) == 0) module += skip;
    for (size_t i = 0; i < n; i++)
        if (regexec(&p[i].re, module, 0, NULL, 0) == 0) return &p[i];
    return NULL;
}

/* ---- Pairing lora_A with lora_B ------------------------------------------------------------ */

typedef struct lora_module {
    char *name;
    size_t rank, d_out, d_in;
    double scale;
    double *a;       /* A (rank, d_in) row-major, i.e. A^T column-major (d_in x rank) */
    double *bt;      /* B^T (rank, d_out) row-major, i.e. B column-major (d_out x rank) */
    double *core;    /* scale R_B R_A^T, (core_rows = k_B) x (core_cols = k_A) column-major */
    size_t core_rows, core_cols;
    bool is_zero;    /* W = 0: A or B all zeros (PEFT initialises B so) or scale 0 */
    double frob_sq;  /* ||W||_F^2 = ||core||_F^2, for cosines */
} lora_module;

struct ml__lora_adapter {
    size_t n_modules;
    lora_module *modules; /* sorted by name */
    double *values;       /* the block behind every module's a, bt and core */
    size_t max_rank;
};

/* A LoRA factor, by PEFT's names: "<module>.lora_A.weight", "<module>.lora_A.<adapter>.weight"
 * (the in-memory name, in files saved straight from a state dict) and, for embedding layers
 * (parameters, no ".weight"), "<module>.lora_embedding_A[.<adapter>]"; the same with B. */
typedef struct lora_entry {
    const ml_tensor_view *t;
    size_t module_len;  /* t->name[0 .. module_len) is the module */
    const char *suffix; /* what follows "lora_A" / "lora_embedding_A": the same in a pair */
    bool is_b;
} lora_entry;

/* ".<adapter>" followed by end, with a non-empty adapter name free of dots */
static bool adapter_then(const char *s, const char *end) {
    const char *dot = strchr(s + 1, '.');
    size_t n = dot ? (size_t)(dot - s - 1) : strlen(s + 1);
    return s[0] == '.' && n > 0 && strcmp(s + 1 + n, end) == 0;
}

static bool lora_name(lora_entry *e, const ml_tensor_view *t) {
    const char *name = t->name, *tag = NULL;
    size_t tag_len = 0;
    for (const char *p = strstr(name, ".lora_"); p; p = strstr(p + 1, ".lora_")) {
        if ((p[6] == 'A' || p[6] == 'B') && p[7] == '.') {
            tag = p;
            tag_len = 7;
        } else if (strncmp(p + 6, "embedding_", 10) == 0 && (p[16] == 'A' || p[16] == 'B') &&
                   (p[17] == '.' || p[17] == '\0')) {
            tag = p;
            tag_len = 17;
        }
    }
    if (!tag || tag == name) return false;
    const char *rest = tag + tag_len;
    bool ok = tag_len == 7 ? strcmp(rest, ".weight") == 0 || adapter_then(rest, ".weight")
                           : *rest == '\0' || adapter_then(rest, "");
    if (!ok) return false;
    *e = (lora_entry){t, (size_t)(tag - name), rest, tag[tag_len - 1] == 'B'};
    return true;
}

static int module_cmp(const lora_entry *x, const lora_entry *y) {
    size_t n = x->module_len < y->module_len ? x->module_len : y->module_len;
    int c = memcmp(x->t->name, y->t->name, n);
    if (c) return c;
    return (x->module_len > y->module_len) - (x->module_len < y->module_len);
}

/* Module name bytewise (a prefix first, as strcmp orders the names), then A before B. */
static int entry_cmp(const void *p, const void *q) {
    const lora_entry *x = p, *y = q;
    int c = module_cmp(x, y);
    if (c) return c;
    if (x->is_b != y->is_b) return x->is_b ? 1 : -1;
    return strcmp(x->t->name, y->t->name);
}

static void shape_text(char dst[SHAPE_TEXT_BYTES], const ml_tensor_view *t) {
    size_t used = 0;
    dst[0] = '\0';
    used += (size_t)snprintf(dst, SHAPE_TEXT_BYTES, "(");
    for (size_t d = 0; d < t->n_dims && used < SHAPE_TEXT_BYTES; d++)
        used += (size_t)snprintf(dst + used, SHAPE_TEXT_BYTES - used, "%s%zu", d ? ", " : "",
                                 t->shape[d]);
    if (used < SHAPE_TEXT_BYTES) snprintf(dst + used, SHAPE_TEXT_BYTES - used, ")");
}

static bool is_float_dtype(ml_dtype d) {
    return d == ML_DTYPE_F32 || d == ML_DTYPE_F16 || d == ML_DTYPE_BF16 || d == ML_DTYPE_F64;
}

/* Checks the shapes chain, A (r, d_in[, k...]) and B (d_out, r[, 1...]) - the trailing dims
 * being a convolution's kernel, flattened into d_in as PEFT's Conv LoRA does - and fills the
 * module's sizes. */
static ml_status pair_shapes(lora_module *m, const ml_tensor_view *a, const ml_tensor_view *b,
                             const char *path) {
    char sa[SHAPE_TEXT_BYTES], sb[SHAPE_TEXT_BYTES];
    shape_text(sa, a);
    shape_text(sb, b);
    const ml_tensor_view *t[2] = {a, b};
    for (size_t i = 0; i < 2; i++)
        if (!is_float_dtype(t[i]->dtype))
            return ML_FAIL(ML_EFORMAT, "%s: tensor %s: dtype %s (expected F32, F16, BF16 or "
                           "F64)", path, t[i]->name, ml_dtype_name(t[i]->dtype));
    size_t n_a = ml_tensor_view_n_elements(a);
    if (a->n_dims < 2 || n_a == 0)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s: shape %s (expected a non-empty (r, d_in))",
                       path, a->name, sa);
    bool b_ok = b->n_dims >= 2 && b->shape[0] > 0;
    for (size_t d = 2; d < b->n_dims; d++) b_ok = b_ok && b->shape[d] == 1;
    if (!b_ok)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s: shape %s (expected a non-empty (d_out, r))",
                       path, b->name, sb);
    if (b->shape[1] != a->shape[0])
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s is %s and tensor %s is %s: the shapes do not "
                       "chain (expected lora_B's columns = lora_A's rows = r)", path, a->name, sa,
                       b->name, sb);
    m->rank = a->shape[0];
    m->d_in = n_a / m->rank;
    m->d_out = b->shape[0];
    if (m->d_in > INT_MAX || m->d_out > INT_MAX || m->rank > INT_MAX)
        return ML_FAIL(ML_EUNSUPPORTED, "%s: tensor %s is %s and %s is %s: a dimension exceeds "
                       "LAPACK's 32-bit indices", path, a->name, sa, b->name, sb);
    return ML_OK;
}

/* scale = alpha / r (alpha / sqrt(r) with use_rslora), r and alpha from the first matching
 * rank_pattern / alpha_pattern key (*pr: the rank key, NULL for field r), else r / lora_alpha. */
static double config_scale(const lora_config *c, const char *module, double *r,
                           const pattern **pr) {
    *pr = pattern_find(c->ranks, c->n_ranks, module);
    *r = *pr ? (*pr)->value : c->r;
    const pattern *pa = pattern_find(c->alphas, c->n_alphas, module);
    double alpha = pa ? pa->value : c->alpha;
    return c->use_rslora ? alpha / sqrt(*r) : alpha / *r;
}

/* The module's scale (config_scale), and the config's r must be the tensors' r. */
static ml_status pair_scale(lora_module *m, const lora_config *c, const char *a_name,
                            const char *path) {
    if (!c->path) {
        m->scale = 1.0;
        return ML_OK;
    }
    const pattern *pr = NULL;
    double r = 0.0, scale = config_scale(c, m->name, &r, &pr);
    if (r != (double)m->rank)
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s has r = %zu rows but %s gives r = %.0f (from %s"
                       "%s%s): the adapter and its config disagree", path, a_name, m->rank,
                       c->path, r, pr ? "rank_pattern[\"" : "field r", pr ? pr->key : "",
                       pr ? "\"]" : "");
    m->scale = scale;
    return ML_OK;
}

ml_status ml__lora_config_parse(const char *text, size_t len, const char *name,
                                const char *const *modules, size_t n_modules, double *r,
                                double *scale) {
    if (!text || !name || (n_modules && (!modules || !r || !scale)))
        return ML_FAIL(ML_EINVAL, "ml__lora_config_parse: text, name, and modules, r and scale "
                       "for n_modules > 0 are required");
    lora_config c;
    ML_TRY(config_parse(&c, text, len, name));
    for (size_t i = 0; i < n_modules; i++) {
        const pattern *pr = NULL;
        scale[i] = config_scale(&c, modules[i], &r[i], &pr);
    }
    config_free(&c);
    return ML_OK;
}

/* Collects lora entries, sorted, into *out (caller frees). */
static ml_status collect_entries(lora_entry **out, size_t *n_out, const ml_safetensors *st) {
    size_t n = ml_safetensors_n_tensors(st), k = 0;
    lora_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e) return ML_NOMEM();
    for (size_t i = 0; i < n; i++) {
        const ml_tensor_view *t = ml_safetensors_tensor(st, i);
        if (lora_name(&e[k], t)) k++;
    }
    qsort(e, k, sizeof *e, entry_cmp);
    *out = e;
    *n_out = k;
    return ML_OK;
}

/* e[0 .. n) share one module: exactly one lora_A and one lora_B, same adapter suffix. */
static ml_status check_group(const lora_entry *e, size_t n, const char *path) {
    size_t n_a = 0;
    while (n_a < n && !e[n_a].is_b) n_a++;
    const char *name = e[0].t->name;
    int letter = (int)(e[0].suffix - 1 - name); /* the A or B of the tag */
    if (n_a == 0 || n_a == n) /* name the missing partner: the same name, A and B swapped */
        return ML_FAIL(ML_EFORMAT, "%s: tensor %s has no lora_%c (expected %.*s%c%s beside it)",
                       path, name, n_a ? 'B' : 'A', letter, name, n_a ? 'B' : 'A', e[0].suffix);
    if (n != 2)
        return ML_FAIL(ML_EFORMAT, "%s: module %.*s has %zu lora_A and %zu lora_B tensors "
                       "(expected one adapter per file)", path, (int)e[0].module_len, name, n_a,
                       n - n_a);
    if (strcmp(e[0].suffix, e[1].suffix) != 0)
        return ML_FAIL(ML_EFORMAT, "%s: tensors %s and %s do not pair (expected lora_A and "
                       "lora_B of one adapter and one kind)", path, e[0].t->name, e[1].t->name);
    return ML_OK;
}

/* ---- Converting factors ----------------------------------------------------------------- */

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static double f32_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; exact in double. */
static double f16_bits(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) return (sign ? -1.0 : 1.0) * (double)mant * 0x1p-24;
    if (exp == 31) return f32_bits(sign | 0x7f800000u | (mant << 13));
    return f32_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* Converts t's n elements to double at dst (any alignment, little-endian bytes); *nonzero:
 * some element is not +-0; returns false when some element is NaN or infinite. The exponent
 * tests are on the bits, branch-free, so the loops stay a single pass. */
static bool convert(double *dst, const ml_tensor_view *t, size_t n, bool *nonzero) {
    const unsigned char *p = t->data;
    uint64_t bad = 0, nz = 0;
    switch (t->dtype) {
    case ML_DTYPE_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = le32(p + 4 * i);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
            nz |= u & 0x7fffffffu;
            dst[i] = f32_bits(u);
        }
        break;
    case ML_DTYPE_BF16: /* the top half of a float32 */
        for (size_t i = 0; i < n; i++) {
            uint32_t u = le16(p + 2 * i) << 16;
            bad |= (u & 0x7f800000u) == 0x7f800000u;
            nz |= u & 0x7fffffffu;
            dst[i] = f32_bits(u);
        }
        break;
    case ML_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            uint32_t h = le16(p + 2 * i);
            bad |= (h & 0x7c00u) == 0x7c00u;
            nz |= h & 0x7fffu;
            dst[i] = f16_bits(h);
        }
        break;
    default: /* F64, the only other dtype pair_shapes lets through */
        for (size_t i = 0; i < n; i++) {
            uint64_t u = le64(p + 8 * i);
            bad |= (u & 0x7ff0000000000000u) == 0x7ff0000000000000u;
            nz |= u & 0x7fffffffffffffffu;
            memcpy(&dst[i], &u, sizeof u);
        }
        break;
    }
    *nonzero = nz != 0;
    return bad == 0;
}

static ml_status convert_checked(double *dst, const ml_tensor_view *t, size_t n, bool *nonzero,
                                 const char *path) {
    if (convert(dst, t, n, nonzero)) return ML_OK;
    size_t i = 0;
    while (i < n && isfinite(dst[i])) i++;
    return ML_FAIL(ML_EFORMAT, "%s: tensor %s: element %zu is %s (expected finite values)", path,
                   t->name, i, isnan(dst[i]) ? "NaN" : "infinite");
}

/* ---- The r x r core ------------------------------------------------------------------------- */

/* Scratch for the QRs of one module at a time, sized once for the adapter's largest. */
typedef struct qr_ws {
    double *qa, *qb, *t, *work; /* t: dgeqrt's block reflectors, work: its NB x r */
} qr_ws;

static ml_status lapack_fail(const char *routine, lapack_int info, const char *module) {
    if (info < 0)
        return ML_FAIL(ML_EINVAL, "%s: LAPACK %s rejected argument %d (a bug in lora.c)", module,
                       routine, (int)-info);
    return ML_FAIL(ML_EFORMAT, "%s: LAPACK %s did not converge (info %d)", module, routine,
                   (int)info);
}

static void qr_ws_free(qr_ws *w) {
    free(w->qa);
    free(w->qb);
    free(w->t);
    free(w->work);
}

static ml_status qr_ws_alloc(qr_ws *w, const ml__lora_adapter *a) {
    size_t max_a = 1, max_b = 1, max_r = a->max_rank ? a->max_rank : 1;
    for (size_t i = 0; i < a->n_modules; i++) {
        const lora_module *m = &a->modules[i];
        if (m->rank * m->d_in > max_a) max_a = m->rank * m->d_in;
        if (m->rank * m->d_out > max_b) max_b = m->rank * m->d_out;
    }
    w->qa = malloc(max_a * sizeof(double));
    w->qb = malloc(max_b * sizeof(double));
    w->t = malloc(QR_BLOCK * max_r * sizeof(double));
    w->work = malloc(QR_BLOCK * max_r * sizeof(double));
    return w->qa && w->qb && w->t && w->work ? ML_OK : ML_NOMEM(); /* caller frees */
}

/* m->core and m->frob_sq from m->a and m->bt; see the file comment. */
static ml_status module_core(lora_module *m, qr_ws *w) {
    lapack_int r = (lapack_int)m->rank, din = (lapack_int)m->d_in, dout = (lapack_int)m->d_out;
    lapack_int ka = din < r ? din : r, kb = dout < r ? dout : r;
    lapack_int nba = ka < QR_BLOCK ? ka : QR_BLOCK, nbb = kb < QR_BLOCK ? kb : QR_BLOCK;
    m->core_rows = (size_t)kb;
    m->core_cols = (size_t)ka;
    memset(m->core, 0, m->core_rows * m->core_cols * sizeof(double));
    m->frob_sq = 0.0;
    if (m->is_zero) return ML_OK;
    memcpy(w->qa, m->a, m->rank * m->d_in * sizeof(double));
    lapack_int info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, din, r, nba, w->qa, din, w->t, nba,
                                          w->work);
    if (info) return lapack_fail("dgeqrt", info, m->name);
    memcpy(w->qb, m->bt, m->rank * m->d_out * sizeof(double));
    info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, dout, r, nbb, w->qb, dout, w->t, nbb, w->work);
    if (info) return lapack_fail("dgeqrt", info, m->name);
    /* core (kb x ka, column-major) = scale R_B R_A^T: R_B[p][q] = qb[p + q d_out] is zero for
     * q < p, R_A[t][q] = qa[t + q d_in] is zero for q < t. */
    size_t R = m->rank, DA = m->d_in, DB = m->d_out;
    for (size_t t = 0; t < (size_t)ka; t++)
        for (size_t p = 0; p < (size_t)kb; p++) {
            double s = 0.0;
            for (size_t q = p > t ? p : t; q < R; q++) s += w->qb[p + q * DB] * w->qa[t + q * DA];
            s *= m->scale;
            m->core[p + t * (size_t)kb] = s;
            m->frob_sq += s * s;
        }
    /* Factors near DBL_MAX (F64) give a W beyond double: LAPACK's SVD of an infinite core
     * returns NaN past sigma[0] (and prints DLASCL errors), so such updates are refused here,
     * where their energy (NaN or inf for any overflowed entry) first shows it. */
    if (!isfinite(m->frob_sq))
        return ML_FAIL(ML_EFORMAT, "%s: the update scale·B·A overflows double (||W||_F^2 is %s; "
                       "expected factors whose product is finite)", m->name,
                       isnan(m->frob_sq) ? "NaN" : "infinite");
    return ML_OK;
}

/* ---- Opening an adapter --------------------------------------------------------------------- */

void ml__lora_adapter_free(ml__lora_adapter *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n_modules; i++) free(a->modules[i].name);
    free(a->modules);
    free(a->values);
    free(a);
}

/* Builds the module table from sorted entries (names, shapes, scales), no values yet. */
static ml_status build_modules(ml__lora_adapter *ad, const lora_entry *e, size_t n,
                               const lora_config *c, const char *path, const lora_entry ***pairs) {
    const lora_entry **pa = malloc((n / 2 + 1) * sizeof *pa);
    ad->modules = calloc(n / 2 + 1, sizeof *ad->modules);
    *pairs = pa;
    if (!pa || !ad->modules) return ML_NOMEM();
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && module_cmp(&e[i], &e[j]) == 0) j++;
        ML_TRY(check_group(e + i, j - i, path));
        lora_module *m = &ad->modules[ad->n_modules];
        if (!(m->name = strndup(e[i].t->name, e[i].module_len))) return ML_NOMEM();
        ad->n_modules++;
        ML_TRY(pair_shapes(m, e[i].t, e[i + 1].t, path));
        ML_TRY(pair_scale(m, c, e[i].t->name, path));
        pa[ad->n_modules - 1] = &e[i];
        if (m->rank > ad->max_rank) ad->max_rank = m->rank;
        i = j;
    }
    return ML_OK;
}

/* dst (cols, rows) = src (rows, cols)^T, both row-major, tile by tile. */
static void transpose(double *dst, const double *src, size_t rows, size_t cols) {
    for (size_t i0 = 0; i0 < rows; i0 += TRANSPOSE_TILE)
        for (size_t j0 = 0; j0 < cols; j0 += TRANSPOSE_TILE) {
            size_t i1 = i0 + TRANSPOSE_TILE < rows ? i0 + TRANSPOSE_TILE : rows;
            size_t j1 = j0 + TRANSPOSE_TILE < cols ? j0 + TRANSPOSE_TILE : cols;
            for (size_t i = i0; i < i1; i++)
                for (size_t j = j0; j < j1; j++) dst[j * rows + i] = src[i * cols + j];
        }
}

/* Converts every pair into one block (B transposed through scratch) and computes each
 * module's core. */
static ml_status load_values(ml__lora_adapter *ad, const lora_entry *const *pairs,
                             const char *path) {
    size_t total = 0, max_b = 1;
    for (size_t i = 0; i < ad->n_modules; i++) {
        const lora_module *m = &ad->modules[i];
        size_t per = m->d_in + m->d_out + m->rank; /* A, B, core; each <= INT_MAX */
        if (per > SIZE_MAX / sizeof(double) / m->rank ||
            total > SIZE_MAX / sizeof(double) - per * m->rank)
            return ML_FAIL(ML_EFORMAT, "%s: the factors' sizes overflow memory sizes", path);
        total += per * m->rank;
        if (m->d_out * m->rank > max_b) max_b = m->d_out * m->rank;
    }
    ad->values = malloc((total ? total : 1) * sizeof(double));
    double *b = malloc(max_b * sizeof(double));
    qr_ws w = {0};
    ml_status st = ad->values && b ? qr_ws_alloc(&w, ad) : ML_NOMEM();
    double *next = ad->values;
    for (size_t i = 0; st == ML_OK && i < ad->n_modules; i++) {
        lora_module *m = &ad->modules[i];
        bool nz_a = false, nz_b = false;
        m->a = next;
        m->bt = next + m->rank * m->d_in;
        m->core = m->bt + m->d_out * m->rank;
        next = m->core + m->rank * m->rank;
        st = convert_checked(m->a, pairs[i][0].t, m->rank * m->d_in, &nz_a, path);
        if (st == ML_OK) st = convert_checked(b, pairs[i][1].t, m->d_out * m->rank, &nz_b, path);
        if (st != ML_OK) break;
        transpose(m->bt, b, m->d_out, m->rank);
        m->is_zero = !nz_a || !nz_b || m->scale == 0.0;
        st = module_core(m, &w);
    }
    qr_ws_free(&w);
    free(b);
    return st;
}

ml_status ml__lora_adapter_open(ml__lora_adapter **out, const char *weights_path,
                                const char *config_path) {
    if (!out || !weights_path)
        return ML_FAIL(ML_EINVAL, "ml__lora_adapter_open: out and weights_path are required");
    lora_config c;
    ML_TRY(config_read(&c, config_path));
    ml_safetensors *st_file = NULL;
    lora_entry *e = NULL;
    const lora_entry **pairs = NULL;
    size_t n = 0;
    ml__lora_adapter *ad = calloc(1, sizeof *ad);
    ml_status st = ad ? ML_OK : ML_NOMEM();
    if (st == ML_OK) st = ml_safetensors_open(&st_file, weights_path);
    if (st == ML_OK) st = collect_entries(&e, &n, st_file);
    if (st == ML_OK) st = build_modules(ad, e, n, &c, weights_path, &pairs);
    if (st == ML_OK) st = load_values(ad, pairs, weights_path);
    free(pairs);
    free(e);
    ml_safetensors_close(st_file);
    config_free(&c);
    if (st != ML_OK) {
        ml__lora_adapter_free(ad);
        return st;
    }
    *out = ad;
    return ML_OK;
}

size_t ml__lora_adapter_n_modules(const ml__lora_adapter *a) { return a->n_modules; }

const char *ml__lora_adapter_module(const ml__lora_adapter *a, size_t i) {
    return i < a->n_modules ? a->modules[i].name : NULL;
}

/* ---- Spectra -------------------------------------------------------------------------------- */

/* Largest workspace dgesvd asks for over every module's core. */
static ml_status svd_lwork(size_t *lwork, const ml__lora_adapter *a) {
    double q, dummy[1] = {0};
    *lwork = 1;
    for (size_t i = 0; i < a->n_modules; i++) {
        const lora_module *m = &a->modules[i];
        lapack_int rows = (lapack_int)m->core_rows, cols = (lapack_int)m->core_cols;
        lapack_int info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'N', 'N', rows, cols, dummy, rows,
                                              dummy, dummy, 1, dummy, 1, &q, -1);
        if (info) return lapack_fail("dgesvd", info, m->name);
        if ((size_t)q > *lwork) *lwork = (size_t)q;
    }
    return ML_OK;
}

/* sigma (m->rank values, descending, zeros past the core's) of W = scale·B·A: the core's. */
static ml_status module_sigma(double *sigma, const lora_module *m, double *copy, double *work,
                              size_t lwork) {
    memset(sigma, 0, m->rank * sizeof *sigma);
    if (m->is_zero) return ML_OK;
    lapack_int rows = (lapack_int)m->core_rows, cols = (lapack_int)m->core_cols;
    memcpy(copy, m->core, m->core_rows * m->core_cols * sizeof(double));
    double dummy[1];
    lapack_int info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'N', 'N', rows, cols, copy, rows,
                                          sigma, dummy, 1, dummy, 1, work, (lapack_int)lwork);
    if (info) return lapack_fail("dgesvd", info, m->name);
    for (size_t i = 0; i < m->rank; i++)
        if (!isfinite(sigma[i]))
            return ML_FAIL(ML_EFORMAT, "%s: singular values overflow double (factor values "
                           "near DBL_MAX)", m->name);
    return ML_OK;
}

/* Effective rank here is exp of the Shannon entropy of the energy shares p_i = sigma_i^2 /
 * sum sigma^2, not of sigma_i / sum sigma (Roy & Vetterli's original). The energy variant is
 * the one that agrees with the other numbers reported beside it - stable rank, frob_sq and
 * energy_share all measure W by ||W||_F^2, so p_i is the fraction of that energy on direction
 * i (PCA's explained variance) - and it is the one a flat spectrum of k equal values and a
 * spectrum whose energy sits on k directions both map to k. It is never larger than the
 * original on the same spectrum. W = 0 has no distribution: effective rank 0 by convention. */
static void spectrum_stats(ml_lora_spectrum *s) {
    double smax = s->sigma[0];
    if (!(smax > 0.0)) {
        s->frob_sq = s->effective_rank = s->stable_rank = s->utilisation = 0.0;
        s->condition = NAN;
        return;
    }
    double sum_q2 = 0.0, h = 0.0; /* scaled by sigma_max: no overflow, no underflow of the top */
    for (size_t i = 0; i < s->rank; i++) sum_q2 += (s->sigma[i] / smax) * (s->sigma[i] / smax);
    for (size_t i = 0; i < s->rank; i++) {
        double p = (s->sigma[i] / smax) * (s->sigma[i] / smax) / sum_q2;
        if (p > 0.0) h -= p * log(p);
    }
    s->frob_sq = smax * smax * sum_q2;
    s->effective_rank = exp(h);
    s->stable_rank = sum_q2; /* ||W||_F^2 / sigma_max^2 with the true spectral norm */
    s->utilisation = s->effective_rank / (double)s->rank;
    double d_max = (double)(s->d_out > s->d_in ? s->d_out : s->d_in);
    double smin = s->sigma[s->rank - 1];
    s->condition = smin > smax * d_max * SIGMA_ZERO_EPS ? smax / smin : INFINITY;
}

/* energy_share and hhi; with no energy at all (every update zero, as at PEFT's
 * initialisation) shares are undefined: NaN, and so is hhi, as it is for no module. */
static void spectra_shares(ml_lora_spectra *s) {
    double total = 0.0, hhi = 0.0;
    for (size_t i = 0; i < s->n_modules; i++) total += s->modules[i].frob_sq;
    for (size_t i = 0; i < s->n_modules; i++) {
        double share = total > 0.0 ? s->modules[i].frob_sq / total : NAN;
        s->modules[i].energy_share = share;
        hhi += share * share;
    }
    s->hhi = s->n_modules && total > 0.0 ? hhi : NAN;
}

void ml_lora_spectra_free(ml_lora_spectra *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_modules; i++) free((char *)s->modules[i].module);
    if (s->n_modules) free(s->modules[0].sigma); /* one block behind every sigma */
    free(s->modules);
    free(s);
}

/* The result's skeleton: names, sizes, scales and one sigma block, values still zero. */
static ml_status spectra_alloc(ml_lora_spectra **out, const ml__lora_adapter *a) {
    size_t total = 0;
    for (size_t i = 0; i < a->n_modules; i++) total += a->modules[i].rank;
    ml_lora_spectra *s = calloc(1, sizeof *s);
    double *sigma = calloc(total ? total : 1, sizeof *sigma);
    if (s) s->modules = calloc(a->n_modules ? a->n_modules : 1, sizeof *s->modules);
    if (!s || !sigma || !s->modules) {
        if (s) free(s->modules);
        free(s);
        free(sigma);
        return ML_NOMEM();
    }
    for (size_t i = 0; i < a->n_modules; i++) {
        const lora_module *m = &a->modules[i];
        ml_lora_spectrum *x = &s->modules[i];
        x->sigma = sigma;
        sigma += m->rank;
        x->rank = m->rank;
        x->d_out = m->d_out;
        x->d_in = m->d_in;
        x->scale = m->scale;
        if (!(x->module = strdup(m->name))) {
            s->n_modules = i + 1; /* frees names so far and the sigma block */
            ml_lora_spectra_free(s);
            return ML_NOMEM();
        }
    }
    s->n_modules = a->n_modules;
    if (!a->n_modules) free(sigma);
    *out = s;
    return ML_OK;
}

ml_status ml__lora_adapter_spectra(ml_lora_spectra **out, const ml__lora_adapter *a) {
    if (!out || !a) return ML_FAIL(ML_EINVAL, "ml__lora_adapter_spectra: out and a are required");
    ml_lora_spectra *s = NULL;
    size_t lwork = 1;
    ML_TRY(svd_lwork(&lwork, a));
    double *copy = malloc((a->max_rank ? a->max_rank * a->max_rank : 1) * sizeof(double));
    double *work = malloc(lwork * sizeof(double));
    ml_status st = copy && work ? spectra_alloc(&s, a) : ML_NOMEM();
    for (size_t i = 0; st == ML_OK && i < a->n_modules; i++) {
        st = module_sigma(s->modules[i].sigma, &a->modules[i], copy, work, lwork);
        if (st == ML_OK) spectrum_stats(&s->modules[i]);
    }
    free(copy);
    free(work);
    if (st != ML_OK) {
        ml_lora_spectra_free(s);
        return st;
    }
    spectra_shares(s);
    *out = s;
    return ML_OK;
}

ml_status ml_lora_spectra_compute(ml_lora_spectra **out, const char *weights_path,
                                  const char *config_path) {
    if (!out || !weights_path)
        return ML_FAIL(ML_EINVAL, "ml_lora_spectra_compute: out and weights_path are required");
    ml__lora_adapter *a = NULL;
    ML_TRY(ml__lora_adapter_open(&a, weights_path, config_path));
    ml_status st = ml__lora_adapter_spectra(out, a);
    ml__lora_adapter_free(a);
    return st;
}

/* ---- Update cosines ------------------------------------------------------------------------- */

static int module_name_cmp(const void *key, const void *elem) {
    return strcmp(key, ((const lora_module *)elem)->name);
}

static const lora_module *module_find(const ml__lora_adapter *a, const char *name) {
    return bsearch(name, a->modules, a->n_modules, sizeof *a->modules, module_name_cmp);
}

/* <W1, W2>_F = s1 s2 tr(A1^T B1^T B2 A2) = s1 s2 sum((B1^T B2) .* (A1 A2^T)), two r1 x r2
 * products; g holds 2 r1 r2 doubles. */
static double module_cosine(const lora_module *m1, const lora_module *m2, double *g) {
    if (!m1 || !m2 || m1->d_out != m2->d_out || m1->d_in != m2->d_in) return NAN;
    if (!(m1->frob_sq > 0.0) || !(m2->frob_sq > 0.0)) return NAN;
    int r1 = (int)m1->rank, r2 = (int)m2->rank;
    size_t n = m1->rank * m2->rank;
    double *gb = g, *ga = g + n;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1, r2, (int)m1->d_out, 1.0, m1->bt,
                (int)m1->d_out, m2->bt, (int)m2->d_out, 0.0, gb, r2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1, r2, (int)m1->d_in, 1.0, m1->a,
                (int)m1->d_in, m2->a, (int)m2->d_in, 0.0, ga, r2);
    double dot = 0.0;
    for (size_t i = 0; i < n; i++) dot += gb[i] * ga[i];
    double c = m1->scale * m2->scale * dot / (sqrt(m1->frob_sq) * sqrt(m2->frob_sq));
    return c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c; /* rounding past +-1 */
}

ml_status ml__lora_adapter_cosines(double *cosine, const ml__lora_adapter *ref,
                                   const ml__lora_adapter *other) {
    if (!cosine || !ref || !other)
        return ML_FAIL(ML_EINVAL, "ml__lora_adapter_cosines: cosine, ref and other are required");
    size_t n = ref->max_rank * other->max_rank;
    double *g = malloc(2 * (n ? n : 1) * sizeof *g);
    if (!g) return ML_NOMEM();
    for (size_t i = 0; i < ref->n_modules; i++) {
        const lora_module *m1 = &ref->modules[i];
        cosine[i] = module_cosine(m1, module_find(other, m1->name), g);
    }
    free(g);
    return ML_OK;
}

ml_status ml__lora_adapter_cosine(const ml__lora_adapter *a1, const ml__lora_adapter *a2,
                                  const char *module, double *cosine) {
    if (!a1 || !a2 || !module || !cosine)
        return ML_FAIL(ML_EINVAL, "ml__lora_adapter_cosine: every argument is required");
    const lora_module *m1 = module_find(a1, module), *m2 = module_find(a2, module);
    if (!m1 || !m2) {
        *cosine = NAN;
        return ML_OK;
    }
    double *g = malloc(2 * m1->rank * m2->rank * sizeof *g);
    if (!g) return ML_NOMEM();
    *cosine = module_cosine(m1, m2, g);
    free(g);
    return ML_OK;
}

ml_status ml_lora_update_cosine(const char *weights1, const char *config1, const char *weights2,
                                const char *config2, const char *module, double *cosine) {
    if (!weights1 || !weights2 || !module || !cosine)
        return ML_FAIL(ML_EINVAL, "ml_lora_update_cosine: weights1, weights2, module and cosine "
                       "are required");
    ml__lora_adapter *a1 = NULL, *a2 = NULL;
    ML_TRY(ml__lora_adapter_open(&a1, weights1, config1));
    ml_status st = ml__lora_adapter_open(&a2, weights2, config2);
    if (st == ML_OK) st = ml__lora_adapter_cosine(a1, a2, module, cosine);
    ml__lora_adapter_free(a1);
    ml__lora_adapter_free(a2);
    return st;
}
