package cli

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

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

// TestDoAloneCloseDoesNotWaitForTheStream closes the answer of a stream
// that has not ended: the connection closes at once, rather than the
// body being read to an end that comes only with the build's.
func TestDoAloneCloseDoesNotWaitForTheStream(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, ": build b1\n\n")
		w.(http.Flusher).Flush()
		select { // a build that runs until the test ends
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cl := newClient(srv.URL)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/build?stream=true", nil)
	require.NoError(t, err)
	resp, err := cl.doAlone(req)
	require.NoError(t, err)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, ": build b1\n", line)
	closed := make(chan struct{})
	go func() {
		resp.Body.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the answer waited for the stream to end")
	}
}
