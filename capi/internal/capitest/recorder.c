// recorder.c: an event callback for capitest, recording event types.

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "recorder.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char types[1 << 16];
static int final_calls;

void capitest_reset(void) {
  pthread_mutex_lock(&mu);
  types[0] = '\0';
  final_calls = 0;
  pthread_mutex_unlock(&mu);
}

// capitest_on_event appends each event's type, and "END" for the final
// call, one per line.
void capitest_on_event(void *user_data, const char *event_json) {
  (void)user_data;
  pthread_mutex_lock(&mu);
  if (event_json == NULL) {
    final_calls++;
    strncat(types, "END\n", sizeof types - strlen(types) - 1);
  } else {
    const char *p = strstr(event_json, "\"type\":\"");
    if (p) {
      p += 8;
      const char *q = strchr(p, '"');
      size_t used = strlen(types), n = q ? (size_t)(q - p) : 0;
      if (used + n + 2 < sizeof types) {
        memcpy(types + used, p, n);
        types[used + n] = '\n';
        types[used + n + 1] = '\0';
      }
    }
  }
  pthread_mutex_unlock(&mu);
}

char *capitest_types(int *finals) {
  pthread_mutex_lock(&mu);
  char *s = strdup(types);
  *finals = final_calls;
  pthread_mutex_unlock(&mu);
  return s;
}
