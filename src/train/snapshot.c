/* snapshot.c - one safetensors file of chosen raw tensors per snapshot step, written from views
 * into the model (no copy) through the atomic safetensors writer. It decides nothing about
 * cadence beyond snapshot_every and never touches checkpoints/. */
#include "train/snapshot.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microlens/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

#define GRAD_PREFIX "grad."
/* What the atomic writer appends to a temporary file's name (fileio.c: path.tmp.XXXXXX). */
#define TMP_MARK ".safetensors.tmp."

struct ml__snapshot {
    uint64_t every;
    char *dir;             /* RUN_DIR/snapshots */
    size_t n;
    ml_tensor_view *views; /* data point into the model */
    char **grad_names;     /* "grad.<name>", owned; NULL entries for weight views */
};

static bool is_lora(const char *name) {
    return strstr(name, ".lora_A.weight") || strstr(name, ".lora_B.weight");
}

static void view_of(ml_tensor_view *v, const ml_nn_tensor *t, const char *name, const float *d) {
    memset(v, 0, sizeof *v);
    v->name = name;
    v->dtype = ML_DTYPE_F32;
    v->n_dims = t->n_dims;
    v->shape[0] = t->shape[0];
    v->shape[1] = t->shape[1];
    v->data = d;
}

/* One pass to count (views NULL), one to fill. */
static ml_status plan(ml__snapshot *s, ml__trainer *tr, unsigned mask, size_t *n_lora) {
    size_t n = ml__trainer_n_tensors(tr), k = 0;
    *n_lora = 0;
    for (size_t i = 0; i < n; i++) {
        ml_nn_tensor t;
        ML_TRY(ml__trainer_tensor(tr, i, &t));
        bool lora = is_lora(t.name);
        *n_lora += lora;
        if (((mask & ML_SNAPSHOT_WEIGHTS) && t.grad) || ((mask & ML_SNAPSHOT_LORA) && lora)) {
            if (s->views) view_of(&s->views[k], &t, t.name, t.data);
            k++;
        }
        if ((mask & ML_SNAPSHOT_GRADS) && t.grad) {
            if (s->views) {
                size_t len = strlen(GRAD_PREFIX) + strlen(t.name) + 1;
                if (!(s->grad_names[k] = malloc(len))) return ML_NOMEM();
                snprintf(s->grad_names[k], len, GRAD_PREFIX "%s", t.name);
                view_of(&s->views[k], &t, s->grad_names[k], t.grad);
            }
            k++;
        }
    }
    s->n = k;
    return ML_OK;
}

/* Temporary files of an interrupted write: regular files only (unlink never follows a link). */
static ml_status clean_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return ML_FAIL(ML_EIO, "%s: cannot open the snapshot folder", dir);
    struct dirent *e;
    ml_status st = ML_OK;
    while (st == ML_OK && (e = readdir(d))) {
        if (strncmp(e->d_name, "step-", 5) != 0 || !strstr(e->d_name, TMP_MARK)) continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (unlink(path) != 0) st = ML_FAIL(ML_EIO, "%s: cannot remove a leftover temporary "
                                            "file", path);
    }
    closedir(d);
    return st;
}

static ml_status build(ml__snapshot *s, ml__trainer *tr) {
    unsigned mask = tr->o->snapshot;
    size_t n_lora;
    ML_TRY(plan(s, tr, mask, &n_lora));
    if ((mask & ML_SNAPSHOT_LORA) && n_lora == 0)
        return ML_FAIL(ML_EINVAL, "train options: snapshot lora needs a LoRA run (lora_rank > 0)");
    s->views = calloc(s->n ? s->n : 1, sizeof *s->views);
    s->grad_names = calloc(s->n ? s->n : 1, sizeof *s->grad_names);
    if (!s->views || !s->grad_names) return ML_NOMEM();
    ML_TRY(plan(s, tr, mask, &n_lora));
    size_t len = strlen(tr->run_dir) + sizeof "/" ML__SNAPSHOT_DIR;
    if (!(s->dir = malloc(len))) return ML_NOMEM();
    snprintf(s->dir, len, "%s/" ML__SNAPSHOT_DIR, tr->run_dir);
    ML_TRY(ml__mkdir_p(s->dir, 0755));
    return clean_tmp(s->dir);
}

ml_status ml__snapshot_new(ml__snapshot **out, ml__trainer *tr) {
    ml__snapshot *s = calloc(1, sizeof *s);
    if (!s) return ML_NOMEM();
    s->every = tr->o->snapshot_every ? tr->o->snapshot_every : 1;
    ml_status st = build(s, tr);
    if (st != ML_OK) {
        ml__snapshot_free(s);
        return st;
    }
    *out = s;
    return ML_OK;
}

void ml__snapshot_free(ml__snapshot *s) {
    if (!s) return;
    if (s->grad_names)
        for (size_t i = 0; i < s->n; i++) free(s->grad_names[i]);
    free(s->grad_names);
    free(s->views);
    free(s->dir);
    free(s);
}

bool ml__snapshot_due(const ml__snapshot *s, uint64_t step) { return step % s->every == 0; }

ml_status ml__snapshot_write(ml__snapshot *s, uint64_t step) {
    char path[4096], step_text[24], before[24];
    if (snprintf(path, sizeof path, "%s/" ML__CKPT_NAME_FMT ".safetensors", s->dir, step) >=
        (int)sizeof path)
        return ML_FAIL(ML_EINVAL, "%s: snapshot path too long", s->dir);
    snprintf(step_text, sizeof step_text, "%" PRIu64, step);
    snprintf(before, sizeof before, "%" PRIu64, step - 1);
    const ml_kv meta[] = {{"step", step_text},
                          {"weights_after_updates", before},
                          {"gradients", "this step's, before clipping"},
                          {"writer", "microlens train --snapshot"}};
    return ml_safetensors_write(path, s->views, s->n, meta, sizeof meta / sizeof *meta);
}
