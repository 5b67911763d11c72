/* test_train.c - what ml_train promises: option checks, seeded splits that keep groups apart,
 * bit-identical reruns, a stop flag that checkpoints and marks the run interrupted, resume that
 * ends on the uninterrupted weights, retention of the last K plus the best, and refusals of a
 * second CREATE and of changed settings on resume. The CLI and SIGKILL are tests/cli/train*.sh. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/runstore.h"
#include "microlens/train.h"
#include "ml_test.h"
#include "ml_tmp.h"
#include "train/trainer.h"
#include "util/fileio.h"
#include "util/rng.h"

#define N_SAMPLES 60
#define N_FEATURES 12
#define N_GROUPS 15

static char tmp_root[256];

typedef struct data {
    ml_table *t;
    ml_labels *l;
    ml_join *j;
} data;

/* Counts with a planted signal in feature 0; 4 samples per group, labels by group parity. */
static void make_data(data *d) {
    static char table[16384], labels[4096];
    size_t tl = 0, ll = 0;
    ml__rng r;
    ml__rng_seed(&r, 9);
    tl += (size_t)snprintf(table + tl, sizeof table - tl, "sample");
    for (int f = 0; f < N_FEATURES; f++)
        tl += (size_t)snprintf(table + tl, sizeof table - tl, "\tOTU%d", f);
    ll += (size_t)snprintf(labels + ll, sizeof labels - ll, "sid,label,group\n");
    for (int i = 0; i < N_SAMPLES; i++) {
        int g = i % N_GROUPS, y = g % 2;
        tl += (size_t)snprintf(table + tl, sizeof table - tl, "\nS%02d", i);
        for (int f = 0; f < N_FEATURES; f++)
            tl += (size_t)snprintf(table + tl, sizeof table - tl, "\t%d",
                                   (int)ml__rng_below(&r, 20) + (f == 0 && y ? 30 : 0));
        ll += (size_t)snprintf(labels + ll, sizeof labels - ll, "S%02d,%s,G%d\n", i,
                               y ? "sick" : "well", g);
    }
    tl += (size_t)snprintf(table + tl, sizeof table - tl, "\n");
    ml_table_read_options ro = ML_TABLE_READ_OPTIONS_INIT;
    ro.orientation = ML_ORIENT_SAMPLES_AS_ROWS;
    CHECK_STATUS(ml_table_parse(&d->t, table, tl, "t.tsv", &ro), ML_OK);
    CHECK_STATUS(ml_labels_parse(&d->l, labels, ll, "l.csv", NULL), ML_OK);
    CHECK_STATUS(ml_join_new(&d->j, d->t, d->l, "sick"), ML_OK);
}

static void free_data(data *d) {
    ml_join_free(d->j);
    ml_labels_free(d->l);
    ml_table_free(d->t);
}

static ml_train_options small_options(void) {
    ml_train_options o = ML_TRAIN_OPTIONS_INIT;
    o.steps = 24;
    o.batch = 8;
    o.hidden[0] = 8;
    o.checkpoint_every = 6;
    o.eval_every = 3;
    o.config_json = "{\"test\": 1}";
    return o;
}

static char *run_path(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmp_root, name);
    return p[k];
}

static int same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int same = ml__file_read(a, 1u << 26, &x, &nx) == ML_OK &&
               ml__file_read(b, 1u << 26, &y, &ny) == ML_OK && nx == ny &&
               memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static void test_train__rejects_bad_options(void) {
    data d = {0};
    make_data(&d);
    ml_train_options o = small_options();
    o.batch = 0;
    CHECK_STATUS(ml_train(run_path("bad"), d.t, d.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("batch");
    o = small_options();
    o.val_fraction = 1.0;
    CHECK_STATUS(ml_train(run_path("bad"), d.t, d.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("val_fraction");
    o = small_options();
    o.model = ML_TRAIN_SETTRANSFORMER;
    CHECK_STATUS(ml_train(run_path("bad"), d.t, d.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("OTU vectors");
    o = small_options();
    o.init_path = "w.safetensors";
    CHECK_STATUS(ml_train(run_path("bad"), d.t, d.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("set transformer only");
    o = small_options();
    o.config_json = NULL;
    CHECK_STATUS(ml_train(run_path("bad"), d.t, d.j, &o, NULL), ML_EINVAL);
    o = small_options();
    o.steps = 0;
    o.epochs = 0;
    CHECK_STATUS(ml_train(run_path("bad"), d.t, d.j, &o, NULL), ML_EINVAL);
    struct stat sb;
    CHECK(stat(run_path("bad"), &sb) != 0); /* nothing created */
    free_data(&d);
}

static void test_train__grouped_split_keeps_groups_apart(void) {
    data d = {0};
    make_data(&d);
    ml_train_options o = small_options();
    ml__trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = &o;
    tr.t = d.t;
    CHECK_STATUS(ml__train_data_prepare(&tr, d.j), ML_OK);
    CHECK_EQ_INT(tr.n_train + tr.n_val, N_SAMPLES);
    CHECK_EQ_INT(tr.n_val, 12); /* 3 of 15 groups, 4 samples each */
    for (size_t a = 0; a < tr.n_val; a++)
        for (size_t b = 0; b < tr.n_train; b++)
            CHECK(ml_join_group_of(d.j, tr.val[a]) != ml_join_group_of(d.j, tr.train[b]));
    CHECK_EQ_INT(tr.n_features, N_FEATURES);
    ml__train_data_free(&tr);
    free_data(&d);
}

static void test_train__stratified_split_without_groups(void) {
    data d = {0};
    make_data(&d);
    ml_labels *l = NULL;
    ml_join *j = NULL;
    /* the same labels without their group column */
    const char *text = "sid,label\nS00,well\nS01,sick\nS02,well\nS03,sick\nS04,well\nS05,sick\n"
                       "S06,well\nS07,sick\nS08,well\nS09,sick\n";
    CHECK_STATUS(ml_labels_parse(&l, text, strlen(text), "l.csv", NULL), ML_OK);
    CHECK_STATUS(ml_join_new(&j, d.t, l, "sick"), ML_OK);
    ml_train_options o = small_options();
    o.val_fraction = 0.4;
    ml__trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.o = &o;
    tr.t = d.t;
    CHECK_STATUS(ml__train_data_prepare(&tr, j), ML_OK);
    CHECK_EQ_INT(tr.n_train, 6);
    CHECK_EQ_INT(tr.n_val, 4);
    size_t pos = 0;
    for (size_t a = 0; a < tr.n_val; a++) pos += ml_join_class_of(j, tr.val[a]) == 1;
    CHECK_EQ_INT(pos, 2); /* 2 of each class */
    ml__train_data_free(&tr);
    ml_join_free(j);
    ml_labels_free(l);
    free_data(&d);
}

static void test_train__rerun_gives_identical_weights(void) {
    data d = {0};
    make_data(&d);
    ml_train_options o = small_options();
    ml_train_result r;
    CHECK_STATUS(ml_train(run_path("same1"), d.t, d.j, &o, &r), ML_OK);
    CHECK_EQ_INT(r.steps, 24);
    CHECK_STR(r.last_checkpoint, "checkpoints/step-0000024");
    CHECK(isfinite(r.val_loss) && isfinite(r.val_auc));
    CHECK_STATUS(ml_train(run_path("same2"), d.t, d.j, &o, NULL), ML_OK);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/checkpoints/step-0000024/model.safetensors", run_path("same1"));
    snprintf(b, sizeof b, "%s/checkpoints/step-0000024/model.safetensors", run_path("same2"));
    CHECK(same_file(a, b));
    o.seed = 43;
    CHECK_STATUS(ml_train(run_path("other"), d.t, d.j, &o, NULL), ML_OK);
    snprintf(b, sizeof b, "%s/checkpoints/step-0000024/model.safetensors", run_path("other"));
    CHECK(!same_file(a, b));
    /* a second CREATE in the same folder is refused and leaves the run as it was */
    o.seed = 42;
    CHECK_STATUS(ml_train(run_path("same1"), d.t, d.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("already exists");
    free_data(&d);
}

typedef struct stopper {
    volatile sig_atomic_t *flag;
    size_t at;
} stopper;

static void stop_at(void *ctx, size_t done, size_t total) {
    stopper *s = ctx;
    (void)total;
    if (done == s->at) *s->flag = 1;
}

static void test_train__stop_then_resume_matches_uninterrupted(void) {
    data d = {0};
    make_data(&d);
    ml_train_options o = small_options();
    CHECK_STATUS(ml_train(run_path("full"), d.t, d.j, &o, NULL), ML_OK);
    volatile sig_atomic_t flag = 0;
    stopper s = {&flag, 10};
    o.stop = &flag;
    o.progress = stop_at;
    o.progress_ctx = &s;
    ml_train_result r;
    CHECK_STATUS(ml_train(run_path("part"), d.t, d.j, &o, &r), ML_OK);
    CHECK(r.interrupted);
    CHECK_EQ_INT(r.steps, 11); /* the step under way finishes, then a checkpoint */
    ml_runstore *rs = NULL;
    const ml_run_row *row;
    CHECK_STATUS(ml_runstore_open(&rs, run_path("part"), ML_RUNSTORE_READONLY, NULL), ML_OK);
    CHECK_STATUS(ml_runstore_run(rs, &row), ML_OK);
    CHECK_EQ_INT(row->status, ML_RUN_INTERRUPTED);
    ml_runstore_close(rs);
    flag = 0;
    s.at = 0;
    o.resume = true;
    o.config_json = "{\"test\": 2}";
    CHECK_STATUS(ml_train(run_path("part"), d.t, d.j, &o, NULL), ML_EINVAL);
    CHECK_ERR_CONTAINS("configuration differs");
    o.config_json = "{\"test\": 1}";
    CHECK_STATUS(ml_train(run_path("part"), d.t, d.j, &o, &r), ML_OK);
    CHECK_EQ_INT(r.start_step, 11);
    CHECK_EQ_INT(r.steps, 24);
    char a[600], b[600];
    /* trainer_state.json differs: the stop added a checkpoint and its validation at step 11 */
    const char *files[] = {"model.safetensors", "optimizer.safetensors"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(a, sizeof a, "%s/checkpoints/step-0000024/%s", run_path("full"), files[k]);
        snprintf(b, sizeof b, "%s/checkpoints/step-0000024/%s", run_path("part"), files[k]);
        CHECK(same_file(a, b));
    }
    free_data(&d);
}

static void test_train__keep_retains_last_and_best(void) {
    data d = {0};
    make_data(&d);
    ml_train_options o = small_options();
    o.checkpoint_every = 2;
    o.keep = 2;
    CHECK_STATUS(ml_train(run_path("keep"), d.t, d.j, &o, NULL), ML_OK);
    ml_runstore *rs = NULL;
    const ml_checkpoint_row *rows;
    size_t n, live = 0, best = 0;
    CHECK_STATUS(ml_runstore_open(&rs, run_path("keep"), ML_RUNSTORE_READONLY, NULL), ML_OK);
    CHECK_STATUS(ml_runstore_checkpoints(rs, &rows, &n), ML_OK);
    CHECK_EQ_INT(n, 12);
    for (size_t i = 0; i < n; i++) {
        char dir[600];
        struct stat sb;
        snprintf(dir, sizeof dir, "%s/%s", run_path("keep"), rows[i].path);
        int exists = stat(dir, &sb) == 0;
        CHECK_EQ_INT(exists, isnan(rows[i].deleted_at));
        int must_live = i >= n - 2 || rows[i].is_best;
        CHECK_EQ_INT(isnan(rows[i].deleted_at), must_live);
        live += exists ? 1u : 0u;
        best += rows[i].is_best;
    }
    CHECK_EQ_INT(best, 1);
    CHECK(live == 2 || live == 3);
    ml_runstore_close(rs);
    free_data(&d);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/ml_test_train_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_train__rejects_bad_options);
    RUN(test_train__grouped_split_keeps_groups_apart);
    RUN(test_train__stratified_split_without_groups);
    RUN(test_train__rerun_gives_identical_weights);
    RUN(test_train__stop_then_resume_matches_uninterrupted);
    RUN(test_train__keep_retains_last_and_best);
    ml_test_remove_tree(tmp_root);
    TEST_MAIN_END();
}
