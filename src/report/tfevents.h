/* tfevents.h - TensorBoard event files: CRC32C, TFRecord framing and the protobuf encoding of
 * the few Event messages we write (file version, scalar summaries, histograms). It reads
 * nothing back and links no protobuf library: the wire format is written by hand.
 * Field numbers: tensorboard/compat/proto/{event,summary,histogram}.proto; framing:
 * tensorflow/core/lib/io/record_writer.cc; docs/export.md. */
#ifndef ML_REPORT_TFEVENTS_H
#define ML_REPORT_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "microlens/error.h"
#include "util/outbuf.h"

/* The first record of every event file; TensorBoard reads "brain.Event:2" as "no purge of
 * orphaned steps on restart" (event_accumulator.py), which suits a file written once. */
#define ML__TFEVENTS_FILE_VERSION "brain.Event:2"
/* Host part of the file name events.out.tfevents.<seconds>.<host>.microlens. TensorBoard only
 * needs "tfevents" in the name; a fixed word keeps the machine's name out of shared exports. */
#define ML__TFEVENTS_HOST "localhost"
/* Equal-width buckets per histogram: TensorBoard's histogram plugin shows 30 bins by default
 * (tensorboard/plugins/histogram/summary_v2.py, DEFAULT_BUCKET_COUNT). */
#define ML__HISTO_BUCKETS 30

/* ^CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF):
 * crc32c("123456789") = 0xE3069283. Pass 0 as crc to start; pass a previous result to go on. */
uint32_t ml__crc32c(uint32_t crc, const void *data, size_t len);
/* ^TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8, so that a CRC stored
 * inside CRC'd data does not cancel out. */
uint32_t ml__crc32c_mask(uint32_t crc);

/* ^Appends one TFRecord to b: uint64 length, uint32 masked CRC32C of those 8 bytes, the data,
 * uint32 masked CRC32C of the data, all little-endian. Errors are b's (sticky). */
ml_status ml__tfrecord_write(ml__outbuf *b, const void *data, size_t len);

/* A growable byte buffer for protobuf encoding; errors are sticky (status). */
typedef struct ml__pbuf {
    uint8_t *p;
    size_t len, cap;
    ml_status status;
} ml__pbuf;

/* Histogram of the finite values of a tensor, in HistogramProto's terms: bucket i counts the
 * values up to limit[i] (after limit[i-1]). Buckets are ML__HISTO_BUCKETS equal-width bins over
 * [min, max], counted as numpy.histogram does (left-closed, the last closed on both sides);
 * one bucket when min == max. NaN and infinities are left out (n_nonfinite). */
typedef struct ml__histogram {
    double min, max, num, sum, sum_squares;
    size_t n_buckets;
    double limit[ML__HISTO_BUCKETS];
    double count[ML__HISTO_BUCKETS];
    size_t n_nonfinite;
} ml__histogram;

/* ^Fills h from n floats; h->num == 0 when none is finite (callers skip such a histogram). */
void ml__histogram_compute(ml__histogram *h, const float *values, size_t n);

/* An event file being written (an atomic file: invisible at its path until commit). */
typedef struct ml__tfevents {
    ml__outbuf out;
    ml__pbuf event, summary, value, histo; /* scratch reused by every record */
} ml__tfevents;

/* ^"events.out.tfevents.<seconds>.localhost.microlens" into dst. ML_EINVAL if it does not fit. */
ml_status ml__tfevents_file_name(char *dst, size_t dst_capacity, int64_t seconds);

/* ^Opens path (mode 0644) and writes the file_version event at wall_time.
 * On failure nothing is left at path and w needs no cleanup (ml__tfevents_abort is safe). */
ml_status ml__tfevents_open(ml__tfevents *w, const char *path, double wall_time);

/* ^One Event{wall_time, step, summary{value{tag, simple_value}}}. TensorBoard stores scalars as
 * float32, so value is rounded to float by the caller's cast. Errors are sticky. */
ml_status ml__tfevents_scalar(ml__tfevents *w, double wall_time, int64_t step, const char *tag,
                              float value);

/* ^One Event with a summary value holding HistogramProto h (h->num must be > 0). */
ml_status ml__tfevents_histogram(ml__tfevents *w, double wall_time, int64_t step,
                                 const char *tag, const ml__histogram *h);

/* ^Flushes, fsyncs and renames into place; frees w's buffers either way. */
ml_status ml__tfevents_commit(ml__tfevents *w);
/* ^Removes the temporary file and frees w's buffers; safe after commit or a failed open. */
void ml__tfevents_abort(ml__tfevents *w);

/* ---- Protobuf wire format (exposed for the tests) ---------------------------------------- */

void ml__pbuf_reset(ml__pbuf *b);
void ml__pbuf_free(ml__pbuf *b);
void ml__pb_varint(ml__pbuf *b, uint64_t v);
/* Field key (number << 3 | wire type) then the value. */
void ml__pb_double(ml__pbuf *b, uint32_t field, double v);   /* wire type 1 (fixed64) */
void ml__pb_float(ml__pbuf *b, uint32_t field, float v);     /* wire type 5 (fixed32) */
void ml__pb_int64(ml__pbuf *b, uint32_t field, int64_t v);   /* wire type 0 (varint) */
void ml__pb_bytes(ml__pbuf *b, uint32_t field, const void *data, size_t len); /* type 2 */
void ml__pb_packed_doubles(ml__pbuf *b, uint32_t field, const double *v, size_t n);

#endif
