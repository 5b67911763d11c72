/* runstore_internal.h - the run store handle shared by its writer (runstore.c) and reader
 * (runstore_read.c); nothing outside src/store/runstore*.c may include it. */
#ifndef ML_STORE_RUNSTORE_INTERNAL_H
#define ML_STORE_RUNSTORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microlens/runstore.h"
#include "util/strmap.h"

typedef struct ml__rs_metric {
    int64_t step;
    double value;
    double wall_time;
    size_t name_idx; /* index into names; the SQL id is name_idx + 1 */
} ml__rs_metric;

typedef struct ml__rs_event {
    int64_t step;
    double wall_time;
    ml_event_level level;
    char *text; /* owned */
} ml__rs_event;

struct ml_runstore {
    sqlite3 *db;
    char *db_path; /* RUN_DIR/run.sqlite, for messages */
    ml_runstore_mode mode;
    int lock_fd; /* RUN_DIR/run.lock held by writers; -1 for readers */
    bool in_snapshot;

    /* Metric names this writer knows, in id order; those from n_names_stored on are not in the
     * database yet and go in with the next flush. The map's keys borrow these strings. */
    char **names;
    size_t n_names, names_cap, n_names_stored;
    ml__strmap name_map;

    ml__rs_metric *metrics; /* the unflushed buffer */
    size_t n_metrics, metrics_cap;
    ml__rs_event *events;
    size_t n_events, events_cap;

    sqlite3_stmt *insert_name, *insert_metric, *insert_event; /* writers only */

    /* Results lent by the read functions, each replaced by the next call of its function. */
    char **lent_names;
    size_t n_lent_names;
    int64_t *series_steps;
    double *series_values, *series_walls;
    size_t series_cap;
    ml_run_row lent_run;
    char *lent_run_strings[5];
    ml_checkpoint_row *lent_checkpoints;
    size_t n_lent_checkpoints;
    ml_event_row *lent_events;
    size_t n_lent_events;
};

/* Raises the failure of an SQLite call: ML_ENOMEM, ML_EFORMAT for a file that is not a
 * database or is corrupt, ML_EINVAL for a constraint, ML_EIO otherwise; names the file. */
ml_status ml__rs_sql_fail(const ml_runstore *rs, int rc, const char *what);

/* Prepares sql on rs->db, raising the error on failure. */
ml_status ml__rs_prepare(ml_runstore *rs, const char *sql, sqlite3_stmt **stmt);

/* Frees what the read functions lent (on close). */
void ml__rs_free_lent(ml_runstore *rs);

#endif
