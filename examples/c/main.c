// build-workspace builds a BuildNet workspace from C: it opens an engine,
// prints the packages' output as it streams, builds, and reports each
// package's tier.
//
//   build-workspace ROOT [PACKAGE...]
//
// With no package it builds every package; exit status 0 on success.

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <buildnet.h>

// A real program would use a JSON library; the example keeps to libc and
// reads the few fields it prints with strstr.
static void field(const char *json, const char *key, char *buf, size_t n) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(json, pat);
  size_t i = 0;
  if (p) {
    for (p += strlen(pat); *p && *p != '"' && i + 1 < n; p++) {
      if (*p == '\\' && p[1] == 'u' && strlen(p) >= 6) { // \u00XX: ANSI escapes
        buf[i++] = (char)strtol((char[]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
        p += 5;
        continue;
      }
      if (*p == '\\' && p[1]) p++;
      buf[i++] = *p;
    }
  }
  buf[i] = '\0';
}

// printer is the subscription's user data. Events arrive on a library
// thread, one at a time.
struct printer {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int ended; // the final NULL call has happened
};

static void on_event(void *user_data, const char *event_json) {
  struct printer *p = user_data;
  if (event_json == NULL) { // the subscription has ended
    pthread_mutex_lock(&p->mu);
    p->ended = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return;
  }
  char type[32], pkg[128], text[1024];
  field(event_json, "type", type, sizeof type);
  field(event_json, "package", pkg, sizeof pkg);
  if (strcmp(type, "package:output") == 0) {
    field(event_json, "line", text, sizeof text);
    printf("  %-12s | %s\n", pkg, text);
  } else if (strcmp(type, "package:complete") == 0) {
    field(event_json, "tier", text, sizeof text);
    printf("  %-12s done (%s)\n", pkg, text[0] ? text : "no tier");
  }
  fflush(stdout);
}

// request builds {"packages":[...]} from argv; the caller frees it.
static char *request(int n, char **names) {
  size_t len = 32;
  for (int i = 0; i < n; i++) len += strlen(names[i]) + 4;
  char *r = malloc(len);
  strcpy(r, "{\"packages\":[");
  for (int i = 0; i < n; i++) {
    strcat(r, i ? ",\"" : "\"");
    strcat(r, names[i]); // package names never need escaping
    strcat(r, "\"");
  }
  strcat(r, "]}");
  return r;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s ROOT [PACKAGE...]\n", argv[0]);
    return 2;
  }
  printf("libbuildnet %s\n", bn_version());

  // Open the engine. Inputs are JSON; the root must be a JSON string (a
  // real program escapes it).
  char config[4096];
  snprintf(config, sizeof config, "{\"root\":\"%s\"}", argv[1]);
  bn_engine_t engine;
  char *err = NULL;
  if (bn_engine_open(config, &engine, &err) != BN_OK) {
    fprintf(stderr, "open %s: %s\n", argv[1], err);
    bn_free(err);
    return 1;
  }

  // Stream events while the build runs.
  struct printer p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  bn_subscription_t sub;
  if (bn_subscribe(engine, on_event, &p, &sub, &err) != BN_OK) {
    fprintf(stderr, "subscribe: %s\n", err);
    bn_free(err);
    bn_engine_close(engine, NULL);
    return 1;
  }

  // Build (blocking) and print the tiers.
  char *req = request(argc - 2, argv + 2);
  char *result = NULL;
  bn_status_t st = bn_build(engine, argc > 2 ? req : NULL, &result, &err);
  free(req);
  int code = 0;
  if (st != BN_OK) {
    fprintf(stderr, "build: %s: %s\n", bn_status_name(st), err);
    bn_free(err);
    code = 1;
  } else {
    char status[32];
    field(result, "status", status, sizeof status);
    printf("build %s\n", status);
    // Each package result starts with {"name":
    for (const char *q = strstr(result, "{\"name\":"); q; q = strstr(q + 1, "{\"name\":")) {
      char name[128], tier[32], pstatus[32];
      field(q, "name", name, sizeof name);
      field(q, "status", pstatus, sizeof pstatus);
      field(q, "tier", tier, sizeof tier);
      printf("%-12s %-9s %s\n", name, pstatus, tier);
    }
    code = strcmp(status, "success") == 0 ? 0 : 1;
    bn_free(result);
  }

  // Closing ends the subscription: the final NULL call has been made when
  // bn_engine_close returns, so p may go out of scope afterwards.
  bn_unsubscribe(sub, NULL);
  if (bn_engine_close(engine, &err) != BN_OK) {
    fprintf(stderr, "close: %s\n", err);
    bn_free(err);
    code = 1;
  }
  pthread_mutex_lock(&p.mu);
  while (!p.ended) pthread_cond_wait(&p.cond, &p.mu);
  pthread_mutex_unlock(&p.mu);
  return code;
}
