/* reader.c - ml_table_read/ml_table_parse: sniff the format, hand the bytes to its reader. */
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "util/error.h"
#include "util/fileio.h"

/* Tables larger than this are refused rather than read into memory. */
#define ML_TABLE_MAX_BYTES ((size_t)8 << 30)

static const unsigned char hdf5_magic[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* First line that is not blank and not a plain '#' comment; "#OTU ID" headers count. */
static void first_header_line(const char *buf, size_t len, const char **line, size_t *n) {
    size_t pos = 0;
    *line = buf;
    *n = 0;
    while (pos < len) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + 1;
        if (l == 0 || (l == 1 && s[0] == '\r')) continue;
        if (s[0] == '#' && !(l >= 7 && memcmp(s, "#OTU ID", 7) == 0) &&
            !(l >= 9 && memcmp(s, "#SampleID", 9) == 0))
            continue;
        *line = s;
        *n = l;
        return;
    }
}

static char guess_separator(const char *buf, size_t len, const char *name) {
    const char *line;
    size_t n;
    first_header_line(buf, len, &line, &n);
    size_t tabs = 0, commas = 0;
    for (size_t i = 0; i < n; i++) {
        tabs += line[i] == '\t';
        commas += line[i] == ',';
    }
    if (tabs > 0) return '\t';
    if (commas > 0) return ',';
    size_t nl = strlen(name);
    return nl >= 4 && strcmp(name + nl - 4, ".csv") == 0 ? ',' : '\t';
}

static ml_table_format sniff(const char *buf, size_t len, const char *name) {
    if (len >= 8 && memcmp(buf, hdf5_magic, 8) == 0) return ML_FORMAT_BIOM_HDF5;
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) i = 3;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')) i++;
    if (i < len && buf[i] == '{') return ML_FORMAT_BIOM_JSON;
    if (ml__metaphlan_sniff(buf, len)) return ML_FORMAT_METAPHLAN;
    return guess_separator(buf, len, name) == ',' ? ML_FORMAT_CSV : ML_FORMAT_TSV;
}

static ml_status refuse_known_non_tables(const char *buf, size_t len, const char *name) {
    if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0)
        return ML_FAIL(ML_EFORMAT, "%s: is a zip archive, not a table (a QIIME 2 .qza? "
                       "extract its data/feature-table.biom and read that)", name);
    if (len >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b)
        return ML_FAIL(ML_EFORMAT, "%s: is gzip-compressed (expected an uncompressed table; "
                       "run gunzip first)", name);
    if (memchr(buf, '\0', len < 4096 ? len : 4096) && !(len >= 8 && !memcmp(buf, hdf5_magic, 8)))
        return ML_FAIL(ML_EFORMAT, "%s: contains NUL bytes in its first 4 KiB (expected a "
                       "text table, BIOM JSON or BIOM HDF5)", name);
    return ML_OK;
}

ml_status ml_table_parse(ml_table **out, const void *data, size_t len, const char *name,
                         const ml_table_read_options *opts) {
    ml_table_read_options defaults = ML_TABLE_READ_OPTIONS_INIT;
    const ml_table_read_options *o = opts ? opts : &defaults;
    if (o->version != ML_TABLE_READ_OPTIONS_VERSION)
        return ML_FAIL(ML_EINVAL, "ml_table_read_options.version is %d (expected %d)",
                       o->version, ML_TABLE_READ_OPTIONS_VERSION);
    const char *buf = data;
    ml_table_format f = o->format;
    if (f == ML_FORMAT_AUTO) {
        ML_TRY(refuse_known_non_tables(buf, len, name));
        f = sniff(buf, len, name);
    }
    switch (f) {
    case ML_FORMAT_TSV: return ml__delim_parse(out, buf, len, name, '\t', o);
    case ML_FORMAT_CSV: return ml__delim_parse(out, buf, len, name, ',', o);
    case ML_FORMAT_METAPHLAN: return ml__metaphlan_parse(out, buf, len, name, o);
    case ML_FORMAT_BIOM_JSON: return ml__biom_json_parse(out, buf, len, name, o);
    case ML_FORMAT_BIOM_HDF5: return ml__biom_hdf5_parse(out, buf, len, name, o);
    case ML_FORMAT_AUTO: break;
    }
    return ML_FAIL(ML_EINVAL, "unknown table format %d", (int)f);
}

ml_status ml_table_read(ml_table **out, const char *path, const ml_table_read_options *opts) {
    char *buf;
    size_t len;
    ML_TRY(ml__file_read(path, ML_TABLE_MAX_BYTES, &buf, &len));
    ml_status st = ml_table_parse(out, buf, len, path, opts);
    free(buf);
    return st;
}
