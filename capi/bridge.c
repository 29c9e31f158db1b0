// bridge.c holds the C half of the library: the callback trampolines, the
// thread-local last error, and the functions that need no Go.

#include <string.h>

#include "bn_internal.h"

// bn__cb_engine is the engine whose callback is running on this thread (0
// when none); bn_engine_close reads it to avoid waiting for itself.
static __thread uint64_t bn__cb_engine;

// bn__last_error backs bn_last_error: a fixed buffer, so that nothing is
// allocated per thread and nothing leaks when a thread exits.
static __thread char bn__last_error[1024];

void bn__call_event(uint64_t engine, bn_event_cb cb, void *user_data,
                    const char *event_json) {
  uint64_t saved = bn__cb_engine;
  bn__cb_engine = engine;
  cb(user_data, event_json);
  bn__cb_engine = saved;
}

void bn__call_build(uint64_t engine, bn_build_cb cb, void *user_data,
                    bn_status_t status, const char *result_json,
                    const char *error_message) {
  uint64_t saved = bn__cb_engine;
  bn__cb_engine = engine;
  cb(user_data, status, result_json, error_message);
  bn__cb_engine = saved;
}

int bn__in_callback(uint64_t engine) {
  return engine != 0 && bn__cb_engine == engine;
}

void bn__set_last_error(const char *msg, size_t n) {
  if (n >= sizeof bn__last_error) {
    n = sizeof bn__last_error - 1;
  }
  if (n > 0) {
    memcpy(bn__last_error, msg, n);
  }
  bn__last_error[n] = '\0';
}

const char *bn_last_error(void) { return bn__last_error; }

const char *bn_version(void) { return BN_VERSION; }

void bn_free(void *ptr) { free(ptr); }

const char *bn_status_name(bn_status_t status) {
  switch (status) {
  case BN_OK:
    return "BN_OK";
  case BN_ERR_INVALID_ARGUMENT:
    return "BN_ERR_INVALID_ARGUMENT";
  case BN_ERR_INVALID_HANDLE:
    return "BN_ERR_INVALID_HANDLE";
  case BN_ERR_CONFIG:
    return "BN_ERR_CONFIG";
  case BN_ERR_UNKNOWN_PACKAGE:
    return "BN_ERR_UNKNOWN_PACKAGE";
  case BN_ERR_CLOSED:
    return "BN_ERR_CLOSED";
  case BN_ERR_READ_ONLY:
    return "BN_ERR_READ_ONLY";
  case BN_ERR_NOT_FOUND:
    return "BN_ERR_NOT_FOUND";
  case BN_ERR_CANCELLED:
    return "BN_ERR_CANCELLED";
  case BN_ERR_INTERNAL:
    return "BN_ERR_INTERNAL";
  case BN_ERR_PANIC:
    return "BN_ERR_PANIC";
  }
  return "BN_ERR_UNKNOWN";
}
