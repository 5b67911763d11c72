/* error.h - the closed list of status codes and the thread-local last error. */
#ifndef MICROLENS_ERROR_H
#define MICROLENS_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Codes are only ever appended; their numbers are stable. */
typedef enum ml_status {
    ML_OK = 0,
    ML_EINVAL = 1,       /* a caller passed a bad argument or option */
    ML_EFORMAT = 2,      /* input bytes are not what they claim to be */
    ML_EINTEGRITY = 3,   /* a checksum or signature did not verify */
    ML_EIO = 4,          /* the operating system refused a read or write */
    ML_ENOMEM = 5,       /* an allocation failed */
    ML_ENOTFOUND = 6,    /* a named file, column or key does not exist */
    ML_EUNSUPPORTED = 7, /* well-formed input using a feature we do not implement */
    ML_EPERM = 8         /* a secret file is readable by others, or similar policy refusal */
} ml_status;

/* The last failure on this thread. Valid until the next failing call on this thread. */
typedef struct ml_error {
    ml_status code;
    const char *file; /* source file of the library that raised it */
    int line;
    char message[1024]; /* names the input, what was expected and what was found */
} ml_error;

/* ^Returns the last error of the calling thread; code is ML_OK when none was raised. */
const ml_error *ml_error_last(void);

/* ^Stable upper-case name of a code ("EFORMAT"); "EUNKNOWN" for values not in the list. */
const char *ml_status_name(ml_status code);

/* ^Clears the calling thread's last error. */
void ml_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
