/* delim.h - the cell check that the TSV/CSV and MetaPhlAn readers share, so that a bad number
 * reads the same in both; it knows nothing about layouts. */
#ifndef ML_DATA_DELIM_H
#define ML_DATA_DELIM_H

#include <stddef.h>

#include "microlens/error.h"

/* Parses one value cell into *out: finite and >= 0. what names the quantity in messages
 * ("count", "relative abundance"). ML_EFORMAT "NAME:LINE:COL: ..." for an empty cell, text,
 * NaN/Inf or a negative number (the cell is echoed sanitized and truncated); *out untouched
 * on failure. col is the 1-based field index. */
ml_status ml__delim_value(double *out, const char *s, size_t len, const char *name,
                          size_t line, size_t col, const char *what);

#endif
