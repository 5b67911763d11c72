/* runstore_read.c - reads the run store back for analyses: metric names, series, the run row,
 * checkpoints and events, into caller-owned or store-owned arrays; it never writes. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/runstore_internal.h"
#include "util/error.h"
#include "util/text.h"

/* Lent arrays start at this many rows and double, so reading a long series reallocates
 * log2(n / 1024) times. */
#define READ_INITIAL_ROWS 1024

static double column_or_nan(sqlite3_stmt *stmt, int col) {
    return sqlite3_column_type(stmt, col) == SQLITE_NULL ? NAN
                                                         : sqlite3_column_double(stmt, col);
}

static char *column_dup(sqlite3_stmt *stmt, int col) {
    const unsigned char *s = sqlite3_column_text(stmt, col);
    if (!s) return NULL;
    size_t n = (size_t)sqlite3_column_bytes(stmt, col);
    char *copy = malloc(n + 1);
    if (copy) memcpy(copy, s, n + 1);
    return copy;
}

static void free_names(ml_runstore *rs) {
    for (size_t i = 0; i < rs->n_lent_names; i++) free(rs->lent_names[i]);
    free(rs->lent_names);
    rs->lent_names = NULL;
    rs->n_lent_names = 0;
}

static void free_run(ml_runstore *rs) {
    for (size_t i = 0; i < 5; i++) {
        free(rs->lent_run_strings[i]);
        rs->lent_run_strings[i] = NULL;
    }
}

static void free_checkpoints(ml_runstore *rs) {
    for (size_t i = 0; i < rs->n_lent_checkpoints; i++)
        free((char *)rs->lent_checkpoints[i].path);
    free(rs->lent_checkpoints);
    rs->lent_checkpoints = NULL;
    rs->n_lent_checkpoints = 0;
}

static void free_events(ml_runstore *rs) {
    for (size_t i = 0; i < rs->n_lent_events; i++) free((char *)rs->lent_events[i].text);
    free(rs->lent_events);
    rs->lent_events = NULL;
    rs->n_lent_events = 0;
}

void ml__rs_free_lent(ml_runstore *rs) {
    free_names(rs);
    free_run(rs);
    free_checkpoints(rs);
    free_events(rs);
    free(rs->series_steps);
    free(rs->series_values);
    free(rs->series_walls);
}

/* Grows *array (of elem bytes each) to hold at least n + 1 elements. */
static ml_status reserve(void **array, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return ML_OK;
    size_t new_cap = *cap ? 2 * *cap : READ_INITIAL_ROWS;
    void *grown = realloc(*array, new_cap * elem);
    if (!grown) return ML_NOMEM();
    *array = grown;
    *cap = new_cap;
    return ML_OK;
}

ml_status ml_runstore_snapshot_begin(ml_runstore *rs) {
    if (!rs) return ML_FAIL(ML_EINVAL, "snapshot: no run store handle");
    if (rs->in_snapshot)
        return ML_FAIL(ML_EINVAL, "%s: a read snapshot is already open", rs->db_path);
    /* A deferred BEGIN takes its snapshot at the first read: read now, so the snapshot is the
     * state at this call and not at whichever later read comes first. */
    int rc = sqlite3_exec(rs->db, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ml_status st = ml__rs_sql_fail(rs, rc, "starting a read snapshot");
        if (!sqlite3_get_autocommit(rs->db)) sqlite3_exec(rs->db, "ROLLBACK", NULL, NULL, NULL);
        return st;
    }
    rs->in_snapshot = true;
    return ML_OK;
}

ml_status ml_runstore_snapshot_end(ml_runstore *rs) {
    if (!rs) return ML_FAIL(ML_EINVAL, "snapshot: no run store handle");
    if (!rs->in_snapshot) return ML_FAIL(ML_EINVAL, "%s: no read snapshot is open", rs->db_path);
    rs->in_snapshot = false;
    int rc = sqlite3_exec(rs->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? ML_OK : ml__rs_sql_fail(rs, rc, "ending a read snapshot");
}

ml_status ml_runstore_metric_names(ml_runstore *rs, const char *const **names, size_t *n) {
    if (!rs || !names || !n) return ML_FAIL(ML_EINVAL, "metric names: NULL argument");
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "SELECT name FROM metric_names ORDER BY name", &stmt));
    char **list = NULL;
    size_t count = 0, cap = 0;
    ml_status st = ML_OK;
    int rc;
    while (st == ML_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        st = reserve((void **)&list, &cap, count, sizeof *list);
        if (st == ML_OK && !(list[count] = column_dup(stmt, 0))) st = ML_NOMEM();
        if (st == ML_OK) count++;
    }
    if (st == ML_OK && rc != SQLITE_DONE) st = ml__rs_sql_fail(rs, rc, "reading metric names");
    sqlite3_finalize(stmt);
    if (st != ML_OK) {
        for (size_t i = 0; i < count; i++) free(list[i]);
        free(list);
        return st;
    }
    free_names(rs);
    rs->lent_names = list;
    rs->n_lent_names = count;
    *names = (const char *const *)list;
    *n = count;
    return ML_OK;
}

/* Prepares the range query of one series, raising ML_ENOTFOUND for an unknown name. */
static ml_status prepare_series(ml_runstore *rs, const char *name, int64_t first_step,
                                int64_t last_step, const char *columns, sqlite3_stmt **out) {
    if (!rs || !name) return ML_FAIL(ML_EINVAL, "series: NULL argument");
    if (first_step > last_step)
        return ML_FAIL(ML_EINVAL, "%s: series step range %" PRId64 ":%" PRId64 " is empty "
                       "(expected first <= last)", rs->db_path, first_step, last_step);
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "SELECT id FROM metric_names WHERE name = ?", &stmt));
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    if (rc == SQLITE_DONE) {
        char shown[64];
        ml__sanitize(shown, sizeof shown, name, strlen(name));
        return ML_FAIL(ML_ENOTFOUND, "%s: no metric named \"%s\"", rs->db_path, shown);
    }
    if (rc != SQLITE_ROW) return ml__rs_sql_fail(rs, rc, "looking up a metric name");
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT %s FROM metrics WHERE name_id = ? AND step BETWEEN ? AND ?"
             " ORDER BY step", columns);
    ML_TRY(ml__rs_prepare(rs, sql, out));
    sqlite3_bind_int64(*out, 1, id);
    sqlite3_bind_int64(*out, 2, first_step);
    sqlite3_bind_int64(*out, 3, last_step);
    return ML_OK;
}

ml_status ml_runstore_series_length(ml_runstore *rs, const char *name, int64_t first_step,
                                    int64_t last_step, size_t *n) {
    sqlite3_stmt *stmt = NULL;
    if (!n) return ML_FAIL(ML_EINVAL, "series length: NULL argument");
    ML_TRY(prepare_series(rs, name, first_step, last_step, "count(*)", &stmt));
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) *n = (size_t)sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? ML_OK : ml__rs_sql_fail(rs, rc, "counting a series");
}

ml_status ml_runstore_read_series(ml_runstore *rs, const char *name, int64_t first_step,
                                  int64_t last_step, int64_t *steps, double *values,
                                  double *wall_times, size_t capacity, size_t *n) {
    sqlite3_stmt *stmt = NULL;
    if (!n) return ML_FAIL(ML_EINVAL, "read series: NULL argument");
    ML_TRY(prepare_series(rs, name, first_step, last_step, "step, value, wall_time", &stmt));
    size_t count = 0;
    int rc = SQLITE_DONE;
    while (count < capacity && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (steps) steps[count] = sqlite3_column_int64(stmt, 0);
        if (values) values[count] = column_or_nan(stmt, 1);
        if (wall_times) wall_times[count] = sqlite3_column_double(stmt, 2);
        count++;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ml__rs_sql_fail(rs, rc, "reading a series");
    *n = count;
    return ML_OK;
}

/* The three lent arrays always share one capacity. */
static ml_status reserve_series(ml_runstore *rs, size_t n) {
    if (n < rs->series_cap) return ML_OK;
    size_t cap = rs->series_cap ? 2 * rs->series_cap : READ_INITIAL_ROWS;
    int64_t *steps = realloc(rs->series_steps, cap * sizeof *steps);
    if (steps) rs->series_steps = steps;
    double *values = steps ? realloc(rs->series_values, cap * sizeof *values) : NULL;
    if (values) rs->series_values = values;
    double *walls = values ? realloc(rs->series_walls, cap * sizeof *walls) : NULL;
    if (!walls) return ML_NOMEM();
    rs->series_walls = walls;
    rs->series_cap = cap;
    return ML_OK;
}

ml_status ml_runstore_series(ml_runstore *rs, const char *name, int64_t first_step,
                             int64_t last_step, ml_series *out) {
    sqlite3_stmt *stmt = NULL;
    if (!out) return ML_FAIL(ML_EINVAL, "series: NULL argument");
    ML_TRY(prepare_series(rs, name, first_step, last_step, "step, value, wall_time", &stmt));
    size_t count = 0;
    ml_status st = ML_OK;
    int rc;
    while (st == ML_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if ((st = reserve_series(rs, count)) != ML_OK) break;
        rs->series_steps[count] = sqlite3_column_int64(stmt, 0);
        rs->series_values[count] = column_or_nan(stmt, 1);
        rs->series_walls[count] = sqlite3_column_double(stmt, 2);
        count++;
    }
    if (st == ML_OK && rc != SQLITE_DONE) st = ml__rs_sql_fail(rs, rc, "reading a series");
    sqlite3_finalize(stmt);
    if (st != ML_OK) return st;
    *out = (ml_series){count, rs->series_steps, rs->series_values, rs->series_walls};
    return ML_OK;
}

static ml_status parse_status(const ml_runstore *rs, const char *text, ml_run_status *out) {
    for (int s = ML_RUN_RUNNING; s <= ML_RUN_INTERRUPTED; s++) {
        if (text && strcmp(text, ml_run_status_name((ml_run_status)s)) == 0) {
            *out = (ml_run_status)s;
            return ML_OK;
        }
    }
    return ML_FAIL(ML_EFORMAT, "%s: run.status is not running, completed, failed or interrupted",
                   rs->db_path);
}

static ml_status read_run_row(ml_runstore *rs, sqlite3_stmt *stmt, ml_run_row *row,
                              char *strings[5]) {
    static const int cols[5] = {0, 1, 2, 3, 5}; /* id, config, dataset, code version, info */
    for (size_t i = 0; i < 5; i++) {
        if (sqlite3_column_type(stmt, cols[i]) == SQLITE_NULL) continue;
        if (!(strings[i] = column_dup(stmt, cols[i]))) return ML_NOMEM();
    }
    if (!strings[0] || !strings[1] || !strings[3] || !strings[4])
        return ML_FAIL(ML_EFORMAT, "%s: the run row lacks a required column", rs->db_path);
    const char *seed = (const char *)sqlite3_column_text(stmt, 4);
    char *end = NULL;
    row->seed = seed ? strtoull(seed, &end, 10) : 0;
    if (!seed || !*seed || *end)
        return ML_FAIL(ML_EFORMAT, "%s: run.seed is not a decimal integer", rs->db_path);
    ML_TRY(parse_status(rs, (const char *)sqlite3_column_text(stmt, 6), &row->status));
    row->id = strings[0];
    row->config_json = strings[1];
    row->dataset_sha256 = strings[2];
    row->code_version = strings[3];
    row->info_json = strings[4];
    row->started_at = sqlite3_column_double(stmt, 7);
    row->ended_at = column_or_nan(stmt, 8);
    return ML_OK;
}

ml_status ml_runstore_run(ml_runstore *rs, const ml_run_row **out) {
    if (!rs || !out) return ML_FAIL(ML_EINVAL, "run row: NULL argument");
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "SELECT id, config_json, dataset_sha256, code_version, seed,"
                              " info_json, status, started_at, ended_at FROM run", &stmt));
    ml_run_row row;
    char *strings[5] = {NULL, NULL, NULL, NULL, NULL};
    int rc = sqlite3_step(stmt);
    ml_status st = rc == SQLITE_ROW    ? read_run_row(rs, stmt, &row, strings)
                   : rc == SQLITE_DONE ? ML_FAIL(ML_EFORMAT, "%s: the run table is empty",
                                                 rs->db_path)
                                       : ml__rs_sql_fail(rs, rc, "reading the run row");
    sqlite3_finalize(stmt);
    if (st != ML_OK) {
        for (size_t i = 0; i < 5; i++) free(strings[i]);
        return st;
    }
    free_run(rs);
    memcpy(rs->lent_run_strings, strings, sizeof strings);
    rs->lent_run = row;
    *out = &rs->lent_run;
    return ML_OK;
}

static ml_status read_checkpoint(const ml_runstore *rs, sqlite3_stmt *stmt,
                                 ml_checkpoint_row *row) {
    const char *sha = (const char *)sqlite3_column_text(stmt, 2);
    if (!sha || strlen(sha) != 64)
        return ML_FAIL(ML_EFORMAT, "%s: checkpoint at step %" PRId64 " has no manifest hash",
                       rs->db_path, (int64_t)sqlite3_column_int64(stmt, 0));
    row->step = sqlite3_column_int64(stmt, 0);
    memcpy(row->manifest_sha256, sha, 65);
    row->is_best = sqlite3_column_int(stmt, 3) != 0;
    row->created_at = sqlite3_column_double(stmt, 4);
    row->deleted_at = column_or_nan(stmt, 5);
    row->path = column_dup(stmt, 1);
    return row->path ? ML_OK : ML_NOMEM();
}

ml_status ml_runstore_checkpoints(ml_runstore *rs, const ml_checkpoint_row **rows, size_t *n) {
    if (!rs || !rows || !n) return ML_FAIL(ML_EINVAL, "checkpoints: NULL argument");
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "SELECT step, path, manifest_sha256, is_best, created_at,"
                              " deleted_at FROM checkpoints ORDER BY step", &stmt));
    ml_checkpoint_row *list = NULL;
    size_t count = 0, cap = 0;
    ml_status st = ML_OK;
    int rc;
    while (st == ML_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        st = reserve((void **)&list, &cap, count, sizeof *list);
        if (st == ML_OK) st = read_checkpoint(rs, stmt, &list[count]);
        if (st == ML_OK) count++;
    }
    if (st == ML_OK && rc != SQLITE_DONE) st = ml__rs_sql_fail(rs, rc, "reading checkpoints");
    sqlite3_finalize(stmt);
    if (st != ML_OK) {
        for (size_t i = 0; i < count; i++) free((char *)list[i].path);
        free(list);
        return st;
    }
    free_checkpoints(rs);
    rs->lent_checkpoints = list;
    rs->n_lent_checkpoints = count;
    *rows = list;
    *n = count;
    return ML_OK;
}

static ml_status read_event(const ml_runstore *rs, sqlite3_stmt *stmt, ml_event_row *row) {
    const char *level = (const char *)sqlite3_column_text(stmt, 2);
    int l = ML_EVENT_DEBUG;
    while (l <= ML_EVENT_ERROR && !(level && strcmp(level, ml_event_level_name((ml_event_level)l)) == 0)) l++;
    if (l > ML_EVENT_ERROR)
        return ML_FAIL(ML_EFORMAT, "%s: event level is not debug, info, warning or error",
                       rs->db_path);
    row->step = sqlite3_column_int64(stmt, 0);
    row->wall_time = sqlite3_column_double(stmt, 1);
    row->level = (ml_event_level)l;
    row->text = column_dup(stmt, 3);
    return row->text ? ML_OK : ML_NOMEM();
}

ml_status ml_runstore_events(ml_runstore *rs, const ml_event_row **rows, size_t *n) {
    if (!rs || !rows || !n) return ML_FAIL(ML_EINVAL, "events: NULL argument");
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "SELECT step, wall_time, level, text FROM events ORDER BY id",
                          &stmt));
    ml_event_row *list = NULL;
    size_t count = 0, cap = 0;
    ml_status st = ML_OK;
    int rc;
    while (st == ML_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        st = reserve((void **)&list, &cap, count, sizeof *list);
        if (st == ML_OK) st = read_event(rs, stmt, &list[count]);
        if (st == ML_OK) count++;
    }
    if (st == ML_OK && rc != SQLITE_DONE) st = ml__rs_sql_fail(rs, rc, "reading events");
    sqlite3_finalize(stmt);
    if (st != ML_OK) {
        for (size_t i = 0; i < count; i++) free((char *)list[i].text);
        free(list);
        return st;
    }
    free_events(rs);
    rs->lent_events = list;
    rs->n_lent_events = count;
    *rows = list;
    *n = count;
    return ML_OK;
}
