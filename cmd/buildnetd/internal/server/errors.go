package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/graph"
	"github.com/musclemap/buildnet/state"
)

// Error codes of the JSON error body, as api.md lists them.
const (
	codeBadRequest    = "bad_request"
	codeInvalidJSON   = "invalid_json"
	codeNotFound      = "not_found"
	codeUnknownPkg    = "unknown_package"
	codeConflict      = "conflict"
	codeTooLarge      = "too_large"
	codeInternal      = "internal"
	codeForbidden     = "forbidden"
	codeMethod        = "method_not_allowed"
	codeUnavailable   = "unavailable"
	codeShuttingDown  = "shutting_down"
	codeInvalidConfig = "invalid_config"
	// codeOtherWorkspace refuses a request meant for another workspace
	// (POST /build?workspace=DIR).
	codeOtherWorkspace = "other_workspace"
	maxSuggestions     = 5
	maxRequesterBytes  = 64
)

// APIError is an error with the HTTP status and the machine-readable code
// the client receives. Handlers return it; [Server] writes it as
// {"error":{"code","message"}}.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Suggestions holds close package names for unknown_package.
	Suggestions []string `json:"suggestions,omitzero"`
	// NeedRole is the role a 403 asks for.
	NeedRole string `json:"need_role,omitempty"`
	// RetryAfter is how long a 429 asks to wait.
	RetryAfter time.Duration `json:"-"`
}

// Error returns the message.
func (e *APIError) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps any error a handler returns to the one the client sees.
func toAPIError(err error) *APIError {
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae
	}
	if e, ok := errors.AsType[*auth.Error](err); ok {
		return &APIError{Status: e.Status, Code: e.Code, Message: e.Message, NeedRole: e.NeedRole, RetryAfter: e.RetryAfter}
	}
	if mb, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than %d bytes", mb.Limit)
	}
	if up, ok := errors.AsType[*graph.UnknownPackageError](err); ok {
		return &APIError{Status: http.StatusNotFound, Code: codeUnknownPkg, Message: err.Error(), Suggestions: append([]string{}, up.Suggestions...)}
	}
	if ae := explainError(err); ae != nil {
		return ae
	}
	switch {
	case errors.Is(err, buildnet.ErrUnknownPackage):
		ae := errorf(http.StatusNotFound, codeUnknownPkg, "%s", err)
		ae.Suggestions = []string{}
		return ae
	case errors.Is(err, state.ErrNotFound), errors.Is(err, buildnet.ErrBuildNotFound):
		return errorf(http.StatusNotFound, codeNotFound, "%s", err)
	case errors.Is(err, state.ErrInvalidCursor), errors.Is(err, state.ErrInvalid):
		return errorf(http.StatusBadRequest, codeBadRequest, "%s", err)
	case errors.Is(err, buildnet.ErrClosed):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "%s", err)
	case errors.Is(err, context.Canceled):
		// The client went away; the status is for the log only.
		return errorf(499, "cancelled", "%s", err)
	}
	return errorf(http.StatusInternalServerError, codeInternal, "%s", err)
}

// writeJSON writes v as the JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// writeResult writes a build's result with status 200, as writeJSON
// would, without reflection.
func writeResult(w http.ResponseWriter, res *buildnet.BuildResult) error {
	if res == nil {
		return writeJSON(w, http.StatusOK, res)
	}
	b, err := appendResultJSON(make([]byte, 0, 256+192*len(res.Packages)), res)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// writeError is the one writer of JSON errors.
func writeError(w http.ResponseWriter, e *APIError) {
	if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	if e.Status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", "GET, HEAD")
	}
	_ = writeJSON(w, e.Status, struct {
		Error *APIError `json:"error"`
	}{e})
}

// decodeBody decodes the request's JSON body into v. An empty body
// leaves v as it is. The body is already bounded by MaxBytesReader.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON body: %s", jsonErrorText(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON body: unexpected data after the JSON value")
	}
	return nil
}

// jsonErrorText adds the byte offset to a syntax error.
func jsonErrorText(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s (at byte %d)", se, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON input"
	}
	return err.Error()
}
