/* test_hf_import.c - Hugging Face Trainer folders as run sources: trainer_state.json parsing
 * (NaN/Infinity tokens, summary keys, sentinels, malformed fields named), the newest history
 * read once (no double counting), pickled files named and never opened, adapter configs
 * checked, and a synthetic HF folder analysing exactly like a native run of the same series. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze/analyze_internal.h"
#include "microlens/memory.h"
#include "microlens/safetensors.h"
#include "ml_test.h"
#include "ml_tmp.h"

#define N_STEPS 20
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char root[256];

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* ---- The series both runs share ------------------------------------------------------------- */

static double loss_at(int s) { return 1.0 / (1.0 + 0.2 * s); }
static double lr_at(int s) { return s <= 4 ? 1e-3 * (s - 1) / 4.0 : 1e-3 * (20 - s) / 16.0; }
static double norm_at(int s) { return s == 7 ? NAN : 0.5 + 0.01 * s; }
static double eval_at(int s) { return 0.9 - 0.02 * s + (s > 10 ? 0.05 * (s - 10) : 0); }

/* Python's json.dumps writes NaN bare: so does this. */
static void append_number(char *buf, size_t cap, const char *key, double v) {
    size_t n = strlen(buf);
    if (isnan(v)) snprintf(buf + n, cap - n, "\"%s\": NaN, ", key);
    else snprintf(buf + n, cap - n, "\"%s\": %.17g, ", key, v);
}

static void write_state(const char *dir, int upto, bool summary) {
    static char text[65536];
    snprintf(text, sizeof text, "{\"global_step\": %d, \"max_steps\": 20, \"num_train_epochs\": 2, "
             "\"best_metric\": 0.7, \"best_model_checkpoint\": \"out/checkpoint-10\", "
             "\"log_history\": [", upto);
    for (int s = 1; s <= upto; s++) {
        strcat(text, "{");
        append_number(text, sizeof text, "epoch", s / 10.0);
        append_number(text, sizeof text, "grad_norm", norm_at(s));
        append_number(text, sizeof text, "learning_rate", lr_at(s));
        append_number(text, sizeof text, "loss", loss_at(s));
        snprintf(text + strlen(text), sizeof text - strlen(text), "\"step\": %d}, ", s);
        if (s % 5 == 0) {
            strcat(text, "{");
            append_number(text, sizeof text, "epoch", s / 10.0);
            append_number(text, sizeof text, "eval_loss", eval_at(s));
            snprintf(text + strlen(text), sizeof text - strlen(text), "\"step\": %d}, ", s);
        }
    }
    if (summary)
        strcat(text, "{\"step\": 20, \"epoch\": 2.0, \"train_loss\": 0.31, \"train_runtime\": 3.5, "
                     "\"total_flos\": 1e12, \"train_samples_per_second\": 99.0, "
                     "\"train_steps_per_second\": 5.7}, ");
    size_t n = strlen(text);
    snprintf(text + n - 2, sizeof text - n + 2, "]}");
    char path[512];
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    write_text(path, text);
}

/* A rank-2 adapter on two modules whose update grows with the step. */
static void write_adapter(const char *dir, int step) {
    float a[2][2 * 4], b[2][3 * 2];
    for (int m = 0; m < 2; m++) {
        for (int i = 0; i < 8; i++) a[m][i] = (float)(0.1 * ((i * 7 + m * 3) % 5) - 0.2);
        for (int i = 0; i < 6; i++) b[m][i] = (float)(0.01 * step * (1 + ((i + m) % 3)));
    }
    ml_tensor_view t[4] = {
        {"base_model.model.layers.0.q_proj.lora_A.weight", ML_DTYPE_F32, 2, {2, 4}, a[0]},
        {"base_model.model.layers.0.q_proj.lora_B.weight", ML_DTYPE_F32, 2, {3, 2}, b[0]},
        {"base_model.model.layers.0.v_proj.lora_A.weight", ML_DTYPE_F32, 2, {2, 4}, a[1]},
        {"base_model.model.layers.0.v_proj.lora_B.weight", ML_DTYPE_F32, 2, {3, 2}, b[1]}};
    char path[512];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    CHECK_STATUS(ml_safetensors_write(path, t, 4, NULL, 0), ML_OK);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    write_text(path, "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": "
                     "[\"q_proj\", \"v_proj\"], \"rank_pattern\": {}, \"alpha_pattern\": {}}");
}

static void make_hf_folder(const char *out) {
    char dir[512], path[600];
    mkdir(out, 0755);
    for (int step = 10; step <= 20; step += 10) {
        snprintf(dir, sizeof dir, "%s/checkpoint-%d", out, step);
        mkdir(dir, 0755);
        write_state(dir, step, step == 20); /* each history holds every step up to its own */
        write_adapter(dir, step);
    }
    /* never opened: a FIFO would block a reader without O_NONBLOCK; a pickle's bytes */
    snprintf(path, sizeof path, "%s/checkpoint-10/pytorch_model.bin", out);
    CHECK(mkfifo(path, 0644) == 0);
    snprintf(path, sizeof path, "%s/checkpoint-20/optimizer.pt", out);
    write_text(path, "\x80\x04pickle");
    snprintf(path, sizeof path, "%s/training_args.bin", out);
    write_text(path, "\x80\x04pickle");
}

static void make_native_run(const char *out) {
    ml_runstore *rs = NULL;
    ml_run_info info = ML_RUN_INFO_INIT;
    info.config_json = "{\"model\": \"test\"}";
    CHECK_STATUS(ml_runstore_open(&rs, out, ML_RUNSTORE_CREATE, &info), ML_OK);
    if (!rs) return;
    for (int s = 1; s <= N_STEPS; s++) {
        CHECK_STATUS(ml_runstore_log_metric(rs, s, "epoch", s / 10.0), ML_OK);
        CHECK_STATUS(ml_runstore_log_metric(rs, s, "grad_norm", norm_at(s)), ML_OK);
        CHECK_STATUS(ml_runstore_log_metric(rs, s, "learning_rate", lr_at(s)), ML_OK);
        CHECK_STATUS(ml_runstore_log_metric(rs, s, "loss", loss_at(s)), ML_OK);
        if (s % 5 == 0) CHECK_STATUS(ml_runstore_log_metric(rs, s, "eval_loss", eval_at(s)), ML_OK);
        if (s % 10 == 0) {
            char dir[512], rel[64];
            snprintf(rel, sizeof rel, "checkpoints/step-%07d", s);
            snprintf(dir, sizeof dir, "%s/checkpoints", out);
            mkdir(dir, 0755);
            snprintf(dir, sizeof dir, "%s/%s", out, rel);
            mkdir(dir, 0755);
            write_adapter(dir, s);
            CHECK_STATUS(ml_runstore_add_checkpoint(rs, s, rel, SHA, s == 10), ML_OK);
        }
    }
    CHECK_STATUS(ml_runstore_set_status(rs, ML_RUN_COMPLETED), ML_OK);
    CHECK_STATUS(ml_runstore_close(rs), ML_OK);
}

/* Replaces every occurrence of name in the string at key of o by "BEST". */
static void unname(json_t *o, const char *key, const char *name) {
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || !name) return;
    char out[2048];
    size_t k = 0, nl = strlen(name);
    for (const char *p = s; *p && k + 8 < sizeof out;) {
        if (strncmp(p, name, nl) == 0) {
            memcpy(out + k, "BEST", 4);
            k += 4;
            p += nl;
        } else {
            out[k++] = *p++;
        }
    }
    out[k] = '\0';
    json_object_set_new(o, key, json_string(out));
}

/* The analysis as JSON without what legitimately differs: run metadata, notes, and the best
 * checkpoint's folder name (checked separately, and replaced in the findings' texts). */
static json_t *comparable(const ml_run_source *s, char **best) {
    ml_analysis *a = NULL;
    ml_analyze_options o = ML_ANALYZE_OPTIONS_INIT;
    CHECK_STATUS(ml_analyze(&a, s, &o), ML_OK);
    if (!a) return NULL;
    char *text = NULL;
    CHECK_STATUS(ml_analysis_json(a, s, &text), ML_OK);
    *best = a->overfit.best_checkpoint ? strdup(a->overfit.best_checkpoint) : NULL;
    ml_analysis_free(a);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    ml_free(text);
    CHECK(doc != NULL);
    if (!doc) return NULL;
    json_object_del(doc, "run");
    json_object_del(doc, "notes");
    json_object_del(json_object_get(doc, "overfitting"), "best_checkpoint");
    json_t *fs = json_object_get(doc, "findings");
    for (size_t i = 0; i < json_array_size(fs); i++) {
        unname(json_array_get(fs, i), "evidence", *best);
        unname(json_array_get(fs, i), "recommendation", *best);
    }
    return doc;
}

static bool notes_mention(const ml_run_source *s, const char *what) {
    const char *const *notes;
    size_t n;
    ml_run_source_notes(s, &notes, &n);
    for (size_t i = 0; i < n; i++)
        if (strstr(notes[i], what)) return true;
    return false;
}

static void test_hf__folder_analyses_like_a_native_run(void) {
    char hf[300], native[300];
    snprintf(hf, sizeof hf, "%s/hf", root);
    snprintf(native, sizeof native, "%s/native", root);
    make_hf_folder(hf);
    make_native_run(native);
    ml_run_source *h = NULL, *n = NULL;
    CHECK_STATUS(ml_run_source_open(&h, hf), ML_OK);
    CHECK_STATUS(ml_run_source_open(&n, native), ML_OK);
    if (!h || !n) goto done;
    CHECK_EQ_INT(ml_run_source_get_kind(h), ML_RUN_SOURCE_HF_TRAINER);
    CHECK_EQ_INT(ml_run_source_get_kind(n), ML_RUN_SOURCE_MICROLENS);
    /* one history read: 20 loss points, not 10 + 20 */
    ml_series loss;
    CHECK_STATUS(ml_run_source_series(h, "loss", 0, ML_RUNSTORE_LAST_STEP, &loss), ML_OK);
    CHECK_EQ_INT(loss.n, N_STEPS);
    CHECK(isnan(loss.wall_times[0]));
    ml_series gn;
    CHECK_STATUS(ml_run_source_series(h, "grad_norm", 5, 8, &gn), ML_OK);
    CHECK_EQ_INT(gn.n, 4);
    CHECK(isnan(gn.values[2])); /* step 7, written NaN */
    CHECK_STATUS(ml_run_source_series(h, "train_loss", 0, ML_RUNSTORE_LAST_STEP, &gn),
                 ML_ENOTFOUND); /* a run summary, not a series */
    const ml_run_checkpoint *ck;
    size_t n_ck;
    ml_run_source_checkpoints(h, &ck, &n_ck);
    CHECK_EQ_INT(n_ck, 2);
    if (n_ck == 2) {
        CHECK_EQ_INT(ck[0].step, 10);
        CHECK(ck[0].is_adapter && ck[0].is_best && !ck[1].is_best);
        CHECK(ck[1].adapter_config && strstr(ck[1].adapter_config, "checkpoint-20/adapter_config"));
    }
    CHECK(notes_mention(h, "checkpoint-10: pickled files skipped, never opened: pytorch_model.bin"));
    CHECK(notes_mention(h, "optimizer.pt"));
    CHECK(notes_mention(h, "training_args.bin"));
    CHECK(notes_mention(h, "train_loss"));
    char *meta = NULL;
    CHECK_STATUS(ml_run_source_meta_json(h, &meta), ML_OK);
    CHECK(meta && strstr(meta, "\"best_model_checkpoint\": \"checkpoint-10\""));
    CHECK(meta && strstr(meta, "\"train_summary\""));
    ml_free(meta);
    char *best_h = NULL, *best_n = NULL;
    json_t *jh = comparable(h, &best_h), *jn = comparable(n, &best_n);
    CHECK(jh && jn && json_equal(jh, jn));
    if (jh && jn && !json_equal(jh, jn)) {
        char *a = json_dumps(jh, JSON_INDENT(1)), *b = json_dumps(jn, JSON_INDENT(1));
        fprintf(stderr, "HF:\n%s\nnative:\n%s\n", a, b);
        free(a);
        free(b);
    }
    CHECK(json_is_object(json_object_get(jh, "lora"))); /* spectra of both checkpoints */
    CHECK_EQ_INT(json_array_size(json_object_get(json_object_get(jh, "lora"), "checkpoints")), 2);
    CHECK_STR(best_h, "checkpoint-10");
    CHECK_STR(best_n, "checkpoints/step-0000010");
    json_decref(jh);
    json_decref(jn);
    free(best_h);
    free(best_n);
done:
    ml_run_source_free(h);
    ml_run_source_free(n);
}

static void test_hf__one_checkpoint_folder_and_fallbacks(void) {
    char path[400], dir[400];
    snprintf(path, sizeof path, "%s/hf/checkpoint-20", root);
    ml_run_source *s = NULL;
    CHECK_STATUS(ml_run_source_open(&s, path), ML_OK);
    const ml_run_checkpoint *ck;
    size_t n;
    if (s) {
        ml_run_source_checkpoints(s, &ck, &n);
        CHECK_EQ_INT(n, 1);
        CHECK_EQ_INT(ck[0].step, 20);
        ml_run_source_free(s);
    }
    /* a newer checkpoint whose trainer_state.json is cut short: the previous one is used */
    snprintf(dir, sizeof dir, "%s/hf/checkpoint-30", root);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/trainer_state.json", dir);
    write_text(path, "{\"global_step\": 30, \"log_history\": [{\"step\": 1, \"lo");
    snprintf(path, sizeof path, "%s/hf", root);
    s = NULL;
    CHECK_STATUS(ml_run_source_open(&s, path), ML_OK);
    if (s) {
        CHECK(notes_mention(s, "not used: "));
        CHECK(notes_mention(s, "checkpoint-30: no adapter_model.safetensors"));
        ml_series loss;
        CHECK_STATUS(ml_run_source_series(s, "loss", 0, ML_RUNSTORE_LAST_STEP, &loss), ML_OK);
        CHECK_EQ_INT(loss.n, N_STEPS);
        ml_run_source_free(s);
    }
    /* ... but a folder whose only history is broken is refused, naming the file */
    s = NULL;
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("checkpoint-30/trainer_state.json:1:");
    CHECK(s == NULL);
}

static void test_hf__malformed_inputs_are_named(void) {
    char dir[400], path[500];
    snprintf(dir, sizeof dir, "%s/bad", root);
    mkdir(dir, 0755);
    ml_run_source *s = NULL;
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_ENOTFOUND);
    CHECK_ERR_CONTAINS("no run.sqlite, no checkpoint-N/ folder and no trainer_state.json");
    snprintf(path, sizeof path, "%s/missing", root);
    CHECK_STATUS(ml_run_source_open(&s, path), ML_ENOTFOUND);
    snprintf(path, sizeof path, "%s/checkpoint-5", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/checkpoint-5/trainer_state.json", dir);
    write_text(path, "{\"log_history\": [{\"step\": 1, \"loss\": 1}, {\"loss\": 2}]}");
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("trainer_state.json: log_history[1].step: missing (expected a non-negative "
                       "integer)");
    write_text(path, "{\"global_step\": \"ten\", \"log_history\": []}");
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("global_step: wrong type");
    write_text(path, "{\"global_step\": 5, \"log_history\": [{\"step\": 5, \"loss\": 1}]}");
    snprintf(path, sizeof path, "%s/checkpoint-5/adapter_config.json", dir);
    write_text(path, "{\"peft_type\": \"LORA\", \"r\": \"eight\"}");
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("adapter_config.json: r: wrong type or value (expected an integer >= 1)");
    write_text(path, "{\"peft_type\": \"LORA\", \"r\": 8, \"rank_pattern\": [1]}");
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_EFORMAT);
    CHECK_ERR_CONTAINS("rank_pattern: wrong type");
    write_text(path, "{\"peft_type\": \"IA3\"}");
    CHECK_STATUS(ml_run_source_open(&s, dir), ML_OK);
    ml_run_source_free(s);
}

static void test_hf__state_parser(void) {
    const char *text =
        "{\"global_step\": 3, \"log_history\": ["
        "{\"step\": 1, \"loss\": NaN, \"grad_norm\": -1.0, \"note\": \"NaN, Infinity\"},"
        "{\"step\": 2, \"loss\": Infinity, \"eval_auc\": null, \"eval_loss\": -Infinity},"
        "{\"step\": 2, \"loss\": 5},"
        "{\"step\": 3, \"loss\": 0.5, \"tags\": [1], \"total_flos\": 7}]}";
    ml__hf_state st;
    CHECK_STATUS(ml__hf_state_parse(&st, text, strlen(text), "t.json"), ML_OK);
    CHECK_EQ_INT(st.global_step, 3);
    CHECK_EQ_INT(st.metrics.n, 4); /* eval_auc, eval_loss, grad_norm, loss */
    if (st.metrics.n == 4) {
        CHECK_STR(st.metrics.m[0].name, "eval_auc");
        CHECK(isnan(st.metrics.m[0].values[0]));
        CHECK(isinf(st.metrics.m[1].values[0]) && st.metrics.m[1].values[0] < 0);
        CHECK(isnan(st.metrics.m[2].values[0])); /* -1: a non-finite norm */
        const ml__metric *loss = &st.metrics.m[3];
        CHECK_EQ_INT(loss->n, 3);
        CHECK(isnan(loss->values[0]));
        CHECK(isinf(loss->values[1])); /* the first value of step 2 is kept */
        CHECK_NEAR(loss->values[2], 0.5, 0);
    }
    CHECK_EQ_INT(st.metrics.n_duplicates, 1);
    bool noted_note = false, noted_tags = false, noted_flos = false, noted_norm = false;
    for (size_t i = 0; i < st.n_notes; i++) {
        noted_note |= strstr(st.notes[i], "\"note\" has values that are not numbers") != NULL;
        noted_tags |= strstr(st.notes[i], "\"tags\"") != NULL;
        noted_flos |= strstr(st.notes[i], "total_flos") != NULL;
        noted_norm |= strstr(st.notes[i], "1 negative gradient norms") != NULL;
    }
    CHECK(noted_note && noted_tags && noted_flos && noted_norm);
    ml__hf_state_free(&st);
    CHECK_STATUS(ml__hf_state_parse(&st, "[1, 2]", 6, "t.json"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: not a JSON object");
    CHECK_STATUS(ml__hf_state_parse(&st, "{\"log_history\": 3}", 18, "t.json"), ML_EFORMAT);
    CHECK_ERR_CONTAINS("t.json: log_history: not an array");
    CHECK_STATUS(ml__hf_state_parse(&st, "{\"log_history\": [{\"step\": -1}]}", 31, "t.json"),
                 ML_EFORMAT);
    CHECK_ERR_CONTAINS("log_history[0].step: wrong type or negative");
}

int main(void) {
    snprintf(root, sizeof root, "%s/ml-hf-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_hf__state_parser);
    RUN(test_hf__folder_analyses_like_a_native_run);
    RUN(test_hf__one_checkpoint_folder_and_fallbacks);
    RUN(test_hf__malformed_inputs_are_named);
    ml_test_remove_tree(root);
    TEST_MAIN_END();
}
