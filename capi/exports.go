package main

/*
#include "bn_internal.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/state"
)

// defaultRequester names builds whose request does not say who asked.
const defaultRequester = "capi"

//export bn_engine_open
func bn_engine_open(configJSON *C.bn_cchar_t, out *C.bn_engine_t, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut)
	if out == nil {
		return fail(errOut, &argError{"out_engine is NULL"})
	}
	*out = 0
	var cfg buildnet.Config
	if err := decodeJSON(configJSON, &cfg, "config_json", false); err != nil {
		return fail(errOut, err)
	}
	e, err := buildnet.Open(context.Background(), cfg)
	if err != nil {
		return fail(errOut, err)
	}
	h := handles.add(func(h uint64) any { return &engine{h: h, e: e} })
	*out = C.bn_engine_t(h)
	return C.BN_OK
}

//export bn_engine_close
func bn_engine_close(h C.bn_engine_t, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut)
	en, ok := take[*engine](handles, uint64(h))
	if !ok {
		return fail(errOut, &handleError{"engine", uint64(h)})
	}
	en.mu.Lock()
	en.closed = true
	en.mu.Unlock()
	err := en.e.Close()
	// From inside one of this engine's callbacks, waiting would wait for
	// the caller itself.
	if C.bn__in_callback(C.uint64_t(h)) == 0 {
		en.callbacks.Wait()
	}
	if err != nil && !errors.Is(err, buildnet.ErrClosed) {
		return fail(errOut, fmt.Errorf("close engine: %w", err))
	}
	return C.BN_OK
}

//export bn_build
func bn_build(h C.bn_engine_t, requestJSON *C.bn_cchar_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	return runRequest(h, requestJSON, out, errOut, (*buildnet.Engine).Build)
}

//export bn_build_start
func bn_build_start(h C.bn_engine_t, requestJSON *C.bn_cchar_t, done C.bn_build_cb, userData unsafe.Pointer, outID **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut, outID)
	en, req, err := engineAndRequest(h, requestJSON)
	if err != nil {
		return fail(errOut, err)
	}
	var id string
	err = en.track(func() (func(), error) {
		run, err := en.e.StartBuild(req)
		if err != nil {
			return nil, err
		}
		id = run.ID()
		return func() { complete(en.h, run, done, userData) }, nil
	})
	if err != nil {
		return fail(errOut, err)
	}
	if outID != nil {
		*outID = C.CString(id)
	}
	return C.BN_OK
}

// complete waits for run and calls done, exactly once, even if encoding
// the result panics.
func complete(eh uint64, run buildnet.Run, done C.bn_build_cb, userData unsafe.Pointer) {
	called := false
	call := func(st C.bn_status_t, result, msg string) {
		called = true
		if done == nil {
			return
		}
		var cres, cmsg *C.char
		if st == C.BN_OK {
			cres = C.CString(result)
			defer C.free(unsafe.Pointer(cres))
		} else {
			cmsg = C.CString(msg)
			defer C.free(unsafe.Pointer(cmsg))
		}
		C.bn__call_build(C.uint64_t(eh), done, userData, st, cres, cmsg)
	}
	defer func() {
		if r := recover(); r != nil && !called {
			call(C.BN_ERR_PANIC, "", fmt.Sprintf("buildnet: internal panic (a bug, please report it): %v", r))
		}
	}()
	res, err := run.Wait(context.Background())
	if err != nil {
		call(statusOf(err), "", err.Error())
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		call(C.BN_ERR_INTERNAL, "", fmt.Sprintf("encode build result: %v", err))
		return
	}
	call(C.BN_OK, string(b), "")
}

//export bn_build_cancel
func bn_build_cancel(h C.bn_engine_t, buildID *C.bn_cchar_t, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut)
	en, err := engineOf(h)
	if err != nil {
		return fail(errOut, err)
	}
	if buildID == nil {
		return fail(errOut, &argError{"build_id is NULL"})
	}
	if err := en.e.Cancel(goString(buildID)); err != nil {
		return fail(errOut, err)
	}
	return C.BN_OK
}

//export bn_plan
func bn_plan(h C.bn_engine_t, requestJSON *C.bn_cchar_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	return runRequest(h, requestJSON, out, errOut, (*buildnet.Engine).Plan)
}

// runRequest is the body of the exports that take a request and answer a
// build result: decode, call, encode.
func runRequest(h C.bn_engine_t, requestJSON *C.bn_cchar_t, out **C.char, errOut **C.char,
	call func(*buildnet.Engine, context.Context, buildnet.Request) (*buildnet.BuildResult, error)) C.bn_status_t {
	begin(errOut, out)
	if out == nil {
		return fail(errOut, &argError{"out_result_json is NULL"})
	}
	en, req, err := engineAndRequest(h, requestJSON)
	if err != nil {
		return fail(errOut, err)
	}
	res, err := call(en.e, context.Background(), req)
	if err != nil {
		return fail(errOut, err)
	}
	return encode(out, errOut, res)
}

//export bn_why
func bn_why(h C.bn_engine_t, pkg *C.bn_cchar_t, since *C.bn_cchar_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut, out)
	if out == nil {
		return fail(errOut, &argError{"out_json is NULL"})
	}
	if pkg == nil {
		return fail(errOut, &argError{"package is NULL"})
	}
	en, err := engineOf(h)
	if err != nil {
		return fail(errOut, err)
	}
	var s string
	if since != nil {
		s = goString(since)
	}
	ex, err := en.e.Why(context.Background(), goString(pkg), s)
	if err != nil {
		return fail(errOut, err)
	}
	return encode(out, errOut, ex)
}

//export bn_subscribe
func bn_subscribe(h C.bn_engine_t, cb C.bn_event_cb, userData unsafe.Pointer, out *C.bn_subscription_t, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut)
	if out == nil {
		return fail(errOut, &argError{"out_subscription is NULL"})
	}
	*out = 0
	if cb == nil {
		return fail(errOut, &argError{"callback is NULL"})
	}
	en, err := engineOf(h)
	if err != nil {
		return fail(errOut, err)
	}
	var sh uint64
	err = en.track(func() (func(), error) {
		s := &subscription{sub: en.e.Subscribe(context.Background(), 0)}
		sh = handles.add(func(uint64) any { return s })
		return func() { dispatch(en.h, sh, s, cb, userData) }, nil
	})
	if err != nil {
		return fail(errOut, err)
	}
	*out = C.bn_subscription_t(sh)
	return C.BN_OK
}

// dispatch delivers a subscription's events to its callback, one at a
// time and in order, then makes the final NULL call.
func dispatch(eh, sh uint64, s *subscription, cb C.bn_event_cb, userData unsafe.Pointer) {
	defer func() {
		_ = recover() // the final call below is all that matters now
		handles.remove(sh, s)
		C.bn__call_event(C.uint64_t(eh), cb, userData, nil)
	}()
	for ev := range s.sub.Events() {
		deliver(eh, cb, userData, ev)
	}
	if err := s.sub.Err(); errors.Is(err, buildnet.ErrSlowSubscriber) {
		deliver(eh, cb, userData, droppedEvent{Type: "subscription:dropped", Time: time.Now(), Error: err.Error()})
	}
}

// droppedEvent tells a callback that it was too slow and has been
// dropped; the final NULL call follows.
type droppedEvent struct {
	Type  string    `json:"type"`
	Time  time.Time `json:"time"`
	Error string    `json:"error"`
}

func deliver(eh uint64, cb C.bn_event_cb, userData unsafe.Pointer, ev any) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	cs := C.CString(string(b))
	defer C.free(unsafe.Pointer(cs))
	C.bn__call_event(C.uint64_t(eh), cb, userData, cs)
}

//export bn_unsubscribe
func bn_unsubscribe(sh C.bn_subscription_t, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut)
	s, ok := take[*subscription](handles, uint64(sh))
	if !ok {
		return fail(errOut, &handleError{"subscription", uint64(sh)})
	}
	s.sub.Close()
	return C.BN_OK
}

//export bn_status
func bn_status(h C.bn_engine_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	return answer(h, out, errOut, func(e *buildnet.Engine) (any, error) { return e.Status(context.Background()) })
}

// historyQuery is bn_history's query: state.Query with the HTTP API's
// JSON names.
type historyQuery struct {
	Package   string    `json:"package"`
	Tier      string    `json:"tier"`
	Status    string    `json:"status"`
	Requester string    `json:"requester"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Q         string    `json:"q"`
	Limit     int       `json:"limit"`
	Cursor    string    `json:"cursor"`
}

// historyPage is bn_history's result, shaped like GET /builds.
type historyPage struct {
	Builds []state.Build `json:"builds"`
	Next   string        `json:"next"`
}

//export bn_history
func bn_history(h C.bn_engine_t, queryJSON *C.bn_cchar_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	return answer(h, out, errOut, func(e *buildnet.Engine) (any, error) {
		var q historyQuery
		if err := decodeJSON(queryJSON, &q, "query_json", true); err != nil {
			return nil, err
		}
		builds, next, err := e.History(context.Background(), state.Query{
			Package: q.Package, Tier: q.Tier, Status: q.Status, Requester: q.Requester,
			Since: q.Since, Until: q.Until, Search: q.Q, Limit: q.Limit, Cursor: q.Cursor,
		})
		if builds == nil {
			builds = []state.Build{}
		}
		return historyPage{Builds: builds, Next: next}, err
	})
}

// answer is the body of the exports that query an engine and answer
// JSON: check the output pointer and the handle, call, encode.
func answer(h C.bn_engine_t, out **C.char, errOut **C.char, call func(*buildnet.Engine) (any, error)) C.bn_status_t {
	begin(errOut, out)
	if out == nil {
		return fail(errOut, &argError{"out_json is NULL"})
	}
	en, err := engineOf(h)
	if err != nil {
		return fail(errOut, err)
	}
	v, err := call(en.e)
	if err != nil {
		return fail(errOut, err)
	}
	return encode(out, errOut, v)
}

//export bn_graph
func bn_graph(h C.bn_engine_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	return answer(h, out, errOut, func(e *buildnet.Engine) (any, error) { return e.Graph(), nil })
}

//export bn_cache_stats
func bn_cache_stats(h C.bn_engine_t, out **C.char, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	return answer(h, out, errOut, func(e *buildnet.Engine) (any, error) { return e.CacheStats(context.Background()) })
}

//export bn_cache_clear
func bn_cache_clear(h C.bn_engine_t, errOut **C.char) (st C.bn_status_t) {
	defer finish(&st, errOut)
	begin(errOut)
	en, err := engineOf(h)
	if err != nil {
		return fail(errOut, err)
	}
	if err := en.e.ClearCache(context.Background()); err != nil {
		return fail(errOut, err)
	}
	return C.BN_OK
}

func engineOf(h C.bn_engine_t) (*engine, error) {
	en, ok := lookup[*engine](handles, uint64(h))
	if !ok {
		return nil, &handleError{"engine", uint64(h)}
	}
	return en, nil
}

func engineAndRequest(h C.bn_engine_t, requestJSON *C.bn_cchar_t) (*engine, buildnet.Request, error) {
	var req buildnet.Request
	en, err := engineOf(h)
	if err != nil {
		return nil, req, err
	}
	if err := decodeJSON(requestJSON, &req, "request_json", true); err != nil {
		return nil, req, err
	}
	if req.Requester == "" {
		req.Requester = defaultRequester
	}
	return en, req, nil
}

func goString(p *C.bn_cchar_t) string { return C.GoString((*C.char)(unsafe.Pointer(p))) }

// decodeJSON decodes one JSON value from p into v, rejecting unknown
// fields. An optional argument may be NULL or "".
func decodeJSON(p *C.bn_cchar_t, v any, name string, optional bool) error {
	if p == nil {
		if optional {
			return nil
		}
		return &argError{name + " is NULL"}
	}
	s := goString(p)
	if optional && strings.TrimSpace(s) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &argError{fmt.Sprintf("decode %s: %v", name, err)}
	}
	if dec.More() {
		return &argError{fmt.Sprintf("decode %s: data after the JSON value", name)}
	}
	return nil
}

// encode stores v as a malloc'd JSON string in *out.
func encode(out, errOut **C.char, v any) C.bn_status_t {
	b, err := json.Marshal(v)
	if err != nil {
		return fail(errOut, fmt.Errorf("encode result: %w", err))
	}
	*out = C.CString(string(b))
	return C.BN_OK
}
