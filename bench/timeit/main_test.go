package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sorted []float64
		want   float64
	}{
		{"empty", nil, 0},
		{"one", []float64{7}, 7},
		{"odd", []float64{1, 2, 30}, 2},
		{"even", []float64{1, 2, 4, 100}, 3},
		{"even with fractions", []float64{1.5, 2.25}, 1.875},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.InDelta(t, tt.want, median(tt.sorted), 1e-9)
		})
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	assert.Equal(t, 9.0, percentile(ten, 90))
	assert.Equal(t, 10.0, percentile(ten, 100))
	assert.Equal(t, 1.0, percentile(ten, 0))
	assert.Equal(t, 5.0, percentile([]float64{1, 2, 3, 4, 5}, 90))
	assert.Equal(t, 3.0, percentile([]float64{3}, 90))
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	ds := []time.Duration{30 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	s := summarize(ds)
	assert.Equal(t, 4, s.Runs)
	assert.Equal(t, 25.0, s.MedianMS)
	assert.Equal(t, 10.0, s.MinMS)
	assert.Equal(t, 40.0, s.MaxMS)
	assert.Equal(t, 40.0, s.P90MS)
	assert.Equal(t, 25.0, s.MeanMS)
	assert.Equal(t, []float64{30, 10, 20, 40}, s.TimesMS, "times are kept in run order")
}

func TestRunJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	counter := filepath.Join(dir, "count")
	var out bytes.Buffer
	err := run([]string{"-runs", "3", "-warmup", "2", "-json", "-pre", "echo x >> " + counter, "--", "sh", "-c", "echo noise; true"}, &out, io.Discard)
	require.NoError(t, err)

	var s stats
	require.NoError(t, json.Unmarshal(out.Bytes(), &s))
	assert.Equal(t, 3, s.Runs)
	assert.Equal(t, 2, s.Warmup)
	assert.Len(t, s.TimesMS, 3)
	assert.Equal(t, []string{"sh", "-c", "echo noise; true"}, s.Command)
	assert.Positive(t, s.MedianMS)
	assert.LessOrEqual(t, s.MinMS, s.MedianMS)
	assert.LessOrEqual(t, s.MedianMS, s.MaxMS)
	assert.Positive(t, s.MaxRSSKB)

	data, err := os.ReadFile(counter)
	require.NoError(t, err)
	assert.Equal(t, 5, strings.Count(string(data), "x"), "-pre runs before warm-ups and timed runs")
}

func TestRunText(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run([]string{"-runs", "2", "-warmup", "0", "--", "true"}, &out, io.Discard))
	assert.Contains(t, out.String(), "true\n  2 runs (0 warmup): median ")
	assert.Contains(t, out.String(), "peak RSS ")
}

func TestRunFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"command fails", []string{"-runs", "2", "--", "sh", "-c", "echo boom >&2; exit 3"}, "exit status 3; last output:\nboom"},
		{"pre fails", []string{"-pre", "exit 4", "--", "true"}, `run -pre "exit 4": exit status 4`},
		{"no command", []string{"-runs", "2"}, "no command given"},
		{"missing binary", []string{"--", "/nonexistent/binary"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(tt.args, io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	var tb tailBuffer
	for i := range 5000 {
		_, _ = tb.Write([]byte{byte('a' + i%26), '\n'})
	}
	assert.Equal(t, tailSize, tb.Len())
	assert.True(t, strings.HasSuffix(tb.String(), "\ng\nh\n"), "keeps the end")
}

func Example() {
	runs := []time.Duration{41 * time.Millisecond, 39 * time.Millisecond, 45 * time.Millisecond, 40 * time.Millisecond}
	s := summarize(runs)
	fmt.Printf("median %s, min %s, p90 %s, max %s\n", formatMS(s.MedianMS), formatMS(s.MinMS), formatMS(s.P90MS), formatMS(s.MaxMS))
	// Output:
	// median 40.5 ms, min 39.0 ms, p90 45.0 ms, max 45.0 ms
}
