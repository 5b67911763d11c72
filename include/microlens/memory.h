/* memory.h - releasing buffers that microlens allocated for the caller (strings, arrays). */
#ifndef MICROLENS_MEMORY_H
#define MICROLENS_MEMORY_H

#ifdef __cplusplus
extern "C" {
#endif

/* ^Frees a buffer returned by a microlens function documented "caller frees with ml_free".
 * NULL: no-op. */
void ml_free(void *p);

/* ^The library version, e.g. "0.1.0". */
const char *ml_version(void);

#ifdef __cplusplus
}
#endif
#endif
