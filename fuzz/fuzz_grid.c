/* fuzz_grid.c - hostile bytes into ml_grid_parse (and every point it expands to), the text
 * parser behind --grid; it checks nothing but memory safety and the options' validity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "microlens/classify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    ml_classifier_options base = ML_CLASSIFIER_OPTIONS_INIT, o;
    ml_grid *g = NULL;
    if (ml_grid_parse(&g, spec, &base) == ML_OK) {
        char buf[256];
        size_t n = ml_grid_size(g);
        for (size_t k = 0; k < n && k < 64; k++) {
            if (ml_grid_point(g, k, &base, &o) != ML_OK) abort();
            if (ml_classifier_options_check(&o) != ML_OK) abort();
            (void)ml_grid_describe(g, k, buf, sizeof buf);
        }
    }
    ml_grid_free(g);
    free(spec);
    return 0;
}
