// Package httpstatus remembers the status of an HTTP response, for the
// daemon's layers that act on it (audit, metrics, error writing).
package httpstatus

import "net/http"

// Recorder is an http.ResponseWriter that remembers the status written.
type Recorder struct {
	http.ResponseWriter
	// Status is the response's status: 0 until one is written, then the
	// first final one (informational ones other than 101 Switching
	// Protocols are passed on but not kept).
	Status int
}

// Wrap returns a Recorder of w.
func Wrap(w http.ResponseWriter) *Recorder { return &Recorder{ResponseWriter: w} }

// WriteHeader implements http.ResponseWriter.
func (w *Recorder) WriteHeader(code int) {
	if w.Status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.Status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *Recorder) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController and WebSocket upgrades reach the
// connection.
func (w *Recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Written reports whether the response has begun.
func (w *Recorder) Written() bool { return w.Status != 0 }
