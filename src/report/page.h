/* page.h - the HTML frame shared by the run and evaluation reports: the head (inline CSS and a
 * Content-Security-Policy that forbids every fetch), headings, tables, figures and the footer.
 * Every text goes through ml__svg_escape. It knows nothing about runs or evaluations. */
#ifndef ML_REPORT_PAGE_H
#define ML_REPORT_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "microlens/error.h"
#include "util/outbuf.h"

/* ^<!DOCTYPE html> ... <body><main>, the title as <title> and <h1>, subtitle (may be NULL)
 * under it. */
ml_status ml__page_open(ml__outbuf *out, const char *title, const char *subtitle);
/* ^The footer (microlens version) and the closing tags. */
ml_status ml__page_close(ml__outbuf *out);

/* ^<tag class="cls">text</tag> (cls NULL: no class), text escaped. */
void ml__page_el(ml__outbuf *out, const char *tag, const char *cls, const char *text);

/* ^A table row of escaped cells: <th> when header; cells that look numeric are right-aligned. */
void ml__page_row(ml__outbuf *out, const char *const *cells, size_t n, bool header);
/* ^A two-cell row "key | value" of a property table. */
void ml__page_kv(ml__outbuf *out, const char *key, const char *value);

/* ^<figure> before a plot; ml__page_figure_end closes it with a caption (NULL: none). */
void ml__page_figure_begin(ml__outbuf *out);
void ml__page_figure_end(ml__outbuf *out, const char *caption);

/* ^A severity badge: <span class="sev sev-warning">warning</span>. */
void ml__page_badge(ml__outbuf *out, const char *severity);

#endif
