// Package capitest drives libbuildnet's C functions from Go tests. It
// exists because a _test.go file cannot import "C": capi's tests call it,
// and the bn_ symbols resolve from the capi package linked into the same
// test binary. It is not part of the library.
package capitest

/*
#include <stdlib.h>
#include "../../buildnet.h"
#include "recorder.h"
*/
import "C"

import (
	"strings"
	"unsafe"
)

// Status codes of buildnet.h.
const (
	OK              = int(C.BN_OK)
	InvalidArgument = int(C.BN_ERR_INVALID_ARGUMENT)
	InvalidHandle   = int(C.BN_ERR_INVALID_HANDLE)
	Config          = int(C.BN_ERR_CONFIG)
	UnknownPackage  = int(C.BN_ERR_UNKNOWN_PACKAGE)
	Closed          = int(C.BN_ERR_CLOSED)
	ReadOnly        = int(C.BN_ERR_READ_ONLY)
	NotFound        = int(C.BN_ERR_NOT_FOUND)
	Cancelled       = int(C.BN_ERR_CANCELLED)
	Internal        = int(C.BN_ERR_INTERNAL)
	Panic           = int(C.BN_ERR_PANIC)
)

// Version returns bn_version().
func Version() string { return C.GoString(C.bn_version()) }

// StatusName returns bn_status_name(st).
func StatusName(st int) string { return C.GoString(C.bn_status_name(C.bn_status_t(st))) }

// LastError returns bn_last_error() of the calling thread.
func LastError() string { return C.GoString(C.bn_last_error()) }

// Open calls bn_engine_open; config "" passes NULL.
func Open(config string) (h uint64, st int, msg string) {
	cs := cstr(config)
	defer C.free(unsafe.Pointer(cs))
	var ch C.bn_engine_t
	var err *C.char
	st = int(C.bn_engine_open(cs, &ch, &err))
	return uint64(ch), st, take(err)
}

// Close calls bn_engine_close.
func Close(h uint64) (st int, msg string) {
	var err *C.char
	st = int(C.bn_engine_close(C.bn_engine_t(h), &err))
	return st, take(err)
}

// Build calls bn_build; request "" passes NULL.
func Build(h uint64, request string) (result string, st int, msg string) {
	cs := cstr(request)
	defer C.free(unsafe.Pointer(cs))
	var out, err *C.char
	st = int(C.bn_build(C.bn_engine_t(h), cs, &out, &err))
	return take(out), st, take(err)
}

// Graph calls bn_graph.
func Graph(h uint64) (string, int, string) {
	var out, err *C.char
	st := int(C.bn_graph(C.bn_engine_t(h), &out, &err))
	return take(out), st, take(err)
}

// Subscribe subscribes the recorder (one at a time): see Recorded.
func Subscribe(h uint64) (sub uint64, st int, msg string) {
	C.capitest_reset()
	var s C.bn_subscription_t
	var err *C.char
	st = int(C.bn_subscribe(C.bn_engine_t(h), C.bn_event_cb(C.capitest_on_event), nil, &s, &err))
	return uint64(s), st, take(err)
}

// Unsubscribe calls bn_unsubscribe.
func Unsubscribe(sub uint64) (int, string) {
	var err *C.char
	st := int(C.bn_unsubscribe(C.bn_subscription_t(sub), &err))
	return st, take(err)
}

// Recorded returns the types of the events the recorder got, "END" for
// the final call, and the number of final calls.
func Recorded() ([]string, int) {
	var finals C.int
	s := C.capitest_types(&finals)
	defer C.free(unsafe.Pointer(s))
	return strings.Fields(C.GoString(s)), int(finals)
}

func cstr(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func take(p *C.char) string {
	if p == nil {
		return ""
	}
	defer C.bn_free(unsafe.Pointer(p))
	return C.GoString(p)
}
