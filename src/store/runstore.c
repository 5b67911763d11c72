/* runstore.c - opens, creates, migrates and writes the run store (RUN_DIR/run.sqlite): buffered
 * metrics and events flushed in one transaction, checkpoint rows, run status. Reading is in
 * runstore_read.c; nothing here knows what a metric means. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/runstore_internal.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/text.h"
#include "util/utf8.h"

/* 'MLRS' in PRAGMA application_id tells a run store from any other SQLite file. */
#define RUNSTORE_APPLICATION_ID 0x4d4c5253
/* A reader's snapshot or a checkpointing writer holds the lock for milliseconds; 5 s rides
 * out any such pause and still fails visibly when a process hangs holding it. */
#define RUNSTORE_BUSY_TIMEOUT_MS 5000
/* Initial buffer: ~100 metrics per step for 40 steps before the first growth (128 KB). */
#define RUNSTORE_INITIAL_METRICS 4096
/* Longest checkpoint path kept, in bytes; "checkpoints/step-0000100" is 24. */
#define RUNSTORE_MAX_PATH_BYTES 1024

/* Version 1. Units and invariants of every column: docs/run-store.md. Metric names live in
 * their own table: with ~100 per-tensor names of ~44 bytes, 1M metric rows took 136 bytes/row
 * as (step, name TEXT) + index on (name, step), and 30 bytes/row as (name_id, step) keyed
 * WITHOUT ROWID (which also inserts 1.9x faster); the key is the (name, step) index itself. */
static const char SCHEMA_V1[] =
    "PRAGMA application_id = 1296847443;" /* RUNSTORE_APPLICATION_ID */
    "CREATE TABLE run ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " config_json TEXT NOT NULL,"
    " dataset_sha256 TEXT CHECK (dataset_sha256 IS NULL OR length(dataset_sha256) = 64),"
    " code_version TEXT NOT NULL,"
    " seed TEXT NOT NULL,"
    " info_json TEXT NOT NULL DEFAULT '{}',"
    " status TEXT NOT NULL CHECK (status IN ('running','completed','failed','interrupted')),"
    " started_at REAL NOT NULL,"
    " ended_at REAL);"
    "CREATE TRIGGER run_single_row BEFORE INSERT ON run WHEN (SELECT count(*) FROM run) > 0"
    " BEGIN SELECT RAISE(ABORT, 'run holds exactly one row'); END;"
    "CREATE TRIGGER run_no_delete BEFORE DELETE ON run"
    " BEGIN SELECT RAISE(ABORT, 'the run row is never deleted'); END;"
    "CREATE TABLE metric_names ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE metrics ("
    " name_id INTEGER NOT NULL REFERENCES metric_names(id),"
    " step INTEGER NOT NULL CHECK (step >= 0),"
    " value REAL,"
    " wall_time REAL NOT NULL,"
    " PRIMARY KEY (name_id, step)) WITHOUT ROWID;"
    "CREATE TRIGGER metrics_no_update BEFORE UPDATE ON metrics"
    " BEGIN SELECT RAISE(ABORT, 'metrics are append-only'); END;"
    "CREATE TRIGGER metrics_no_delete BEFORE DELETE ON metrics"
    " BEGIN SELECT RAISE(ABORT, 'metrics are append-only'); END;"
    "CREATE VIEW metrics_named AS SELECT m.step, n.name, m.value, m.wall_time"
    " FROM metrics m JOIN metric_names n ON n.id = m.name_id;"
    "CREATE TABLE events ("
    " id INTEGER PRIMARY KEY,"
    " step INTEGER NOT NULL CHECK (step >= 0),"
    " wall_time REAL NOT NULL,"
    " level TEXT NOT NULL CHECK (level IN ('debug','info','warning','error')),"
    " text TEXT NOT NULL);"
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
    " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
    "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
    " BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
    "CREATE TABLE checkpoints ("
    " step INTEGER PRIMARY KEY CHECK (step >= 0),"
    " path TEXT NOT NULL UNIQUE,"
    " manifest_sha256 TEXT NOT NULL CHECK (length(manifest_sha256) = 64),"
    " is_best INTEGER NOT NULL DEFAULT 0 CHECK (is_best IN (0, 1)),"
    " created_at REAL NOT NULL,"
    " deleted_at REAL);"
    "CREATE UNIQUE INDEX checkpoints_one_best ON checkpoints(is_best) WHERE is_best = 1;"
    "CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'checkpoint rows are never deleted; set deleted_at'); END;";

/* Migration i takes a store from version i to i + 1 (version 0: an empty database). A new
 * schema version appends one entry and bumps ML_RUNSTORE_SCHEMA_VERSION. */
static const char *const MIGRATIONS[] = {SCHEMA_V1};
_Static_assert(sizeof MIGRATIONS / sizeof MIGRATIONS[0] == ML_RUNSTORE_SCHEMA_VERSION,
               "one migration per schema version");

static const char *const STATUS_NAMES[] = {"running", "completed", "failed", "interrupted"};
static const char *const LEVEL_NAMES[] = {"debug", "info", "warning", "error"};

const char *ml_run_status_name(ml_run_status s) {
    return (unsigned)s < 4u ? STATUS_NAMES[s] : "unknown";
}

const char *ml_event_level_name(ml_event_level l) {
    return (unsigned)l < 4u ? LEVEL_NAMES[l] : "unknown";
}

ml_status ml__rs_sql_fail(const ml_runstore *rs, int rc, const char *what) {
    int primary = rc & 0xff;
    ml_status code = primary == SQLITE_NOMEM                                 ? ML_ENOMEM
                     : primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT ? ML_EFORMAT
                     : primary == SQLITE_CONSTRAINT                          ? ML_EINVAL
                                                                             : ML_EIO;
    const char *msg = rs->db ? sqlite3_errmsg(rs->db) : sqlite3_errstr(rc);
    return ML_FAIL(code, "%s: %s: %s", rs->db_path, what, msg);
}

ml_status ml__rs_prepare(ml_runstore *rs, const char *sql, sqlite3_stmt **stmt) {
    int rc = sqlite3_prepare_v2(rs->db, sql, -1, stmt, NULL);
    return rc == SQLITE_OK ? ML_OK : ml__rs_sql_fail(rs, rc, "preparing a statement");
}

static ml_status exec(ml_runstore *rs, const char *sql, const char *what) {
    int rc = sqlite3_exec(rs->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? ML_OK : ml__rs_sql_fail(rs, rc, what);
}

static void rollback(ml_runstore *rs) {
    if (!sqlite3_get_autocommit(rs->db)) sqlite3_exec(rs->db, "ROLLBACK", NULL, NULL, NULL);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static bool is_sha256_hex(const char *s) {
    if (!s || strlen(s) != 64) return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return false;
    return true;
}

/* Printable UTF-8: no C0 control byte or DEL, except tab and newline where allow_newlines. */
static bool is_clean_text(const char *s, size_t len, bool allow_newlines) {
    if (ml__utf8_invalid_at(s, len) != len) return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (allow_newlines && (c == '\t' || c == '\n')) continue;
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

static ml_status check_json_object(const char *json, const char *field) {
    json_error_t err;
    json_t *v = json_loads(json, JSON_REJECT_DUPLICATES, &err);
    bool is_object = v && json_is_object(v);
    json_decref(v);
    if (is_object) return ML_OK;
    if (!v) {
        char shown[64];
        ml__sanitize(shown, sizeof shown, err.text, strlen(err.text));
        return ML_FAIL(ML_EINVAL, "run info: %s: %d:%d: %s (expected a JSON object)", field,
                       err.line, err.column, shown);
    }
    return ML_FAIL(ML_EINVAL, "run info: %s is not a JSON object", field);
}

static ml_status check_run_info(const ml_run_info *info) {
    if (!info) return ML_FAIL(ML_EINVAL, "run info is required to create a run store");
    if (info->version != ML_RUN_INFO_VERSION)
        return ML_FAIL(ML_EINVAL, "run info: version %d (expected %d: use ML_RUN_INFO_INIT)",
                       info->version, ML_RUN_INFO_VERSION);
    if (!info->config_json) return ML_FAIL(ML_EINVAL, "run info: config_json is required");
    ML_TRY(check_json_object(info->config_json, "config_json"));
    if (info->info_json) ML_TRY(check_json_object(info->info_json, "info_json"));
    if (info->dataset_sha256 && !is_sha256_hex(info->dataset_sha256))
        return ML_FAIL(ML_EINVAL,
                       "run info: dataset_sha256 is not 64 lower-case hex digits");
    return ML_OK;
}

/* One writer per run: a second `train --resume` on the same folder must fail, not interleave
 * metric ids. fcntl locks vanish with the process, so a SIGKILLed writer leaves none behind. */
static ml_status lock_run(ml_runstore *rs, const char *run_dir) {
    char *path = path_join(run_dir, "run.lock");
    if (!path) return ML_NOMEM();
    ml_status st = ML_OK;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = ML_FAIL(ML_EIO, "%s: cannot open (%s)", path, strerror(errno));
        goto done;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        st = errno == EACCES || errno == EAGAIN
                 ? ML_FAIL(ML_EINVAL, "%s: another process is writing this run (lock held)",
                           path)
                 : ML_FAIL(ML_EIO, "%s: cannot lock (%s)", path, strerror(errno));
        close(fd);
        goto done;
    }
    rs->lock_fd = fd;
done:
    free(path);
    return st;
}

static ml_status query_int(ml_runstore *rs, const char *sql, int64_t *out) {
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, sql, &stmt));
    int rc = sqlite3_step(stmt);
    ml_status st = ML_OK;
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(stmt, 0);
    else st = ml__rs_sql_fail(rs, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql);
    sqlite3_finalize(stmt);
    return st;
}

static ml_status set_pragmas(ml_runstore *rs) {
    sqlite3_busy_timeout(rs->db, RUNSTORE_BUSY_TIMEOUT_MS);
    ML_TRY(exec(rs, "PRAGMA foreign_keys = ON", "enabling foreign keys"));
    if (rs->mode == ML_RUNSTORE_READONLY) return ML_OK;
    /* WAL: readers never block the writer and a commit is one append to the log. With
     * synchronous=NORMAL the WAL is fsynced at checkpoints, not at every commit: a power loss
     * may drop the last few committed batches but can never corrupt the database, and a
     * killed process (the OS still holds its writes) loses nothing that was committed. */
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "PRAGMA journal_mode = WAL", &stmt));
    int rc = sqlite3_step(stmt);
    bool is_wal = rc == SQLITE_ROW &&
                  strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) return ml__rs_sql_fail(rs, rc, "setting WAL mode");
    if (!is_wal) return ML_FAIL(ML_EIO, "%s: the file system refused WAL mode", rs->db_path);
    return exec(rs, "PRAGMA synchronous = NORMAL", "setting synchronous mode");
}

static ml_status migrate(ml_runstore *rs, int64_t from_version) {
    for (int64_t v = from_version; v < ML_RUNSTORE_SCHEMA_VERSION; v++) {
        char sql[64];
        ML_TRY(exec(rs, MIGRATIONS[v], "creating the schema"));
        snprintf(sql, sizeof sql, "PRAGMA user_version = %" PRId64, v + 1);
        ML_TRY(exec(rs, sql, "setting the schema version"));
    }
    return ML_OK;
}

static ml_status insert_run_row(ml_runstore *rs, const ml_run_info *info) {
    unsigned char raw[16];
    char id[33], seed[24];
    if (RAND_bytes(raw, (int)sizeof raw) != 1)
        return ML_FAIL(ML_EIO, "%s: no random bytes for the run id", rs->db_path);
    for (size_t i = 0; i < sizeof raw; i++) snprintf(id + 2 * i, 3, "%02x", raw[i]);
    snprintf(seed, sizeof seed, "%" PRIu64, info->seed);
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs,
                          "INSERT INTO run (id, config_json, dataset_sha256, code_version, seed,"
                          " info_json, status, started_at) VALUES (?,?,?,?,?,?,'running',?)",
                          &stmt));
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, info->config_json, -1, SQLITE_STATIC);
    if (info->dataset_sha256) sqlite3_bind_text(stmt, 3, info->dataset_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, ML_VERSION_STRING, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, seed, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 6, info->info_json ? info->info_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 7, now_seconds());
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? ML_OK : ml__rs_sql_fail(rs, rc, "writing the run row");
}

/* The schema check and creation share one IMMEDIATE transaction so that two processes
 * creating the same run cannot both succeed. */
static ml_status create_schema(ml_runstore *rs, const ml_run_info *info) {
    ML_TRY(exec(rs, "BEGIN IMMEDIATE", "starting the creation"));
    int64_t n_objects = 0;
    ml_status st = query_int(rs, "SELECT count(*) FROM sqlite_master", &n_objects);
    if (st == ML_OK && n_objects > 0)
        st = ML_FAIL(ML_EINVAL, "%s: a run store already exists here (open it to append, e.g. "
                     "train --resume, or choose another --out)", rs->db_path);
    if (st == ML_OK) st = migrate(rs, 0);
    if (st == ML_OK) st = insert_run_row(rs, info);
    if (st == ML_OK) st = exec(rs, "COMMIT", "committing the new run");
    if (st != ML_OK) rollback(rs);
    return st;
}

static ml_status check_version(ml_runstore *rs) {
    int64_t app_id = 0, version = 0;
    ML_TRY(query_int(rs, "PRAGMA application_id", &app_id));
    ML_TRY(query_int(rs, "PRAGMA user_version", &version));
    if (app_id != RUNSTORE_APPLICATION_ID || version <= 0)
        return ML_FAIL(ML_EFORMAT, "%s: not a microlens run store (application_id %" PRId64
                       ", schema version %" PRId64 ")", rs->db_path, app_id, version);
    if (version > ML_RUNSTORE_SCHEMA_VERSION)
        return ML_FAIL(ML_EUNSUPPORTED, "%s: schema version %" PRId64 " is newer than this "
                       "microlens understands (%d); use a newer microlens", rs->db_path,
                       version, ML_RUNSTORE_SCHEMA_VERSION);
    if (version == ML_RUNSTORE_SCHEMA_VERSION) return ML_OK;
    if (rs->mode == ML_RUNSTORE_READONLY)
        return ML_FAIL(ML_EUNSUPPORTED, "%s: schema version %" PRId64 " is older than %d; "
                       "open it once for writing to migrate it", rs->db_path, version,
                       ML_RUNSTORE_SCHEMA_VERSION);
    ML_TRY(exec(rs, "BEGIN IMMEDIATE", "starting the migration"));
    ml_status st = migrate(rs, version);
    if (st == ML_OK) st = exec(rs, "COMMIT", "committing the migration");
    if (st != ML_OK) rollback(rs);
    return st;
}

static ml_status add_name(ml_runstore *rs, const char *name, size_t len, size_t *idx) {
    if (rs->n_names == rs->names_cap) {
        size_t cap = rs->names_cap ? 2 * rs->names_cap : 64;
        char **grown = realloc(rs->names, cap * sizeof *grown);
        if (!grown) return ML_NOMEM();
        rs->names = grown;
        rs->names_cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return ML_NOMEM();
    memcpy(copy, name, len + 1);
    size_t existing;
    ml_status st = ml__strmap_put(&rs->name_map, copy, len, rs->n_names, &existing);
    if (st != ML_OK) {
        free(copy);
        return st;
    }
    *idx = rs->n_names;
    rs->names[rs->n_names++] = copy;
    return ML_OK;
}

/* An appending writer continues the ids already in the store. */
static ml_status load_names(ml_runstore *rs) {
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "SELECT id, name FROM metric_names ORDER BY id", &stmt));
    ml_status st = ML_OK;
    int rc;
    while (st == ML_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 1);
        size_t idx = 0;
        if (sqlite3_column_int64(stmt, 0) != (int64_t)rs->n_names + 1 || !name)
            st = ML_FAIL(ML_EFORMAT, "%s: metric_names ids are not 1, 2, 3, ... (row %zu)",
                         rs->db_path, rs->n_names + 1);
        else st = add_name(rs, name, strlen(name), &idx);
    }
    if (st == ML_OK && rc != SQLITE_DONE) st = ml__rs_sql_fail(rs, rc, "reading metric names");
    sqlite3_finalize(stmt);
    rs->n_names_stored = rs->n_names;
    return st;
}

static ml_status prepare_writer(ml_runstore *rs) {
    rs->metrics = malloc(RUNSTORE_INITIAL_METRICS * sizeof *rs->metrics);
    if (!rs->metrics) return ML_NOMEM();
    rs->metrics_cap = RUNSTORE_INITIAL_METRICS;
    ML_TRY(ml__rs_prepare(rs, "INSERT INTO metric_names (id, name) VALUES (?, ?)",
                          &rs->insert_name));
    /* A resumed run replays the steps after its checkpoint bit for bit: keep the first row. */
    ML_TRY(ml__rs_prepare(rs, "INSERT INTO metrics (name_id, step, value, wall_time)"
                              " VALUES (?, ?, ?, ?) ON CONFLICT (name_id, step) DO NOTHING",
                          &rs->insert_metric));
    ML_TRY(ml__rs_prepare(rs, "INSERT INTO events (step, wall_time, level, text)"
                              " VALUES (?, ?, ?, ?)", &rs->insert_event));
    return load_names(rs);
}

static ml_status open_db(ml_runstore *rs, const char *run_dir, const ml_run_info *info) {
    struct stat sb;
    if (rs->mode == ML_RUNSTORE_CREATE) ML_TRY(ml__mkdir_p(run_dir, 0755));
    else if (stat(rs->db_path, &sb) != 0)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO,
                       "%s: no run store here (%s; expected a run folder from microlens train)",
                       rs->db_path, strerror(errno));
    if (rs->mode != ML_RUNSTORE_READONLY) ML_TRY(lock_run(rs, run_dir));
    int flags = rs->mode == ML_RUNSTORE_READONLY ? SQLITE_OPEN_READONLY
                : rs->mode == ML_RUNSTORE_APPEND ? SQLITE_OPEN_READWRITE
                                                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(rs->db_path, &rs->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) return ml__rs_sql_fail(rs, rc, "cannot open");
    ML_TRY(set_pragmas(rs));
    if (rs->mode == ML_RUNSTORE_CREATE) ML_TRY(create_schema(rs, info));
    else ML_TRY(check_version(rs));
    return rs->mode == ML_RUNSTORE_READONLY ? ML_OK : prepare_writer(rs);
}

static void free_handle(ml_runstore *rs) {
    sqlite3_finalize(rs->insert_name);
    sqlite3_finalize(rs->insert_metric);
    sqlite3_finalize(rs->insert_event);
    ml__rs_free_lent(rs);
    sqlite3_close(rs->db); /* every statement is finalized, so this cannot be busy */
    if (rs->lock_fd >= 0) close(rs->lock_fd);
    for (size_t i = 0; i < rs->n_names; i++) free(rs->names[i]);
    free(rs->names);
    ml__strmap_free(&rs->name_map);
    for (size_t i = 0; i < rs->n_events; i++) free(rs->events[i].text);
    free(rs->events);
    free(rs->metrics);
    free(rs->db_path);
    free(rs);
}

ml_status ml_runstore_open(ml_runstore **out, const char *run_dir, ml_runstore_mode mode,
                           const ml_run_info *info) {
    if (!out || !run_dir || !*run_dir)
        return ML_FAIL(ML_EINVAL, "run store: out and a non-empty run folder are required");
    if ((unsigned)mode > (unsigned)ML_RUNSTORE_READONLY)
        return ML_FAIL(ML_EINVAL, "run store: mode %d is not create, append or readonly",
                       (int)mode);
    if (mode == ML_RUNSTORE_CREATE) ML_TRY(check_run_info(info));
    ml_runstore *rs = calloc(1, sizeof *rs);
    if (!rs) return ML_NOMEM();
    rs->mode = mode;
    rs->lock_fd = -1;
    rs->name_map = (ml__strmap)ML__STRMAP_INIT;
    ml_status st = (rs->db_path = path_join(run_dir, "run.sqlite")) ? ML_OK : ML_NOMEM();
    if (st == ML_OK) st = open_db(rs, run_dir, info);
    if (st != ML_OK) {
        free_handle(rs);
        return st;
    }
    *out = rs;
    return ML_OK;
}

ml_status ml_runstore_close(ml_runstore *rs) {
    if (!rs) return ML_OK;
    if (rs->in_snapshot) rollback(rs);
    rs->in_snapshot = false;
    ml_status st = rs->mode == ML_RUNSTORE_READONLY ? ML_OK : ml_runstore_flush(rs);
    free_handle(rs);
    return st;
}

/* ---- Writing ---------------------------------------------------------------------------- */

static ml_status check_writer(const ml_runstore *rs, const char *what) {
    if (!rs) return ML_FAIL(ML_EINVAL, "%s: no run store handle", what);
    if (rs->mode == ML_RUNSTORE_READONLY)
        return ML_FAIL(ML_EINVAL, "%s: %s: the run store is open read-only", rs->db_path, what);
    return ML_OK;
}

static ml_status check_step(const ml_runstore *rs, int64_t step, const char *what) {
    if (step >= 0) return ML_OK;
    return ML_FAIL(ML_EINVAL, "%s: %s: step %" PRId64 " is negative (expected >= 0)",
                   rs->db_path, what, step);
}

/* Only names not seen before are checked: a known name passed the check when first logged. */
static ml_status check_metric_name(const ml_runstore *rs, const char *name, size_t len) {
    if (len == 0 || len > ML_RUNSTORE_MAX_NAME_BYTES)
        return ML_FAIL(ML_EINVAL, "%s: metric name is %s (expected 1 to %d bytes)",
                       rs->db_path, len ? "too long" : "empty", ML_RUNSTORE_MAX_NAME_BYTES);
    if (!is_clean_text(name, len, false)) {
        char shown[64];
        ml__sanitize(shown, sizeof shown, name, len);
        return ML_FAIL(ML_EINVAL, "%s: metric name \"%s\" is not printable UTF-8 (expected no "
                       "control characters)", rs->db_path, shown);
    }
    return ML_OK;
}

ml_status ml_runstore_log_metric(ml_runstore *rs, int64_t step, const char *name, double value) {
    size_t idx = 0;
    ML_TRY(check_writer(rs, "log metric"));
    ML_TRY(check_step(rs, step, "log metric"));
    if (!name) return ML_FAIL(ML_EINVAL, "%s: metric name is NULL", rs->db_path);
    size_t len = strnlen(name, ML_RUNSTORE_MAX_NAME_BYTES + 1);
    if (rs->n_metrics == rs->metrics_cap) {
        size_t cap = 2 * rs->metrics_cap;
        ml__rs_metric *grown = realloc(rs->metrics, cap * sizeof *grown);
        if (!grown) return ML_NOMEM();
        rs->metrics = grown;
        rs->metrics_cap = cap;
    }
    if (!ml__strmap_get(&rs->name_map, name, len, &idx)) {
        ML_TRY(check_metric_name(rs, name, len));
        ML_TRY(add_name(rs, name, len, &idx));
    }
    ml__rs_metric *m = &rs->metrics[rs->n_metrics++];
    m->step = step;
    m->value = value;
    m->wall_time = now_seconds();
    m->name_idx = idx;
    return ML_OK;
}

ml_status ml_runstore_log_event(ml_runstore *rs, int64_t step, ml_event_level level,
                                const char *text) {
    ML_TRY(check_writer(rs, "log event"));
    ML_TRY(check_step(rs, step, "log event"));
    if ((unsigned)level > (unsigned)ML_EVENT_ERROR)
        return ML_FAIL(ML_EINVAL, "%s: event level %d is not debug, info, warning or error",
                       rs->db_path, (int)level);
    size_t n = text ? strnlen(text, ML_RUNSTORE_MAX_EVENT_BYTES + 1) : 0;
    if (n == 0 || n > ML_RUNSTORE_MAX_EVENT_BYTES)
        return ML_FAIL(ML_EINVAL, "%s: event text at step %" PRId64 " is %s (expected 1 to %d "
                       "bytes)", rs->db_path, step, n ? "too long" : "empty",
                       ML_RUNSTORE_MAX_EVENT_BYTES);
    if (!is_clean_text(text, n, true))
        return ML_FAIL(ML_EINVAL, "%s: event text at step %" PRId64 " is not UTF-8 without "
                       "control characters (tabs and newlines allowed)", rs->db_path, step);
    if (rs->n_events == rs->events_cap) {
        size_t cap = rs->events_cap ? 2 * rs->events_cap : 16;
        ml__rs_event *grown = realloc(rs->events, cap * sizeof *grown);
        if (!grown) return ML_NOMEM();
        rs->events = grown;
        rs->events_cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy) return ML_NOMEM();
    memcpy(copy, text, n + 1);
    rs->events[rs->n_events++] = (ml__rs_event){step, now_seconds(), level, copy};
    return ML_OK;
}

size_t ml_runstore_pending(const ml_runstore *rs) { return rs ? rs->n_metrics : 0; }

/* Runs a bound statement to completion and resets it for the next row. */
static int step_reset(sqlite3_stmt *stmt) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int write_buffer(ml_runstore *rs) {
    int rc = SQLITE_OK;
    for (size_t i = rs->n_names_stored; rc == SQLITE_OK && i < rs->n_names; i++) {
        sqlite3_bind_int64(rs->insert_name, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(rs->insert_name, 2, rs->names[i], -1, SQLITE_STATIC);
        rc = step_reset(rs->insert_name);
    }
    for (size_t i = 0; rc == SQLITE_OK && i < rs->n_metrics; i++) {
        const ml__rs_metric *m = &rs->metrics[i];
        sqlite3_bind_int64(rs->insert_metric, 1, (sqlite3_int64)m->name_idx + 1);
        sqlite3_bind_int64(rs->insert_metric, 2, m->step);
        if (isnan(m->value)) sqlite3_bind_null(rs->insert_metric, 3);
        else sqlite3_bind_double(rs->insert_metric, 3, m->value);
        sqlite3_bind_double(rs->insert_metric, 4, m->wall_time);
        rc = step_reset(rs->insert_metric);
    }
    for (size_t i = 0; rc == SQLITE_OK && i < rs->n_events; i++) {
        const ml__rs_event *e = &rs->events[i];
        sqlite3_bind_int64(rs->insert_event, 1, e->step);
        sqlite3_bind_double(rs->insert_event, 2, e->wall_time);
        sqlite3_bind_text(rs->insert_event, 3, LEVEL_NAMES[e->level], -1, SQLITE_STATIC);
        sqlite3_bind_text(rs->insert_event, 4, e->text, -1, SQLITE_STATIC);
        rc = step_reset(rs->insert_event);
    }
    return rc;
}

ml_status ml_runstore_flush(ml_runstore *rs) {
    ML_TRY(check_writer(rs, "flush"));
    if (rs->in_snapshot)
        return ML_FAIL(ML_EINVAL, "%s: flush inside a read snapshot (end it first)",
                       rs->db_path);
    if (rs->n_metrics == 0 && rs->n_events == 0 && rs->n_names_stored == rs->n_names)
        return ML_OK;
    ML_TRY(exec(rs, "BEGIN IMMEDIATE", "starting a batch"));
    int rc = write_buffer(rs);
    if (rc == SQLITE_OK) rc = sqlite3_exec(rs->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        ml_status st = ml__rs_sql_fail(rs, rc, "writing a batch of metrics");
        rollback(rs);
        return st;
    }
    for (size_t i = 0; i < rs->n_events; i++) free(rs->events[i].text);
    rs->n_events = 0;
    rs->n_metrics = 0;
    rs->n_names_stored = rs->n_names;
    return ML_OK;
}

static ml_status check_rel_path(const ml_runstore *rs, const char *path) {
    size_t n = path ? strnlen(path, RUNSTORE_MAX_PATH_BYTES + 1) : 0;
    bool ok = n > 0 && n <= RUNSTORE_MAX_PATH_BYTES && path[0] != '/' &&
              is_clean_text(path, n, false);
    for (const char *c = path; ok && *c;) {
        size_t len = strcspn(c, "/");
        ok = len > 0 && !(len == 1 && c[0] == '.') && !(len == 2 && c[0] == '.' && c[1] == '.');
        c += len + (c[len] == '/');
        if (ok && c[-1] == '/' && *c == '\0') ok = false; /* trailing slash */
    }
    if (ok) return ML_OK;
    return ML_FAIL(ML_EINVAL, "%s: checkpoint path is not a relative path inside the run folder "
                   "(expected e.g. checkpoints/step-0000100: no leading '/', no empty, '.' or "
                   "'..' component)", rs->db_path);
}

static ml_status insert_checkpoint(ml_runstore *rs, int64_t step, const char *rel_path,
                                   const char *sha, bool is_best) {
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "INSERT INTO checkpoints (step, path, manifest_sha256, is_best,"
                              " created_at) VALUES (?, ?, ?, ?, ?)", &stmt));
    sqlite3_bind_int64(stmt, 1, step);
    sqlite3_bind_text(stmt, 2, rel_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, sha, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, is_best ? 1 : 0);
    sqlite3_bind_double(stmt, 5, now_seconds());
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_DONE) return ML_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return ML_FAIL(ML_EINVAL, "%s: a checkpoint at step %" PRId64 " or with path %s is "
                       "already recorded", rs->db_path, step, rel_path);
    return ml__rs_sql_fail(rs, rc, "recording a checkpoint");
}

ml_status ml_runstore_add_checkpoint(ml_runstore *rs, int64_t step, const char *rel_path,
                                     const char *manifest_sha256, bool is_best) {
    ML_TRY(check_writer(rs, "add checkpoint"));
    ML_TRY(check_step(rs, step, "add checkpoint"));
    ML_TRY(check_rel_path(rs, rel_path));
    if (!is_sha256_hex(manifest_sha256))
        return ML_FAIL(ML_EINVAL, "%s: checkpoint at step %" PRId64 ": manifest SHA-256 is not "
                       "64 lower-case hex digits", rs->db_path, step);
    ML_TRY(ml_runstore_flush(rs));
    ML_TRY(exec(rs, "BEGIN IMMEDIATE", "starting a checkpoint row"));
    ml_status st = is_best ? exec(rs, "UPDATE checkpoints SET is_best = 0 WHERE is_best = 1",
                                  "moving the best mark")
                           : ML_OK;
    if (st == ML_OK) st = insert_checkpoint(rs, step, rel_path, manifest_sha256, is_best);
    if (st == ML_OK) st = exec(rs, "COMMIT", "committing a checkpoint row");
    if (st != ML_OK) rollback(rs);
    return st;
}

ml_status ml_runstore_mark_checkpoint_deleted(ml_runstore *rs, int64_t step) {
    ML_TRY(check_writer(rs, "mark checkpoint deleted"));
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "UPDATE checkpoints SET deleted_at = ? WHERE step = ? AND"
                              " deleted_at IS NULL", &stmt));
    sqlite3_bind_double(stmt, 1, now_seconds());
    sqlite3_bind_int64(stmt, 2, step);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return ml__rs_sql_fail(rs, rc, "marking a checkpoint deleted");
    if (sqlite3_changes(rs->db) == 1) return ML_OK;
    int64_t exists = 0;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM checkpoints WHERE step = %" PRId64, step);
    ML_TRY(query_int(rs, sql, &exists));
    return exists ? ML_FAIL(ML_EINVAL, "%s: checkpoint at step %" PRId64 " is already marked "
                            "deleted", rs->db_path, step)
                  : ML_FAIL(ML_ENOTFOUND, "%s: no checkpoint at step %" PRId64, rs->db_path,
                            step);
}

ml_status ml_runstore_set_status(ml_runstore *rs, ml_run_status status) {
    ML_TRY(check_writer(rs, "set status"));
    if ((unsigned)status > (unsigned)ML_RUN_INTERRUPTED)
        return ML_FAIL(ML_EINVAL, "%s: run status %d is not running, completed, failed or "
                       "interrupted", rs->db_path, (int)status);
    ML_TRY(ml_runstore_flush(rs));
    sqlite3_stmt *stmt = NULL;
    ML_TRY(ml__rs_prepare(rs, "UPDATE run SET status = ?, ended_at = ?", &stmt));
    sqlite3_bind_text(stmt, 1, STATUS_NAMES[status], -1, SQLITE_STATIC);
    if (status != ML_RUN_RUNNING) sqlite3_bind_double(stmt, 2, now_seconds());
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? ML_OK : ml__rs_sql_fail(rs, rc, "updating the run status");
}
