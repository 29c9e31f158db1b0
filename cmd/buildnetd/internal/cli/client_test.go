package cli

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func TestBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, want string
		bad        bool
	}{
		{addr: "127.0.0.1:9876", want: "http://127.0.0.1:9876"},
		{addr: ":9876", want: "http://127.0.0.1:9876"},
		{addr: "[::1]:9876", want: "http://[::1]:9876"},
		{addr: "http://localhost:9876/", want: "http://localhost:9876"},
		{addr: "https://build.example:443", want: "https://build.example:443"},
		{addr: "localhost", bad: true},
		{addr: "ftp://x:1", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := baseURL(tt.addr)
			if tt.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDaemonErrorKeepsCodeAndExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		code string
		exit int
	}{
		{`{"error":{"code":"unknown_package","message":"buildnet: unknown package \"x\""}}`, "unknown_package", 2},
		{`{"error":{"code":"invalid_json","message":"bad"}}`, "invalid_json", 2},
		{`{"error":{"code":"shutting_down","message":"bye"}}`, "shutting_down", 1},
		{`<html>proxy error</html>`, "internal", 1},
	}
	for _, tt := range tests {
		err := daemonError(500, []byte(tt.body))
		ce := classify(err)
		assert.Equal(t, tt.code, ce.Code, tt.body)
		assert.Equal(t, tt.exit, ce.Exit, tt.body)
	}
}

func TestReadSSE(t *testing.T) {
	t.Parallel()
	stream := ": connected\nretry: 2000\n\n" +
		"id: 7\nevent: build:start\ndata: {\"seq\":7,\"type\":\"build:start\",\"build_id\":\"b1\",\"packages\":[\"a\"]}\n\n" +
		": ping\n\n" +
		"id: 9\r\nevent: package:output\r\ndata: {\"seq\":9,\"type\":\"package:output\",\"line\":\"x: y\"}\r\n\r\n" +
		"id: 10\nevent: package:output\ndata: {\"seq\":10,"
	var ids []string
	var evs []buildnet.Event
	var idle []int // events read when the reader ran out of whole events
	err := readSSE(bufio.NewReader(strings.NewReader(stream)), func(id string, ev buildnet.Event) bool {
		ids = append(ids, id)
		evs = append(evs, ev)
		return true
	}, func() bool {
		idle = append(idle, len(evs))
		return true
	})
	assert.Error(t, err, "a stream cut mid-event is an error")
	assert.Equal(t, []string{"7", "9"}, ids)
	require.Len(t, evs, 2)
	assert.Equal(t, []string{"a"}, evs[0].Packages)
	assert.Equal(t, "x: y", evs[1].Line)
	// Event 7 is followed by a whole event, so the reader goes on; after
	// event 9 only half of one is buffered, so it hands over what it has.
	assert.Equal(t, []int{2}, idle)
}

func TestPackageAt(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	ws := buildnet.Workspace{Packages: []buildnet.Package{{Name: "app", Path: "apps/app"}, {Name: "sub", Path: "apps/app/sub"}}}
	for _, d := range []string{"apps/app/src", "apps/app/sub/x", "apps/other"} {
		require.NoError(t, mkdirAll(root+"/"+d))
	}
	tests := map[string]string{"": "", "apps/app/src": "app", "apps/app/sub/x": "sub", "apps/other": "", "apps/app": "app"}
	for dir, want := range tests {
		assert.Equal(t, want, packageAt(root, ws, root+"/"+dir), dir)
	}
}

func mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }
