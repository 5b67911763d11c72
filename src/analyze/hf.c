/* hf.c - Hugging Face Trainer output folders as run sources: checkpoint-N/ folders, the log
 * history of trainer_state.json as metric series, PEFT adapter configs checked, pickled files
 * named and never opened. It parses no weights (the LoRA readers do) and writes nothing. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze/analyze_internal.h"
#include "microlens/safetensors.h"
#include "util/fileio.h"
#include "util/json.h"

/* adapter_config.json is ~1 KB; 1 MiB leaves room for long rank_pattern maps and refuses
 * anything that is not a config. */
#define ADAPTER_CONFIG_MAX_BYTES (1024u * 1024u)
/* Digits of N in checkpoint-N: 18 keep it below INT64_MAX. */
#define CKPT_STEP_MAX_DIGITS 18
#define CKPT_PREFIX "checkpoint-"

/* Keys of the final log_history entry that summarise the whole run: not series. train_loss
 * is the mean training loss over the run, which must never be mixed into "loss". */
static const char *const summary_keys[] = {"total_flos", "train_loss", "train_runtime",
                                           "train_samples_per_second",
                                           "train_steps_per_second", NULL};

/* ---- NaN and Infinity ------------------------------------------------------------------------- */

/* Python's json writes NaN, Infinity and -Infinity bare, which is not JSON: outside strings,
 * after ':' ',' or '[', each becomes a string of the same spelling, read back as the number. */
static char *quote_nonfinite(const char *text, size_t len, size_t *out_len) {
    char *out = malloc(2 * len + 1); /* "NaN" -> "\"NaN\"" grows by 5/3 at most */
    if (!out) return NULL;
    static const char *const words[] = {"-Infinity", "Infinity", "NaN"};
    size_t k = 0;
    bool in_string = false, escaped = false;
    char prev = '\0'; /* last non-space character outside strings */
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if (in_string) {
            out[k++] = c;
            i++;
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        bool done = false;
        if (prev == ':' || prev == ',' || prev == '[') {
            for (size_t w = 0; w < 3 && !done; w++) {
                size_t wl = strlen(words[w]);
                if (len - i >= wl && memcmp(text + i, words[w], wl) == 0) {
                    out[k++] = '"';
                    memcpy(out + k, words[w], wl);
                    k += wl;
                    out[k++] = '"';
                    i += wl;
                    prev = '"';
                    done = true;
                }
            }
        }
        if (done) continue;
        if (c == '"') in_string = true;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') prev = c;
        out[k++] = c;
        i++;
    }
    out[k] = '\0';
    *out_len = k;
    return out;
}

static bool nonfinite_word(const json_t *v, double *out) {
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) *out = NAN;
    else if (strcmp(s, "Infinity") == 0) *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0) *out = -INFINITY;
    else return false;
    return true;
}

/* ---- trainer_state.json ----------------------------------------------------------------------- */

typedef struct hf_parse {
    ml__hf_state *st;
    const char *name;
    json_t *noted;          /* keys already given a note */
    json_t *summary;        /* train_summary object */
    size_t n_negative_norms;
    size_t cap_notes;
} hf_parse;

static ml_status state_note(hf_parse *p, const char *fmt, ...) ML_PRINTF(2, 3);
static ml_status state_note(hf_parse *p, const char *fmt, ...) {
    ml__hf_state *st = p->st;
    if (st->n_notes == p->cap_notes) {
        size_t cap = p->cap_notes ? 2 * p->cap_notes : 4;
        char **n = realloc(st->notes, cap * sizeof *n);
        if (!n) return ML_NOMEM();
        st->notes = n;
        p->cap_notes = cap;
    }
    ml__textbuf b = {NULL, 0, 0, false};
    va_list ap;
    va_start(ap, fmt);
    ml__textbuf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *text;
    ML_TRY(ml__textbuf_take(&b, &text));
    st->notes[st->n_notes++] = text;
    return ML_OK;
}

/* A note once per key (a key may be ignored in thousands of entries). */
static ml_status note_key_once(hf_parse *p, const char *key, const char *why) {
    if (json_object_get(p->noted, key)) return ML_OK;
    if (json_object_set_new(p->noted, key, json_true()) != 0) return ML_NOMEM();
    char safe[80];
    size_t n = 0;
    for (const char *c = key; *c && n + 1 < sizeof safe; c++)
        safe[n++] = ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '"') ? '?' : *c;
    safe[n] = '\0';
    return state_note(p, "%s: log_history key \"%s\" %s", p->name, safe, why);
}

static bool is_summary_key(const char *key) {
    for (size_t i = 0; summary_keys[i]; i++)
        if (strcmp(key, summary_keys[i]) == 0) return true;
    return false;
}

static bool name_ok(const char *key) {
    size_t n = strlen(key);
    if (n == 0 || n > ML_RUNSTORE_MAX_NAME_BYTES) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) return false;
    return true;
}

static bool is_grad_norm_key(const char *key) {
    return strcmp(key, "grad_norm") == 0 || strncmp(key, "grad_norm/", 10) == 0;
}

static ml_status entry_value(hf_parse *p, const char *key, json_t *v, int64_t step) {
    if (strcmp(key, "step") == 0) return ML_OK;
    if (!name_ok(key)) return note_key_once(p, key, "is not a usable metric name (ignored)");
    double x;
    if (json_is_number(v)) x = json_number_value(v);
    else if (json_is_null(v)) x = NAN; /* "not available at this step", e.g. an AUC */
    else if (!nonfinite_word(v, &x))
        return note_key_once(p, key, "has values that are not numbers (ignored)");
    if (is_summary_key(key)) {
        if (json_object_set_new(p->summary, key, ml__json_number(x)) != 0)
            return ML_NOMEM();
        return note_key_once(p, key, "summarises the whole run: kept in run.train_summary, "
                             "not as a series");
    }
    /* a norm is never negative: -1 is the sentinel some writers (microlens 0.1 among them)
     * put for a non-finite norm */
    if (is_grad_norm_key(key) && x < 0) {
        x = NAN;
        p->n_negative_norms++;
    }
    return ml__metric_set_add(&p->st->metrics, key, step, x, NAN);
}

static ml_status parse_entry(hf_parse *p, json_t *e, size_t i) {
    if (!json_is_object(e))
        return ML_FAIL(ML_EFORMAT, "%s: log_history[%zu]: not an object (expected {\"step\": "
                       "N, ...})", p->name, i);
    json_t *sv = json_object_get(e, "step");
    if (!json_is_integer(sv) || json_integer_value(sv) < 0)
        return ML_FAIL(ML_EFORMAT, "%s: log_history[%zu].step: %s (expected a non-negative "
                       "integer)", p->name, i, sv ? "wrong type or negative" : "missing");
    int64_t step = (int64_t)json_integer_value(sv);
    const char *key;
    json_t *v;
    json_object_foreach(e, key, v) ML_TRY(entry_value(p, key, v, step));
    return ML_OK;
}

/* Copies an optional top-level field into meta after checking its type. */
static ml_status top_field(hf_parse *p, json_t *doc, const char *key, bool integer,
                           bool nullable) {
    json_t *v = json_object_get(doc, key);
    if (!v) return ML_OK;
    bool ok = integer ? json_is_integer(v) && json_integer_value(v) >= 0
                      : json_is_number(v) || nonfinite_word(v, &(double){0});
    if (!ok && !(nullable && json_is_null(v)))
        return ML_FAIL(ML_EFORMAT, "%s: %s: wrong type (expected %s%s)", p->name, key,
                       integer ? "a non-negative integer" : "a number",
                       nullable ? " or null" : "");
    json_t *copy = json_is_string(v) ? json_null() : json_deep_copy(v);
    if (!copy || json_object_set_new(p->st->meta, key, copy) != 0) return ML_NOMEM();
    return ML_OK;
}

/* "out/checkpoint-20" -> "checkpoint-20" (trailing slashes dropped). */
static char *folder_name(const char *path) {
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/') n--;
    size_t a = n;
    while (a > 0 && path[a - 1] != '/') a--;
    char *s = malloc(n - a + 1);
    if (!s) return NULL;
    memcpy(s, path + a, n - a);
    s[n - a] = '\0';
    for (char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return s;
}

static ml_status parse_top(hf_parse *p, json_t *doc) {
    ML_TRY(top_field(p, doc, "global_step", true, false));
    json_t *gs = json_object_get(doc, "global_step");
    p->st->global_step = gs ? (int64_t)json_integer_value(gs) : -1;
    ML_TRY(top_field(p, doc, "max_steps", true, false));
    ML_TRY(top_field(p, doc, "num_train_epochs", false, false));
    ML_TRY(top_field(p, doc, "best_metric", false, true));
    json_t *best = json_object_get(doc, "best_model_checkpoint");
    if (best && !json_is_string(best) && !json_is_null(best))
        return ML_FAIL(ML_EFORMAT, "%s: best_model_checkpoint: wrong type (expected a folder "
                       "path or null)", p->name);
    if (json_is_string(best)) {
        if (!(p->st->best_checkpoint = folder_name(json_string_value(best)))) return ML_NOMEM();
        if (json_object_set_new(p->st->meta, "best_model_checkpoint",
                                json_string(p->st->best_checkpoint)) != 0)
            return ML_NOMEM();
    }
    return ML_OK;
}

static ml_status parse_doc(hf_parse *p, json_t *doc) {
    if (!json_is_object(doc))
        return ML_FAIL(ML_EFORMAT, "%s: not a JSON object (expected trainer_state.json's "
                       "{\"global_step\": N, \"log_history\": [...]})", p->name);
    ML_TRY(parse_top(p, doc));
    json_t *hist = json_object_get(doc, "log_history");
    if (!json_is_array(hist))
        return ML_FAIL(ML_EFORMAT, "%s: log_history: %s (expected an array of log entries)",
                       p->name, hist ? "not an array" : "missing");
    for (size_t i = 0; i < json_array_size(hist); i++)
        ML_TRY(parse_entry(p, json_array_get(hist, i), i));
    if (json_object_size(p->summary) &&
        json_object_set(p->st->meta, "train_summary", p->summary) != 0)
        return ML_NOMEM();
    if (p->n_negative_norms)
        ML_TRY(state_note(p, "%s: %zu negative gradient norms read as non-finite (a norm is "
                          "never negative; -1 marks a non-finite one)", p->name,
                          p->n_negative_norms));
    return ml__metric_set_finish(&p->st->metrics);
}

void ml__hf_state_free(ml__hf_state *st) {
    if (!st) return;
    ml__metric_set_free(&st->metrics);
    json_decref(st->meta);
    free(st->best_checkpoint);
    for (size_t i = 0; i < st->n_notes; i++) free(st->notes[i]);
    free(st->notes);
    memset(st, 0, sizeof *st);
}

ml_status ml__hf_state_parse(ml__hf_state *out, const char *text, size_t len, const char *name) {
    ml__hf_state st;
    memset(&st, 0, sizeof st);
    st.global_step = -1;
    hf_parse p = {&st, name ? name : "trainer_state.json", json_object(), json_object(), 0, 0};
    st.meta = json_object();
    size_t qlen = 0;
    char *quoted = text ? quote_nonfinite(text, len, &qlen) : NULL;
    ml_status st_code = (!p.noted || !p.summary || !st.meta || !quoted) ? ML_NOMEM() : ML_OK;
    json_t *doc = NULL;
    if (st_code == ML_OK) {
        json_error_t err;
        doc = json_loadb(quoted, qlen, JSON_REJECT_DUPLICATES, &err);
        if (!doc)
            st_code = ML_FAIL(ML_EFORMAT, "%s:%d:%d: %s (expected JSON)", p.name, err.line,
                              err.column, err.text);
    }
    if (st_code == ML_OK) st_code = parse_doc(&p, doc);
    json_decref(doc);
    json_decref(p.noted);
    json_decref(p.summary);
    free(quoted);
    if (st_code != ML_OK) {
        ml__hf_state_free(&st);
        return st_code;
    }
    *out = st;
    return ML_OK;
}

/* ---- adapter_config.json ---------------------------------------------------------------------- */

static ml_status check_pattern(json_t *doc, const char *key, const char *path) {
    json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v)) return ML_OK;
    if (!json_is_object(v))
        return ML_FAIL(ML_EFORMAT, "%s: %s: wrong type (expected an object of module -> "
                       "number)", path, key);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_number(x) || !(json_number_value(x) > 0))
            return ML_FAIL(ML_EFORMAT, "%s: %s: a value is not a positive number", path, key);
    }
    return ML_OK;
}

static ml_status check_config(json_t *doc, const char *path, bool *is_lora) {
    if (!json_is_object(doc))
        return ML_FAIL(ML_EFORMAT, "%s: not a JSON object (expected PEFT's adapter config)",
                       path);
    json_t *type = json_object_get(doc, "peft_type");
    if (type && !json_is_string(type))
        return ML_FAIL(ML_EFORMAT, "%s: peft_type: wrong type (expected a string)", path);
    *is_lora = !type || strcmp(json_string_value(type), "LORA") == 0;
    json_t *r = json_object_get(doc, "r");
    if (r && !(json_is_integer(r) && json_integer_value(r) >= 1))
        return ML_FAIL(ML_EFORMAT, "%s: r: wrong type or value (expected an integer >= 1)",
                       path);
    json_t *alpha = json_object_get(doc, "lora_alpha");
    if (alpha && !(json_is_number(alpha) && json_number_value(alpha) > 0))
        return ML_FAIL(ML_EFORMAT, "%s: lora_alpha: wrong type or value (expected a number > "
                       "0)", path);
    json_t *rs = json_object_get(doc, "use_rslora");
    if (rs && !json_is_boolean(rs))
        return ML_FAIL(ML_EFORMAT, "%s: use_rslora: wrong type (expected true or false)", path);
    ML_TRY(check_pattern(doc, "rank_pattern", path));
    return check_pattern(doc, "alpha_pattern", path);
}

ml_status ml__hf_adapter_config_check(const char *path, bool *is_lora) {
    char *text = NULL;
    size_t len = 0;
    ML_TRY(ml__file_read(path, ADAPTER_CONFIG_MAX_BYTES, &text, &len));
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!doc)
        return ML_FAIL(ML_EFORMAT, "%s:%d:%d: %s (expected PEFT's adapter config JSON)", path,
                       err.line, err.column, err.text);
    ml_status st = check_config(doc, path, is_lora);
    json_decref(doc);
    return st;
}

/* ---- Folder scanning -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static ml_status list_add(name_list *l, const char *name) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return ML_NOMEM();
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return ML_NOMEM();
    l->n++;
    return ML_OK;
}

static void list_free(name_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Names of dir's entries, sorted (readdir's order is the file system's). */
static ml_status list_dir(const char *dir, name_list *out) {
    DIR *d = opendir(dir);
    if (!d)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: cannot list (%s)", dir,
                       strerror(errno));
    ml_status st = ML_OK;
    struct dirent *e;
    while (st == ML_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        st = list_add(out, e->d_name);
    }
    closedir(d);
    if (st == ML_OK && out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return st;
}

static bool pickled_name(const char *name) {
    bool pickled = ml_pickle_refuse_bytes(name, NULL, 0) != ML_OK; /* by name only */
    if (pickled) ml_error_clear(); /* a name match is a note here, not an error */
    return pickled;
}

ml_status ml__note_pickles(ml_run_source *s, const char *dir, const char *name) {
    name_list files = {NULL, 0, 0};
    ML_TRY(list_dir(dir, &files));
    ml__textbuf b = {NULL, 0, 0, false};
    size_t n = 0;
    for (size_t i = 0; i < files.n; i++) {
        if (!pickled_name(files.v[i])) continue;
        ml__textbuf_printf(&b, "%s%s", n++ ? ", " : "", files.v[i]);
    }
    list_free(&files);
    char *text = NULL;
    ML_TRY(ml__textbuf_take(&b, &text));
    ml_status st = ML_OK;
    if (n)
        st = ml__source_note(s, "%s: pickled files skipped, never opened: %s (unpickling can "
                             "run code; convert weights to safetensors, e.g. "
                             "tools/convert-upstream-checkpoint or PEFT/transformers' "
                             "save_pretrained(safe_serialization=True))", name, text);
    free(text);
    return st;
}

/* checkpoint-N with 1..18 digits and nothing else. */
static bool checkpoint_step(const char *name, int64_t *step) {
    size_t pl = strlen(CKPT_PREFIX);
    if (strncmp(name, CKPT_PREFIX, pl) != 0) return false;
    const char *d = name + pl;
    size_t n = strlen(d);
    if (n == 0 || n > CKPT_STEP_MAX_DIGITS) return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9') return false;
        v = v * 10 + (d[i] - '0');
    }
    *step = v;
    return true;
}

static bool is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

typedef struct hf_ckpt {
    int64_t step;
    char *name; /* folder relative to the source's path ("checkpoint-10"; "." for PATH) */
    char *dir;
} hf_ckpt;

typedef struct hf_scan {
    hf_ckpt *c;
    size_t n;
    bool single; /* PATH itself is the one checkpoint folder */
} hf_scan;

static void scan_free(hf_scan *sc) {
    for (size_t i = 0; i < sc->n; i++) {
        free(sc->c[i].name);
        free(sc->c[i].dir);
    }
    free(sc->c);
    memset(sc, 0, sizeof *sc);
}

static int cmp_ckpt(const void *a, const void *b) {
    const hf_ckpt *x = a, *y = b;
    return (x->step > y->step) - (x->step < y->step);
}

static ml_status scan_folder(const char *path, hf_scan *sc) {
    name_list names = {NULL, 0, 0};
    ML_TRY(list_dir(path, &names));
    ml_status st = ML_OK;
    if (!(sc->c = calloc(names.n ? names.n : 1, sizeof *sc->c))) st = ML_NOMEM();
    for (size_t i = 0; st == ML_OK && i < names.n; i++) {
        int64_t step;
        if (!checkpoint_step(names.v[i], &step)) continue;
        char *dir = ml__path_join(path, names.v[i]);
        if (!dir) {
            st = ML_NOMEM();
            break;
        }
        if (!is_dir(dir)) {
            free(dir);
            continue;
        }
        sc->c[sc->n].step = step;
        sc->c[sc->n].dir = dir;
        if (!(sc->c[sc->n++].name = strdup(names.v[i]))) st = ML_NOMEM();
    }
    list_free(&names);
    if (st == ML_OK && sc->n > 1) qsort(sc->c, sc->n, sizeof *sc->c, cmp_ckpt);
    return st;
}

/* Reads and parses one trainer_state.json; *found false when the file does not exist. */
static ml_status load_state(const char *dir, ml__hf_state *out, bool *found) {
    char *path = ml__path_join(dir, "trainer_state.json");
    if (!path) return ML_NOMEM();
    *found = ml__is_file(path);
    ml_status st = ML_OK;
    if (*found) {
        char *text = NULL;
        size_t len = 0;
        st = ml__file_read(path, ML__HF_STATE_MAX_BYTES, &text, &len);
        if (st == ML_OK) st = ml__hf_state_parse(out, text, len, path);
        free(text);
    }
    free(path);
    return st;
}

/* The log history: PATH's own trainer_state.json (written by save_state at the end) unless a
 * checkpoint is newer, else the newest checkpoint's that parses. Each file holds the whole
 * history up to its step, so exactly one is read: merging them would count each step once
 * per checkpoint. */
static ml_status choose_state(ml_run_source *s, const hf_scan *sc, ml__hf_state *out,
                              bool *have) {
    *have = false;
    ml_error first_err;
    memset(&first_err, 0, sizeof first_err);
    bool failed = false, found = false;
    int64_t root_step = -1;
    ml__hf_state root;
    memset(&root, 0, sizeof root);
    bool have_root = false;
    if (!sc->single) {
        ml_status st = load_state(s->path, &root, &found);
        if (st == ML_OK && found) {
            have_root = true;
            root_step = root.global_step;
        } else if (found) {
            if (st == ML_ENOMEM) return st;
            first_err = *ml_error_last();
            failed = true;
            ML_TRY(ml__source_note(s, "not used: %s", first_err.message));
        }
    }
    for (size_t k = sc->n; k-- > 0 && !*have;) {
        if (have_root && sc->c[k].step <= root_step) break;
        ml_status st = load_state(sc->c[k].dir, out, &found);
        if (st == ML_OK && found) {
            *have = true;
        } else if (found) {
            if (st == ML_ENOMEM) {
                ml__hf_state_free(&root);
                return st;
            }
            if (!failed) first_err = *ml_error_last();
            failed = true;
            ml_status nt = ml__source_note(s, "not used: %s", ml_error_last()->message);
            if (nt != ML_OK) {
                ml__hf_state_free(&root);
                return nt;
            }
        }
    }
    if (*have) {
        ml__hf_state_free(&root);
    } else if (have_root) {
        *out = root;
        *have = true;
    }
    if (!*have && failed)
        return ml__fail(first_err.code, first_err.file, first_err.line, "%s",
                        first_err.message);
    return ML_OK;
}

static ml_status add_checkpoints(ml_run_source *s, const hf_scan *sc, const char *best) {
    for (size_t i = 0; i < sc->n; i++) {
        const hf_ckpt *c = &sc->c[i];
        ml_run_checkpoint row = {c->step, c->dir, NULL, NULL, false, false, false};
        char *weights = NULL, *config = NULL;
        ML_TRY(ml__find_weights(c->dir, &weights, &config, &row.is_adapter));
        row.weights = weights;
        row.adapter_config = config;
        row.is_best = best && strcmp(best, c->name) == 0;
        ml_status st = ml__note_pickles(s, c->dir, c->name);
        if (st == ML_OK && !weights)
            st = ml__source_note(s, "%s: no adapter_model.safetensors or model.safetensors "
                                 "(weights not analysed)", c->name);
        if (st == ML_OK) st = ml__source_add_checkpoint(s, &row, c->name);
        free(weights);
        free(config);
        ML_TRY(st);
    }
    return ML_OK;
}

static ml_status adopt_state(ml_run_source *s, ml__hf_state *state, bool have) {
    s->meta = json_pack("{s:s, s:s}", "kind", "hf_trainer", "path", s->path);
    if (!s->meta) return ML_NOMEM();
    if (!have) return ml__source_note(s, "no trainer_state.json was found: no metric series");
    if (json_object_update(s->meta, state->meta) != 0) return ML_NOMEM();
    for (size_t i = 0; i < state->n_notes; i++) ML_TRY(ml__source_note(s, "%s", state->notes[i]));
    s->metrics = state->metrics; /* moved */
    memset(&state->metrics, 0, sizeof state->metrics);
    return ML_OK;
}

/* PATH is itself one checkpoint folder (it holds trainer_state.json): its step comes from
 * its name (checkpoint-N) or else global_step. */
static ml_status single_folder(ml_run_source *s, hf_scan *sc) {
    char *name = folder_name(s->path);
    if (!name) return ML_NOMEM();
    int64_t step = 0;
    bool named = checkpoint_step(name, &step);
    free(sc->c); /* scan_folder's empty array */
    sc->c = calloc(1, sizeof *sc->c);
    char *dir = strdup(s->path);
    if (!sc->c || !dir) {
        free(name);
        free(dir);
        return ML_NOMEM();
    }
    sc->c[0] = (hf_ckpt){named ? step : -1, name, dir};
    sc->n = 1;
    sc->single = true;
    return ML_OK;
}

ml_status ml__hf_open(ml_run_source *s) {
    hf_scan sc = {NULL, 0, false};
    ml_status st = scan_folder(s->path, &sc);
    char *state_path = st == ML_OK ? ml__path_join(s->path, "trainer_state.json") : NULL;
    if (st == ML_OK && !state_path) st = ML_NOMEM();
    if (st == ML_OK && sc.n == 0) {
        if (ml__is_file(state_path)) st = single_folder(s, &sc);
        else st = ML_FAIL(ML_ENOTFOUND, "%s: no run.sqlite, no checkpoint-N/ folder and no "
                          "trainer_state.json (expected a microlens run folder or a Hugging "
                          "Face Trainer output folder)", s->path);
    }
    free(state_path);
    ml__hf_state state;
    memset(&state, 0, sizeof state);
    bool have = false;
    if (st == ML_OK) st = choose_state(s, &sc, &state, &have);
    if (st == ML_OK && sc.single && sc.c[0].step < 0) sc.c[0].step = have && state.global_step >= 0
                                                                  ? state.global_step : 0;
    if (st == ML_OK && !sc.single) st = ml__note_pickles(s, s->path, ".");
    if (st == ML_OK) st = add_checkpoints(s, &sc, have ? state.best_checkpoint : NULL);
    if (st == ML_OK) st = adopt_state(s, &state, have);
    ml__hf_state_free(&state);
    scan_free(&sc);
    return st;
}
