package artifacts

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProtocolRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	body := []byte("a turbo artifact: tar.zst bytes")
	const tag = "Qm9ndXMgYnV0IHZlcmJhdGltIHRhZw"

	r := f.do(http.MethodPut, "/v8/artifacts/0123456789abcdef?teamId=team_x&slug=acme", body, map[string]string{
		HeaderDuration: "1234", HeaderTag: tag, "Content-Type": "application/octet-stream"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	assert.JSONEq(t, `{"urls":["team_x/0123456789abcdef"]}`, string(r.body), "teamId wins over slug")

	for name, q := range map[string]string{"teamId": "teamId=team_x", "slug": "slug=team_x", "team": "team=team_x"} {
		t.Run(name, func(t *testing.T) {
			r := f.do(http.MethodGet, "/v8/artifacts/0123456789abcdef?"+q, nil, nil)
			require.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, body, r.body)
			assert.Equal(t, "1234", r.header.Get(HeaderDuration), "duration returned, so turbo reports time saved")
			assert.Equal(t, tag, r.header.Get(HeaderTag), "tag returned verbatim")
			assert.Equal(t, "application/octet-stream", r.header.Get("Content-Type"))
		})
	}

	r = f.do(http.MethodHead, "/v8/artifacts/0123456789abcdef?slug=team_x", nil, nil)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "1234", r.header.Get(HeaderDuration))
	assert.Equal(t, fmt.Sprint(len(body)), r.header.Get("Content-Length"))
	assert.Empty(t, r.body)

	// Teams are separate key spaces; a miss is 404 for GET and HEAD.
	assert.Equal(t, http.StatusNotFound, f.get("acme", "0123456789abcdef").status)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodHead, "/v8/artifacts/fedcba9876543210?slug=team_x", nil, nil).status)

	// No team, a bad key: 400.
	r = f.do(http.MethodGet, "/v8/artifacts/0123456789abcdef", nil, nil)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), "team is required")
	assert.Equal(t, http.StatusBadRequest, f.put("acme", "bad%20key", body, 1).status)
	assert.Equal(t, http.StatusBadRequest, f.put("acme", "status", body, 1).status, "GET could never fetch it")
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodPut, "/v8/artifacts/k1?slug=acme", body, map[string]string{HeaderDuration: "soon"}).status)

	r = f.do(http.MethodGet, "/v8/artifacts/status?slug=acme", nil, map[string]string{"Content-Type": "application/json"})
	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"status":"enabled"}`, string(r.body))

	events := `[{"sessionId":"302c8ede-140d-40db-9d51-ed68384c9b0d","source":"REMOTE","event":"HIT","hash":"0123456789abcdef","duration":1234},
		{"sessionId":"302c8ede-140d-40db-9d51-ed68384c9b0d","source":"LOCAL","event":"MISS","hash":"fedcba9876543210"}]`
	r = f.do(http.MethodPost, "/v8/artifacts/events?slug=acme", []byte(events), map[string]string{"Content-Type": "application/json"})
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, http.StatusBadRequest, f.do(http.MethodPost, "/v8/artifacts/events?slug=acme", []byte(`{"not":"a list"}`), nil).status)

	r = f.do(http.MethodPost, "/v8/artifacts?slug=team_x", []byte(`{"hashes":["0123456789abcdef","fedcba9876543210"]}`), nil)
	require.Equal(t, http.StatusOK, r.status)
	var q map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(r.body, &q))
	assert.JSONEq(t, fmt.Sprintf(`{"size":%d,"taskDurationMs":1234,"tag":%q}`, len(body), tag), string(q["0123456789abcdef"]))
	assert.JSONEq(t, `{"error":{"message":"artifact not found"}}`, string(q["fedcba9876543210"]))

	st := f.store.Stats()
	assert.Equal(t, int64(1), st.Entries)
	assert.Equal(t, int64(len(body)), st.Bytes)
	assert.Equal(t, int64(1), st.Puts)
	assert.Equal(t, int64(4), st.Hits, "three GETs and a HEAD")
	assert.Equal(t, int64(2), st.Misses)
	assert.Equal(t, int64(6), st.Gets)
	assert.Equal(t, int64(3*len(body)), st.BytesOut)
	assert.Equal(t, int64(3), st.Rejected, "bad key, reserved key and bad duration")
	assert.Equal(t, int64(2), st.Events)
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	// As turbo --preflight sends it: no Origin.
	r := f.do(http.MethodOptions, "/v8/artifacts/0123456789abcdef?slug=acme", nil, map[string]string{
		"Access-Control-Request-Method":  "PUT",
		"Access-Control-Request-Headers": "Authorization, User-Agent, x-artifact-duration, x-artifact-tag, x-evil",
	})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "authorization, user-agent, x-artifact-duration, x-artifact-tag", r.header.Get("Access-Control-Allow-Headers"),
		"turbo keeps sending its token only if authorization is allowed")
	assert.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "PUT")
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"), "no origin is ever allowed here")
	assert.Empty(t, r.header.Get("Access-Control-Allow-Credentials"))

	// A browser from an origin the daemon does not allow gets nothing
	// that would let it through.
	r = f.do(http.MethodOptions, "/v8/artifacts/status", nil, map[string]string{
		"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
}

func TestSizeLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxArtifactSize: 1000})
	big := bytes.Repeat([]byte("x"), 1001)

	r := f.put("acme", "k1", big, 5)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.status, "announced too large")
	assert.Contains(t, string(r.body), `"code":"too_large"`)

	// Without Content-Length (chunked), the limit applies as it streams.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, f.srv.URL+"/v8/artifacts/k2?slug=acme", io.MultiReader(bytes.NewReader(big)))
	require.NoError(t, err)
	req.ContentLength = -1
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "streamed too large")

	assert.Equal(t, http.StatusAccepted, f.put("acme", "k3", big[:1000], 5).status, "at the limit")
	st := f.store.Stats()
	assert.Equal(t, int64(2), st.Rejected)
	assert.Equal(t, int64(1), st.Entries, "nothing kept of the refused uploads")
	ents, err := os.ReadDir(filepath.Join(f.dir, tmpDir))
	require.NoError(t, err)
	assert.Empty(t, ents, "no upload file left behind")
}

func TestStorageFailureIs412(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	// The upload directory is gone and a file stands in its way.
	require.NoError(t, os.RemoveAll(filepath.Join(f.dir, tmpDir)))
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, tmpDir), nil, 0o644))
	r := f.put("acme", "k1", []byte("body"), 1)
	assert.Equal(t, http.StatusPreconditionFailed, r.status, "4xx, never 5xx: turbo retries 5xx")
	assert.Contains(t, string(r.body), `"code":"storage_failed"`)
	assert.Equal(t, int64(1), f.store.Stats().Rejected)
}

func TestEvictionKeepsStoreBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxSize: 10_000})
	body := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000) }
	for i := range 10 {
		require.Equal(t, http.StatusAccepted, f.put("acme", fmt.Sprintf("k%02d", i), body(i), 1).status)
		f.clock.Add(2 * time.Minute)
	}
	assert.Equal(t, int64(10_000), f.store.Stats().Bytes, "exactly full, nothing evicted")
	// k00 is used again: it is now the most recent.
	require.Equal(t, http.StatusOK, f.get("acme", "k00").status)
	f.clock.Add(2 * time.Minute)

	for i := 10; i < 15; i++ {
		require.Equal(t, http.StatusAccepted, f.put("acme", fmt.Sprintf("k%02d", i), body(i), 1).status)
		f.clock.Add(2 * time.Minute)
		assert.LessOrEqual(t, f.store.Stats().Bytes, int64(10_000))
	}
	st := f.store.Stats()
	assert.Equal(t, int64(10), st.Entries)
	assert.Equal(t, int64(5), st.Evictions)
	assert.Equal(t, http.StatusOK, f.get("acme", "k00").status, "recently used: kept")
	for _, gone := range []string{"k01", "k02", "k03", "k04", "k05"} {
		assert.Equal(t, http.StatusNotFound, f.get("acme", gone).status, "%s: least recently used, evicted", gone)
	}
	assert.Equal(t, http.StatusOK, f.get("acme", "k06").status)
	assert.Equal(t, 10, countBlobs(t, f.dir), "evicted blobs deleted")

	// A smaller bound at the next open evicts at once; an age bound too.
	f.clock.Add(time.Hour)
	require.Equal(t, http.StatusOK, f.get("acme", "k14").status)
	s2 := f.reopen(Options{MaxSize: 5000, MaxAge: 30 * time.Minute})
	st = s2.Stats()
	assert.Equal(t, int64(1), st.Entries, "only k14 was used in the last 30 minutes")
	assert.Equal(t, 1, countBlobs(t, f.dir))
}

func countBlobs(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	require.NoError(t, filepath.WalkDir(filepath.Join(dir, blobsDir), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	}))
	return n
}

func TestIdenticalBodiesShareABlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	body := []byte("same outputs")
	require.Equal(t, http.StatusAccepted, f.put("acme", "k1", body, 1).status)
	require.Equal(t, http.StatusAccepted, f.put("other", "k9", body, 2).status)
	assert.Equal(t, 1, countBlobs(t, f.dir))
	// Replacing one keeps the blob the other uses.
	require.Equal(t, http.StatusAccepted, f.put("acme", "k1", []byte("new outputs"), 1).status)
	assert.Equal(t, 2, countBlobs(t, f.dir))
	assert.Equal(t, body, f.get("other", "k9").body)
	// Replacing the other drops the blob nobody uses any more.
	require.Equal(t, http.StatusAccepted, f.put("other", "k9", []byte("newer"), 1).status)
	assert.Equal(t, 2, countBlobs(t, f.dir))
	st := f.store.Stats()
	assert.Equal(t, int64(2), st.Entries)
	assert.Equal(t, int64(len("new outputs")+len("newer")), st.Bytes)
}

func TestCorruptBlobNotServed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	small := []byte("small artifact body")
	large := make([]byte, 3<<20)
	_, _ = rand.Read(large)
	require.Equal(t, http.StatusAccepted, f.put("acme", "small", small, 1).status)
	require.Equal(t, http.StatusAccepted, f.put("acme", "large", large, 1).status)
	require.Equal(t, http.StatusAccepted, f.put("acme", "gone", []byte("gone"), 1).status)
	require.Equal(t, http.StatusAccepted, f.put("other", "same", small, 1).status)

	flipLast := func(p string) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[len(b)-1] ^= 1
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	flipLast(f.blobFile("acme", "small"))
	flipLast(f.blobFile("acme", "large"))
	require.NoError(t, os.Remove(f.blobFile("acme", "gone")))

	r := f.get("acme", "small")
	assert.Equal(t, http.StatusNotFound, r.status, "a small corrupt body is checked before the answer")
	assert.Equal(t, http.StatusNotFound, f.get("other", "same").status, "the other artifact with that body is dropped too")

	// A large one is streamed as it is verified: the answer has begun
	// when the mismatch shows, so it is cut short before its end.
	r = f.get("acme", "large")
	require.Equal(t, http.StatusOK, r.status)
	require.Error(t, r.err, "a large corrupt body is cut short")
	assert.Less(t, len(r.body), len(large))
	assert.Equal(t, http.StatusNotFound, f.get("acme", "large").status, "dropped after the failed download")

	assert.Equal(t, http.StatusNotFound, f.do(http.MethodHead, "/v8/artifacts/gone?slug=acme", nil, nil).status)

	st := f.store.Stats()
	assert.Equal(t, int64(3), st.Corrupt, "small (with its twin), large, gone")
	assert.Zero(t, st.Entries)
	assert.Zero(t, st.Bytes)
	assert.Zero(t, st.Hits, "no corrupt body counts as a hit")
	assert.Equal(t, 0, countBlobs(t, f.dir))

	// Uploading again repairs the entry.
	require.Equal(t, http.StatusAccepted, f.put("acme", "small", small, 1).status)
	assert.Equal(t, small, f.get("acme", "small").body)
}

func TestOpenRemovesLeftovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	require.Equal(t, http.StatusAccepted, f.put("acme", "k1", []byte("kept"), 1).status)
	orphan := filepath.Join(f.dir, blobsDir, "ab", strings.Repeat("ab", 32))
	require.NoError(t, os.MkdirAll(filepath.Dir(orphan), 0o755))
	require.NoError(t, os.WriteFile(orphan, []byte("crashed before indexing"), 0o644))
	partial := filepath.Join(f.dir, tmpDir, "put-123")
	require.NoError(t, os.WriteFile(partial, []byte("half an upl"), 0o644))

	s2 := f.reopen(Options{})
	assert.NoFileExists(t, orphan)
	assert.NoFileExists(t, partial)
	_, rc, err := s2.Get(t.Context(), "acme", "k1")
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, "kept", string(b))
	assert.Equal(t, int64(1), s2.Stats().Entries)
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	hs := httptest.NewServer(http.HandlerFunc(Disabled))
	t.Cleanup(hs.Close)
	srv := hs.URL
	get := func(method, path string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), method, srv+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get(http.MethodGet, "/v8/artifacts/status?slug=acme")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"disabled"}`, body)
	code, body = get(http.MethodGet, "/v8/artifacts/0123456789abcdef?slug=acme")
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, `"code":"remote_caching_disabled"`, "turbo then reports remote caching off")
}
