/* synth.c - generates the synthetic cohort of microlens/synth.h: a Dirichlet-multinomial
 * count table with patient effects, structural zeros and a planted label signal, its labels,
 * one vector per OTU and a SOURCE.md. It models no real study and reads no input. */
#include "microlens/synth.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/outbuf.h"
#include "util/rng.h"

/* Limits that keep a typo from filling the disk: 10^5 samples, 10^6 OTUs, 10^8 cells. */
#define MAX_SAMPLES 100000
#define MAX_OTUS 1000000
#define MAX_DIM 65536
#define MAX_CELLS 100000000.0
#define MAX_ABS_LOG_FOLD 10.0

/* Model constants. Log-normal base abundances (sd 2.5) give the heavy-tailed rank-abundance
 * curve of gut 16S data: a handful of OTUs hold most reads. */
#define PROFILE_SD 2.5
#define PATIENT_EFFECT_SD 1.0       /* between-patient spread; makes patient leakage visible */
#define POSITIVE_FRACTION 0.4       /* of patients labelled "allergy" */
/* Absence (structural zero) probability per patient grows with rarity from 20% to 95%;
 * with sampling zeros this puts 70-90% of cells at zero, as in real OTU tables. */
#define ABSENT_MIN 0.2
#define ABSENT_SPAN 0.75
#define SIGNAL_ABSENT 0.1
#define THETA_MIN 200.0             /* Dirichlet concentration: overdispersion between visits */
#define THETA_MAX 1000.0
#define DEPTH_LOG_MEAN 9.903487552536127 /* ln(20000) reads */
#define DEPTH_LOG_SD 0.5
#define DEPTH_MIN 1000.0
#define DEPTH_MAX 200000.0
#define SIGNAL_DIRECTION_WEIGHT 1.0 /* shared unit direction added to signal OTU vectors */
#define OTU_ID_BYTES 80 /* "90_;96_;97_" + three 20-digit numbers + NUL */

/* Independent random streams, so that changing one part (e.g. dim) leaves the others alone. */
enum { STREAM_PROFILE = 1, STREAM_LABELS, STREAM_PATIENTS, STREAM_SAMPLES, STREAM_VECTORS };

typedef struct cohort {
    const ml_synth_options *o;
    double *mu;          /* (n_otus) base log-abundance */
    size_t *by_rank;     /* (n_otus) OTU indices, most abundant first */
    size_t *rank_of;     /* (n_otus) */
    unsigned char *is_signal;
    unsigned char *is_positive; /* (n_patients) */
    size_t *first_sample;       /* (n_patients + 1) samples are patient-major */
    uint32_t *counts;           /* (n_otus, n_samples) OTU-major, as table.tsv rows */
    char *otu_ids;              /* (n_otus, OTU_ID_BYTES) */
    size_t nnz, n_positive_patients, n_positive_samples;
} cohort;

static ml_status check_options(const char *out_dir, const ml_synth_options *o) {
    if (!out_dir || !out_dir[0]) return ML_FAIL(ML_EINVAL, "synth: out_dir is empty");
    if (o->version != ML_SYNTH_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "synth options: version %d (expected %d)", o->version,
                       ML_SYNTH_OPTIONS_VERSION);
    if (o->n_samples < 1 || o->n_samples > MAX_SAMPLES)
        return ML_FAIL(ML_EINVAL, "synth options: n_samples %zu (expected 1 to %d)",
                       o->n_samples, MAX_SAMPLES);
    if (o->n_patients < 1 || o->n_patients > o->n_samples)
        return ML_FAIL(ML_EINVAL, "synth options: n_patients %zu (expected 1 to n_samples, "
                       "%zu)", o->n_patients, o->n_samples);
    if (o->n_otus < 2 || o->n_otus > MAX_OTUS)
        return ML_FAIL(ML_EINVAL, "synth options: n_otus %zu (expected 2 to %d)", o->n_otus,
                       MAX_OTUS);
    if (o->dim < 1 || o->dim > MAX_DIM)
        return ML_FAIL(ML_EINVAL, "synth options: dim %zu (expected 1 to %d)", o->dim,
                       MAX_DIM);
    if ((double)o->n_samples * (double)o->n_otus > MAX_CELLS ||
        (double)o->n_otus * (double)o->dim > MAX_CELLS)
        return ML_FAIL(ML_EINVAL, "synth options: n_otus %zu with n_samples %zu and dim %zu "
                       "is over %.0f cells (expected a smaller cohort)", o->n_otus,
                       o->n_samples, o->dim, MAX_CELLS);
    size_t moderate = o->n_otus / 2 - o->n_otus / 10;
    if (o->n_signal_otus > moderate)
        return ML_FAIL(ML_EINVAL, "synth options: n_signal_otus %zu (expected at most %zu, the "
                       "moderately abundant OTUs ranked %zu to %zu)", o->n_signal_otus,
                       moderate, o->n_otus / 10, o->n_otus / 2);
    if (!(fabs(o->signal_log_fold) <= MAX_ABS_LOG_FOLD))
        return ML_FAIL(ML_EINVAL, "synth options: signal_log_fold %g (expected a number in "
                       "[-%g, %g])", o->signal_log_fold, MAX_ABS_LOG_FOLD, MAX_ABS_LOG_FOLD);
    return ML_OK;
}

static void cohort_free(cohort *c) {
    free(c->mu);
    free(c->by_rank);
    free(c->rank_of);
    free(c->is_signal);
    free(c->is_positive);
    free(c->first_sample);
    free(c->counts);
    free(c->otu_ids);
}

static ml_status cohort_alloc(cohort *c) {
    const ml_synth_options *o = c->o;
    c->mu = malloc(o->n_otus * sizeof *c->mu);
    c->by_rank = malloc(o->n_otus * sizeof *c->by_rank);
    c->rank_of = malloc(o->n_otus * sizeof *c->rank_of);
    c->is_signal = calloc(o->n_otus, 1);
    c->is_positive = calloc(o->n_patients, 1);
    c->first_sample = malloc((o->n_patients + 1) * sizeof *c->first_sample);
    c->counts = calloc(o->n_otus * o->n_samples, sizeof *c->counts);
    c->otu_ids = malloc(o->n_otus * OTU_ID_BYTES);
    if (!c->mu || !c->by_rank || !c->rank_of || !c->is_signal || !c->is_positive ||
        !c->first_sample || !c->counts || !c->otu_ids)
        return ML_NOMEM();
    return ML_OK;
}

typedef struct mu_rank {
    double mu;
    size_t otu;
} mu_rank;

static int mu_rank_cmp(const void *pa, const void *pb) {
    const mu_rank *a = pa, *b = pb;
    if (a->mu != b->mu) return a->mu > b->mu ? -1 : 1;
    return a->otu < b->otu ? -1 : a->otu > b->otu;
}

static int size_cmp(const void *pa, const void *pb) {
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return a < b ? -1 : a > b;
}

/* Base profile, abundance ranks, signal OTUs (among ranks n/10 .. n/2) and OTU IDs. */
static ml_status make_profile(cohort *c, size_t *signal) {
    const ml_synth_options *o = c->o;
    ml__rng r;
    ml__rng_seed_stream(&r, o->seed, STREAM_PROFILE);
    mu_rank *tmp = malloc(o->n_otus * sizeof *tmp);
    if (!tmp) return ML_NOMEM();
    for (size_t j = 0; j < o->n_otus; j++) {
        c->mu[j] = PROFILE_SD * ml__rng_normal(&r);
        tmp[j] = (mu_rank){c->mu[j], j};
    }
    qsort(tmp, o->n_otus, sizeof *tmp, mu_rank_cmp);
    for (size_t k = 0; k < o->n_otus; k++) {
        c->by_rank[k] = tmp[k].otu;
        c->rank_of[tmp[k].otu] = k;
    }
    free(tmp);
    size_t lo = o->n_otus / 10, n_moderate = o->n_otus / 2 - lo;
    size_t *pick = malloc((n_moderate ? n_moderate : 1) * sizeof *pick);
    if (!pick) return ML_NOMEM();
    for (size_t k = 0; k < n_moderate; k++) pick[k] = c->by_rank[lo + k];
    ml__rng_shuffle(&r, pick, n_moderate);
    for (size_t k = 0; k < o->n_signal_otus; k++) {
        signal[k] = pick[k];
        c->is_signal[pick[k]] = 1;
    }
    free(pick);
    qsort(signal, o->n_signal_otus, sizeof *signal, size_cmp);
    /* MicrobeAtlas-style nested cluster IDs at 90/96/97% identity; the 97% part is unique. */
    for (size_t j = 0; j < o->n_otus; j++)
        snprintf(c->otu_ids + j * OTU_ID_BYTES, OTU_ID_BYTES, "90_%zu;96_%zu;97_%zu",
                 j / 25 + 1, j / 5 + 1, j + 1);
    return ML_OK;
}

/* Exactly round(0.4 * n_patients) positive patients, chosen at random; visits spread evenly. */
static void assign_patients(cohort *c) {
    const ml_synth_options *o = c->o;
    ml__rng r;
    ml__rng_seed_stream(&r, o->seed, STREAM_LABELS);
    size_t n_pos = (size_t)floor(POSITIVE_FRACTION * (double)o->n_patients + 0.5);
    size_t base = o->n_samples / o->n_patients, extra = o->n_samples % o->n_patients;
    c->first_sample[0] = 0;
    for (size_t p = 0; p < o->n_patients; p++)
        c->first_sample[p + 1] = c->first_sample[p] + base + (p < extra);
    /* Selection sampling (Knuth, TAOCP 3.4.2, algorithm S): exactly n_pos, uniformly. */
    size_t chosen = 0;
    for (size_t p = 0; p < o->n_patients && chosen < n_pos; p++) {
        uint64_t left = o->n_patients - p, need = n_pos - chosen;
        if (ml__rng_below(&r, left) < need) {
            c->is_positive[p] = 1;
            chosen++;
        }
    }
    c->n_positive_patients = n_pos;
    c->n_positive_samples = 0;
    for (size_t p = 0; p < o->n_patients; p++)
        if (c->is_positive[p])
            c->n_positive_samples += c->first_sample[p + 1] - c->first_sample[p];
}

/* Per-patient scratch, (n_otus) each. */
typedef struct scratch {
    double *eta, *alpha, *p, *cdf;
    size_t *present; /* OTU indices present in the current patient */
} scratch;

static void scratch_free(scratch *s) {
    free(s->eta);
    free(s->alpha);
    free(s->p);
    free(s->cdf);
    free(s->present);
}

static ml_status scratch_alloc(scratch *s, size_t n) {
    s->eta = malloc(n * sizeof *s->eta);
    s->alpha = malloc(n * sizeof *s->alpha);
    s->p = malloc(n * sizeof *s->p);
    s->cdf = malloc(n * sizeof *s->cdf);
    s->present = malloc(n * sizeof *s->present);
    if (!s->eta || !s->alpha || !s->p || !s->cdf || !s->present) return ML_NOMEM();
    return ML_OK;
}

/* The patient's log-abundances over the OTUs it carries; returns how many it carries. */
static size_t patient_profile(const cohort *c, size_t patient, ml__rng *r, scratch *s) {
    const ml_synth_options *o = c->o;
    size_t n_present = 0;
    for (size_t j = 0; j < o->n_otus; j++) {
        double effect = PATIENT_EFFECT_SD * ml__rng_normal(r);
        double absent = c->is_signal[j] ? SIGNAL_ABSENT
                                        : ABSENT_MIN + ABSENT_SPAN * (double)c->rank_of[j] /
                                                           (double)o->n_otus;
        if (ml__rng_uniform(r) < absent) continue;
        double signal = c->is_signal[j] && c->is_positive[patient] ? o->signal_log_fold : 0.0;
        s->eta[n_present] = c->mu[j] + effect + signal;
        s->present[n_present++] = j;
    }
    if (n_present == 0) { /* keep every sample non-empty: the most abundant OTU stays */
        s->eta[0] = c->mu[c->by_rank[0]];
        s->present[0] = c->by_rank[0];
        n_present = 1;
    }
    return n_present;
}

/* One visit: p ~ Dirichlet(theta * softmax(eta)), depth ~ log-normal, counts ~ Multinomial
 * drawn exactly as `depth` categorical draws (binary search in the cumulative p). */
static void sample_counts(cohort *c, size_t sample, size_t n_present, ml__rng *r, scratch *s) {
    double top = s->eta[0], z = 0.0;
    for (size_t k = 1; k < n_present; k++)
        if (s->eta[k] > top) top = s->eta[k];
    for (size_t k = 0; k < n_present; k++) z += (s->alpha[k] = exp(s->eta[k] - top));
    double theta = THETA_MIN + (THETA_MAX - THETA_MIN) * ml__rng_uniform(r);
    for (size_t k = 0; k < n_present; k++) s->alpha[k] = theta * s->alpha[k] / z;
    ml__rng_dirichlet(r, s->alpha, n_present, s->p);
    double acc = 0.0;
    for (size_t k = 0; k < n_present; k++) s->cdf[k] = (acc += s->p[k]);
    double depth = exp(DEPTH_LOG_MEAN + DEPTH_LOG_SD * ml__rng_normal(r));
    depth = depth < DEPTH_MIN ? DEPTH_MIN : depth > DEPTH_MAX ? DEPTH_MAX : floor(depth + 0.5);
    size_t n_samples = c->o->n_samples;
    for (uint32_t d = 0; d < (uint32_t)depth; d++) {
        double u = ml__rng_uniform(r) * acc;
        size_t lo = 0, hi = n_present - 1; /* first k with cdf[k] > u */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s->cdf[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        uint32_t *cell = &c->counts[s->present[lo] * n_samples + sample];
        if (*cell == 0) c->nnz++;
        (*cell)++;
    }
}

static ml_status make_counts(cohort *c) {
    const ml_synth_options *o = c->o;
    scratch s = {NULL, NULL, NULL, NULL, NULL};
    ml_status st = scratch_alloc(&s, o->n_otus);
    if (st == ML_OK) {
        ml__rng rp, rs;
        ml__rng_seed_stream(&rp, o->seed, STREAM_PATIENTS);
        ml__rng_seed_stream(&rs, o->seed, STREAM_SAMPLES);
        for (size_t p = 0; p < o->n_patients; p++) {
            size_t n_present = patient_profile(c, p, &rp, &s);
            for (size_t i = c->first_sample[p]; i < c->first_sample[p + 1]; i++)
                sample_counts(c, i, n_present, &rs, &s);
            if (o->progress) o->progress(o->progress_ctx, p + 1, o->n_patients);
        }
    }
    scratch_free(&s);
    return st;
}

static void sample_id(const cohort *c, size_t sample, size_t *patient, size_t *visit) {
    size_t lo = 0, hi = c->o->n_patients - 1; /* last p with first_sample[p] <= sample */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (c->first_sample[mid] <= sample) lo = mid;
        else hi = mid - 1;
    }
    *patient = lo;
    *visit = sample - c->first_sample[lo];
}

static char *fmt_u32(char *end, uint32_t v) {
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static ml_status join_path(char **out, const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    if (!(*out = malloc(n))) return ML_NOMEM();
    snprintf(*out, n, "%s/%s", dir, name);
    return ML_OK;
}

static ml_status write_table(const cohort *c, const char *dir) {
    const ml_synth_options *o = c->o;
    char *path = NULL;
    ML_TRY(join_path(&path, dir, "table.tsv"));
    ml__outbuf b;
    ml_status st = ml__outbuf_open(&b, path, 0644);
    free(path);
    if (st != ML_OK) return st;
    ml__outbuf_puts(&b, "# Constructed from biom file\n#OTU ID");
    for (size_t i = 0; i < o->n_samples; i++) {
        size_t p, v;
        sample_id(c, i, &p, &v);
        ml__outbuf_printf(&b, "\tP%03zu_S%02zu", p, v);
    }
    ml__outbuf_puts(&b, "\n");
    char num[16];
    num[0] = '\t';
    for (size_t j = 0; j < o->n_otus && b.status == ML_OK; j++) {
        ml__outbuf_puts(&b, c->otu_ids + j * OTU_ID_BYTES);
        const uint32_t *row = c->counts + j * o->n_samples;
        for (size_t i = 0; i < o->n_samples; i++) {
            char *start = fmt_u32(num + sizeof num, row[i]);
            *--start = '\t';
            ml__outbuf_write(&b, start, (size_t)(num + sizeof num - start));
        }
        ml__outbuf_puts(&b, "\n");
    }
    return ml__outbuf_commit(&b);
}

static ml_status write_labels(const cohort *c, const char *dir) {
    char *path = NULL;
    ML_TRY(join_path(&path, dir, "labels.csv"));
    ml__outbuf b;
    ml_status st = ml__outbuf_open(&b, path, 0644);
    free(path);
    if (st != ML_OK) return st;
    ml__outbuf_puts(&b, "sid,label,group\n");
    for (size_t i = 0; i < c->o->n_samples; i++) {
        size_t p, v;
        sample_id(c, i, &p, &v);
        ml__outbuf_printf(&b, "P%03zu_S%02zu,%s,P%03zu\n", p, v,
                          c->is_positive[p] ? "allergy" : "healthy", p);
    }
    return ml__outbuf_commit(&b);
}

/* Each vector: N(0, 1/dim) per coordinate (norm ~1); signal OTUs add one shared unit
 * direction, so their vectors have cosine ~0.5 with each other and ~0 with the rest. */
static ml_status write_vectors(const cohort *c, const char *dir) {
    const ml_synth_options *o = c->o;
    size_t dim = o->dim;
    ml_status st = ML_OK;
    char *path = NULL, seed_text[24];
    double *dir_vec = malloc(dim * sizeof *dir_vec);
    float *vec = malloc(o->n_otus * dim * sizeof *vec);
    ml_tensor_view *views = calloc(o->n_otus, sizeof *views);
    if (!dir_vec || !vec || !views) {
        st = ML_NOMEM();
        goto done;
    }
    ml__rng r;
    ml__rng_seed_stream(&r, o->seed, STREAM_VECTORS);
    double norm = 0.0;
    for (size_t d = 0; d < dim; d++) {
        dir_vec[d] = ml__rng_normal(&r);
        norm += dir_vec[d] * dir_vec[d];
    }
    norm = sqrt(norm);
    for (size_t j = 0; j < o->n_otus; j++) {
        float *v = vec + j * dim;
        for (size_t d = 0; d < dim; d++) {
            double x = ml__rng_normal(&r) / sqrt((double)dim);
            if (c->is_signal[j] && norm > 0.0) x += SIGNAL_DIRECTION_WEIGHT * dir_vec[d] / norm;
            v[d] = (float)x;
        }
        views[j] = (ml_tensor_view){c->otu_ids + j * OTU_ID_BYTES, ML_DTYPE_F32, 1, {dim}, v};
    }
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)o->seed);
    const ml_kv meta[2] = {{"generator", "microlens synth"}, {"seed", seed_text}};
    if ((st = join_path(&path, dir, "otu_vectors.safetensors")) != ML_OK) goto done;
    st = ml_safetensors_write(path, views, o->n_otus, meta, 2);
done:
    free(path);
    free(views);
    free(vec);
    free(dir_vec);
    return st;
}

static ml_status write_source(const cohort *c, const size_t *signal, const char *dir) {
    const ml_synth_options *o = c->o;
    char *path = NULL;
    ML_TRY(join_path(&path, dir, "SOURCE.md"));
    ml__outbuf b;
    ml_status st = ml__outbuf_open(&b, path, 0644);
    free(path);
    if (st != ML_OK) return st;
    double cells = (double)o->n_samples * (double)o->n_otus;
    ml__outbuf_printf(&b,
        "# Synthetic cohort\n\n"
        "Synthetic data: no person, sample or study is behind these files. They were made by\n"
        "`microlens synth` (ml_synth_write in src/data/synth.c) and are byte-identical for the\n"
        "same options on the same build.\n\n"
        "## Options\n\n"
        "- n_samples: %zu\n- n_patients: %zu\n- n_otus: %zu\n- dim: %zu\n"
        "- n_signal_otus: %zu\n- signal_log_fold: %.17g\n- seed: %llu\n\n",
        o->n_samples, o->n_patients, o->n_otus, o->dim, o->n_signal_otus, o->signal_log_fold,
        (unsigned long long)o->seed);
    ml__outbuf_printf(&b,
        "## How it was generated\n\n"
        "1. Base log-abundance of each OTU ~ Normal(0, %g) (log-normal, heavy-tailed ranks).\n"
        "2. Patients: %zu of %zu (round(%g n)) are \"allergy\", the rest \"healthy\"; every\n"
        "   sample of a patient shares its label and group. Samples are spread evenly over\n"
        "   patients (the first n_samples %% n_patients get one more).\n"
        "3. Per patient: an effect ~ Normal(0, %g) on every OTU's log-abundance, and each OTU\n"
        "   absent (structural zero) with probability %g + %g * rank / n_otus (rank 0 = most\n"
        "   abundant; %g for signal OTUs). Signal OTUs get + signal_log_fold in positives.\n"
        "4. Per sample: p ~ Dirichlet(theta * softmax(log-abundances of present OTUs)),\n"
        "   theta ~ Uniform(%g, %g); depth = round(exp(Normal(ln 20000, %g))) clamped to\n"
        "   [%g, %g]; counts ~ Multinomial(depth, p), drawn one read at a time.\n"
        "5. OTU vectors (otu_vectors.safetensors, F32 [dim]): Normal(0, 1/dim) per coordinate;\n"
        "   signal OTUs add a shared random unit direction (weight %g).\n"
        "6. Random numbers: xoshiro256** seeded by splitmix64, one stream per step.\n\n",
        PROFILE_SD, c->n_positive_patients, o->n_patients, POSITIVE_FRACTION,
        PATIENT_EFFECT_SD, ABSENT_MIN, ABSENT_SPAN, SIGNAL_ABSENT, THETA_MIN, THETA_MAX,
        DEPTH_LOG_SD, DEPTH_MIN, DEPTH_MAX, SIGNAL_DIRECTION_WEIGHT);
    ml__outbuf_printf(&b, "## Signal OTUs\n\n%zu OTUs, log fold %.17g in \"allergy\":\n\n",
                      o->n_signal_otus, o->signal_log_fold);
    for (size_t k = 0; k < o->n_signal_otus; k++)
        ml__outbuf_printf(&b, "- %s\n", c->otu_ids + signal[k] * OTU_ID_BYTES);
    ml__outbuf_printf(&b,
        "\n## Result\n\n- positive samples: %zu of %zu\n- non-zero cells: %zu of %.0f "
        "(%.1f%% zeros)\n",
        c->n_positive_samples, o->n_samples, c->nnz, cells,
        100.0 * (1.0 - (double)c->nnz / cells));
    return ml__outbuf_commit(&b);
}

ml_status ml_synth_write(const char *out_dir, const ml_synth_options *opts,
                         ml_synth_summary *summary) {
    ml_synth_options defaults = ML_SYNTH_OPTIONS_INIT;
    const ml_synth_options *o = opts ? opts : &defaults;
    ML_TRY(check_options(out_dir, o));
    cohort c;
    memset(&c, 0, sizeof c);
    c.o = o;
    size_t *signal = malloc((o->n_signal_otus ? o->n_signal_otus : 1) * sizeof *signal);
    ml_status st = signal ? cohort_alloc(&c) : ML_NOMEM();
    if (st != ML_OK) goto done;
    if ((st = make_profile(&c, signal)) != ML_OK) goto done;
    assign_patients(&c);
    if ((st = make_counts(&c)) != ML_OK) goto done;
    if ((st = ml__mkdir_p(out_dir, 0755)) != ML_OK) goto done;
    if ((st = write_table(&c, out_dir)) != ML_OK) goto done;
    if ((st = write_labels(&c, out_dir)) != ML_OK) goto done;
    if ((st = write_vectors(&c, out_dir)) != ML_OK) goto done;
    if ((st = write_source(&c, signal, out_dir)) != ML_OK) goto done;
    if (summary)
        *summary = (ml_synth_summary){o->n_samples, o->n_patients, o->n_otus, o->dim,
                                      c.n_positive_samples, c.nnz};
done:
    cohort_free(&c);
    free(signal);
    return st;
}
