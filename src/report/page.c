/* page.c - writes the HTML frame of the reports: head with inline CSS and a CSP that forbids
 * every fetch, text elements, table rows, figures, footer. Colours are Okabe-Ito's; the page
 * must render identically with the network off, so nothing here names a URL. */
#include "report/page.h"

#include <stdio.h>
#include <string.h>

#include "microlens/memory.h"
#include "report/svg.h"

/* default-src 'none' blocks scripts, images, fonts, frames and connections; only inline styles
 * are allowed (style-src 'unsafe-inline' covers the <style> element and SVG attributes). */
static const char head_css[] =
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
    "style-src 'unsafe-inline'\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>\n"
    ":root{--fg:#1b1b1b;--muted:#555;--line:#d9d9d9;--card:#f5f6f8}\n"
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,\"DejaVu Sans\",sans-serif;"
    "color:var(--fg);background:#fff;margin:0;line-height:1.45}\n"
    "main{max-width:1200px;margin:0 auto;padding:22px 28px 48px}\n"
    "h1{font-size:1.6em;margin:0 0 2px}\n"
    "h2{font-size:1.25em;margin:30px 0 10px;border-bottom:2px solid var(--line);"
    "padding-bottom:4px}\n"
    "h3{font-size:1.05em;margin:18px 0 6px}\n"
    ".sub{color:var(--muted);margin:0 0 14px}\n"
    ".summary{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "padding:14px 20px}\n"
    ".summary h2{margin-top:4px}\n"
    ".cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:18px}\n"
    ".verdict{display:inline-block;padding:3px 12px;border-radius:14px;color:#fff;"
    "font-weight:700;text-transform:uppercase;letter-spacing:.04em;margin-right:8px}\n"
    ".v-excellent{background:#009E73}.v-good{background:#0072B2}"
    ".v-moderate{background:#E69F00;color:#000}.v-poor{background:#D55E00}\n"
    ".numbers{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px;"
    "margin:12px 0}\n"
    ".num{background:#fff;border:1px solid var(--line);border-radius:6px;padding:7px 10px}\n"
    ".num .k{font-size:.8em;color:var(--muted)}.num .v{font-size:1.25em;font-weight:700}"
    ".num .n{font-size:.78em;color:var(--muted)}\n"
    ".sev{display:inline-block;font-size:.72em;font-weight:700;padding:1px 7px;"
    "border-radius:9px;color:#fff;text-transform:uppercase;margin-right:6px;"
    "vertical-align:1px}\n"
    ".sev-critical{background:#D55E00}.sev-warning{background:#E69F00;color:#000}"
    ".sev-info{background:#56B4E9;color:#000}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}\n"
    "figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:8px 10px;"
    "background:#fff}\n"
    "figcaption{font-size:.84em;color:var(--muted);margin-top:4px}\n"
    "svg.plot{max-width:100%;height:auto;display:block}\n"
    "table{border-collapse:collapse;font-size:.88em;margin:6px 0 14px}\n"
    "th,td{border-bottom:1px solid var(--line);padding:3px 10px;text-align:left;"
    "vertical-align:top}\n"
    "td{overflow-wrap:anywhere}\n"
    "td.r{text-align:right;font-variant-numeric:tabular-nums;overflow-wrap:normal}\n"
    "th{background:var(--card)}\n"
    ".finding{border-left:5px solid var(--line);padding:6px 12px;margin:10px 0;"
    "background:var(--card)}\n"
    ".finding.critical{border-color:#D55E00}.finding.warning{border-color:#E69F00}"
    ".finding.info{border-color:#56B4E9}\n"
    ".finding p{margin:3px 0}.finding .t{font-weight:700}\n"
    ".missing{color:var(--muted);font-style:italic}\n"
    "code,pre{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:.85em}\n"
    "pre{background:var(--card);padding:10px;overflow:auto;max-height:340px}\n"
    "ol.recs li{margin:4px 0}\n"
    "footer{margin-top:40px;color:var(--muted);font-size:.8em}\n"
    "@media print{.plots{grid-template-columns:1fr}}\n"
    "</style>\n";

ml_status ml__page_open(ml__outbuf *out, const char *title, const char *subtitle) {
    ml__outbuf_puts(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    ml__outbuf_puts(out, head_css);
    ml__page_el(out, "title", NULL, title);
    ml__outbuf_puts(out, "</head>\n<body>\n<main>\n");
    ml__page_el(out, "h1", NULL, title);
    if (subtitle) ml__page_el(out, "p", "sub", subtitle);
    return out->status;
}

ml_status ml__page_close(ml__outbuf *out) {
    ml__outbuf_printf(out,
                      "<footer>Written by microlens %s. Self-contained: no script, font or image "
                      "is loaded from anywhere. Colours: Okabe-Ito and viridis "
                      "(colour-blind safe).</footer>\n</main>\n</body>\n</html>\n",
                      ml_version());
    return out->status;
}

void ml__page_el(ml__outbuf *out, const char *tag, const char *cls, const char *text) {
    ml__outbuf_printf(out, "<%s", tag);
    if (cls) ml__outbuf_printf(out, " class=\"%s\"", cls);
    ml__outbuf_puts(out, ">");
    ml__svg_escape(out, text);
    ml__outbuf_printf(out, "</%s>\n", tag);
}

/* "0.412", "-3", "1.2e-4", "n/a", "85%": right-aligned so that digits line up. */
static bool numeric(const char *s) {
    if (strcmp(s, "n/a") == 0 || strcmp(s, "inf") == 0) return true;
    if (*s == '-' || *s == '+') s++;
    if (!(*s >= '0' && *s <= '9')) return false;
    for (; *s; s++)
        if (!strchr("0123456789.e-+%", *s)) return false;
    return true;
}

void ml__page_row(ml__outbuf *out, const char *const *cells, size_t n, bool header) {
    ml__outbuf_puts(out, "<tr>");
    for (size_t i = 0; i < n; i++) {
        const char *c = cells[i] ? cells[i] : "";
        ml__outbuf_puts(out, header ? "<th>" : numeric(c) ? "<td class=\"r\">" : "<td>");
        ml__svg_escape(out, c);
        ml__outbuf_puts(out, header ? "</th>" : "</td>");
    }
    ml__outbuf_puts(out, "</tr>\n");
}

void ml__page_kv(ml__outbuf *out, const char *key, const char *value) {
    const char *cells[2] = {key, value};
    ml__outbuf_puts(out, "<tr><th>");
    ml__svg_escape(out, cells[0]);
    ml__outbuf_puts(out, "</th><td>");
    ml__svg_escape(out, cells[1] ? cells[1] : "");
    ml__outbuf_puts(out, "</td></tr>\n");
}

void ml__page_figure_begin(ml__outbuf *out) { ml__outbuf_puts(out, "<figure>\n"); }

void ml__page_figure_end(ml__outbuf *out, const char *caption) {
    if (caption) ml__page_el(out, "figcaption", NULL, caption);
    ml__outbuf_puts(out, "</figure>\n");
}

void ml__page_badge(ml__outbuf *out, const char *severity) {
    ml__outbuf_printf(out, "<span class=\"sev sev-%s\">", severity);
    ml__svg_escape(out, severity);
    ml__outbuf_puts(out, "</span>");
}
