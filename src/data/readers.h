/* readers.h - the per-format table readers behind ml_table_parse. Each takes the whole file
 * in memory, validates it completely and either fills *out or leaves it untouched. */
#ifndef ML_DATA_READERS_H
#define ML_DATA_READERS_H

#include <stdbool.h>

#include "microlens/table.h"

/* TSV (sep '\t') or CSV (sep ','): either orientation, QIIME "#OTU ID" layout, optional
 * trailing taxonomy column. src/data/delim.c */
ml_status ml__delim_parse(ml_table **out, const char *buf, size_t len, const char *name,
                          char sep, const ml_table_read_options *o);

/* MetaPhlAn single or merged profile, one rank kept. src/data/metaphlan.c */
ml_status ml__metaphlan_parse(ml_table **out, const char *buf, size_t len, const char *name,
                              const ml_table_read_options *o);
/* True if the bytes look like a MetaPhlAn profile (#mpa_ header, clade_name column,
 * or pipe-separated k__/d__ lineages in the first column). */
bool ml__metaphlan_sniff(const char *buf, size_t len);

/* BIOM 1.0 JSON, sparse or dense. src/data/biom_json.c */
ml_status ml__biom_json_parse(ml_table **out, const char *buf, size_t len, const char *name,
                              const ml_table_read_options *o);

/* BIOM 2.1 HDF5 from an in-memory file image. src/data/biom_hdf5.c */
ml_status ml__biom_hdf5_parse(ml_table **out, const void *buf, size_t len, const char *name,
                              const ml_table_read_options *o);

#endif
