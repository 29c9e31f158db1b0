// test_capi.c exercises every function of buildnet.h: success paths, error
// paths (bad workspace, unknown package, double close, NULL arguments,
// stale and forged handles), event callbacks and their order, async builds,
// cancellation, and calls from several threads at once. It frees everything
// the library returns, so that LeakSanitizer (or valgrind) can check that
// the library leaks nothing of its own.
//
// It prints one line per failed check and ends with "N passed, N failed".

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buildnet.h"

static int passed, failed;
// empty_root is a directory without .buildnet/config.json.
static char empty_root[64] = "/tmp/bn-ctest-empty-XXXXXX";
static pthread_mutex_t count_mu = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond) check(!!(cond), #cond, __FILE__, __LINE__, NULL)
#define CHECKF(cond, ...) check_fmt(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)
// CHECK_ST checks a status, and prints the error message when it differs.
#define CHECK_ST(got, want, err)                                               \
  check_fmt((got) == (want), #got " == " #want, __FILE__, __LINE__,            \
            "got %s, want %s (%s)", bn_status_name(got), bn_status_name(want), \
            (err) ? (err) : "no message")

static int check(int ok, const char *expr, const char *file, int line,
                 const char *msg) {
  pthread_mutex_lock(&count_mu);
  if (ok) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, msg ? ": " : "",
            msg ? msg : "");
  }
  pthread_mutex_unlock(&count_mu);
  return ok;
}

static int check_fmt(int ok, const char *expr, const char *file, int line,
                     const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return check(ok, expr, file, line, buf);
}

// ---------------------------------------------------------------- helpers

static void write_file(const char *dir, const char *rel, const char *content) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  // mkdir -p of the parent
  for (char *p = path + strlen(dir) + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      mkdir(path, 0755);
      *p = '/';
    }
  }
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "write %s: %s\n", path, strerror(errno));
    exit(2);
  }
  fputs(content, f);
  fclose(f);
}

static int count_substr(const char *s, const char *sub) {
  int n = 0;
  size_t len = strlen(sub);
  if (!s) return 0;
  for (const char *p = strstr(s, sub); p; p = strstr(p + len, sub)) n++;
  return n;
}

// json_str copies the string value of the first "key":"value" in json.
static int json_str(const char *json, const char *key, char *buf, size_t n) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = json ? strstr(json, pat) : NULL;
  if (!p) {
    buf[0] = '\0';
    return 0;
  }
  p += strlen(pat);
  size_t i = 0;
  for (; *p && *p != '"' && i + 1 < n; p++) {
    if (*p == '\\' && p[1]) p++;
    buf[i++] = *p;
  }
  buf[i] = '\0';
  return 1;
}

static long json_int(const char *json, const char *key) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = json ? strstr(json, pat) : NULL;
  return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static char *config_json(const char *root) {
  static __thread char buf[4096];
  snprintf(buf, sizeof buf, "{\"root\":\"%s\",\"concurrency\":2}", root);
  return buf;
}

// make_workspace creates a workspace with two packages, app depending on
// lib, whose commands print lines and write dist/.
static void make_workspace(char *root, size_t n) {
  snprintf(root, n, "/tmp/bn-ctest-XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    exit(2);
  }
  write_file(root, ".buildnet/config.json",
             "{\"version\":1,\"packages\":["
             "{\"name\":\"lib\",\"path\":\"lib\",\"build_cmd\":\"echo 'lib line 1'; "
             "echo 'lib line 2' >&2; mkdir -p dist && cat src.txt > dist/out.txt\"},"
             "{\"name\":\"app\",\"path\":\"app\",\"dependencies\":[\"lib\"],"
             "\"build_cmd\":\"echo 'app line'; mkdir -p dist && cat ../lib/dist/out.txt src.txt > dist/app.txt\"}"
             "]}\n");
  write_file(root, "lib/src.txt", "lib source\n");
  write_file(root, "app/src.txt", "app source\n");
}

// make_slow_workspace creates a workspace whose one package runs for
// minutes unless cancelled.
static void make_slow_workspace(char *root, size_t n) {
  snprintf(root, n, "/tmp/bn-ctest-slow-XXXXXX");
  if (!mkdtemp(root)) {
    perror("mkdtemp");
    exit(2);
  }
  write_file(root, ".buildnet/config.json",
             "{\"packages\":[{\"name\":\"slow\",\"path\":\"slow\","
             "\"build_cmd\":\"echo started; sleep 300\"}]}\n");
  write_file(root, "slow/src.txt", "x\n");
}

static bn_engine_t open_engine(const char *root) {
  bn_engine_t e = 0;
  char *err = NULL;
  bn_status_t st = bn_engine_open(config_json(root), &e, &err);
  CHECK_ST(st, BN_OK, err);
  bn_free(err);
  return e;
}

static void close_engine(bn_engine_t e) {
  char *err = NULL;
  bn_status_t st = bn_engine_close(e, &err);
  CHECK_ST(st, BN_OK, err);
  bn_free(err);
}

// A latch that callbacks signal and the test waits on.
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int done;
} latch_t;

static void latch_init(latch_t *l) {
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cond, NULL);
  l->done = 0;
}

static void latch_destroy(latch_t *l) {
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cond);
}

static void latch_signal(latch_t *l) {
  pthread_mutex_lock(&l->mu);
  l->done++;
  pthread_cond_broadcast(&l->cond);
  pthread_mutex_unlock(&l->mu);
}

// latch_wait waits until the latch was signalled n times or 60 s pass.
static int latch_wait(latch_t *l, int n) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 60;
  pthread_mutex_lock(&l->mu);
  int rc = 0;
  while (l->done < n && rc == 0) rc = pthread_cond_timedwait(&l->cond, &l->mu, &ts);
  int ok = l->done >= n;
  pthread_mutex_unlock(&l->mu);
  return ok;
}

// ------------------------------------------------------- event recording

#define MAX_EVENTS 256

typedef struct {
  latch_t ended;     // signalled by the final NULL call
  latch_t completed; // signalled by each build:complete
  pthread_mutex_t mu;
  int n;
  char *events[MAX_EVENTS];
  int final_calls;
  int calls_after_final;
  bn_subscription_t self;     // for unsubscribe_on_complete
  int unsubscribe_on_complete; // unsubscribe from inside the callback
  bn_status_t unsubscribe_status;
} recorder_t;

static void recorder_init(recorder_t *r) {
  memset(r, 0, sizeof *r);
  latch_init(&r->ended);
  latch_init(&r->completed);
  pthread_mutex_init(&r->mu, NULL);
}

static void recorder_destroy(recorder_t *r) {
  for (int i = 0; i < r->n; i++) free(r->events[i]);
  latch_destroy(&r->ended);
  latch_destroy(&r->completed);
  pthread_mutex_destroy(&r->mu);
}

static void on_event(void *ud, const char *event_json) {
  recorder_t *r = ud;
  if (event_json == NULL) {
    pthread_mutex_lock(&r->mu);
    r->final_calls++;
    pthread_mutex_unlock(&r->mu);
    latch_signal(&r->ended);
    return;
  }
  pthread_mutex_lock(&r->mu);
  if (r->final_calls > 0) r->calls_after_final++;
  if (r->n < MAX_EVENTS) r->events[r->n++] = strdup(event_json);
  pthread_mutex_unlock(&r->mu);
  if (strstr(event_json, "\"type\":\"build:complete\"")) {
    if (r->unsubscribe_on_complete) {
      char *err = NULL;
      r->unsubscribe_status = bn_unsubscribe(r->self, &err);
      bn_free(err);
    }
    latch_signal(&r->completed);
  }
}

// index_of returns the index of the first recorded event with that type
// (and package, when not NULL), or -1.
static int index_of(recorder_t *r, const char *type, const char *pkg) {
  char t[64], p[64];
  for (int i = 0; i < r->n; i++) {
    json_str(r->events[i], "type", t, sizeof t);
    json_str(r->events[i], "package", p, sizeof p);
    if (strcmp(t, type) == 0 && (!pkg || strcmp(p, pkg) == 0)) return i;
  }
  return -1;
}

// wait_line waits up to 60 s for an output line.
static int wait_line(recorder_t *r, const char *line);

static int index_of_line(recorder_t *r, const char *line) {
  char l[256];
  for (int i = 0; i < r->n; i++) {
    if (json_str(r->events[i], "line", l, sizeof l) && strcmp(l, line) == 0) return i;
  }
  return -1;
}

static int wait_line(recorder_t *r, const char *line) {
  for (int i = 0; i < 6000; i++) {
    pthread_mutex_lock(&r->mu);
    int found = index_of_line(r, line) >= 0;
    pthread_mutex_unlock(&r->mu);
    if (found) return 1;
    usleep(10000);
  }
  return 0;
}

// ------------------------------------------------------------------ tests

static void test_static(void) {
  CHECK(strcmp(bn_version(), "0.1.0") == 0);
  CHECK(strcmp(bn_status_name(BN_OK), "BN_OK") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_INVALID_ARGUMENT), "BN_ERR_INVALID_ARGUMENT") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_INVALID_HANDLE), "BN_ERR_INVALID_HANDLE") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_CONFIG), "BN_ERR_CONFIG") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_UNKNOWN_PACKAGE), "BN_ERR_UNKNOWN_PACKAGE") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_CLOSED), "BN_ERR_CLOSED") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_READ_ONLY), "BN_ERR_READ_ONLY") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_NOT_FOUND), "BN_ERR_NOT_FOUND") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_CANCELLED), "BN_ERR_CANCELLED") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_INTERNAL), "BN_ERR_INTERNAL") == 0);
  CHECK(strcmp(bn_status_name(BN_ERR_PANIC), "BN_ERR_PANIC") == 0);
  CHECK(strcmp(bn_status_name(999), "BN_ERR_UNKNOWN") == 0);
  bn_free(NULL);
}

static void test_open_errors(void) {
  bn_engine_t e = 42;
  char *err = NULL;
  bn_status_t st;

  st = bn_engine_open(NULL, &e, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  CHECK(e == 0);
  CHECK(err && strstr(err, "config_json is NULL"));
  CHECK(strcmp(bn_last_error(), err ? err : "") == 0);
  bn_free(err);

  st = bn_engine_open("{\"root\":\"/tmp\"}", NULL, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);

  st = bn_engine_open("{not json", &e, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);

  st = bn_engine_open("{\"root\":\"/tmp\",\"rooot\":1}", &e, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  CHECK(err && strstr(err, "rooot"));
  bn_free(err);

  // A root that does not exist, and one without .buildnet/config.json.
  st = bn_engine_open("{\"root\":\"/nonexistent/bn-ctest\"}", &e, &err);
  CHECK_ST(st, BN_ERR_CONFIG, err);
  CHECK(err && strstr(err, "/nonexistent/bn-ctest"));
  bn_free(err);

  char *root = empty_root;
  st = bn_engine_open(config_json(root), &e, NULL); // err_out may be NULL
  CHECK_ST(st, BN_ERR_CONFIG, bn_last_error());
  CHECK(strstr(bn_last_error(), "no configuration") != NULL);

  // A dependency cycle is a configuration error naming the cycle.
  write_file(root, "a/x", "");
  write_file(root, "b/x", "");
  write_file(root, ".buildnet/config.json",
             "{\"packages\":[{\"name\":\"a\",\"path\":\"a\",\"build_cmd\":\"true\",\"dependencies\":[\"b\"]},"
             "{\"name\":\"b\",\"path\":\"b\",\"build_cmd\":\"true\",\"dependencies\":[\"a\"]}]}");
  st = bn_engine_open(config_json(root), &e, &err);
  CHECK_ST(st, BN_ERR_CONFIG, err);
  CHECKF(err && strstr(err, "dependency cycle: a -> b -> a"), "%s", err);
  bn_free(err);
}

static void test_invalid_handles(void) {
  char *out = (char *)1, *err = NULL;
  bn_status_t st;
  bn_engine_t bad[] = {0, 123456789};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    st = bn_status(bad[i], &out, &err);
    CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
    CHECK(out == NULL);
    bn_free(err);
    st = bn_engine_close(bad[i], &err);
    CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
    bn_free(err);
    st = bn_unsubscribe(bad[i], &err);
    CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
    bn_free(err);
  }
}

// check_tiers checks that a build result has every package successful in
// the given tier.
static void check_tiers(const char *res, const char *tier, int packages) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"tier\":\"%s\"", tier);
  CHECKF(count_substr(res, pat) == packages, "want %d x %s in %s", packages, tier, res);
  CHECKF(strstr(res, "\"status\":\"success\"") != NULL, "%s", res);
}

static void test_build_and_queries(const char *root) {
  bn_engine_t e = open_engine(root);
  char *res = NULL, *err = NULL, *out = NULL;
  bn_status_t st;

  // Every query before any build.
  st = bn_graph(e, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(out && strstr(out, "\"edges\":[{\"from\":\"app\",\"to\":\"lib\"}]"), "%s", out);
  bn_free(out);

  st = bn_why(e, "lib", NULL, &out, &err);
  CHECK_ST(st, BN_ERR_NOT_FOUND, err);
  bn_free(err);

  st = bn_plan(e, NULL, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(out && strstr(out, "\"dry_run\":true") && count_substr(out, "\"tier\":\"full_build\"") == 2, "%s", out);
  bn_free(out);

  // The first build runs both commands, the second skips both.
  st = bn_build(e, NULL, &res, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(err == NULL);
  CHECK(strcmp(bn_last_error(), "") == 0);
  check_tiers(res, "full_build", 2);
  char first_id[128];
  json_str(res, "id", first_id, sizeof first_id);
  bn_free(res);

  st = bn_build(e, "", &res, &err);
  CHECK_ST(st, BN_OK, err);
  check_tiers(res, "instant_skip", 2);
  bn_free(res);

  // A package selection builds its dependencies too; force runs them.
  st = bn_build(e, "{\"packages\":[\"app\"],\"force\":true,\"requester\":\"ctest\"}", &res, &err);
  CHECK_ST(st, BN_OK, err);
  check_tiers(res, "full_build", 2);
  CHECKF(strstr(res, "\"requester\":\"ctest\""), "%s", res);
  bn_free(res);

  // Error paths of bn_build.
  st = bn_build(e, "{\"packages\":[\"nope\"]}", &res, &err);
  CHECK_ST(st, BN_ERR_UNKNOWN_PACKAGE, err);
  CHECK(res == NULL);
  CHECKF(err && strstr(err, "nope"), "%s", err);
  CHECK(strcmp(bn_last_error(), err ? err : "") == 0);
  bn_free(err);
  st = bn_build(e, "{\"packages\":[\"ap\"]}", &res, &err);
  CHECK_ST(st, BN_ERR_UNKNOWN_PACKAGE, err);
  CHECKF(err && strstr(err, "did you mean app"), "%s", err);
  bn_free(err);
  st = bn_build(e, "{\"packages\":\"app\"}", &res, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);
  st = bn_build(e, "{\"filters\":[\"...\"]}", &res, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);
  st = bn_build(e, NULL, NULL, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);

  // Queries after builds.
  st = bn_status(e, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(out && strstr(out, "\"name\":\"app\"") && strstr(out, "\"last_tier\":\"full_build\"") &&
             strstr(out, "\"active_builds\":[]"),
         "%s", out);
  bn_free(out);

  st = bn_history(e, NULL, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(count_substr(out, "\"requester\":\"") == 3 && strstr(out, "\"next\":\"\""), "%s", out);
  bn_free(out);
  st = bn_history(e, "{\"limit\":1,\"requester\":\"capi\"}", &out, &err);
  CHECK_ST(st, BN_OK, err);
  char next[256];
  json_str(out, "next", next, sizeof next);
  CHECKF(count_substr(out, "\"requester\":\"capi\"") == 1 && next[0] != '\0', "%s", out);
  bn_free(out);
  char q[512];
  snprintf(q, sizeof q, "{\"limit\":1,\"requester\":\"capi\",\"cursor\":\"%s\"}", next);
  st = bn_history(e, q, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(out && strstr(out, first_id), "want the first build %s in %s", first_id, out);
  bn_free(out);
  st = bn_history(e, "{\"since\":\"yesterday\"}", &out, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);

  st = bn_why(e, "app", NULL, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(out && strstr(out, "\"package\":\"app\"") && strstr(out, "\"kind\":\"forced\""), "%s", out);
  bn_free(out);
  st = bn_why(e, "app", first_id, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(out && strstr(out, "\"since\":\""), "%s", out);
  bn_free(out);
  st = bn_why(e, "nope", "", &out, &err);
  CHECK_ST(st, BN_ERR_UNKNOWN_PACKAGE, err);
  bn_free(err);
  st = bn_why(e, NULL, NULL, &out, &err);
  CHECK_ST(st, BN_ERR_INVALID_ARGUMENT, err);
  bn_free(err);

  st = bn_cache_stats(e, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(json_int(out, "entries") >= 2, "%s", out);
  bn_free(out);

  st = bn_cache_clear(e, &err);
  CHECK_ST(st, BN_OK, err);
  st = bn_cache_stats(e, &out, &err);
  CHECK_ST(st, BN_OK, err);
  CHECKF(json_int(out, "entries") == 0, "%s", out);
  bn_free(out);
  // State is kept: still an instant skip.
  st = bn_build(e, NULL, &res, &err);
  CHECK_ST(st, BN_OK, err);
  check_tiers(res, "instant_skip", 2);
  bn_free(res);

  // NULL out pointers.
  CHECK(bn_status(e, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_graph(e, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_history(e, NULL, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_cache_stats(e, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_plan(e, NULL, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_why(e, "app", NULL, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_build_cancel(e, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(bn_subscribe(e, on_event, NULL, NULL, NULL) == BN_ERR_INVALID_ARGUMENT);
  bn_subscription_t s = 7;
  CHECK(bn_subscribe(e, NULL, NULL, &s, NULL) == BN_ERR_INVALID_ARGUMENT);
  CHECK(s == 0);

  // A subscription handle is not an engine handle, and vice versa.
  recorder_t r;
  recorder_init(&r);
  st = bn_subscribe(e, on_event, &r, &s, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(bn_status((bn_engine_t)s, &out, NULL) == BN_ERR_INVALID_HANDLE);
  CHECK(bn_engine_close((bn_engine_t)s, NULL) == BN_ERR_INVALID_HANDLE);
  CHECK(bn_unsubscribe((bn_subscription_t)e, NULL) == BN_ERR_INVALID_HANDLE);
  CHECK(bn_unsubscribe(s, NULL) == BN_OK);
  CHECK(latch_wait(&r.ended, 1));
  CHECK(bn_unsubscribe(s, NULL) == BN_ERR_INVALID_HANDLE);
  recorder_destroy(&r);

  // Close, then close again and use the stale handle.
  close_engine(e);
  st = bn_engine_close(e, &err);
  CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
  bn_free(err);
  st = bn_build(e, NULL, &res, &err);
  CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
  bn_free(err);
  st = bn_cache_clear(e, &err);
  CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
  bn_free(err);
}

static void test_events(const char *root) {
  bn_engine_t e = open_engine(root);
  recorder_t r;
  recorder_init(&r);
  bn_subscription_t s = 0;
  char *err = NULL, *res = NULL;
  bn_status_t st = bn_subscribe(e, on_event, &r, &s, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(s != 0);

  st = bn_build(e, "{\"force\":true}", &res, &err);
  CHECK_ST(st, BN_OK, err);
  char id[128];
  json_str(res, "id", id, sizeof id);
  bn_free(res);
  CHECK(latch_wait(&r.completed, 1));

  pthread_mutex_lock(&r.mu);
  // seq strictly increases and every event belongs to the build.
  long prev = 0;
  for (int i = 0; i < r.n; i++) {
    long seq = json_int(r.events[i], "seq");
    CHECKF(seq > prev, "event %d: seq %ld after %ld", i, seq, prev);
    prev = seq;
    CHECKF(strstr(r.events[i], id) != NULL, "event %d not of build %s: %s", i, id, r.events[i]);
  }
  int start = index_of(&r, "build:start", NULL), complete = index_of(&r, "build:complete", NULL);
  CHECKF(start == 0, "build:start at %d", start);
  CHECKF(complete == r.n - 1, "build:complete at %d of %d", complete, r.n);
  int lib_start = index_of(&r, "package:start", "lib"), lib_done = index_of(&r, "package:complete", "lib");
  int app_start = index_of(&r, "package:start", "app"), app_done = index_of(&r, "package:complete", "app");
  int l1 = index_of_line(&r, "lib line 1"), l2 = index_of_line(&r, "lib line 2"), a1 = index_of_line(&r, "app line");
  CHECKF(start < lib_start && lib_start < l1 && l1 < lib_done, "lib: start %d line %d complete %d", lib_start, l1, lib_done);
  CHECKF(lib_start < l2 && l2 < lib_done, "lib stderr line at %d", l2);
  CHECKF(lib_done < app_start && app_start < a1 && a1 < app_done && app_done < complete,
         "app: start %d line %d complete %d", app_start, a1, app_done);
  if (l2 >= 0) CHECKF(strstr(r.events[l2], "\"stream\":\"stderr\""), "%s", r.events[l2]);
  if (lib_done >= 0) CHECKF(strstr(r.events[lib_done], "\"tier\":\"full_build\""), "%s", r.events[lib_done]);
  if (complete >= 0) CHECKF(strstr(r.events[complete], "\"result\":{"), "%s", r.events[complete]);
  int before = r.n;
  pthread_mutex_unlock(&r.mu);

  // cache:cleared reaches subscribers.
  CHECK(bn_cache_clear(e, NULL) == BN_OK);

  // Unsubscribe from inside the callback, at the next build's end.
  r.self = s;
  r.unsubscribe_on_complete = 1;
  st = bn_build(e, NULL, &res, &err);
  CHECK_ST(st, BN_OK, err);
  bn_free(res);
  CHECK(latch_wait(&r.ended, 1));
  pthread_mutex_lock(&r.mu);
  CHECK(r.unsubscribe_status == BN_OK);
  CHECK(r.final_calls == 1);
  CHECK(r.calls_after_final == 0);
  CHECK(index_of(&r, "cache:cleared", NULL) == before);
  pthread_mutex_unlock(&r.mu);
  CHECK(bn_unsubscribe(s, NULL) == BN_ERR_INVALID_HANDLE);

  // Closing the engine ends the other subscriptions, and their final call
  // has been made when bn_engine_close returns.
  recorder_t r2;
  recorder_init(&r2);
  bn_subscription_t s2;
  CHECK(bn_subscribe(e, on_event, &r2, &s2, NULL) == BN_OK);
  close_engine(e);
  CHECK(r2.final_calls == 1);
  CHECK(bn_unsubscribe(s2, NULL) == BN_ERR_INVALID_HANDLE);
  recorder_destroy(&r2);
  recorder_destroy(&r);
}

// ------------------------------------------------------------ async builds

typedef struct {
  latch_t done;
  bn_status_t status;
  char *result;
  char *error;
  bn_engine_t close_engine; // close this engine from inside the callback
  bn_status_t close_status;
} build_wait_t;

static void on_build(void *ud, bn_status_t status, const char *result_json, const char *error_message) {
  build_wait_t *w = ud;
  w->status = status;
  w->result = result_json ? strdup(result_json) : NULL;
  w->error = error_message ? strdup(error_message) : NULL;
  if (w->close_engine) w->close_status = bn_engine_close(w->close_engine, NULL);
  latch_signal(&w->done);
}

static void build_wait_init(build_wait_t *w) {
  memset(w, 0, sizeof *w);
  latch_init(&w->done);
}

static void build_wait_destroy(build_wait_t *w) {
  free(w->result);
  free(w->error);
  latch_destroy(&w->done);
}

static void test_async(const char *root, const char *slow_root) {
  bn_engine_t e = open_engine(root);
  build_wait_t w;
  build_wait_init(&w);
  char *id = NULL, *err = NULL;
  bn_status_t st = bn_build_start(e, "{\"force\":true}", on_build, &w, &id, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(id != NULL && strlen(id) > 10);
  CHECK(latch_wait(&w.done, 1));
  CHECK_ST(w.status, BN_OK, w.error);
  char rid[128];
  json_str(w.result, "id", rid, sizeof rid);
  CHECKF(id && strcmp(rid, id) == 0, "result id %s, start id %s", rid, id);
  check_tiers(w.result, "full_build", 2);
  bn_free(id);
  build_wait_destroy(&w);

  // Fire and forget, then errors.
  st = bn_build_start(e, NULL, NULL, NULL, NULL, &err);
  CHECK_ST(st, BN_OK, err);
  st = bn_build_start(e, "{\"packages\":[\"nope\"]}", on_build, NULL, &id, &err);
  CHECK_ST(st, BN_ERR_UNKNOWN_PACKAGE, err);
  CHECK(id == NULL);
  bn_free(err);
  st = bn_build_start(0, NULL, on_build, NULL, &id, &err);
  CHECK_ST(st, BN_ERR_INVALID_HANDLE, err);
  bn_free(err);
  st = bn_build_cancel(e, "no-such-build", &err);
  CHECK_ST(st, BN_ERR_NOT_FOUND, err);
  bn_free(err);
  close_engine(e); // waits for the forgotten build

  // Cancel a running build: its command is stopped and the callback
  // reports a cancelled build.
  bn_engine_t slow = open_engine(slow_root);
  recorder_t r;
  recorder_init(&r);
  bn_subscription_t s;
  CHECK(bn_subscribe(slow, on_event, &r, &s, NULL) == BN_OK);
  build_wait_init(&w);
  st = bn_build_start(slow, NULL, on_build, &w, &id, &err);
  CHECK_ST(st, BN_OK, err);
  // Wait for the command to print, so that it is really running.
  CHECK(wait_line(&r, "started"));
  st = bn_build_cancel(slow, id, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(latch_wait(&w.done, 1));
  CHECK_ST(w.status, BN_OK, w.error);
  CHECKF(w.result && strstr(w.result, "\"status\":\"cancelled\""), "%s", w.result);
  bn_free(id);
  build_wait_destroy(&w);

  // Closing an engine with a running build cancels it, and the callback
  // has run when bn_engine_close returns.
  build_wait_init(&w);
  pthread_mutex_lock(&r.mu);
  for (int i = 0; i < r.n; i++) free(r.events[i]);
  r.n = 0;
  pthread_mutex_unlock(&r.mu);
  st = bn_build_start(slow, NULL, on_build, &w, NULL, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(wait_line(&r, "started"));
  close_engine(slow);
  CHECK(w.done.done == 1);
  CHECKF(w.result && strstr(w.result, "\"status\":\"cancelled\""), "%s", w.result);
  CHECK(r.final_calls == 1);
  build_wait_destroy(&w);
  recorder_destroy(&r);

  // Closing the engine from inside its own completion callback works.
  e = open_engine(root);
  build_wait_init(&w);
  w.close_engine = e;
  st = bn_build_start(e, NULL, on_build, &w, NULL, &err);
  CHECK_ST(st, BN_OK, err);
  CHECK(latch_wait(&w.done, 1));
  CHECK(w.close_status == BN_OK);
  CHECK(bn_engine_close(e, NULL) == BN_ERR_INVALID_HANDLE);
  build_wait_destroy(&w);
}

static void test_read_only(const char *root) {
  char cfg[4096];
  snprintf(cfg, sizeof cfg, "{\"root\":\"%s\",\"read_only\":true}", root);
  bn_engine_t e = 0;
  char *err = NULL, *out = NULL;
  bn_status_t st = bn_engine_open(cfg, &e, &err);
  CHECK_ST(st, BN_OK, err);
  st = bn_build(e, NULL, &out, &err);
  CHECK_ST(st, BN_ERR_READ_ONLY, err);
  bn_free(err);
  st = bn_cache_stats(e, &out, &err);
  CHECK_ST(st, BN_ERR_READ_ONLY, err);
  bn_free(err);
  st = bn_plan(e, NULL, &out, &err);
  CHECK_ST(st, BN_OK, err);
  bn_free(out);
  close_engine(e);
}

// -------------------------------------------------------------- threads

typedef struct {
  bn_engine_t e;
  int index;
} worker_arg_t;

// worker uses one engine from several threads at once: builds, queries,
// its own subscription, and an error whose message must stay its own.
static void *worker(void *p) {
  worker_arg_t *a = p;
  recorder_t r;
  recorder_init(&r);
  bn_subscription_t s;
  CHECK(bn_subscribe(a->e, on_event, &r, &s, NULL) == BN_OK);
  char unknown[64], req[128];
  snprintf(unknown, sizeof unknown, "missing-%d", a->index);
  snprintf(req, sizeof req, "{\"packages\":[\"%s\"]}", unknown);
  for (int i = 0; i < 5; i++) {
    char *out = NULL, *err = NULL;
    bn_status_t st = bn_build(a->e, i % 2 ? "{\"packages\":[\"app\"]}" : NULL, &out, &err);
    CHECK_ST(st, BN_OK, err);
    CHECKF(out && strstr(out, "\"status\":\"success\""), "%s", out);
    bn_free(out);
    CHECK(bn_status(a->e, &out, NULL) == BN_OK);
    bn_free(out);
    CHECK(bn_graph(a->e, &out, NULL) == BN_OK);
    bn_free(out);
    CHECK(bn_history(a->e, "{\"limit\":2}", &out, NULL) == BN_OK);
    bn_free(out);
    CHECK(bn_cache_stats(a->e, &out, NULL) == BN_OK);
    bn_free(out);
    CHECK(bn_plan(a->e, "{\"packages\":[\"app\"]}", &out, NULL) == BN_OK);
    bn_free(out);
    CHECK(bn_why(a->e, "lib", NULL, &out, NULL) == BN_OK);
    bn_free(out);
    if (i == 2 && a->index == 0) CHECK(bn_cache_clear(a->e, NULL) == BN_OK);
    build_wait_t w;
    build_wait_init(&w);
    char *id = NULL;
    st = bn_build_start(a->e, NULL, on_build, &w, &id, &err);
    CHECK_ST(st, BN_OK, err);
    CHECK(latch_wait(&w.done, 1));
    CHECK_ST(w.status, BN_OK, w.error);
    CHECK(bn_build_cancel(a->e, id, NULL) == BN_ERR_NOT_FOUND); // already over
    bn_free(id);
    build_wait_destroy(&w);
    st = bn_build(a->e, req, &out, &err);
    CHECK_ST(st, BN_ERR_UNKNOWN_PACKAGE, err);
    // The thread's last error is its own, whatever the others do.
    CHECKF(strstr(bn_last_error(), unknown) != NULL, "thread %d got %s", a->index, bn_last_error());
    bn_free(err);
    CHECK(strcmp(bn_status_name(BN_ERR_CONFIG), "BN_ERR_CONFIG") == 0 && strcmp(bn_version(), "0.1.0") == 0);
  }
  CHECK(bn_unsubscribe(s, NULL) == BN_OK);
  CHECK(latch_wait(&r.ended, 1));
  recorder_destroy(&r);
  return NULL;
}

// opener opens and closes engines on its own workspace (two engines
// opening the same cache at the same instant can trip over each other's
// scratch directories).
static void *opener(void *p) {
  (void)p;
  char root[64];
  make_workspace(root, sizeof root);
  for (int i = 0; i < 5; i++) {
    bn_engine_t e = open_engine(root);
    char *out = NULL;
    CHECK(bn_graph(e, &out, NULL) == BN_OK);
    bn_free(out);
    char *res = NULL, *err = NULL;
    bn_status_t st = bn_build(e, NULL, &res, &err);
    CHECK_ST(st, BN_OK, err);
    check_tiers(res, i == 0 ? "full_build" : "instant_skip", 2);
    bn_free(res);
    close_engine(e);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return NULL;
}

static void test_threads(const char *root) {
  bn_engine_t e = open_engine(root);
  enum { N = 4 };
  pthread_t t[N + 2];
  worker_arg_t args[N];
  for (int i = 0; i < N; i++) {
    args[i] = (worker_arg_t){e, i};
    pthread_create(&t[i], NULL, worker, &args[i]);
  }
  // Two more threads open and close engines at the same time.
  pthread_create(&t[N], NULL, opener, NULL);
  pthread_create(&t[N + 1], NULL, opener, NULL);
  for (int i = 0; i < N + 2; i++) pthread_join(t[i], NULL);
  close_engine(e);
}

int main(void) {
  char root[64], slow_root[64];
  make_workspace(root, sizeof root);
  make_slow_workspace(slow_root, sizeof slow_root);
  if (!mkdtemp(empty_root)) {
    perror("mkdtemp");
    return 2;
  }

  test_static();
  test_open_errors();
  test_invalid_handles();
  test_build_and_queries(root);
  test_events(root);
  test_async(root, slow_root);
  test_read_only(root);
  test_threads(root);

  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", root, slow_root, empty_root);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
