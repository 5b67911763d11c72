/* export.c - ml_export: checks the options and the target folder, selects the metrics, runs
 * one format's writer into a temporary folder beside the target and renames it into place;
 * also the helpers the writers share (paths, file names, CSV/JSON cells, snapshot files).
 * The formats themselves are export_text.c (csv, jsonl), export_npy.c and export_tb.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microlens/export.h"
#include "report/export_internal.h"
#include "util/error.h"

/* Metric names quoted in the message when a pattern matches none. */
#define SHOWN_NAMES 8
/* Mode of the export folder and its subfolders (files are 0644): exports are for sharing. */
#define EXPORT_DIR_MODE 0755

static const char *const format_names[] = {"csv", "jsonl", "npy", "tensorboard"};
#define N_FORMATS (sizeof format_names / sizeof *format_names)

const char *ml_export_format_name(ml_export_format f) {
    return (unsigned)f < N_FORMATS ? format_names[f] : "unknown";
}

ml_status ml_export_format_parse(ml_export_format *out, const char *name) {
    for (size_t i = 0; name && i < N_FORMATS; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (ml_export_format)i;
            return ML_OK;
        }
    return ML_FAIL(ML_EINVAL, "export format \"%s\" is unknown (expected csv, jsonl, npy or "
                   "tensorboard)", name ? name : "(null)");
}

/* ---- Paths and files in the staging folder ---------------------------------------------- */

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

ml_status ml__export_path(const ml__export *e, const char *rel, char **out) {
    if (!(*out = join(e->dir, rel))) return ML_NOMEM();
    return ML_OK;
}

ml_status ml__export_mkdir(const ml__export *e, const char *rel) {
    char *p = NULL;
    ML_TRY(ml__export_path(e, rel, &p));
    ml_status st = ML_OK;
    if (mkdir(p, EXPORT_DIR_MODE) != 0 && errno != EEXIST)
        st = ML_FAIL(ML_EIO, "%s: cannot create folder (%s)", p, strerror(errno));
    free(p);
    return st;
}

ml_status ml__export_open(ml__export *e, ml__outbuf *b, const char *rel) {
    char *p = NULL;
    memset(b, 0, sizeof *b);
    b->file.fd = -1;
    ML_TRY(ml__export_path(e, rel, &p));
    ml_status st = ml__outbuf_open(b, p, 0644);
    free(p);
    if (st == ML_OK) e->res.n_files++;
    return st;
}

static int is_safe_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

ml_status ml__export_file_name(char dst[ML__EXPORT_NAME_CAP], const char *name,
                               const char *suffix) {
    static const char hex[] = "0123456789ABCDEF";
    if (!name || !*name) return ML_FAIL(ML_EINVAL, "export: empty metric or tensor name");
    size_t n = 0, i = 0;
    for (; name[i]; i++) {
        unsigned char c = (unsigned char)name[i];
        size_t need = (is_safe_byte(c) && !(i == 0 && c == '.')) ? 1 : 3;
        if (n + need > ML__EXPORT_NAME_MAX) break;
        if (need == 1) {
            dst[n++] = (char)c;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    if (name[i]) {
        /* Cut: keep room for "~" and the hash; back off to a whole %XX or byte. */
        size_t keep = ML__EXPORT_NAME_MAX - 1 - ML__EXPORT_HASH_HEX;
        while (n > keep) n--;
        if (n >= 1 && dst[n - 1] == '%') n -= 1;
        else if (n >= 2 && dst[n - 2] == '%') n -= 2;
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)name, strlen(name), md);
        dst[n++] = '~';
        for (size_t k = 0; k < ML__EXPORT_HASH_HEX / 2; k++) {
            dst[n++] = "0123456789abcdef"[md[k] >> 4];
            dst[n++] = "0123456789abcdef"[md[k] & 15];
        }
    }
    size_t ls = strlen(suffix);
    memcpy(dst + n, suffix, ls + 1); /* ML__EXPORT_NAME_CAP leaves 31 bytes for it */
    return ML_OK;
}

ml_status ml__csv_field(ml__outbuf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) return ml__outbuf_puts(b, s);
    (void)ml__outbuf_write(b, "\"", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        (void)ml__outbuf_write(b, s, (size_t)(q - s));
        (void)ml__outbuf_write(b, "\"\"", 2);
    }
    (void)ml__outbuf_puts(b, s);
    return ml__outbuf_write(b, "\"", 1);
}

ml_status ml__json_string(ml__outbuf *b, const char *s) {
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!text) return ML_FAIL(ML_EFORMAT, "export: a name or text is not valid UTF-8");
    ml_status st = ml__outbuf_puts(b, text);
    free(text);
    return st;
}

ml_status ml__number(ml__outbuf *b, double v, const char *nan_text, int json) {
    if (isnan(v)) return ml__outbuf_puts(b, nan_text);
    if (isinf(v)) return ml__outbuf_puts(b, json ? nan_text : v > 0 ? "inf" : "-inf");
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return ml__outbuf_puts(b, buf);
}

const char *ml__export_rel_dir(const ml_run_source *s, const ml_run_checkpoint *c) {
    const char *root = ml_run_source_path(s), *d = c->dir;
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    if (strncmp(d, root, n) == 0 && d[n] == '/') {
        d += n;
        while (*d == '/') d++;
        if (*d) return d;
    }
    const char *slash = strrchr(c->dir, '/');
    return slash && slash[1] ? slash + 1 : c->dir;
}

/* ---- Snapshot files --------------------------------------------------------------------- */

/* step from "step-NNNNNNN.safetensors" written as the collector writes it (%07lld), else -1. */
static int64_t snapshot_step(const char *name) {
    if (strncmp(name, "step-", 5) != 0) return -1;
    int64_t step = 0;
    const char *p = name + 5;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (step > (INT64_MAX - 9) / 10) return -1;
        step = step * 10 + (*p - '0');
    }
    char canon[64];
    snprintf(canon, sizeof canon, "step-%07lld.safetensors", (long long)step);
    return strcmp(canon, name) == 0 ? step : -1;
}

static int by_step(const void *a, const void *b) {
    int64_t x = ((const ml__snapshot *)a)->step, y = ((const ml__snapshot *)b)->step;
    return (x > y) - (x < y);
}

void ml__export_snapshots_free(ml__snapshot *snaps, size_t n) {
    for (size_t i = 0; snaps && i < n; i++) free(snaps[i].path);
    free(snaps);
}

ml_status ml__export_snapshots(const ml_run_source *s, ml__snapshot **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (ml_run_source_get_kind(s) != ML_RUN_SOURCE_MICROLENS) return ML_OK;
    char *dir = join(ml_run_source_path(s), "snapshots");
    if (!dir) return ML_NOMEM();
    DIR *d = opendir(dir);
    if (!d) {
        ml_status st = errno == ENOENT ? ML_OK
                       : ML_FAIL(ML_EIO, "%s: cannot read folder (%s)", dir, strerror(errno));
        free(dir);
        return st;
    }
    ml_status st = ML_OK;
    ml__snapshot *v = NULL;
    size_t len = 0, cap = 0;
    for (struct dirent *de; st == ML_OK && (de = readdir(d)) != NULL;) {
        int64_t step = snapshot_step(de->d_name);
        if (step < 0) continue;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ml__snapshot *nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                st = ML_NOMEM();
                break;
            }
            v = nv;
            cap = ncap;
        }
        if (!(v[len].path = join(dir, de->d_name))) st = ML_NOMEM();
        else v[len++].step = step;
    }
    closedir(d);
    free(dir);
    if (st != ML_OK) {
        ml__export_snapshots_free(v, len);
        return st;
    }
    if (len) qsort(v, len, sizeof *v, by_step);
    *out = v;
    *n = len;
    return ML_OK;
}

/* ---- The target folder -------------------------------------------------------------------- */

/* out_dir may be absent or an empty directory; anything else is refused before any work. */
static ml_status check_target(const char *out_dir) {
    struct stat sb;
    if (lstat(out_dir, &sb) != 0) {
        /* Absent, or under a missing / non-folder parent: mkdtemp then names the problem. */
        if (errno == ENOENT || errno == ENOTDIR) return ML_OK;
        return ML_FAIL(ML_EIO, "%s: cannot stat (%s)", out_dir, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode))
        return ML_FAIL(ML_EINVAL, "%s: exists and is not a folder (exports go to a new or empty "
                       "folder)", out_dir);
    DIR *d = opendir(out_dir);
    if (!d) return ML_FAIL(ML_EIO, "%s: cannot read folder (%s)", out_dir, strerror(errno));
    int empty = 1;
    for (struct dirent *de; empty && (de = readdir(d)) != NULL;)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        return ML_FAIL(ML_EINVAL, "%s: exists and is not empty (exports never overwrite: remove "
                       "it or choose a new folder)", out_dir);
    return ML_OK;
}

/* Creates "<parent of out_dir>/.<name>.tmp-XXXXXX" (0700 until complete). */
static ml_status stage_open(const char *out_dir, char **staging) {
    char *a = strdup(out_dir), *b = strdup(out_dir), *p = NULL;
    ml_status st = ML_OK;
    if (!a || !b) {
        st = ML_NOMEM();
        goto done;
    }
    const char *parent = dirname(a), *base = basename(b);
    if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        st = ML_FAIL(ML_EINVAL, "%s: not a folder name an export can take", out_dir);
        goto done;
    }
    size_t n = strlen(parent) + strlen(base) + 16;
    if (!(p = malloc(n))) {
        st = ML_NOMEM();
        goto done;
    }
    snprintf(p, n, "%s/.%s.tmp-XXXXXX", parent, base);
    if (!mkdtemp(p)) {
        st = ML_FAIL(ML_EIO, "%s: cannot create a temporary folder in %s (%s)", out_dir, parent,
                     strerror(errno));
        goto done;
    }
    *staging = p;
    p = NULL;
done:
    free(a);
    free(b);
    free(p);
    return st;
}

static void fsync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some filesystems refuse fsync on folders */
        close(fd);
    }
}

/* Everything under the staging folder is ours: files, and folders of files. */
static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        for (struct dirent *de; (de = readdir(d)) != NULL;) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
            char *child = join(path, de->d_name);
            struct stat sb;
            if (child && lstat(child, &sb) == 0) {
                if (S_ISDIR(sb.st_mode)) remove_tree(child);
                else unlink(child);
            }
            free(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static ml_status stage_commit(const char *staging, const char *out_dir) {
    fsync_dir(staging);
    if (chmod(staging, EXPORT_DIR_MODE) != 0)
        return ML_FAIL(ML_EIO, "%s: cannot set mode (%s)", staging, strerror(errno));
    if (rename(staging, out_dir) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST)
            return ML_FAIL(ML_EINVAL, "%s: was filled by someone else during the export (exports "
                           "never overwrite)", out_dir);
        return ML_FAIL(ML_EIO, "%s: cannot rename the finished export into place (%s)", out_dir,
                       strerror(errno));
    }
    char *a = strdup(out_dir);
    if (a) fsync_dir(dirname(a));
    free(a);
    return ML_OK;
}

/* ---- Metric selection and the export ------------------------------------------------------ */

static ml_status no_match(const char *pattern, const char *const *names, size_t n) {
    char list[SHOWN_NAMES * (ML_RUNSTORE_MAX_NAME_BYTES + 2) + 8];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && i < SHOWN_NAMES && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    return ML_FAIL(ML_ENOTFOUND,
                   "metric pattern \"%s\" matches none of the run's %zu metrics%s%s%s", pattern,
                   n, n ? " (" : "", list, n > SHOWN_NAMES ? ", ...)" : n ? ")" : "");
}

static ml_status select_metrics(ml__export *e) {
    const char *const *names = NULL;
    size_t n = 0;
    ml_run_source_metric_names(e->src, &names, &n);
    if (!(e->metrics = malloc((n ? n : 1) * sizeof *e->metrics))) return ML_NOMEM();
    for (size_t i = 0; i < n; i++)
        if (!e->o->metrics || fnmatch(e->o->metrics, names[i], 0) == 0)
            e->metrics[e->n_metrics++] = names[i];
    if (e->o->metrics && e->n_metrics == 0) return no_match(e->o->metrics, names, n);
    return ML_OK;
}

static ml_status check_options(const ml_export_options *o, const char *out_dir) {
    if (o->version != ML_EXPORT_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "export options: version %d (expected %d)", o->version,
                       ML_EXPORT_OPTIONS_VERSION);
    if ((unsigned)o->format >= N_FORMATS)
        return ML_FAIL(ML_EINVAL, "export options: format %d is not an ml_export_format",
                       (int)o->format);
    if (o->metrics && !*o->metrics)
        return ML_FAIL(ML_EINVAL, "export options: metrics pattern is empty");
    if (!out_dir || !*out_dir) return ML_FAIL(ML_EINVAL, "export: no output folder given");
    return ML_OK;
}

static ml_status write_format(ml__export *e) {
    switch (e->o->format) {
    case ML_EXPORT_CSV:
    case ML_EXPORT_JSONL: return ml__export_text(e);
    case ML_EXPORT_NPY: return ml__export_npy(e);
    case ML_EXPORT_TENSORBOARD: return ml__export_tensorboard(e);
    }
    return ML_FAIL(ML_EINVAL, "export: unknown format");
}

ml_status ml_export_source(const ml_run_source *s, const char *out_dir,
                           const ml_export_options *o, ml_export_result *result) {
    ml_export_options defaults = ML_EXPORT_OPTIONS_INIT;
    if (!o) o = &defaults;
    if (!s) return ML_FAIL(ML_EINVAL, "export: no run source");
    ML_TRY(check_options(o, out_dir));
    ML_TRY(check_target(out_dir));
    ml__export e;
    memset(&e, 0, sizeof e);
    e.src = s;
    e.o = o;
    ml_status st = select_metrics(&e);
    if (st == ML_OK) st = stage_open(out_dir, &e.dir);
    if (st == ML_OK) st = write_format(&e);
    if (st == ML_OK) st = stage_commit(e.dir, out_dir);
    if (st != ML_OK && e.dir) remove_tree(e.dir);
    if (st == ML_OK && result) *result = e.res;
    free(e.dir);
    free(e.metrics);
    return st;
}

ml_status ml_export(const char *run_path, const char *out_dir, const ml_export_options *o,
                    ml_export_result *result) {
    ml_run_source *s = NULL;
    ML_TRY(ml_run_source_open(&s, run_path));
    ml_status st = ml_export_source(s, out_dir, o, result);
    ml_run_source_free(s);
    return st;
}
