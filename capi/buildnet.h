/*
 * buildnet.h: the C API of BuildNet, a monorepo build orchestrator.
 *
 * Link with -lbuildnet (pkg-config --cflags --libs buildnet). The library
 * is a Go c-shared library: it starts the Go runtime when it is loaded and
 * never unloads (it is marked NODELETE).
 *
 * CONVENTIONS
 *
 * Status.  Every function that can fail returns a bn_status_t: BN_OK (0) on
 *   success, a positive BN_ERR_* code otherwise. The codes are stable;
 *   bn_status_name() gives their names. The only functions that return
 *   something else are the infallible ones: bn_free, bn_last_error,
 *   bn_status_name and bn_version.
 *
 * Errors.  Every fallible function takes a last `char **err_out`, which may
 *   be NULL. On failure *err_out receives a message allocated by the
 *   library, which the caller releases with bn_free(); on success it is set
 *   to NULL. bn_last_error() mirrors the message per thread (see there).
 *
 * Handles.  Engines and subscriptions are opaque uint64_t handles. 0 is
 *   never a valid handle, and handle values are never reused, so a stale,
 *   closed or forged handle is detected and gives BN_ERR_INVALID_HANDLE
 *   instead of undefined behaviour. No Go pointer ever reaches C.
 *
 * JSON.  Structured inputs are UTF-8 JSON strings borrowed for the duration
 *   of the call (the library keeps no pointer to them). Structured outputs
 *   are NUL-terminated JSON strings allocated by the library, owned by the
 *   caller and released with bn_free() (never free(): the allocator is the
 *   library's business). Output pointers are set to NULL on failure. The
 *   shapes are those of the Go package github.com/musclemap/buildnet/buildnet
 *   and of the daemon's HTTP API (docs/embedding.md lists them).
 *
 * Threads.  Every function may be called from any thread, concurrently, on
 *   the same or different handles. Callbacks (bn_event_cb, bn_build_cb) run
 *   on threads owned by the library, never on the caller's thread; see
 *   their types for the rules.
 *
 * Signals.  Go needs every signal handler in the process to be installed
 *   with SA_ONSTACK. A host that installs a signal handler after loading
 *   the library (SIGCHLD in particular) must set that flag.
 */
#ifndef BUILDNET_H
#define BUILDNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* BN_ABI_VERSION changes when a declaration in this header changes
 * incompatibly. */
#define BN_ABI_VERSION 1

/* bn_status_t is the result of every fallible call. */
typedef int32_t bn_status_t;

#define BN_OK 0
/* A required pointer is NULL, or an input is not valid JSON of the
 * expected shape (unknown fields are rejected too). */
#define BN_ERR_INVALID_ARGUMENT 1
/* The handle is 0, unknown, already closed or of the wrong kind. */
#define BN_ERR_INVALID_HANDLE 2
/* The workspace cannot be used: missing root, missing or invalid
 * .buildnet/config.json (unknown dependency, cycle, path outside the root). */
#define BN_ERR_CONFIG 3
/* A request names a package the workspace does not have. */
#define BN_ERR_UNKNOWN_PACKAGE 4
/* The engine was closed while the call was running. */
#define BN_ERR_CLOSED 5
/* The engine was opened read-only and cannot do this. */
#define BN_ERR_READ_ONLY 6
/* A build id (or a package's last build) does not exist. */
#define BN_ERR_NOT_FOUND 7
/* The operation was cancelled. */
#define BN_ERR_CANCELLED 8
/* Any other failure (I/O, database). The message says what. */
#define BN_ERR_INTERNAL 9
/* The library caught a Go panic and recovered; the message has it. Please
 * report it: it is a bug. */
#define BN_ERR_PANIC 10

/* bn_engine_t is an open engine (one workspace). */
typedef uint64_t bn_engine_t;
/* bn_subscription_t is a live event subscription. */
typedef uint64_t bn_subscription_t;

/*
 * bn_event_cb receives the events of a subscription.
 *
 * - event_json is one event, JSON-encoded as
 *   {"seq":1,"type":"package:output","time":"...","build_id":"...",
 *    "package":"api","stream":"stdout","line":"..."}; it is borrowed: valid
 *   only until the callback returns (copy it to keep it).
 * - Calls for one subscription are serial and in event order (seq
 *   increasing), but they run on library-owned threads, not always the
 *   same one: protect shared data yourself.
 * - A subscriber dropped for being too slow gets one last event
 *   {"type":"subscription:dropped","time":"...","error":"..."}.
 * - Exactly one final call has event_json == NULL: the subscription has
 *   ended (bn_unsubscribe, bn_engine_close, or the subscriber was too slow
 *   and was dropped) and no further call will be made, so user_data may be
 *   released then.
 * - The callback should return quickly: events are buffered (1024 per
 *   subscription) and a subscriber that stays behind is dropped, so that a
 *   slow consumer never slows a build.
 * - The callback may call any bn_ function, bn_unsubscribe and
 *   bn_engine_close included. A blocking bn_build from a callback holds up
 *   that subscription's delivery for as long as the build runs.
 */
typedef void (*bn_event_cb)(void *user_data, const char *event_json);

/*
 * bn_build_cb receives the outcome of a build started with bn_build_start.
 * It is called exactly once per successful bn_build_start, on a
 * library-owned thread. status is BN_OK and result_json the build result
 * (see bn_build) when the build ran, whatever its outcome; otherwise status
 * is an error code, result_json is NULL and error_message says why. Both
 * strings are borrowed until the callback returns. The callback may call
 * any bn_ function.
 */
typedef void (*bn_build_cb)(void *user_data, bn_status_t status,
                            const char *result_json,
                            const char *error_message);

/* bn_version returns the library version, such as "0.1.0". The string is
 * static: do not free it. */
const char *bn_version(void);

/* bn_status_name returns the name of a status code ("BN_OK",
 * "BN_ERR_CONFIG", ...), or "BN_ERR_UNKNOWN" for a code this version does
 * not define. The string is static. */
const char *bn_status_name(bn_status_t status);

/* bn_free releases memory returned by the library (JSON outputs, error
 * messages, build ids). NULL is ignored. Freeing anything else, or twice,
 * is undefined behaviour. */
void bn_free(void *ptr);

/* bn_last_error returns the message of the last bn_ call made on the
 * calling thread: "" when that call succeeded. The string lives in
 * thread-local storage owned by the library: do not free it; it is
 * overwritten by the thread's next bn_ call. Messages longer than 1023
 * bytes are truncated (err_out never is). Prefer err_out when the call and
 * the error check may happen on different threads. */
const char *bn_last_error(void);

/*
 * bn_engine_open opens an engine on a workspace: it reads
 * <root>/.buildnet/config.json and opens the state database and the cache.
 * config_json is a buildnet.Config:
 *   {"root": "/path/to/repo",      required
 *    "state_dir": "...",           default <root>/.buildnet
 *    "concurrency": 0,             default: config.json's, then the CPUs
 *    "env": ["K=V", ...],          default: this process's environment
 *    "read_only": false,
 *    "workspace": {...}}           a config.json document to use instead
 * On success *out_engine is the new handle, to be closed with
 * bn_engine_close. Errors: BN_ERR_INVALID_ARGUMENT, BN_ERR_CONFIG,
 * BN_ERR_INTERNAL.
 */
bn_status_t bn_engine_open(const char *config_json, bn_engine_t *out_engine,
                           char **err_out);

/*
 * bn_engine_close cancels the engine's running builds, waits for them to
 * be recorded, ends its subscriptions and releases the workspace. When it
 * returns, every bn_build_cb of the engine has been called and has
 * returned, and so has the final (NULL) call of every bn_event_cb, so their
 * user_data may be freed — unless bn_engine_close is called from inside one
 * of this engine's callbacks, in which case it does not wait for callbacks
 * (it would wait for itself). The handle is invalid afterwards: a second
 * close returns BN_ERR_INVALID_HANDLE.
 */
bn_status_t bn_engine_close(bn_engine_t engine, char **err_out);

/*
 * bn_build builds and blocks until the build ends. request_json is a
 * buildnet.Request, or NULL or "" for every package:
 *   {"packages": ["api"], "force": false, "requester": "my-tool",
 *    "filters": ["...shared"], "dry_run": false}
 * On BN_OK *out_result_json holds the result, whatever the build's outcome:
 *   {"id": "...", "status": "success|failed|cancelled", "duration_ms": 12,
 *    "started_at": "...", "packages": [{"name": "api",
 *    "tier": "instant_skip|hash_skip|cache_restore|full_build",
 *    "status": "success|failed|skipped|cancelled", "duration_ms": 0,
 *    "digest": "...", "reason": {"kind": "unchanged_stat"}}]}
 * Errors: BN_ERR_INVALID_HANDLE, BN_ERR_INVALID_ARGUMENT,
 * BN_ERR_UNKNOWN_PACKAGE, BN_ERR_CLOSED, BN_ERR_READ_ONLY, BN_ERR_INTERNAL.
 */
bn_status_t bn_build(bn_engine_t engine, const char *request_json,
                     char **out_result_json, char **err_out);

/*
 * bn_build_start starts a build and returns at once; done(user_data, ...)
 * is called once when it ends (see bn_build_cb). done may be NULL to start
 * and forget. out_build_id, if not NULL, receives the build id (free it with
 * bn_free), usable with bn_build_cancel and present in the build's events.
 * When bn_build_start fails, done is never called. done may run before
 * bn_build_start returns.
 */
bn_status_t bn_build_start(bn_engine_t engine, const char *request_json,
                           bn_build_cb done, void *user_data,
                           char **out_build_id, char **err_out);

/* bn_build_cancel cancels a running build: its running commands are
 * stopped and it ends with status "cancelled". Errors: BN_ERR_NOT_FOUND
 * when no build with that id is running. */
bn_status_t bn_build_cancel(bn_engine_t engine, const char *build_id,
                            char **err_out);

/*
 * bn_plan computes what a build of request_json would do (each package's
 * digest, tier and reasons) without running or writing anything. The
 * result has the shape of bn_build's, with "dry_run": true.
 */
bn_status_t bn_plan(bn_engine_t engine, const char *request_json,
                    char **out_result_json, char **err_out);

/*
 * bn_why explains the tier a package got in its last build:
 *   {"package": "api", "build_id": "...", "tier": "...", "status": "...",
 *    "digest": "...", "reasons": [{"kind": "file_changed", "path": "..."}]}
 * since, if neither NULL nor "", is an earlier build id: the reasons then
 * list every difference between the package's inputs then and now.
 * Errors: BN_ERR_UNKNOWN_PACKAGE, BN_ERR_NOT_FOUND (never built).
 */
bn_status_t bn_why(bn_engine_t engine, const char *package, const char *since,
                   char **out_json, char **err_out);

/*
 * bn_subscribe delivers every event the engine publishes from now on to
 * cb(user_data, event_json) (see bn_event_cb), until bn_unsubscribe or
 * bn_engine_close. *out_subscription receives the subscription handle.
 * Event types: build:queued, build:start, package:start, package:output,
 * package:complete, build:complete, cache:cleared, config:reloaded.
 */
bn_status_t bn_subscribe(bn_engine_t engine, bn_event_cb cb, void *user_data,
                         bn_subscription_t *out_subscription, char **err_out);

/*
 * bn_unsubscribe ends a subscription. It never blocks: the final NULL call
 * of the callback may happen before or after it returns (from another
 * thread), or during it when called from the callback itself. Errors:
 * BN_ERR_INVALID_HANDLE for an unknown subscription, or one that has
 * already ended (after its final call, the handle is released
 * automatically, so this error is harmless).
 */
bn_status_t bn_unsubscribe(bn_subscription_t subscription, char **err_out);

/*
 * bn_status reports the engine and every package's last outcome:
 *   {"root": "...", "concurrency": 2, "active_builds": ["<id>"],
 *    "packages": [{"name": "api", "path": "apps/api",
 *      "dependencies": ["core"], "digest": "...", "last_build": "...",
 *      "last_tier": "full_build", "last_status": "success",
 *      "last_duration_ms": 120, "last_built_at": "..."}]}
 */
bn_status_t bn_status(bn_engine_t engine, char **out_json, char **err_out);

/*
 * bn_history lists recorded builds, newest first, one page at a time.
 * query_json (NULL or "" for the first page of everything):
 *   {"package": "api", "tier": "full_build", "status": "failed",
 *    "requester": "ci", "since": "2026-01-02T15:04:05Z", "until": "...",
 *    "q": "text", "limit": 50, "cursor": "<next of the previous page>"}
 * Result: {"builds": [{"id", "status", "requester", "targets", "force",
 *   "created_at", "started_at", "finished_at", "duration_ms", "error",
 *   "packages": [{"name", "tier", "status", "duration_ms", ...}]}],
 *   "next": "<cursor, or empty on the last page>"}
 */
bn_status_t bn_history(bn_engine_t engine, const char *query_json,
                       char **out_json, char **err_out);

/*
 * bn_graph returns the package graph:
 *   {"nodes": [{"name": "api", "deps": ["core"], "dependents": [],
 *     "level": 2}], "edges": [{"from": "api", "to": "core"}]}
 * Nodes are sorted by name; the output is deterministic.
 */
bn_status_t bn_graph(bn_engine_t engine, char **out_json, char **err_out);

/* bn_cache_stats returns the local cache's statistics:
 *   {"entries": 6, "bytes": 12345, "hits": 3, "misses": 6,
 *    "evictions": 0, "corrupt": 0}
 * Errors: BN_ERR_READ_ONLY for a read-only engine. */
bn_status_t bn_cache_stats(bn_engine_t engine, char **out_json,
                           char **err_out);

/* bn_cache_clear empties the local cache and publishes a cache:cleared
 * event. Package state is kept: unchanged packages still skip. */
bn_status_t bn_cache_clear(bn_engine_t engine, char **err_out);

#ifdef __cplusplus
}
#endif

#endif /* BUILDNET_H */
