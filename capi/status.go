package main

/*
#include "bn_internal.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/state"
)

// argError is a bad argument: a NULL pointer or malformed JSON.
type argError struct{ msg string }

func (e *argError) Error() string { return "buildnet: " + e.msg }

// handleError is an unknown, closed or wrong-kind handle.
type handleError struct {
	kind string
	h    uint64
}

func (e *handleError) Error() string {
	return fmt.Sprintf("buildnet: invalid %s handle %d (unknown, closed or of another kind)", e.kind, e.h)
}

// statusOf maps an error to its stable status code. The table is the one
// place that knows the codes; buildnet.h documents them.
func statusOf(err error) C.bn_status_t {
	_, isArg := errors.AsType[*argError](err)
	_, isHandle := errors.AsType[*handleError](err)
	switch {
	case err == nil:
		return C.BN_OK
	case isArg, errors.Is(err, buildnet.ErrBadFilter):
		return C.BN_ERR_INVALID_ARGUMENT
	case isHandle:
		return C.BN_ERR_INVALID_HANDLE
	case errors.Is(err, buildnet.ErrUnknownPackage):
		return C.BN_ERR_UNKNOWN_PACKAGE
	case errors.Is(err, buildnet.ErrConfig):
		return C.BN_ERR_CONFIG
	case errors.Is(err, buildnet.ErrClosed):
		return C.BN_ERR_CLOSED
	case errors.Is(err, buildnet.ErrReadOnly):
		return C.BN_ERR_READ_ONLY
	case errors.Is(err, buildnet.ErrBuildNotFound), errors.Is(err, buildnet.ErrNeverBuilt), errors.Is(err, state.ErrNotFound):
		return C.BN_ERR_NOT_FOUND
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return C.BN_ERR_CANCELLED
	}
	return C.BN_ERR_INTERNAL
}

// setLastError sets this thread's bn_last_error.
func setLastError(msg string) {
	if msg == "" {
		C.bn__set_last_error(nil, 0)
		return
	}
	// The Go string is only read during the call: cgo allows it.
	C.bn__set_last_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// fail reports err through errOut and bn_last_error and returns its code.
func fail(errOut **C.char, err error) C.bn_status_t {
	st := statusOf(err)
	report(errOut, err.Error())
	return st
}

func report(errOut **C.char, msg string) {
	if errOut != nil {
		*errOut = C.CString(msg)
	}
	setLastError(msg)
}

// begin clears the output pointers at the start of an export, so that
// they are NULL whatever happens.
func begin(errOut **C.char, outs ...**C.char) {
	if errOut != nil {
		*errOut = nil
	}
	for _, o := range outs {
		if o != nil {
			*o = nil
		}
	}
}

// finish is deferred by every export: it turns a panic into
// BN_ERR_PANIC, and clears bn_last_error after a success.
func finish(st *C.bn_status_t, errOut **C.char) {
	if r := recover(); r != nil {
		if errOut != nil && *errOut != nil {
			C.free(unsafe.Pointer(*errOut))
			*errOut = nil
		}
		report(errOut, fmt.Sprintf("buildnet: internal panic (a bug, please report it): %v", r))
		*st = C.BN_ERR_PANIC
		return
	}
	if *st == C.BN_OK {
		setLastError("")
	}
}
