/* pickle.c - recognises pickled PyTorch checkpoints by name and magic bytes so that they are
 * refused before any parser sees them; it never unpickles or inspects a pickle further. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "microlens/safetensors.h"
#include "util/error.h"

/* Bytes read from the start of a file: magic numbers plus the safetensors look-alike test. */
#define HEAD_BYTES 9

#define CONVERT_HINT                                                                         \
    "pickled checkpoints can run code when loaded, so microlens refuses them; convert it "   \
    "to safetensors with tools/convert-upstream-checkpoint (torch.load(weights_only=True))"

static const char *const pickle_suffixes[] = {".bin", ".pt", ".pth", ".pkl", ".ckpt"};

static const char *pickle_suffix(const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof pickle_suffixes / sizeof *pickle_suffixes; i++) {
        size_t n = strlen(pickle_suffixes[i]);
        if (len >= n && strcasecmp(name + len - n, pickle_suffixes[i]) == 0)
            return pickle_suffixes[i];
    }
    return NULL;
}

/* A safetensors file starts with a little-endian header length; one under 4 GiB leaves
 * bytes 4-7 zero, and the header JSON starts with '{'. A pickle or zip file whose first bytes
 * happen to read as such a length (0x80 0x02 is a 640-byte header) must still open. */
static int looks_like_safetensors(const unsigned char *h, size_t n) {
    return n >= HEAD_BYTES && h[4] == 0 && h[5] == 0 && h[6] == 0 && h[7] == 0 && h[8] == '{';
}

ml_status ml_pickle_refuse_bytes(const char *name, const void *head, size_t head_len) {
    const char *shown = name ? name : "<buffer>";
    const char *suffix = name ? pickle_suffix(name) : NULL;
    if (suffix)
        return ML_FAIL(ML_EFORMAT, "%s: a %s file is a pickled PyTorch checkpoint (%s)", shown,
                       suffix, CONVERT_HINT);
    const unsigned char *h = head;
    if (!h || head_len < 2 || looks_like_safetensors(h, head_len)) return ML_OK;
    if (head_len >= 4 && memcmp(h, "PK\3\4", 4) == 0)
        return ML_FAIL(ML_EFORMAT, "%s: starts with a zip header, as torch.save writes (%s)",
                       shown, CONVERT_HINT);
    if (h[0] == 0x80 && h[1] >= 2 && h[1] <= 5)
        return ML_FAIL(ML_EFORMAT, "%s: starts with a pickle protocol %u opcode (%s)", shown,
                       (unsigned)h[1], CONVERT_HINT);
    return ML_OK;
}

ml_status ml_pickle_refuse(const char *path) {
    ML_TRY(ml_pickle_refuse_bytes(path, NULL, 0));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return ML_FAIL(errno == ENOENT ? ML_ENOTFOUND : ML_EIO, "%s: cannot open (%s)", path,
                       strerror(errno));
    unsigned char head[HEAD_BYTES];
    size_t n = 0;
    while (n < sizeof head) {
        ssize_t r = read(fd, head + n, sizeof head - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            return ML_FAIL(ML_EIO, "%s: read failed (%s)", path, strerror(err));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    return ml_pickle_refuse_bytes(path, head, n);
}
