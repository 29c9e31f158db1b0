package panel_test

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/panel"
)

// The files the panel cannot work without.
var required = []string{
	"index.html",
	"favicon.svg",
	"css/panel.css",
	"js/app.js",
	"js/api.js",
	"js/ansi.js",
	"js/charts.js",
	"js/live.js",
	"js/status.js",
	"js/store.js",
	"js/util.js",
	"js/jsonpos.js",
	"js/why.js",
	"js/views/overview.js",
	"js/views/packages.js",
	"js/views/builds.js",
	"js/views/cache.js",
	"js/views/activity.js",
	"js/views/config.js",
	"js/views/logs.js",
	"js/views/files.js",
	"js/views/audit.js",
	"js/views/templates.js",
	"vendor/README.md",
	"vendor/cytoscape/cytoscape.esm.min.js",
	"vendor/cytoscape/LICENSE",
}

func TestFSHoldsPanel(t *testing.T) {
	fsys := panel.FS()
	for _, name := range required {
		t.Run(name, func(t *testing.T) {
			info, err := fs.Stat(fsys, name)
			require.NoError(t, err)
			assert.False(t, info.IsDir())
			assert.Positive(t, info.Size(), "empty file")
		})
	}
}

var (
	// src="..." and href="..." in HTML.
	htmlRefRE = regexp.MustCompile(`(?i)\s(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	// import ... from '...'; import '...'; export ... from '...'.
	jsStaticRE = regexp.MustCompile(`(?m)^\s*(?:import|export)\s+(?:[^'";]*?\s*from\s*)?['"]([^'"]+)['"]`)
	// import('...').
	jsDynamicRE = regexp.MustCompile(`\bimport\(\s*['"]([^'"]+)['"]\s*\)`)
	// url(...) in CSS.
	cssURLRE = regexp.MustCompile(`url\(\s*['"]?([^'")]+)['"]?\s*\)`)
)

// refs returns the references a file makes to other files, as written.
func refs(name string, data []byte) []string {
	var out []string
	add := func(re *regexp.Regexp) {
		for _, m := range re.FindAllSubmatch(data, -1) {
			for _, g := range m[1:] {
				if len(g) > 0 {
					out = append(out, string(g))
				}
			}
		}
	}
	switch path.Ext(name) {
	case ".html":
		add(htmlRefRE)
	case ".js":
		add(jsStaticRE)
		add(jsDynamicRE)
	case ".css":
		add(cssURLRE)
	}
	return out
}

// resolve turns a reference made from file into a path in the FS; ok is
// false for references that are not files (fragments, data: URLs).
func resolve(file, ref string) (string, bool, error) {
	switch {
	case strings.HasPrefix(ref, "#"), strings.HasPrefix(ref, "data:"):
		return "", false, nil
	case strings.Contains(ref, "://"), strings.HasPrefix(ref, "//"):
		return "", false, fmt.Errorf("%s references %q outside the daemon", file, ref)
	}
	ref, _, _ = strings.Cut(ref, "?")
	ref, _, _ = strings.Cut(ref, "#")
	if strings.HasPrefix(ref, "/") {
		return path.Clean(strings.TrimPrefix(ref, "/")), true, nil
	}
	if !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") && path.Ext(file) == ".js" {
		return "", false, fmt.Errorf("%s imports bare specifier %q: browsers cannot resolve it", file, ref)
	}
	return path.Join(path.Dir(file), ref), true, nil
}

func TestReferencesResolve(t *testing.T) {
	fsys := panel.FS()
	reached := map[string]bool{}
	queue := []string{"index.html"}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		if reached[file] {
			continue
		}
		reached[file] = true
		data, err := fs.ReadFile(fsys, file)
		require.NoError(t, err)
		for _, ref := range refs(file, data) {
			target, ok, err := resolve(file, ref)
			if !assert.NoError(t, err) || !ok {
				continue
			}
			_, err = fs.Stat(fsys, target)
			if assert.NoError(t, err, "%s references %q, which is not embedded", file, ref) {
				queue = append(queue, target)
			}
		}
	}
	// Every script and style sheet is used: a module left out of the
	// import graph would be dead code or a forgotten import.
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(name); ext == ".js" || ext == ".css" {
			assert.True(t, reached[name], "%s is embedded but nothing loads it", name)
		}
		return nil
	})
	require.NoError(t, err)
	assert.True(t, reached["vendor/cytoscape/cytoscape.esm.min.js"], "the graph library is not imported")
}

func TestRefsParsing(t *testing.T) {
	tests := []struct {
		name, file, src string
		want            []string
	}{
		{"html", "index.html", `<link rel="stylesheet" href="css/a.css"><script type="module" src='js/app.js'></script>`, []string{"css/a.css", "js/app.js"}},
		{"static imports", "js/a.js", "import x from './x.js';\nimport {\n  a,\n  b,\n} from '../y.js';\nimport './side.js';\nexport { z } from \"./z.js\";\n", []string{"./x.js", "../y.js", "./side.js", "./z.js"}},
		{"dynamic import", "js/a.js", "const m = await import('./lazy.js');", []string{"./lazy.js"}},
		{"not an import", "js/a.js", "const s = 'import x from \"./no.js\"';\n// see import from docs\n", nil},
		{"css url", "css/a.css", `body { background: url("../img/bg.png"); }`, []string{"../img/bg.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, refs(tt.file, []byte(tt.src)))
		})
	}
	_, _, err := resolve("index.html", "https://cdn.example.com/lib.js")
	assert.Error(t, err, "an external URL must be rejected")
	_, _, err = resolve("js/a.js", "cytoscape")
	assert.Error(t, err, "a bare specifier must be rejected")
	got, ok, err := resolve("js/views/a.js", "../../vendor/x.js?v=1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "vendor/x.js", got)
}

// TestVendoredLicences checks dist/vendor/README.md: each listed library
// exists with its licence beside it, and nothing unlisted is vendored.
func TestVendoredLicences(t *testing.T) {
	fsys := panel.FS()
	readme, err := fs.ReadFile(fsys, "vendor/README.md")
	require.NoError(t, err)
	listed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(readme)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| name") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		require.Len(t, cells, 5, "table row %q", line)
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		name, version, licence, copied := cells[0], cells[1], cells[2], "vendor/"+cells[4]
		assert.Regexp(t, `^\d+\.\d+\.\d+`, version, "%s: version", name)
		assert.NotEmpty(t, licence, "%s: licence", name)
		data, err := fs.ReadFile(fsys, copied)
		if assert.NoError(t, err, "%s: %s is listed but not vendored", name, copied) {
			assert.Contains(t, string(data), version, "%s: the vendored file is not version %s", name, version)
		}
		lic, err := fs.Glob(fsys, path.Join(path.Dir(copied), "LICEN[SC]E*"))
		require.NoError(t, err)
		assert.NotEmpty(t, lic, "%s: no LICENSE file beside %s", name, copied)
		listed[copied] = true
	}
	require.NotEmpty(t, listed, "the README lists no library")
	err = fs.WalkDir(fsys, "vendor", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "vendor/README.md" || strings.HasPrefix(path.Base(name), "LICEN") {
			return err
		}
		assert.True(t, listed[name], "%s is vendored but not listed in vendor/README.md", name)
		return nil
	})
	require.NoError(t, err)
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(panel.Handler())
	t.Cleanup(srv.Close)
	tests := []struct {
		path, wantType, wantBody string
		wantStatus               int
	}{
		{"/", "text/html", `<script type="module" src="js/app.js">`, http.StatusOK},
		{"/js/app.js", "javascript", "import", http.StatusOK},
		{"/js/views/packages.js", "javascript", "cytoscape", http.StatusOK},
		{"/js/why.js", "javascript", "export function reasonText", http.StatusOK},
		{"/js/views/config.js", "javascript", "PUT /config", http.StatusOK},
		{"/vendor/cytoscape/cytoscape.esm.min.js", "javascript", "export{", http.StatusOK},
		{"/css/panel.css", "text/css", "--bg", http.StatusOK},
		{"/favicon.svg", "image/svg+xml", "<svg", http.StatusOK},
		{"/missing.js", "", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := http.Get(srv.URL + tt.path)
			require.NoError(t, err)
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, res.StatusCode)
			assert.Contains(t, res.Header.Get("Content-Type"), tt.wantType)
			assert.Contains(t, string(body), tt.wantBody)
		})
	}
}

// TestNoInlineScript keeps index.html free of inline scripts and handlers,
// so a strict Content-Security-Policy (script-src 'self') can be used.
func TestNoInlineScript(t *testing.T) {
	data, err := fs.ReadFile(panel.FS(), "index.html")
	require.NoError(t, err)
	html := string(data)
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		assert.Contains(t, m[1], "src=", "inline <script>")
		assert.Empty(t, strings.TrimSpace(m[2]), "inline script body")
	}
	assert.NotRegexp(t, `(?i)\son[a-z]+\s*=`, html, "inline event handler")
	// Every tab has a panel and the ARIA wiring between them.
	tabs := regexp.MustCompile(`role="tab" id="tab-([a-z]+)" aria-controls="panel-([a-z]+)"`).FindAllStringSubmatch(html, -1)
	require.Len(t, tabs, 9)
	var names []string
	for _, m := range tabs {
		assert.Equal(t, m[1], m[2])
		assert.Contains(t, html, fmt.Sprintf(`id="panel-%s" aria-labelledby="tab-%s"`, m[1], m[1]))
		names = append(names, m[1])
	}
	assert.True(t, slices.Equal(names, []string{"overview", "packages", "builds", "cache", "activity", "config", "logs", "files", "audit"}), "tabs: %v", names)
}

// TestNoDynamicCode keeps the panel's own modules free of code built from
// strings (eval, new Function, string timers) and of inline handlers or
// javascript: URLs in HTML they generate, so that script-src 'self' holds
// for everything the panel renders too.
func TestNoDynamicCode(t *testing.T) {
	fsys := panel.FS()
	bad := regexp.MustCompile(`\beval\s*\(|\bnew\s+Function\b|set(?:Timeout|Interval)\(\s*['"` + "`" + `]|\son[a-z]+\s*=\s*\\?["']|javascript:`)
	var checked int
	err := fs.WalkDir(fsys, "js", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(name) != ".js" {
			return err
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			assert.NotRegexp(t, bad, line, "%s:%d", name, i+1)
		}
		return nil
	})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, checked, len(required)-8, "the walk found the modules")
	assert.Regexp(t, bad, `el.innerHTML = '<b onclick="x()">'`, "the check catches an inline handler")
	assert.Regexp(t, bad, `setTimeout('go()', 10)`, "the check catches a string timer")
}

func ExampleHandler() {
	srv := httptest.NewServer(panel.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/js/app.js")
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, strings.Contains(res.Header.Get("Content-Type"), "javascript"))
	// Output: 200 true
}
