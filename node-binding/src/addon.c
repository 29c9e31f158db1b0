// addon.c: the N-API addon of @buildnet/client. It only marshals: every
// call goes to libbuildnet.so (buildnet.h), JSON travels as strings and is
// parsed by index.js.
//
// Threads:
// - Events and build completions are called back by the library on its own
//   threads. They are handed to the JS thread through one threadsafe
//   function (tsfn) per engine, with an unbounded queue and non-blocking
//   calls, so a library thread never waits for JS.
// - Builds are started with bn_build_start and complete through the tsfn:
//   no libuv pool thread is held for the length of a build. Short queries
//   (status, graph, ...) run as napi_async_work on the pool.
//
// Lifetime of an engine_ctx (refcounted, freed at zero):
//   1 for the JS External (released by its GC finalizer),
//   1 for the tsfn (released by the tsfn finalizer),
//   1 for the subscription (released by the final NULL event callback),
//   1 for the env cleanup hook (released when it runs or is removed),
//   1 per build in flight (released by its completion callback).
// After the tsfn finalizer has run (closing = 1, under mu) no thread calls
// the tsfn again: a library thread checks the flag under mu first.

#define NAPI_VERSION 8
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "buildnet.h"

typedef struct engine_ctx {
  pthread_mutex_t mu; // guards closing and refs
  int closing;        // the tsfn is finalized: never call it again
  int refs;
  // JS thread only:
  bn_engine_t h; // 0 once closed
  bn_subscription_t sub;
  napi_threadsafe_function tsfn;
  int pending;       // builds in flight plus holds; the tsfn is ref'd while > 0
  int tsfn_released; // napi_release_threadsafe_function was called
  int hook;          // the env cleanup hook is registered
} engine_ctx;

enum { MSG_EVENT, MSG_BUILD };

// msg is one item of the tsfn queue.
typedef struct msg {
  int kind;
  bn_status_t status;
  char *json;  // event, or build result
  char *error; // build error message
  napi_deferred deferred;
} msg;

// build_req is the user_data of one bn_build_start.
typedef struct build_req {
  engine_ctx *ctx;
  napi_deferred deferred;
} build_req;

static void ctx_retain(engine_ctx *ctx) {
  pthread_mutex_lock(&ctx->mu);
  ctx->refs++;
  pthread_mutex_unlock(&ctx->mu);
}

static void ctx_release(engine_ctx *ctx) {
  pthread_mutex_lock(&ctx->mu);
  int n = --ctx->refs;
  pthread_mutex_unlock(&ctx->mu);
  if (n == 0) {
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
  }
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static void msg_free(msg *m) {
  free(m->json);
  free(m->error);
  free(m);
}

// push hands m to the JS thread, or frees it when the tsfn is gone.
static void push(engine_ctx *ctx, msg *m) {
  pthread_mutex_lock(&ctx->mu);
  int ok = !ctx->closing && napi_call_threadsafe_function(ctx->tsfn, m, napi_tsfn_nonblocking) == napi_ok;
  pthread_mutex_unlock(&ctx->mu);
  if (!ok) {
    msg_free(m); // the env is going away: nobody waits for it
  }
}

// ------------------------------------------------------------ errors

// make_error returns an Error with .code set to the status name.
static napi_value make_error(napi_env env, bn_status_t st, const char *message) {
  napi_value code, msgv, err;
  napi_create_string_utf8(env, bn_status_name(st), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message && *message ? message : bn_status_name(st), NAPI_AUTO_LENGTH, &msgv);
  napi_create_error(env, code, msgv, &err);
  return err;
}

static napi_value throw_status(napi_env env, bn_status_t st, const char *message) {
  napi_throw(env, make_error(env, st, message));
  return NULL;
}

static napi_value throw_closed(napi_env env) {
  return throw_status(env, BN_ERR_CLOSED, "buildnet: engine closed");
}

// ------------------------------------------------------------ arguments

// get_string returns a malloc'd copy of a JS string argument; NULL for
// null/undefined. On a wrong type it throws and sets *bad.
static char *get_string(napi_env env, napi_value v, int *bad) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_undefined || t == napi_null) return NULL;
  if (t != napi_string) {
    napi_throw_type_error(env, "BN_ERR_INVALID_ARGUMENT", "expected a string");
    *bad = 1;
    return NULL;
  }
  size_t len = 0;
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static engine_ctx *get_ctx(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "BN_ERR_INVALID_ARGUMENT", "expected an engine");
    return NULL;
  }
  return p;
}

static napi_value make_string(napi_env env, const char *s) {
  napi_value v;
  if (s == NULL) {
    napi_get_null(env, &v);
  } else {
    napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  }
  return v;
}

// ------------------------------------------------------------ callbacks

// on_event runs on a library thread.
static void on_event(void *user_data, const char *event_json) {
  engine_ctx *ctx = user_data;
  if (event_json == NULL) { // the subscription has ended
    ctx_release(ctx);
    return;
  }
  msg *m = calloc(1, sizeof *m);
  m->kind = MSG_EVENT;
  m->json = strdup(event_json);
  push(ctx, m);
}

// on_build_done runs on a library thread.
static void on_build_done(void *user_data, bn_status_t status, const char *result_json, const char *error_message) {
  build_req *r = user_data;
  engine_ctx *ctx = r->ctx;
  msg *m = calloc(1, sizeof *m);
  m->kind = MSG_BUILD;
  m->status = status;
  m->json = dup_or_null(result_json);
  m->error = dup_or_null(error_message);
  m->deferred = r->deferred;
  free(r);
  push(ctx, m);
  ctx_release(ctx);
}

// call_js runs on the JS thread; env is NULL when the tsfn is being torn
// down, and then only frees.
static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  engine_ctx *ctx = context;
  msg *m = data;
  if (env == NULL) {
    msg_free(m);
    return;
  }
  if (m->kind == MSG_EVENT) {
    napi_value arg, undefined;
    napi_create_string_utf8(env, m->json, NAPI_AUTO_LENGTH, &arg);
    napi_get_undefined(env, &undefined);
    if (napi_call_function(env, undefined, js_cb, 1, &arg, NULL) == napi_pending_exception) {
      // A listener threw. Without this the exception would be swallowed;
      // raise it as an uncaught exception, as for any other callback.
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  } else {
    if (m->status == BN_OK) {
      napi_resolve_deferred(env, m->deferred, make_string(env, m->json));
    } else {
      napi_reject_deferred(env, m->deferred, make_error(env, m->status, m->error));
    }
    if (--ctx->pending == 0) {
      napi_unref_threadsafe_function(env, ctx->tsfn);
    }
  }
  msg_free(m);
}

static void tsfn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_ctx *ctx = data;
  pthread_mutex_lock(&ctx->mu);
  ctx->closing = 1;
  pthread_mutex_unlock(&ctx->mu);
  ctx_release(ctx);
}

// close_engine closes the library engine; JS thread only.
static bn_status_t close_engine(engine_ctx *ctx, char **err) {
  bn_status_t st = BN_OK;
  if (ctx->h) {
    // Waits until every callback of the engine has returned: every build
    // completion is in the tsfn queue afterwards.
    st = bn_engine_close(ctx->h, err);
    ctx->h = 0;
  }
  return st;
}

// env_cleanup runs when the env (the main thread at exit, or a worker)
// goes away with the engine still open.
static void env_cleanup(void *arg) {
  engine_ctx *ctx = arg;
  ctx->hook = 0;
  close_engine(ctx, NULL);
  ctx_release(ctx);
}

static void external_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ctx_release(data);
}

// ------------------------------------------------------------ functions

// open(configJson, onEvent) -> engine
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int bad = 0;
  char *config = get_string(env, argv[0], &bad);
  if (bad) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    free(config);
    napi_throw_type_error(env, "BN_ERR_INVALID_ARGUMENT", "onEvent must be a function");
    return NULL;
  }

  bn_engine_t h = 0;
  char *err = NULL;
  bn_status_t st = bn_engine_open(config, &h, &err);
  free(config);
  if (st != BN_OK) {
    throw_status(env, st, err);
    bn_free(err);
    return NULL;
  }

  engine_ctx *ctx = calloc(1, sizeof *ctx);
  pthread_mutex_init(&ctx->mu, NULL);
  ctx->h = h;
  ctx->refs = 1; // the External
  napi_value name;
  napi_create_string_utf8(env, "buildnet-events", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[1], NULL, name, 0, 1, ctx, tsfn_finalize, ctx, call_js, &ctx->tsfn) != napi_ok) {
    bn_engine_close(h, NULL);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
    return throw_status(env, BN_ERR_INTERNAL, "create threadsafe function");
  }
  ctx->refs++; // the tsfn
  // An idle engine does not keep the process alive; a build does.
  napi_unref_threadsafe_function(env, ctx->tsfn);

  ctx->refs++; // the subscription
  st = bn_subscribe(h, on_event, ctx, &ctx->sub, &err);
  if (st != BN_OK) {
    ctx->refs--;
    napi_value e = make_error(env, st, err);
    bn_free(err);
    close_engine(ctx, NULL);
    ctx->tsfn_released = 1;
    napi_release_threadsafe_function(ctx->tsfn, napi_tsfn_abort);
    ctx_release(ctx);
    napi_throw(env, e);
    return NULL;
  }

  ctx->refs++; // the cleanup hook
  ctx->hook = 1;
  napi_add_env_cleanup_hook(env, env_cleanup, ctx);

  napi_value ext;
  napi_create_external(env, ctx, external_finalize, NULL, &ext);
  return ext;
}

// engine_arg reads a call's first argument, an engine. NULL when it
// threw.
static engine_ctx *engine_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return get_ctx(env, argv[0]);
}

// open_engine_and_string reads a call's (engine, string) arguments: the
// engine, which must be open, and a copy of the string in *s, which the
// caller frees. NULL, with *s NULL, when it threw.
static engine_ctx *open_engine_and_string(napi_env env, napi_callback_info info, char **s) {
  size_t argc = 2;
  napi_value argv[2];
  *s = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_ctx *ctx = get_ctx(env, argv[0]);
  if (!ctx) return NULL;
  int bad = 0;
  char *str = get_string(env, argv[1], &bad);
  if (bad) return NULL;
  if (!ctx->h) {
    free(str);
    throw_closed(env);
    return NULL;
  }
  *s = str;
  return ctx;
}

// close(engine): idempotent.
static napi_value js_close(napi_env env, napi_callback_info info) {
  engine_ctx *ctx = engine_arg(env, info);
  if (!ctx) return NULL;
  char *err = NULL;
  bn_status_t st = close_engine(ctx, &err);
  if (ctx->hook) {
    ctx->hook = 0;
    napi_remove_env_cleanup_hook(env, env_cleanup, ctx);
    ctx_release(ctx);
  }
  if (!ctx->tsfn_released) {
    // Queued events and build results are still delivered, then the tsfn
    // is finalized.
    ctx->tsfn_released = 1;
    napi_release_threadsafe_function(ctx->tsfn, napi_tsfn_release);
  }
  if (st != BN_OK) {
    throw_status(env, st, err);
    bn_free(err);
  }
  return NULL;
}

// buildStart(engine, requestJson) -> [id, Promise<resultJson>]
static napi_value js_build_start(napi_env env, napi_callback_info info) {
  char *req;
  engine_ctx *ctx = open_engine_and_string(env, info, &req);
  if (!ctx) return NULL;

  napi_value promise;
  build_req *r = calloc(1, sizeof *r);
  r->ctx = ctx;
  napi_create_promise(env, &r->deferred, &promise);
  napi_deferred deferred = r->deferred;
  ctx_retain(ctx);
  // The completion may be queued before bn_build_start returns: count it
  // first.
  if (ctx->pending++ == 0) napi_ref_threadsafe_function(env, ctx->tsfn);

  char *id = NULL, *err = NULL;
  bn_status_t st = bn_build_start(ctx->h, req, on_build_done, r, &id, &err);
  free(req);
  if (st != BN_OK) {
    if (--ctx->pending == 0) napi_unref_threadsafe_function(env, ctx->tsfn);
    free(r);
    ctx_release(ctx);
    // Settle the promise nobody will see, so it is not an unhandled
    // rejection, and throw instead.
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, deferred, undefined);
    throw_status(env, st, err);
    bn_free(err);
    return NULL;
  }
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, make_string(env, id));
  napi_set_element(env, arr, 1, promise);
  bn_free(id);
  return arr;
}

// cancel(engine, buildId)
static napi_value js_cancel(napi_env env, napi_callback_info info) {
  char *id;
  engine_ctx *ctx = open_engine_and_string(env, info, &id);
  if (!ctx) return NULL;
  char *err = NULL;
  bn_status_t st = bn_build_cancel(ctx->h, id, &err);
  free(id);
  if (st != BN_OK) {
    throw_status(env, st, err);
    bn_free(err);
  }
  return NULL;
}

// hold(engine) keeps the process alive until release(engine): index.js
// holds from the start of an operation until the events it causes (such
// as build:complete) have been delivered.
static napi_value js_hold(napi_env env, napi_callback_info info) {
  engine_ctx *ctx = engine_arg(env, info);
  if (!ctx) return NULL;
  if (!ctx->tsfn_released && ctx->pending++ == 0) napi_ref_threadsafe_function(env, ctx->tsfn);
  return NULL;
}

static napi_value js_release(napi_env env, napi_callback_info info) {
  engine_ctx *ctx = engine_arg(env, info);
  if (!ctx) return NULL;
  if (!ctx->tsfn_released && ctx->pending > 0 && --ctx->pending == 0) napi_unref_threadsafe_function(env, ctx->tsfn);
  return NULL;
}

// ------------------------------------------------------------ async queries

enum { Q_STATUS, Q_GRAPH, Q_HISTORY, Q_CACHE_STATS, Q_CACHE_CLEAR, Q_PLAN, Q_WHY };

typedef struct query {
  napi_async_work work;
  napi_deferred deferred;
  int op;
  bn_engine_t h;
  char *a, *b;
  bn_status_t st;
  char *out, *err;
} query;

// query_execute runs on a libuv pool thread and makes no napi calls.
static void query_execute(napi_env env, void *data) {
  (void)env;
  query *q = data;
  switch (q->op) {
  case Q_STATUS:
    q->st = bn_status(q->h, &q->out, &q->err);
    break;
  case Q_GRAPH:
    q->st = bn_graph(q->h, &q->out, &q->err);
    break;
  case Q_HISTORY:
    q->st = bn_history(q->h, q->a, &q->out, &q->err);
    break;
  case Q_CACHE_STATS:
    q->st = bn_cache_stats(q->h, &q->out, &q->err);
    break;
  case Q_CACHE_CLEAR:
    q->st = bn_cache_clear(q->h, &q->err);
    break;
  case Q_PLAN:
    q->st = bn_plan(q->h, q->a, &q->out, &q->err);
    break;
  case Q_WHY:
    q->st = bn_why(q->h, q->a, q->b, &q->out, &q->err);
    break;
  }
}

static void query_complete(napi_env env, napi_status status, void *data) {
  query *q = data;
  if (status == napi_ok && q->st == BN_OK) {
    napi_resolve_deferred(env, q->deferred, make_string(env, q->out));
  } else {
    napi_reject_deferred(env, q->deferred, make_error(env, q->st ? q->st : BN_ERR_CANCELLED, q->err));
  }
  napi_delete_async_work(env, q->work);
  bn_free(q->out);
  bn_free(q->err);
  free(q->a);
  free(q->b);
  free(q);
}

// run_query(op, engine, a?, b?) -> Promise<string|null>
static napi_value run_query(napi_env env, napi_callback_info info, int op) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return throw_status(env, BN_ERR_INVALID_ARGUMENT, "missing engine");
  engine_ctx *ctx = get_ctx(env, argv[0]);
  if (!ctx) return NULL;
  int bad = 0;
  char *a = argc > 1 ? get_string(env, argv[1], &bad) : NULL;
  if (bad) return NULL;
  char *b = argc > 2 ? get_string(env, argv[2], &bad) : NULL;
  if (bad) {
    free(a);
    return NULL;
  }
  if (!ctx->h) {
    free(a);
    free(b);
    return throw_closed(env);
  }
  query *q = calloc(1, sizeof *q);
  q->op = op;
  q->h = ctx->h;
  q->a = a;
  q->b = b;
  napi_value promise, name;
  napi_create_promise(env, &q->deferred, &promise);
  napi_create_string_utf8(env, "buildnet-query", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, query_execute, query_complete, q, &q->work);
  napi_queue_async_work(env, q->work);
  return promise;
}

#define QUERY_FN(fn, op) \
  static napi_value fn(napi_env env, napi_callback_info info) { return run_query(env, info, op); }
QUERY_FN(js_status, Q_STATUS)
QUERY_FN(js_graph, Q_GRAPH)
QUERY_FN(js_history, Q_HISTORY)
QUERY_FN(js_cache_stats, Q_CACHE_STATS)
QUERY_FN(js_cache_clear, Q_CACHE_CLEAR)
QUERY_FN(js_plan, Q_PLAN)
QUERY_FN(js_why, Q_WHY)

// ------------------------------------------------------------ misc

static napi_value js_version(napi_env env, napi_callback_info info) {
  (void)info;
  return make_string(env, bn_version());
}

// fix_signals adds SA_ONSTACK to every installed handler that lacks it.
// Go requires it of every handler in the process: a handler without it
// (libuv installs SIGCHLD's at the first child_process.spawn, and one for
// each process.on('SIGxxx')) may run on a goroutine's small stack and
// crash the process.
static int fix_signals(void) {
  int fixed = 0;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0) continue;
    if (!(sa.sa_flags & SA_SIGINFO) && (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)) continue;
    if (sa.sa_flags & SA_ONSTACK) continue;
    sa.sa_flags |= SA_ONSTACK;
    if (sigaction(sig, &sa, NULL) == 0) fixed++;
  }
  return fixed;
}

static napi_value js_fix_signals(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, fix_signals(), &v);
  return v;
}

// signalFlags(signo) -> {installed, onstack}, for tests.
static napi_value js_signal_flags(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t sig = 0;
  napi_get_value_int32(env, argv[0], &sig);
  struct sigaction sa;
  napi_value obj, installed, onstack;
  napi_create_object(env, &obj);
  int ok = sigaction(sig, NULL, &sa) == 0;
  int inst = ok && ((sa.sa_flags & SA_SIGINFO) || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN));
  napi_get_boolean(env, inst, &installed);
  napi_get_boolean(env, ok && (sa.sa_flags & SA_ONSTACK), &onstack);
  napi_set_named_property(env, obj, "installed", installed);
  napi_set_named_property(env, obj, "onstack", onstack);
  return obj;
}

NAPI_MODULE_INIT() {
  fix_signals();
  napi_property_descriptor props[] = {
      {"version", NULL, js_version, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"buildStart", NULL, js_build_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"status", NULL, js_status, NULL, NULL, NULL, napi_enumerable, NULL},
      {"graph", NULL, js_graph, NULL, NULL, NULL, napi_enumerable, NULL},
      {"history", NULL, js_history, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cacheStats", NULL, js_cache_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"clearCache", NULL, js_cache_clear, NULL, NULL, NULL, napi_enumerable, NULL},
      {"plan", NULL, js_plan, NULL, NULL, NULL, napi_enumerable, NULL},
      {"why", NULL, js_why, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hold", NULL, js_hold, NULL, NULL, NULL, napi_enumerable, NULL},
      {"release", NULL, js_release, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fixSignals", NULL, js_fix_signals, NULL, NULL, NULL, napi_enumerable, NULL},
      {"signalFlags", NULL, js_signal_flags, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
