/* tfevents.c - writes TensorBoard event files: TFRecord framing with masked CRC32C around
 * hand-encoded Event protobufs. Only the messages microlens exports are encoded; no reader. */
#include "report/tfevents.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Protobuf wire types (protobuf.dev/programming-guides/encoding). */
enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* Field numbers of tensorboard/compat/proto/event.proto, summary.proto, histogram.proto. */
enum { EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5 };
enum { SUMMARY_VALUE = 1 };
enum { VALUE_TAG = 1, VALUE_SIMPLE_VALUE = 2, VALUE_HISTO = 5 };
enum { HISTO_MIN = 1, HISTO_MAX = 2, HISTO_NUM = 3, HISTO_SUM = 4, HISTO_SUM_SQUARES = 5,
       HISTO_BUCKET_LIMIT = 6, HISTO_BUCKET = 7 };

/* TFRecord's mask constant (tensorflow/core/lib/hash/crc32c.h, kMaskDelta). */
#define CRC_MASK_DELTA 0xa282ead8u
/* First capacity of a protobuf scratch buffer; scalar events are ~50 bytes. */
#define PBUF_FIRST_CAP 256

/* CRC-32C table for the reflected polynomial 0x82F63B78, one byte at a time: entry i is the
 * CRC of byte i after 8 shift/xor rounds. tests/report/test_tfevents.c checks every entry's
 * effect against the bitwise definition. A const table keeps the library free of mutable
 * globals; at ~1 byte/cycle it is far faster than the disk the records go to. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
    0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
    0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
    0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
    0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
    0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
    0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
    0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
    0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
    0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
    0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
    0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
    0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
    0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
    0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
    0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
    0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
    0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
    0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
    0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
    0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
    0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
    0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
    0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
    0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
    0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
    0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
    0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
    0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
    0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
    0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
    0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
    0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
    0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
    0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
    0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
    0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
    0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
    0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
    0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
    0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
    0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
    0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

uint32_t ml__crc32c(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = crc32c_table[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);
    return ~crc;
}

uint32_t ml__crc32c_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA;
}

static void put_le32(uint8_t *dst, uint32_t v) {
    for (int i = 0; i < 4; i++) dst[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *dst, uint64_t v) {
    for (int i = 0; i < 8; i++) dst[i] = (uint8_t)(v >> (8 * i));
}

ml_status ml__tfrecord_write(ml__outbuf *b, const void *data, size_t len) {
    uint8_t head[12], tail[4];
    put_le64(head, (uint64_t)len);
    put_le32(head + 8, ml__crc32c_mask(ml__crc32c(0, head, 8)));
    put_le32(tail, ml__crc32c_mask(ml__crc32c(0, data, len)));
    (void)ml__outbuf_write(b, head, sizeof head);
    (void)ml__outbuf_write(b, data, len);
    return ml__outbuf_write(b, tail, sizeof tail);
}

/* ---- Protobuf encoding ---------------------------------------------------------------- */

static int pbuf_reserve(ml__pbuf *b, size_t more) {
    if (b->status != ML_OK) return 0;
    if (more <= b->cap - b->len) return 1;
    size_t cap = b->cap ? b->cap : PBUF_FIRST_CAP;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) {
            b->status = ML_NOMEM();
            return 0;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->status = ML_NOMEM();
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void pbuf_append(ml__pbuf *b, const void *data, size_t len) {
    if (len == 0 || !pbuf_reserve(b, len)) return;
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

void ml__pbuf_reset(ml__pbuf *b) {
    b->len = 0;
}

void ml__pbuf_free(ml__pbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void ml__pb_varint(ml__pbuf *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7fu) | (v > 0x7fu ? 0x80u : 0u));
        v >>= 7;
    } while (v);
    pbuf_append(b, tmp, n);
}

static void pb_key(ml__pbuf *b, uint32_t field, unsigned wire) {
    ml__pb_varint(b, ((uint64_t)field << 3) | wire);
}

void ml__pb_double(ml__pbuf *b, uint32_t field, double v) {
    uint64_t bits;
    uint8_t le[8];
    memcpy(&bits, &v, sizeof bits);
    put_le64(le, bits);
    pb_key(b, field, WIRE_FIXED64);
    pbuf_append(b, le, sizeof le);
}

void ml__pb_float(ml__pbuf *b, uint32_t field, float v) {
    uint32_t bits;
    uint8_t le[4];
    memcpy(&bits, &v, sizeof bits);
    put_le32(le, bits);
    pb_key(b, field, WIRE_FIXED32);
    pbuf_append(b, le, sizeof le);
}

void ml__pb_int64(ml__pbuf *b, uint32_t field, int64_t v) {
    pb_key(b, field, WIRE_VARINT);
    ml__pb_varint(b, (uint64_t)v); /* int64 (not sint64): negatives take 10 bytes */
}

void ml__pb_bytes(ml__pbuf *b, uint32_t field, const void *data, size_t len) {
    pb_key(b, field, WIRE_LEN);
    ml__pb_varint(b, (uint64_t)len);
    pbuf_append(b, data, len);
}

void ml__pb_packed_doubles(ml__pbuf *b, uint32_t field, const double *v, size_t n) {
    pb_key(b, field, WIRE_LEN);
    ml__pb_varint(b, (uint64_t)n * 8u);
    if (!pbuf_reserve(b, n * 8u)) return;
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        put_le64(b->p + b->len, bits);
        b->len += 8;
    }
}

/* proto3's canonical encoding leaves out singular fields holding their default (0); members
 * of a oneof (simple_value, histo, file_version, summary) are always written. */
static void pb_double_nonzero(ml__pbuf *b, uint32_t field, double v) {
    if (v != 0.0 || signbit(v)) ml__pb_double(b, field, v);
}

/* ---- Histograms ------------------------------------------------------------------------ */

/* numpy.histogram's bin index for x in [min, max] with edges from numpy.linspace: a first
 * guess from the scaled offset, then corrected against the edges themselves, so that a value
 * on an edge lands where numpy puts it. */
static size_t bucket_of(double x, const double *edge, size_t k) {
    double f = (x - edge[0]) / (edge[k] - edge[0]) * (double)k;
    size_t i = f >= (double)k ? k - 1 : (size_t)f;
    if (i > 0 && x < edge[i]) i--;
    else if (i + 1 < k && x >= edge[i + 1]) i++;
    return i;
}

void ml__histogram_compute(ml__histogram *h, const float *values, size_t n) {
    memset(h, 0, sizeof *h);
    h->min = INFINITY;
    h->max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double x = values[i];
        if (!isfinite(x)) {
            h->n_nonfinite++;
            continue;
        }
        h->num += 1.0;
        h->sum += x;
        h->sum_squares += x * x;
        if (x < h->min) h->min = x;
        if (x > h->max) h->max = x;
    }
    if (h->num == 0.0) {
        h->min = h->max = 0.0;
        return;
    }
    if (h->min == h->max) {
        h->n_buckets = 1;
        h->limit[0] = h->max;
        h->count[0] = h->num;
        return;
    }
    size_t k = ML__HISTO_BUCKETS;
    double edge[ML__HISTO_BUCKETS + 1], step = (h->max - h->min) / (double)k;
    for (size_t i = 0; i < k; i++) edge[i] = (double)i * step + h->min; /* numpy.linspace */
    edge[k] = h->max;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i])) h->count[bucket_of(values[i], edge, k)] += 1.0;
    h->n_buckets = k;
    memcpy(h->limit, edge + 1, k * sizeof *edge);
}

/* ---- Events ----------------------------------------------------------------------------- */

ml_status ml__tfevents_file_name(char *dst, size_t dst_capacity, int64_t seconds) {
    int n = snprintf(dst, dst_capacity, "events.out.tfevents.%lld.%s.microlens",
                     (long long)seconds, ML__TFEVENTS_HOST);
    if (n < 0 || (size_t)n >= dst_capacity)
        return ML_FAIL(ML_EINVAL, "event file name does not fit %zu bytes", dst_capacity);
    return ML_OK;
}

static void free_scratch(ml__tfevents *w) {
    ml__pbuf_free(&w->event);
    ml__pbuf_free(&w->summary);
    ml__pbuf_free(&w->value);
    ml__pbuf_free(&w->histo);
}

/* Frames the event in w->event (plus the summary in w->summary, if any) as one record. */
static ml_status emit(ml__tfevents *w, const ml__pbuf *summary) {
    if (summary) ml__pb_bytes(&w->event, EVENT_SUMMARY, summary->p, summary->len);
    if (w->event.status != ML_OK) return w->event.status;
    return ml__tfrecord_write(&w->out, w->event.p, w->event.len);
}

static void event_head(ml__tfevents *w, double wall_time, int64_t step) {
    ml__pbuf_reset(&w->event);
    pb_double_nonzero(&w->event, EVENT_WALL_TIME, wall_time);
    if (step != 0) ml__pb_int64(&w->event, EVENT_STEP, step);
}

ml_status ml__tfevents_open(ml__tfevents *w, const char *path, double wall_time) {
    memset(w, 0, sizeof *w);
    w->out.file.fd = -1;
    ML_TRY(ml__outbuf_open(&w->out, path, 0644));
    event_head(w, wall_time, 0);
    ml__pb_bytes(&w->event, EVENT_FILE_VERSION, ML__TFEVENTS_FILE_VERSION,
                 strlen(ML__TFEVENTS_FILE_VERSION));
    ml_status st = emit(w, NULL);
    if (st != ML_OK) ml__tfevents_abort(w);
    return st;
}

/* Summary{value: Value{tag, <w->value's remaining fields>}} into w->summary. */
static const ml__pbuf *wrap_value(ml__tfevents *w) {
    ml__pbuf_reset(&w->summary);
    ml__pb_bytes(&w->summary, SUMMARY_VALUE, w->value.p, w->value.len);
    if (w->value.status != ML_OK) w->summary.status = w->value.status;
    return &w->summary;
}

ml_status ml__tfevents_scalar(ml__tfevents *w, double wall_time, int64_t step, const char *tag,
                              float value) {
    ml__pbuf_reset(&w->value);
    ml__pb_bytes(&w->value, VALUE_TAG, tag, strlen(tag));
    ml__pb_float(&w->value, VALUE_SIMPLE_VALUE, value);
    event_head(w, wall_time, step);
    const ml__pbuf *s = wrap_value(w);
    if (s->status != ML_OK) return s->status;
    return emit(w, s);
}

ml_status ml__tfevents_histogram(ml__tfevents *w, double wall_time, int64_t step,
                                 const char *tag, const ml__histogram *h) {
    ml__pbuf *p = &w->histo;
    ml__pbuf_reset(p);
    pb_double_nonzero(p, HISTO_MIN, h->min);
    pb_double_nonzero(p, HISTO_MAX, h->max);
    pb_double_nonzero(p, HISTO_NUM, h->num);
    pb_double_nonzero(p, HISTO_SUM, h->sum);
    pb_double_nonzero(p, HISTO_SUM_SQUARES, h->sum_squares);
    ml__pb_packed_doubles(p, HISTO_BUCKET_LIMIT, h->limit, h->n_buckets);
    ml__pb_packed_doubles(p, HISTO_BUCKET, h->count, h->n_buckets);
    ml__pbuf_reset(&w->value);
    ml__pb_bytes(&w->value, VALUE_TAG, tag, strlen(tag));
    ml__pb_bytes(&w->value, VALUE_HISTO, p->p, p->len);
    if (p->status != ML_OK) return p->status;
    event_head(w, wall_time, step);
    const ml__pbuf *s = wrap_value(w);
    if (s->status != ML_OK) return s->status;
    return emit(w, s);
}

ml_status ml__tfevents_commit(ml__tfevents *w) {
    free_scratch(w);
    return ml__outbuf_commit(&w->out);
}

void ml__tfevents_abort(ml__tfevents *w) {
    free_scratch(w);
    ml__outbuf_abort(&w->out);
}
