/*
 * bn_internal.h: declarations shared by the Go exports (through the cgo
 * preamble) and bridge.c. Not installed: consumers include buildnet.h only.
 */
#ifndef BN_INTERNAL_H
#define BN_INTERNAL_H

#include <stdlib.h>
#include "buildnet.h"

/* BN_VERSION is the library version, reported by bn_version. */
#define BN_VERSION "0.1.0"

/* bn_cchar_t lets Go exports take `const char *`: cgo cannot spell const,
 * so the parameters are *C.bn_cchar_t and the generated header matches
 * buildnet.h. */
typedef const char bn_cchar_t;

#define BN_HIDDEN __attribute__((visibility("hidden")))

/* Trampolines: Go cannot call a C function pointer directly. They record
 * the engine whose callback runs on this thread (see bn__in_callback). */
BN_HIDDEN void bn__call_event(uint64_t engine, bn_event_cb cb, void *user_data,
                              const char *event_json);
BN_HIDDEN void bn__call_build(uint64_t engine, bn_build_cb cb, void *user_data,
                              bn_status_t status, const char *result_json,
                              const char *error_message);
/* bn__in_callback reports whether the calling thread is inside a callback
 * of that engine. */
BN_HIDDEN int bn__in_callback(uint64_t engine);
/* bn__set_last_error copies msg[0:n] into this thread's bn_last_error
 * buffer (n == 0 clears it). msg need not be NUL-terminated. */
BN_HIDDEN void bn__set_last_error(const char *msg, size_t n);

#endif
