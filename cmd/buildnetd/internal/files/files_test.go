package files_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/files"
	"github.com/musclemap/buildnet/state"
)

// ws is a workspace with two packages behind a real HTTP server.
type ws struct {
	t       *testing.T
	root    string
	outside string // a directory beside the workspace
	db      *state.DB
	srv     *httptest.Server
	b       *files.Browser
	read    string // keys
	admin   string
}

func write(t *testing.T, p, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func newWS(t *testing.T) *ws {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "ws")
	outside := filepath.Join(base, "outside")
	write(t, filepath.Join(outside, "secret.txt"), "TOP SECRET\n")
	write(t, filepath.Join(root, "packages/api/src/index.ts"), "export const a = 1;\n")
	write(t, filepath.Join(root, "packages/api/logo.png"), "\x89PNG\r\n\x1a\n\x00\x00binary")
	write(t, filepath.Join(root, "packages/web/src/app.ts"), "import {a} from 'api';\n")
	write(t, filepath.Join(root, "README.md"), "not in a package\n")
	write(t, filepath.Join(root, ".buildnet/admin.key"), "bnk_secret\n")
	require.NoError(t, os.Symlink("/etc", filepath.Join(root, "packages/api/etc")))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(root, "packages/api/passwd")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "packages/api/secret")))
	require.NoError(t, os.Symlink("../../.buildnet/admin.key", filepath.Join(root, "packages/web/key")))

	db, err := state.Open(t.Context(), filepath.Join(root, ".buildnet/state.db"), state.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	svc, err := auth.New(t.Context(), auth.Options{Store: db, BcryptCost: bcrypt.MinCost})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	b, err := files.New(files.Options{Root: root, Versions: db, Packages: func() []files.Package {
		return []files.Package{{Name: "api", Path: "packages/api"}, {Name: "web", Path: "./packages/web"}}
	}})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	mux := http.NewServeMux()
	b.Routes(svc, func(p string, _ bool, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	rk, err := auth.CreateKey(t.Context(), db, "reader", auth.RoleRead, "test")
	require.NoError(t, err)
	ak, err := auth.CreateKey(t.Context(), db, "admin", auth.RoleAdmin, "test")
	require.NoError(t, err)
	return &ws{t: t, root: root, outside: outside, db: db, srv: srv, b: b, read: rk.Key, admin: ak.Key}
}

// do sends a request with a raw (already encoded) path and query.
func (w *ws) do(key, method, rawPath, body string) (int, string) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.srv.URL+rawPath, strings.NewReader(body))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	return resp.StatusCode, string(b)
}

func TestTraversalRefused(t *testing.T) {
	t.Parallel()
	w := newWS(t)
	attempts := []string{
		"../outside/secret.txt",
		"packages/api/../../../outside/secret.txt",
		"packages/api/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
		"packages/api/%252e%252e/%252e%252e/%252e%252e/outside/secret.txt",
		"%2e%2e%2foutside%2fsecret.txt",
		"/etc/passwd",
		"//etc/passwd",
		"C:\\Windows\\win.ini",
		"packages/api/..\\..\\..\\outside\\secret.txt",
		"packages/api/etc/passwd",
		"packages/api/passwd",
		"packages/api/secret",
		"packages/web/key",
		".buildnet/admin.key",
		"packages/api/../../.buildnet/admin.key",
		"README.md",
		"packages/api/src/index.ts\x00.png",
	}
	for _, p := range attempts {
		t.Run(p, func(t *testing.T) {
			// Encoded once for the query, as a browser would: %2e stays
			// %252e on the wire and decodes to %2e for the server.
			q := "?path=" + url.QueryEscape(p)
			for _, r := range []struct{ method, path, body string }{
				{"GET", "/files/content" + q, ""},
				{"GET", "/files/raw" + q, ""},
				{"GET", "/files/list" + q, ""},
				{"GET", "/files/diff" + q, ""},
				{"GET", "/files/history" + q, ""},
				{"PUT", "/files/content" + q, `{"content":"pwned\n"}`},
				{"POST", "/files/move", `{"from":"packages/api/src/index.ts","to":` + jsonString(p) + `}`},
				{"POST", "/files/move", `{"from":` + jsonString(p) + `,"to":"packages/web/stolen.txt"}`},
			} {
				code, body := w.do(w.admin, r.method, r.path, r.body)
				assert.Equal(t, http.StatusBadRequest, code, "%s %s: %s", r.method, r.path, body)
				assert.NotContains(t, body, "TOP SECRET")
				assert.NotContains(t, body, "root:")
				assert.NotContains(t, body, "bnk_secret")
			}
		})
	}
	// Nothing outside the packages was read or written.
	b, err := os.ReadFile(filepath.Join(w.outside, "secret.txt"))
	require.NoError(t, err)
	assert.Equal(t, "TOP SECRET\n", string(b))
	entries, err := os.ReadDir(w.outside)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
	b, err = os.ReadFile(filepath.Join(w.root, "README.md"))
	require.NoError(t, err)
	assert.Equal(t, "not in a package\n", string(b))
	b, err = os.ReadFile(filepath.Join(w.root, "packages/api/src/index.ts"))
	require.NoError(t, err)
	assert.Equal(t, "export const a = 1;\n", string(b), "the move source is where it was")
	_, err = os.Stat(filepath.Join(w.root, "packages/web/stolen.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBrowseReadEdit(t *testing.T) {
	t.Parallel()
	w := newWS(t)
	code, body := w.do(w.read, "GET", "/files", "")
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"path":"packages/api"`)
	assert.Contains(t, body, `"path":"packages/web"`)
	assert.NotContains(t, body, "README")

	code, body = w.do(w.read, "GET", "/files/list?path=packages/api", "")
	require.Equal(t, 200, code, body)
	var list struct{ Entries []files.Entry }
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	types := map[string]string{}
	for _, e := range list.Entries {
		types[e.Name] = e.Type
	}
	assert.Equal(t, map[string]string{"src": "dir", "logo.png": "file", "etc": "symlink", "passwd": "symlink", "secret": "symlink"}, types)
	assert.Equal(t, "src", list.Entries[0].Name, "directories first")

	code, body = w.do(w.read, "GET", "/files/content?path=packages/api/src/index.ts", "")
	require.Equal(t, 200, code, body)
	var f files.File
	require.NoError(t, json.Unmarshal([]byte(body), &f))
	assert.Equal(t, "export const a = 1;\n", f.Content)
	assert.Equal(t, "api", f.Package)
	assert.False(t, f.Binary)

	code, body = w.do(w.read, "GET", "/files/content?path=packages/api/logo.png", "")
	require.Equal(t, 200, code, body)
	var bin files.File
	require.NoError(t, json.Unmarshal([]byte(body), &bin))
	assert.True(t, bin.Binary, "a binary file is shown as such")
	assert.Empty(t, bin.Content, "and not mangled into text")
	code, raw := w.do(w.read, "GET", "/files/raw?path=packages/api/logo.png", "")
	require.Equal(t, 200, code)
	assert.Equal(t, "\x89PNG\r\n\x1a\n\x00\x00binary", raw, "the raw bytes, intact")

	// A read key cannot edit or move.
	code, body = w.do(w.read, "PUT", "/files/content?path=packages/api/src/index.ts", `{"content":"x"}`)
	assert.Equal(t, http.StatusForbidden, code, body)
	assert.Contains(t, body, `"need_role":"admin"`)
	code, _ = w.do(w.read, "POST", "/files/move", `{"from":"packages/api/src/index.ts","to":"packages/web/src/index.ts"}`)
	assert.Equal(t, http.StatusForbidden, code)
	b, _ := os.ReadFile(filepath.Join(w.root, "packages/api/src/index.ts"))
	assert.Equal(t, "export const a = 1;\n", string(b))

	// An admin edits, atomically, against the version read.
	code, body = w.do(w.admin, "PUT", "/files/content?path=packages/api/src/index.ts",
		`{"content":"export const a = 2;\n","base_sha256":"`+f.SHA256+`"}`)
	require.Equal(t, 200, code, body)
	b, _ = os.ReadFile(filepath.Join(w.root, "packages/api/src/index.ts"))
	assert.Equal(t, "export const a = 2;\n", string(b))
	code, body = w.do(w.admin, "PUT", "/files/content?path=packages/api/src/index.ts",
		`{"content":"lost update\n","base_sha256":"`+f.SHA256+`"}`)
	assert.Equal(t, http.StatusConflict, code, "a stale base: %s", body)
	code, _ = w.do(w.admin, "PUT", "/files/content?path=packages/api/logo.png", `{"content":"x"}`)
	assert.Equal(t, http.StatusBadRequest, code, "no inline edit of a binary file")
	dir, _ := os.ReadDir(filepath.Join(w.root, "packages/api/src"))
	assert.Len(t, dir, 1, "no temporary file left behind")

	// The two saved versions compare.
	code, body = w.do(w.read, "GET", "/files/history?path=packages/api/src/index.ts", "")
	require.Equal(t, 200, code, body)
	var hist struct {
		Versions []state.FileVersion
		Git      bool
	}
	require.NoError(t, json.Unmarshal([]byte(body), &hist))
	require.Len(t, hist.Versions, 2, "the original and the edit")
	assert.False(t, hist.Git, "not a git repository")
	code, body = w.do(w.read, "GET", "/files/diff?path=packages/api/src/index.ts&from=version:"+itoa(hist.Versions[1].Seq)+
		"&to=version:"+itoa(hist.Versions[0].Seq), "")
	require.Equal(t, 200, code, body)
	var d files.Diff
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	require.Len(t, d.Hunks, 1)
	assert.Equal(t, []files.DiffLine{
		{Kind: "-", Text: "export const a = 1;", Old: 1},
		{Kind: "+", Text: "export const a = 2;", New: 1},
	}, d.Hunks[0].Lines)

	// Every read and write is audited.
	es, _, err := w.db.Audit(t.Context(), state.AuditQuery{Action: "file.*", Limit: 100})
	require.NoError(t, err)
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Action+" "+e.Outcome)
	}
	assert.Contains(t, kinds, "file.write allowed")
	assert.Contains(t, kinds, "file.read allowed")
	assert.Contains(t, kinds, "file.write denied")
	assert.Contains(t, kinds, "file.move denied")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestMoveBetweenPackages(t *testing.T) {
	t.Parallel()
	w := newWS(t)
	code, body := w.do(w.admin, "POST", "/files/move", `{"from":"packages/api/src/index.ts","to":"packages/web/src/"}`)
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"to":"packages/web/src/index.ts"`)
	list := func(dir string) []string {
		code, body := w.do(w.read, "GET", "/files/list?path="+dir, "")
		require.Equal(t, 200, code, body)
		var l struct{ Entries []files.Entry }
		require.NoError(t, json.Unmarshal([]byte(body), &l))
		var names []string
		for _, e := range l.Entries {
			names = append(names, e.Name)
		}
		return names
	}
	assert.Empty(t, list("packages/api/src"), "gone from api")
	assert.Equal(t, []string{"app.ts", "index.ts"}, list("packages/web/src"), "arrived in web")
	code, _ = w.do(w.admin, "POST", "/files/move", `{"from":"packages/web/src/app.ts","to":"packages/web/src/index.ts"}`)
	assert.Equal(t, http.StatusConflict, code, "never overwrites")
	code, _ = w.do(w.admin, "POST", "/files/move", `{"from":"packages/web/src","to":"packages/api/src2"}`)
	assert.Equal(t, http.StatusBadRequest, code, "only files move")
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

func TestDiffAgainstGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	w := newWS(t)
	var lines []string
	for i := range 30 {
		lines = append(lines, "line "+itoa(int64(i)))
	}
	path := "packages/web/src/app.ts"
	write(t, filepath.Join(w.root, path), strings.Join(lines, "\n")+"\n")
	git(t, w.root, "init", "-q")
	git(t, w.root, "add", "packages")
	git(t, w.root, "commit", "-q", "-m", "first")
	lines[3] = "line three, changed"
	lines = append(lines[:10], lines[12:]...)
	lines = append(lines, "a new last line")
	write(t, filepath.Join(w.root, path), strings.Join(lines, "\n")+"\n")

	code, body := w.do(w.read, "GET", "/files/diff?path="+path+"&from=git&to=working", "")
	require.Equal(t, 200, code, body)
	var d files.Diff
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	assert.True(t, d.Changed)
	// The hunks are git's (less the function context git adds to a hunk
	// header).
	want := git(t, w.root, "diff", "--no-color", "-U3", "--", path)
	wantHunks := regexp.MustCompile(`(?m)^(@@ [^@]+ @@).*$`).ReplaceAllString(want[strings.Index(want, "@@"):], "$1")
	assert.Equal(t, wantHunks, d.Unified[strings.Index(d.Unified, "@@"):])

	code, body = w.do(w.read, "GET", "/files/history?path="+path, "")
	require.Equal(t, 200, code, body)
	var h struct {
		Git     bool
		Commits []files.Commit
	}
	require.NoError(t, json.Unmarshal([]byte(body), &h))
	assert.True(t, h.Git)
	require.Len(t, h.Commits, 1)
	assert.Equal(t, "first", h.Commits[0].Subject)

	// A file not committed diffs as all added.
	code, body = w.do(w.read, "GET", "/files/diff?path=packages/api/logo.png", "")
	require.Equal(t, 200, code, body)
	assert.Contains(t, body, `"binary":true`)
}

func TestClean(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {".", ""}, {"a/b", "a/b"}, {"a//b/./c", "a/b/c"}, {"a/b/", "a/b"}, {"%41", "%41"},
	} {
		got, err := files.Clean(tt.in)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
	for _, bad := range []string{"..", "../a", "a/../../b", "a/..", "/a", "a\\b", "%2e%2e/a", "%252e%252e/a", "a\x00b", "c:/x", "a\nb"} {
		_, err := files.Clean(bad)
		assert.ErrorIs(t, err, files.ErrBadPath, bad)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "%2e%2e/x", "a/./b", "/abs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := files.Clean(s)
		if err != nil {
			return
		}
		assert.False(t, strings.HasPrefix(c, "/"), c)
		for _, part := range strings.Split(c, "/") {
			assert.NotEqual(t, "..", part, c)
		}
	})
}
