package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunCountsRequestsAndErrors(t *testing.T) {
	t.Parallel()
	var served, bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if n%10 == 0 {
			bad.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := run([]string{"-url", srv.URL, "-method", "POST", "-body", "{}", "-H", "X-Test: yes", "-c", "4", "-d", "300ms"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	m := regexp.MustCompile(`requests +(\d+) \((\d+) errors\)`).FindStringSubmatch(out.String())
	require.NotNil(t, m, out.String())
	total, _ := strconv.Atoi(m[1])
	errs, _ := strconv.Atoi(m[2])
	assert.Positive(t, total)
	assert.LessOrEqual(t, int64(total), served.Load(), "every counted request reached the server")
	assert.LessOrEqual(t, int64(errs), bad.Load())
	assert.GreaterOrEqual(t, int64(errs), bad.Load()-4, "requests cut by the end of the run are not counted")
	assert.Regexp(t, `requests/s +\d+\.\d`, out.String())
	assert.Regexp(t, `p50 +\S+`, out.String())
	assert.Regexp(t, `p99 +\S+`, out.String())
}

func TestRunFailsWithoutSuccess(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := run([]string{"-url", srv.URL, "-c", "1", "-d", "50ms"}, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 503")
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"-url", "http://x", "-c", "0"},
		{"-url", "http://x", "-d", "0s"},
		{"-url", "http://x", "-H", "nocolon"},
	} {
		var out, errOut bytes.Buffer
		assert.Error(t, run(args, &out, &errOut), "%v", args)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}}
	for _, tt := range tests {
		assert.Equal(t, tt.want, percentile(d, tt.p), "p%v", tt.p)
	}
	assert.Zero(t, percentile(nil, 50))
	assert.Equal(t, 7*time.Millisecond, percentile([]time.Duration{7 * time.Millisecond}, 99))
}

func Example_percentile() {
	lat := []time.Duration{1 * time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 40 * time.Millisecond}
	fmt.Println(percentile(lat, 50), percentile(lat, 99))
	// Output: 2ms 40ms
}
