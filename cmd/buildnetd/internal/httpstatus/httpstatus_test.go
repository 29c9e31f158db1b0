package httpstatus_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
)

func TestRecorder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing", func(http.ResponseWriter) {}, 0},
		{"body only", func(w http.ResponseWriter) { w.Write([]byte("x")) }, http.StatusOK},
		{"status", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTeapot) }, http.StatusTeapot},
		{"first final status", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK)
		}, http.StatusNotFound},
		{"upgrade", func(w http.ResponseWriter) { w.WriteHeader(http.StatusSwitchingProtocols) }, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httpstatus.Wrap(httptest.NewRecorder())
			tc.write(rec)
			if rec.Status != tc.want || rec.Written() != (tc.want != 0) {
				t.Errorf("Status %d, Written %v; want %d", rec.Status, rec.Written(), tc.want)
			}
			if _, ok := any(rec).(interface{ Unwrap() http.ResponseWriter }); !ok {
				t.Error("no Unwrap")
			}
		})
	}
}
