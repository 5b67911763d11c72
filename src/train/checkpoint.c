/* checkpoint.c - a training run's checkpoints: written into checkpoints/.tmp-step-N, fsynced,
 * MANIFESTed and renamed into place; retention of the last K plus the best; loading the
 * newest one that verifies. Deletion stays inside checkpoints/ and never follows a symlink.
 * It decides nothing about when to checkpoint. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/manifest.h"
#include "microlens/safetensors.h"
#include "train/preprocess.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fileio.h"

#define TMP_PREFIX ".tmp-"
#define STATE_MAX_BYTES (256u * 1024u * 1024u)
#define LORA_PREFIX "base_model.model."

static ml_status fsync_path(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) return ML_FAIL(ML_EIO, "%s: cannot open (%s)", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return ML_FAIL(ML_EIO, "%s: fsync failed (%s)", path, strerror(errno));
    return ML_OK;
}

/* Removes parent/name, a flat folder of regular files. Anything else inside (a symbolic link,
 * a subfolder) stops it, and a symbolic link at parent/name itself is never followed. */
static ml_status remove_flat_dir(const char *parent, const char *name) {
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (pfd < 0) return ML_FAIL(ML_EIO, "%s: cannot open (%s)", parent, strerror(errno));
    ml_status st = ML_OK;
    int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        st = ML_FAIL(ML_EINVAL, "%s/%s: not removed (not a plain folder: %s)", parent, name,
                     strerror(errno));
        if (dfd >= 0) close(dfd);
        goto done;
    }
    struct dirent *e;
    while (st == ML_OK && (e = readdir(d)) != NULL) {
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            st = ML_FAIL(ML_EINVAL, "%s/%s/%s: not removed (not a regular file)", parent, name,
                         e->d_name);
        else if (unlinkat(dfd, e->d_name, 0) != 0)
            st = ML_FAIL(ML_EIO, "%s/%s/%s: cannot remove (%s)", parent, name, e->d_name,
                         strerror(errno));
    }
    closedir(d);
    if (st == ML_OK && unlinkat(pfd, name, AT_REMOVEDIR) != 0)
        st = ML_FAIL(ML_EIO, "%s/%s: cannot remove (%s)", parent, name, strerror(errno));
done:
    close(pfd);
    return st;
}

static char *join3(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s%s", a, b, *c ? "/" : "", c);
    return p;
}

ml_status ml__ckpt_clean_tmp(ml__trainer *tr) {
    char *dir = join3(tr->run_dir, ML__CKPT_DIR, "");
    if (!dir) return ML_NOMEM();
    ml_status st = ML_OK;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT) st = ML_FAIL(ML_EIO, "%s: cannot list (%s)", dir, strerror(errno));
        free(dir);
        return st;
    }
    struct dirent *e;
    char names[16][256];
    size_t n = 0;
    while ((e = readdir(d)) != NULL && n < 16)
        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 && strlen(e->d_name) < 256)
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    for (size_t k = 0; k < n && st == ML_OK; k++) st = remove_flat_dir(dir, names[k]);
    free(dir);
    return st;
}

/* ---- Writing ------------------------------------------------------------------------------ */

static ml_status write_model(ml__trainer *tr, const char *dir) {
    size_t n = ml__trainer_n_tensors(tr), m = 0;
    int lora = tr->st && tr->o->st.lora_rank > 0;
    ml_tensor_view *v = calloc(n + 1, sizeof *v);
    char **names = calloc(n + 1, sizeof *names);
    ml_status st = (!v || !names) ? ML_NOMEM() : ML_OK;
    for (size_t i = 0; i < n && st == ML_OK; i++) {
        ml_nn_tensor t;
        if ((st = ml__trainer_tensor(tr, i, &t)) != ML_OK) break;
        const char *name = t.name;
        if (lora && strncmp(name, LORA_PREFIX, strlen(LORA_PREFIX)) != 0) {
            if (strncmp(name, "classifier.", 11) != 0) continue; /* frozen base: not saved */
            /* PEFT saves modules_to_save under the wrapped model's prefix */
            size_t len = strlen(LORA_PREFIX) + strlen(name) + 1;
            if (!(names[m] = malloc(len))) {
                st = ML_NOMEM();
                break;
            }
            snprintf(names[m], len, "%s%s", LORA_PREFIX, name);
            name = names[m];
        }
        v[m] = (ml_tensor_view){name, ML_DTYPE_F32, t.n_dims, {t.shape[0], t.shape[1]}, t.data};
        m++;
    }
    char nhead[32];
    snprintf(nhead, sizeof nhead, "%zu", tr->o->st.n_heads);
    ml_kv meta[2] = {{"format", "pt"}, {"nhead", nhead}};
    char *path = join3(dir, lora ? "adapter_model.safetensors" : "model.safetensors", "");
    if (st == ML_OK && !path) st = ML_NOMEM();
    if (st == ML_OK) st = ml_safetensors_write(path, v, m, meta, tr->st ? 2 : 1);
    free(path);
    for (size_t i = 0; i <= n && names; i++) free(names[i]);
    free(names);
    free(v);
    return st;
}

static ml_status write_optimizer(ml__trainer *tr, const char *dir) {
    size_t n = ml_optim_n_state(tr->opt);
    ml_tensor_view *v = calloc(n, sizeof *v);
    char *path = join3(dir, "optimizer.safetensors", "");
    ml_status st = (!v || !path) ? ML_NOMEM() : ML_OK;
    for (size_t i = 0; i < n && st == ML_OK; i++) st = ml_optim_state(tr->opt, i, &v[i]);
    if (st == ML_OK) st = ml_safetensors_write(path, v, n, NULL, 0);
    free(path);
    free(v);
    return st;
}

static ml_status write_json(const char *dir, const char *name, json_t *doc) {
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *path = join3(dir, name, "");
    ml_status st = (!text || !path) ? ML_NOMEM()
                                    : ml__file_write_atomic(path, text, strlen(text), 0644);
    free(text);
    free(path);
    return st;
}

static const char *lora_target_name(unsigned bit) {
    switch (bit) {
    case ML_LORA_Q: return "q_proj";
    case ML_LORA_K: return "k_proj";
    case ML_LORA_V: return "v_proj";
    case ML_LORA_OUT: return "out_proj";
    case ML_LORA_LINEAR1: return "linear1";
    default: return "linear2";
    }
}

/* PEFT's LoraConfig keys, as adapter_config.json holds them. */
static ml_status write_adapter_config(ml__trainer *tr, const char *dir) {
    const ml_settransformer_config *c = &tr->o->st;
    json_t *targets = json_array();
    for (unsigned b = 1; b <= ML_LORA_LINEAR2; b <<= 1)
        if (c->lora_targets & b) json_array_append_new(targets, json_string(lora_target_name(b)));
    const char *base = tr->o->init_name;
    if (!base && tr->o->init_path) {
        base = strrchr(tr->o->init_path, '/');
        base = base ? base + 1 : tr->o->init_path;
    }
    json_t *doc = json_object();
    if (!doc || !targets) {
        json_decref(doc);
        json_decref(targets);
        return ML_NOMEM();
    }
    json_object_set_new(doc, "auto_mapping", json_null());
    json_object_set_new(doc, "base_model_name_or_path", base ? json_string(base) : json_null());
    json_object_set_new(doc, "bias", json_string("none"));
    json_object_set_new(doc, "fan_in_fan_out", json_false());
    json_object_set_new(doc, "inference_mode", json_true());
    json_object_set_new(doc, "init_lora_weights", json_true());
    json_object_set_new(doc, "layers_pattern", json_null());
    json_object_set_new(doc, "layers_to_transform", json_null());
    /* floats printed as the decimals the user gave, not their binary neighbours */
    json_object_set_new(doc, "lora_alpha", json_real(round((double)c->lora_alpha * 1e6) / 1e6));
    json_object_set_new(doc, "lora_dropout",
                        json_real(round((double)c->lora_dropout * 1e6) / 1e6));
    json_object_set_new(doc, "modules_to_save", json_pack("[s]", "classifier"));
    json_object_set_new(doc, "peft_type", json_string("LORA"));
    json_object_set_new(doc, "r", json_integer((json_int_t)c->lora_rank));
    json_object_set_new(doc, "rank_pattern", json_object());
    json_object_set_new(doc, "revision", json_null());
    json_object_set_new(doc, "target_modules", targets);
    json_object_set_new(doc, "task_type", json_string("SEQ_CLS"));
    ml_status st = write_json(dir, "adapter_config.json", doc);
    json_decref(doc);
    return st;
}

static json_t *trainer_state(ml__trainer *tr) {
    return json_pack("{s:I, s:f, s:I, s:I, s:o, s:s?, s:O, s:{s:I, s:s}}",
                     "global_step", (json_int_t)tr->step, "epoch",
                     (double)tr->step / (double)tr->steps_per_epoch, "max_steps",
                     (json_int_t)tr->total_steps, "num_train_samples", (json_int_t)tr->n_train,
                     "best_metric", isinf(tr->best_loss) ? json_null() : json_real(tr->best_loss),
                     "best_model_checkpoint", tr->best_ckpt[0] ? tr->best_ckpt : NULL,
                     "log_history", tr->history, "rng", "seed", (json_int_t)tr->o->seed,
                     "scheme", "batch order: stream 1000+epoch of seed; dropout: seeded from "
                     "seed and step; nothing else is random after initialisation");
}

static ml_status write_files(ml__trainer *tr, const char *tmp) {
    ML_TRY(write_model(tr, tmp));
    if (tr->st && tr->o->st.lora_rank > 0) ML_TRY(write_adapter_config(tr, tmp));
    ML_TRY(write_optimizer(tr, tmp));
    json_t *state = trainer_state(tr);
    if (!state) return ML_NOMEM();
    ml_status st = write_json(tmp, "trainer_state.json", state);
    json_decref(state);
    ML_TRY(st);
    /* what serving needs to rebuild the model's inputs; under the MANIFEST like the weights */
    if (tr->preprocess) ML_TRY(write_json(tmp, ML__PREPROCESS_NAME, tr->preprocess));
    ML_TRY(ml_manifest_write(tmp));
    return fsync_path(tmp);
}

static ml_status sha256_file(const char *path, char hex[65]) {
    char *data = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(path, 64u * 1024u * 1024u, &data, &len));
    unsigned char d[32];
    unsigned int dl = 0;
    int ok = EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL) == 1 && dl == 32;
    free(data);
    if (!ok) return ML_FAIL(ML_ENOMEM, "SHA-256 failed (OpenSSL)");
    for (size_t i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return ML_OK;
}

/* The row of a checkpoint at step, or NULL: a run resumed from before a checkpoint that
 * failed to verify reaches that step again. */
static ml_status find_row(ml__trainer *tr, const ml_checkpoint_row **row) {
    const ml_checkpoint_row *rows;
    size_t n;
    *row = NULL;
    ML_TRY(ml_runstore_checkpoints(tr->rs, &rows, &n));
    for (size_t i = 0; i < n; i++)
        if ((uint64_t)rows[i].step == tr->step) *row = &rows[i];
    return ML_OK;
}

/* Records the checkpoint, or checks it against the row already there: the run is
 * deterministic, so a rewrite must have the MANIFEST recorded. */
static ml_status record(ml__trainer *tr, const char *rel, const char *hex, bool is_best) {
    const ml_checkpoint_row *row;
    ML_TRY(find_row(tr, &row));
    if (!row) return ml_runstore_add_checkpoint(tr->rs, (int64_t)tr->step, rel, hex, is_best);
    if (strcmp(row->manifest_sha256, hex) != 0)
        return ML_FAIL(ML_EINTEGRITY, "%s/%s: rewritten checkpoint differs from the one "
                       "recorded (MANIFEST %s, recorded %s)", tr->run_dir, rel, hex,
                       row->manifest_sha256);
    ML_TRY(ml_runstore_flush(tr->rs));
    return ml_runstore_log_event(tr->rs, (int64_t)tr->step, ML_EVENT_INFO,
                                 "checkpoint rewritten: same MANIFEST as recorded");
}

ml_status ml__ckpt_write(ml__trainer *tr, bool is_best) {
    char name[40], tmpname[48], rel[64], hex[65];
    const ml_checkpoint_row *row;
    ML_TRY(find_row(tr, &row));
    if (row && !isnan(row->deleted_at)) return ML_OK; /* retention removed it: stays so */
    snprintf(name, sizeof name, ML__CKPT_NAME_FMT, tr->step);
    snprintf(tmpname, sizeof tmpname, TMP_PREFIX "%s", name);
    snprintf(rel, sizeof rel, ML__CKPT_DIR "/%s", name);
    char *parent = join3(tr->run_dir, ML__CKPT_DIR, "");
    char *tmp = join3(tr->run_dir, ML__CKPT_DIR, tmpname);
    char *final = join3(tr->run_dir, ML__CKPT_DIR, name);
    char *manifest = final ? join3(final, ML_MANIFEST_NAME, "") : NULL;
    ml_status st = (!parent || !tmp || !final || !manifest) ? ML_NOMEM() : ML_OK;
    struct stat sb;
    if (st == ML_OK) st = ml__mkdir_p(parent, 0755);
    if (st == ML_OK && lstat(tmp, &sb) == 0) st = remove_flat_dir(parent, tmpname);
    if (st == ML_OK && mkdir(tmp, 0755) != 0)
        st = ML_FAIL(ML_EIO, "%s: cannot create (%s)", tmp, strerror(errno));
    /* trainer_state.json names this checkpoint as the best when it is */
    if (st == ML_OK && is_best) snprintf(tr->best_ckpt, sizeof tr->best_ckpt, "%s", rel);
    if (st == ML_OK) st = write_files(tr, tmp);
    /* a folder left by a run killed after its rename but before its row: same step, same
     * bytes (the run is deterministic), replaced */
    if (st == ML_OK && lstat(final, &sb) == 0) st = remove_flat_dir(parent, name);
    if (st == ML_OK && rename(tmp, final) != 0)
        st = ML_FAIL(ML_EIO, "%s: cannot rename into place (%s)", final, strerror(errno));
    if (st == ML_OK) st = fsync_path(parent);
    if (st == ML_OK) st = sha256_file(manifest, hex);
    if (st == ML_OK) st = record(tr, rel, hex, is_best);
    free(parent);
    free(tmp);
    free(final);
    free(manifest);
    return st;
}

/* ---- Retention ---------------------------------------------------------------------------- */

ml_status ml__ckpt_retain(ml__trainer *tr) {
    if (tr->o->keep == 0) return ML_OK;
    const ml_checkpoint_row *rows;
    size_t n, live = 0;
    ML_TRY(ml_runstore_checkpoints(tr->rs, &rows, &n));
    for (size_t i = 0; i < n; i++) live += isnan(rows[i].deleted_at) ? 1u : 0u;
    if (live <= tr->o->keep) return ML_OK;
    int64_t *doomed = malloc(live * sizeof *doomed);
    if (!doomed) return ML_NOMEM();
    size_t n_doomed = 0, seen = 0;
    for (size_t i = 0; i < n; i++) { /* rows by increasing step: the first live - keep go */
        if (!isnan(rows[i].deleted_at)) continue;
        if (seen++ < live - tr->o->keep && !rows[i].is_best) doomed[n_doomed++] = rows[i].step;
    }
    char *parent = join3(tr->run_dir, ML__CKPT_DIR, "");
    ml_status st = parent ? ML_OK : ML_NOMEM();
    for (size_t k = 0; k < n_doomed && st == ML_OK; k++) {
        char name[40], msg[160];
        snprintf(name, sizeof name, ML__CKPT_NAME_FMT, (uint64_t)doomed[k]);
        /* marked first: a crash mid-removal leaves a row marked deleted, never a listed
         * checkpoint that fails to verify */
        st = ml_runstore_mark_checkpoint_deleted(tr->rs, doomed[k]);
        if (st != ML_OK) break;
        if (remove_flat_dir(parent, name) != ML_OK) {
            snprintf(msg, sizeof msg, "retention left %s/%s in place: %s", ML__CKPT_DIR, name,
                     "not a plain folder of regular files");
            st = ml_runstore_log_event(tr->rs, (int64_t)tr->step, ML_EVENT_WARNING, msg);
        }
    }
    free(parent);
    free(doomed);
    return st;
}

/* ---- Resume ------------------------------------------------------------------------------- */

static ml_status load_model(ml__trainer *tr, const char *dir) {
    int lora = tr->st && tr->o->st.lora_rank > 0;
    char *path = join3(dir, lora ? "adapter_model.safetensors" : "model.safetensors", "");
    ml_safetensors *sf = NULL;
    ml_status st = path ? ml_safetensors_open(&sf, path) : ML_NOMEM();
    size_t n = ml__trainer_n_tensors(tr);
    for (size_t i = 0; i < n && st == ML_OK; i++) {
        ml_nn_tensor t;
        char name[512];
        if ((st = ml__trainer_tensor(tr, i, &t)) != ML_OK) break;
        int prefixed = strncmp(t.name, LORA_PREFIX, strlen(LORA_PREFIX)) == 0;
        if (lora && !prefixed && strncmp(t.name, "classifier.", 11) != 0) continue;
        snprintf(name, sizeof name, "%s%s", lora && !prefixed ? LORA_PREFIX : "", t.name);
        const ml_tensor_view *v = ml_safetensors_find(sf, name);
        if (!v || ml_tensor_view_n_elements(v) != t.numel || v->dtype != ML_DTYPE_F32)
            st = ML_FAIL(ML_EFORMAT, "%s: tensor %s missing or misshapen (expected F32, %zu "
                         "values)", path, name, t.numel);
        else st = ml_safetensors_read_f32(v, t.data);
    }
    ml_safetensors_close(sf);
    free(path);
    return st;
}

static ml_status load_optimizer(ml__trainer *tr, const char *dir) {
    char *path = join3(dir, "optimizer.safetensors", "");
    ml_safetensors *sf = NULL;
    ml_status st = path ? ml_safetensors_open(&sf, path) : ML_NOMEM();
    size_t n = st == ML_OK ? ml_safetensors_n_tensors(sf) : 0;
    ml_tensor_view *v = calloc(n + 1, sizeof *v);
    if (st == ML_OK && !v) st = ML_NOMEM();
    for (size_t i = 0; i < n && st == ML_OK; i++) v[i] = *ml_safetensors_tensor(sf, i);
    if (st == ML_OK) st = ml_optim_load_state(tr->opt, v, n);
    free(v);
    ml_safetensors_close(sf);
    free(path);
    return st;
}

static ml_status load_state(ml__trainer *tr, const char *dir, uint64_t step) {
    char *path = join3(dir, "trainer_state.json", "");
    char *text = NULL;
    size_t len;
    ml_status st = path ? ml__file_read(path, STATE_MAX_BYTES, &text, &len) : ML_NOMEM();
    json_error_t err;
    json_t *doc = st == ML_OK ? json_loadb(text, len, 0, &err) : NULL;
    json_t *hist = doc ? json_object_get(doc, "log_history") : NULL;
    json_t *best = doc ? json_object_get(doc, "best_metric") : NULL;
    json_t *bestc = doc ? json_object_get(doc, "best_model_checkpoint") : NULL;
    json_t *gs = doc ? json_object_get(doc, "global_step") : NULL;
    if (st == ML_OK && (!json_is_array(hist) || !json_is_integer(gs) ||
                        (uint64_t)json_integer_value(gs) != step))
        st = ML_FAIL(ML_EFORMAT, "%s: not a trainer state of step %" PRIu64
                     " (expected global_step and log_history)", path, step);
    if (st == ML_OK) {
        json_decref(tr->history);
        tr->history = json_incref(hist);
        tr->best_loss = json_is_number(best) ? json_number_value(best) : INFINITY;
        snprintf(tr->best_ckpt, sizeof tr->best_ckpt, "%s",
                 json_is_string(bestc) ? json_string_value(bestc) : "");
        tr->step = step;
    }
    json_decref(doc);
    free(text);
    free(path);
    return st;
}

ml_status ml__ckpt_resume(ml__trainer *tr, int *found) {
    const ml_checkpoint_row *rows;
    size_t n, n_live = 0;
    *found = 0;
    ML_TRY(ml_runstore_checkpoints(tr->rs, &rows, &n));
    for (size_t i = n; i-- > 0;) {
        if (!isnan(rows[i].deleted_at)) continue;
        n_live++;
        char *dir = join3(tr->run_dir, rows[i].path, "");
        if (!dir) return ML_NOMEM();
        ml_status st = ml_checkpoint_verify(dir, &tr->o->verify, NULL);
        if (st == ML_OK) st = load_model(tr, dir);
        if (st == ML_OK) st = load_optimizer(tr, dir);
        if (st == ML_OK) st = load_state(tr, dir, (uint64_t)rows[i].step);
        free(dir);
        if (st == ML_OK) {
            *found = 1;
            return ML_OK;
        }
        char msg[ML_RUNSTORE_MAX_EVENT_BYTES];
        snprintf(msg, sizeof msg, "resume skipped %s: %s", rows[i].path, ml_error_last()->message);
        ML_TRY(ml_runstore_log_event(tr->rs, rows[i].step, ML_EVENT_WARNING, msg));
    }
    if (n_live > 0)
        return ML_FAIL(ML_EINTEGRITY, "%s: none of the run's %zu checkpoints verifies (see the "
                       "run's events); refusing to restart it from scratch", tr->run_dir, n_live);
    return ML_OK;
}
