package panel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// callAPI sends one request with an API key and returns the status and
// body.
func callAPI(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, data
}

// buildAll builds every package and waits; it returns the build's result.
func buildAll(t *testing.T, base, key string) map[string]any {
	t.Helper()
	status, body := callAPI(t, http.MethodPost, base+"/build?wait=true", key, "{}")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var res map[string]any
	require.NoError(t, json.Unmarshal(body, &res))
	require.Equal(t, "success", res["status"], "%s", body)
	return res
}

// digestOf returns a package's digest in a build result.
func digestOf(t *testing.T, res map[string]any, pkg string) string {
	t.Helper()
	for _, p := range res["packages"].([]any) {
		if m := p.(map[string]any); m["name"] == pkg {
			return m["digest"].(string)
		}
	}
	t.Fatalf("no package %s in the build", pkg)
	return ""
}

// setEditor replaces the configuration editor's text as typing would.
func setEditor(tab *browserTab, text string) {
	tab.b.t.Helper()
	js, err := json.Marshal(text)
	require.NoError(tab.b.t, err)
	evalJS[bool](tab, fmt.Sprintf(`(() => { const e = document.getElementById('config-editor'); e.value = %s; e.dispatchEvent(new Event('input')); return true; })()`, js))
}

// checkExplainHelpers runs the pure functions of the Why view, the
// configuration editor and the templates in the page.
func checkExplainHelpers(t *testing.T, tab *browserTab) {
	got := evalAwait[map[string]any](tab, `Promise.all([import('/js/why.js'), import('/js/jsonpos.js'), import('/js/views/templates.js'), import('/js/views/config.js')]).then(([w, j, tp, c]) => {
		const dep = {kind: 'dependency_changed', dependency: 'core', reasons: [{kind: 'dependency_changed', dependency: 'shared', reasons: [{kind: 'file_changed', path: 'src/x.ts'}]}]};
		const cfg = '{\n  "packages": [\n    {"name": "a", "path": "p/a", "build_cmd": "x", "dependencies": ["b"]},\n    {"name": "b", "path": "p/b", "build_cmd": "x", "output_dir": "../out", "dependencies": ["a"]}\n  ]\n}';
		const at = (m) => { const r = j.locateConfigError(cfg, j.parseConfigError(m)); return r ? r.line + ':' + r.col : ''; };
		return {
			chain: w.reasonChain(dep),
			summary: w.reasonSummary([{kind: 'env_changed', name: 'NODE_ENV'}, {kind: 'cache_hit', source: 'remote'}]),
			texts: [{kind: 'file_added', path: 'a.ts'}, {kind: 'file_removed', path: '/lock'}, {kind: 'mode_changed', path: 'run.sh'},
				{kind: 'command_changed', name: 'pre_build'}, {kind: 'global_input_changed', path: 'pnpm-lock.yaml'},
				{kind: 'unchanged_stat'}, {kind: 'dependency_failed', dependency: 'ui'}, {kind: 'inputs_changed', message: 'manifest pruned'}].map(w.reasonText),
			groups: Object.keys(w.groupReasons([{kind: 'file_changed', path: 'x'}, {kind: 'env_changed', name: 'A'}, {kind: 'cache_hit'}, dep, {kind: 'weird'}])).sort(),
			trailing: (({error}) => error.line + ':' + error.col)(j.checkJSON('{\n  "a": 1,\n}')),
			cycle: at('packages: dependency cycle: a -> b -> a'),
			escapes: at('packages[1] (b).output_dir: "../out" escapes the workspace root'),
			unknownDep: at('packages: package "b" depends on unknown package "a"'),
			byte: at('invalid JSON body: invalid character (at byte 5)'),
			fileErr: j.parseConfigError('/ws/.buildnet/config.json:3:18: malformed JSON: bad'),
			notField: j.parseConfigError('template x: missing value for name').field,
			unknownFields: c.unknownFields({packages: [{name: 'a', sorces: []}], cache: {dirr: ''}}).map((u) => u.field),
			change: c.changeText({added: ['w'], removed: null, changed: ['core'], global: true}),
			subst: tp.substitute('{dir}/{name}/src/*.{{ts}', {dir: 'packages', name: 'w'}),
			named: tp.namedParams('missing values for dir, name: give dir=VALUE', [{name: 'name'}, {name: 'dir'}, {name: 'x'}]),
		};
	})`)
	assert.Equal(t, "dependency core changed: dependency shared changed: file src/x.ts changed", got["chain"])
	assert.Equal(t, "env NODE_ENV changed (+1 more)", got["summary"])
	assert.Equal(t, []any{"file a.ts added", "file /lock removed", "mode of run.sh changed", "pre_build hook changed",
		"global input pnpm-lock.yaml changed", "no source changed (stat check)", "dependency ui failed", "inputs changed: manifest pruned"}, got["texts"])
	assert.Equal(t, []any{"checks", "deps", "env", "files", "other"}, got["groups"])
	assert.Equal(t, "3:1", got["trailing"], "a trailing comma: the error is at the closing brace")
	assert.Equal(t, "3:69", got["cycle"], "a cycle points at the first package's dependency")
	assert.Equal(t, "4:52", got["escapes"], "a field path points at the field")
	assert.Equal(t, "4:93", got["unknownDep"], "an unknown dependency points at it")
	assert.Equal(t, "2:3", got["byte"], "a byte offset (after the bad byte) points at the bad byte")
	assert.Equal(t, map[string]any{"file": "/ws/.buildnet/config.json", "line": float64(3), "col": float64(18), "byte": float64(-1), "field": "", "message": "malformed JSON: bad"}, got["fileErr"])
	assert.Empty(t, got["notField"], "only configuration fields are field paths")
	assert.Equal(t, []any{"cache.dirr", "packages[0] (a).sorces"}, got["unknownFields"])
	assert.Equal(t, "added w; changed core; workspace-wide settings changed", got["change"])
	assert.Equal(t, "packages/w/src/*.{ts}", got["subst"])
	assert.Equal(t, []any{"name", "dir"}, got["named"])
}

// TestExplainConfigTemplatesInBrowser drives, in headless Chromium, the
// Why view of a build (a dependency's source changed), the configuration
// editor (an invalid configuration is refused inline and changes nothing;
// a valid change shows its summary), applying a template, and what a read
// key sees of all that. Any JavaScript error fails the test.
func TestExplainConfigTemplatesInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install Debian's chromium package (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", chromiumPath)
	}
	artifacts := artifactDir(t)
	base, ws, bin := startDaemonBin(t, artifacts)
	admin := adminKey(t, ws)

	// Two builds: the second after shared's source changed.
	first := buildAll(t, base, admin)
	require.NoError(t, os.WriteFile(filepath.Join(ws, "packages", "shared", "src", "index.txt"), []byte("package shared, edited\n"), 0o644))
	second := buildAll(t, base, admin)
	firstID, secondID := first["id"].(string), second["id"].(string)
	coreDigest := digestOf(t, second, "core")
	require.NotEqual(t, digestOf(t, first, "core"), coreDigest)
	status, cfgBefore := callAPI(t, http.MethodGet, base+"/config", admin, "")
	require.Equal(t, http.StatusOK, status)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newBrowser(ctx, t, artifacts, base)
	b.expectHTTPError("/config", http.StatusUnprocessableEntity) // the refused configuration
	tab := b.newTab("admin", "")
	tab.do("open the Builds tab", chromedp.Navigate(base+"/#builds"))
	tab.login(admin)
	tab.poll("the panel starts", `document.body.dataset.ready === 'true'`, 10*time.Second)
	checkExplainHelpers(t, tab)

	// Builds: the second build's rows give each package's tier and first
	// reason as text.
	tab.poll("both builds listed", `document.querySelectorAll('#builds-table tbody tr[data-build]').length === 2`, 10*time.Second)
	tab.do("open the second build", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#builds-table tr[data-build=%q] button`, secondID))))
	tab.poll("core's reason", `document.querySelector('#build-packages tr[data-pkg="core"]')?.textContent.includes('dependency shared changed: file src/index.txt changed')`, 10*time.Second)
	row := evalJS[string](tab, `document.querySelector('#build-packages tr[data-pkg="core"]').textContent`)
	assert.Contains(t, row, "full build")
	assert.Contains(t, evalJS[string](tab, `document.querySelector('#build-packages tr[data-pkg="shared"]').textContent`), "file src/index.txt changed")

	// The Why view of core: the dependency, and nested, why it changed.
	tab.do("open core's Why view", chromedp.Click(chromedp.CSS(`#build-packages tr[data-pkg="core"] .why-open`)))
	tab.poll("the Why view", `!document.getElementById('why-view').hidden && document.getElementById('why-title').textContent.includes('core')`, 5*time.Second)
	dep := `#why-body [data-group="deps"] li[data-kind="dependency_changed"][data-dep="shared"]`
	assert.Contains(t, evalJS[string](tab, fmt.Sprintf(`document.querySelector('%s > details > summary').textContent`, dep)), "dependency shared changed")
	assert.True(t, evalJS[bool](tab, fmt.Sprintf(`document.querySelector('%s > details').open`, dep)), "the dependency is expanded")
	assert.Equal(t, "file src/index.txt changed", evalJS[string](tab,
		fmt.Sprintf(`document.querySelector('%s .why-nested [data-group="files"] li[data-kind="file_changed"]').textContent.replace(/^\S+\s+/, '')`, dep)))
	assert.Contains(t, evalJS[string](tab, `document.getElementById('why-summary').textContent`), "full build because dependency shared changed: file src/index.txt changed")
	assert.Equal(t, coreDigest, evalJS[string](tab, `document.getElementById('why-digest').textContent`))
	tab.do("collapse the dependency", chromedp.Click(chromedp.CSS(dep+" > details > summary")))
	assert.False(t, evalJS[bool](tab, fmt.Sprintf(`document.querySelector('%s > details').open`, dep)), "the dependency collapses")
	tab.do("copy the digest", chromedp.Click(chromedp.CSS("#why-copy-digest")))
	tab.poll("the copy confirmed", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes('Digest copied'))`, 5*time.Second)

	// Since the first build: every input difference, through /why?since=.
	tab.poll("the earlier builds to compare with", fmt.Sprintf(`!document.getElementById('why-since').disabled && document.getElementById('why-since').value === %q`, firstID), 5*time.Second)
	tab.do("compare with the first build", chromedp.Click(chromedp.CSS("#why-compare")))
	tab.poll("the differences since the first build", `document.getElementById('why-since-result')?.textContent.includes('file src/index.txt changed')`, 5*time.Second)
	assert.Contains(t, evalJS[string](tab, `document.getElementById('why-since-out').textContent`), "dependency shared changed")
	tab.screenshot("why.png")

	// app: two levels of dependencies.
	tab.do("open app's Why view", chromedp.Click(chromedp.CSS(`#build-packages tr[data-pkg="app"] .why-open`)))
	tab.poll("app's Why view", `document.getElementById('why-title').textContent.includes('app')`, 5*time.Second)
	nested := evalJS[string](tab, `document.querySelector('#why-body li[data-dep="core"] .why-nested li[data-dep="shared"]')?.textContent || ''`)
	assert.Contains(t, nested, "dependency shared changed")
	assert.Contains(t, nested, "file src/index.txt changed")

	// The Packages tab opens the same view for a package's last build.
	tab.do("open the Packages tab", chromedp.Click(chromedp.CSS("#tab-packages")))
	tab.poll("ui's card", `!!document.querySelector('#pkg-cards [data-pkg="ui"] .pkg-why:not([disabled])')`, 10*time.Second)
	tab.do("ask why ui", chromedp.Click(chromedp.CSS(`#pkg-cards [data-pkg="ui"] .pkg-why`)))
	tab.poll("ui's Why view in the Builds tab", `!document.getElementById('panel-builds').hidden && document.getElementById('why-title').textContent.includes('ui') && document.getElementById('why-body').textContent.includes('dependency shared changed')`, 10*time.Second)

	// Config: an invalid JSON text is caught in the page, before sending.
	tab.do("open the Config tab", chromedp.Click(chromedp.CSS("#tab-config")))
	tab.poll("the configuration in the editor", `document.getElementById('config-editor').value.includes('sh build.sh core')`, 10*time.Second)
	original := evalJS[string](tab, `document.getElementById('config-editor').value`)
	setEditor(tab, strings.Replace(original, `"packages/app/dist"`, `"packages/app/dist",`, 1))
	tab.do("save a trailing comma", chromedp.Click(chromedp.CSS("#config-save")))
	tab.poll("the JSON error", `!document.getElementById('config-error').hidden && document.getElementById('config-error').textContent.includes('Invalid JSON')`, 5*time.Second)
	wantLine := evalJS[int](tab, `document.getElementById('config-editor').value.split('\n').findIndex((l) => l.includes('"packages/app/dist",')) + 2`)
	assert.Equal(t, fmt.Sprint(wantLine), evalJS[string](tab, `document.querySelector('#config-editor-wrap .editor-gutter .err')?.textContent`), "the marked line")
	assert.Contains(t, evalJS[string](tab, `document.getElementById('config-error-goto').textContent`), fmt.Sprintf("line %d", wantLine))

	// A dependency cycle: refused by the daemon (422), shown inline at
	// the dependency that closes it; the configuration is unchanged.
	var cfg map[string]any
	require.NoError(t, json.Unmarshal([]byte(original), &cfg))
	for _, p := range cfg["packages"].([]any) {
		if p := p.(map[string]any); p["name"] == "shared" {
			p["dependencies"] = []string{"app"}
		}
	}
	cycle, err := json.MarshalIndent(cfg, "", "  ")
	require.NoError(t, err)
	setEditor(tab, string(cycle))
	tab.do("save a dependency cycle", chromedp.Click(chromedp.CSS("#config-save")))
	tab.poll("the daemon's error inline", `document.getElementById('config-error-message')?.textContent.includes('dependency cycle')`, 10*time.Second)
	cycleLine := evalJS[int](tab, `document.getElementById('config-editor').value.split('\n').findIndex((l) => l.trim() === '"app"') + 1`)
	assert.Positive(t, cycleLine)
	assert.Equal(t, fmt.Sprint(cycleLine), evalJS[string](tab, `document.querySelector('#config-editor-wrap .editor-gutter .err')?.textContent`), "the line of shared's dependency on app")
	assert.False(t, evalJS[bool](tab, `document.querySelector('#config-editor-wrap .editor-mark').hidden`), "the line is highlighted")
	assert.Equal(t, "true", evalJS[string](tab, `document.getElementById('config-editor').getAttribute('aria-invalid')`))
	status, cfgAfter := callAPI(t, http.MethodGet, base+"/config", admin, "")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, string(cfgBefore), string(cfgAfter), "a refused configuration changes nothing")
	tab.screenshot("config-error.png")

	// A valid change: core's build command. The summary names core.
	setEditor(tab, strings.Replace(original, `"sh build.sh core"`, `"sh build.sh core --v2"`, 1))
	tab.poll("the unsaved edits", `document.getElementById('config-dirty').textContent.includes('unsaved changes') && document.getElementById('config-dirty').classList.contains('dirty')`, 5*time.Second)
	tab.do("save", chromedp.Click(chromedp.CSS("#config-save")))
	tab.poll("the change summary", `!document.getElementById('config-result').hidden && document.querySelector('#config-change li[data-change="changed"]')?.textContent === 'Changed: core'`, 10*time.Second)
	assert.True(t, evalJS[bool](tab, `document.getElementById('config-error').hidden`), "the error is gone")
	assert.False(t, evalJS[bool](tab, `window.buildnet.views.config.dirty`), "saved: no unsaved edits")
	_, cfgAfter = callAPI(t, http.MethodGet, base+"/config", admin, "")
	assert.Contains(t, string(cfgAfter), "sh build.sh core --v2")

	// Live: another user's change shows at once in a clean editor; with
	// unsaved edits it is announced and the edits are kept.
	other := strings.Replace(string(cfgAfter), `"sh build.sh ui"`, `"sh build.sh ui --other"`, 1)
	status, body := callAPI(t, http.MethodPut, base+"/config", admin, other)
	require.Equal(t, http.StatusOK, status, "%s", body)
	tab.poll("the other change in the editor", `document.getElementById('config-editor').value.includes('sh build.sh ui --other') && document.getElementById('config-banner').textContent.includes('changed ui')`, 10*time.Second)
	mine := evalJS[string](tab, `document.getElementById('config-editor').value.replace('"sh build.sh app"', '"sh build.sh app --mine"')`)
	setEditor(tab, mine)
	other = strings.Replace(other, `"sh build.sh shared"`, `"sh build.sh shared --other"`, 1)
	status, body = callAPI(t, http.MethodPut, base+"/config", admin, other)
	require.Equal(t, http.StatusOK, status, "%s", body)
	tab.poll("the warning about unsaved edits", `document.getElementById('config-banner').textContent.includes('while you were editing')`, 10*time.Second)
	assert.Contains(t, evalJS[string](tab, `document.getElementById('config-editor').value`), "sh build.sh app --mine", "the edits are kept")
	tab.do("load the new configuration", chromedp.Click(chromedp.CSS("#config-load-new")))
	tab.poll("the new configuration", `document.getElementById('config-editor').value.includes('sh build.sh shared --other') && !window.buildnet.views.config.dirty`, 5*time.Second)

	// A broken file on disk: the daemon keeps its configuration and the
	// panel shows why it refused the file.
	cfgFile := filepath.Join(ws, ".buildnet", "config.json")
	good, err := os.ReadFile(cfgFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgFile, []byte("{\n  \"version\": 1,\n  \"packages\": [,]\n}\n"), 0o644))
	tab.poll("the refused file", `document.getElementById('config-error-message')?.textContent.includes('malformed JSON') && document.getElementById('config-error').textContent.includes('refused')`, 15*time.Second)
	assert.Contains(t, evalJS[string](tab, `document.getElementById('config-error-loc').textContent`), "line 3, column")
	require.NoError(t, os.WriteFile(cfgFile, good, 0o644))

	// Templates: ts-library adds widgets, which the graph then shows.
	require.NoError(t, os.MkdirAll(filepath.Join(ws, "packages", "widgets"), 0o755))
	tab.poll("the templates", `!!document.querySelector('#templates-list [data-template="ts-library"] form')`, 10*time.Second)
	assert.True(t, evalJS[bool](tab, `document.getElementById('tpl-ts-library-param-name').required`), "name is required")
	assert.Contains(t, evalJS[string](tab, `document.querySelector('label[for="tpl-ts-library-param-name"]').textContent`), "required")
	tab.do("give the name", chromedp.SendKeys(chromedp.CSS("#tpl-ts-library-param-name"), "widgets"))
	assert.Contains(t, evalJS[string](tab, `document.getElementById('tpl-ts-library-preview').textContent`), "widgets at packages/widgets")
	tab.do("apply ts-library", chromedp.Click(chromedp.CSS(`[data-template-apply="ts-library"]`)))
	tab.poll("the added package", `document.getElementById('tpl-ts-library-ok')?.textContent.includes('Added package widgets')`, 10*time.Second)
	tab.poll("the editor reloaded", `document.getElementById('config-editor').value.includes('"widgets"')`, 10*time.Second)
	tab.screenshot("config-saved.png")
	b.expectHTTPError("/templates/ts-library/apply", http.StatusConflict)
	tab.do("apply it again", chromedp.SendKeys(chromedp.CSS("#tpl-ts-library-param-name"), "widgets"), chromedp.Click(chromedp.CSS(`[data-template-apply="ts-library"]`)))
	tab.poll("the clash inline", `document.getElementById('tpl-ts-library-error')?.dataset.status === '409' && document.getElementById('tpl-ts-library-param-name').getAttribute('aria-invalid') === 'true'`, 10*time.Second)
	tab.do("open the Packages tab", chromedp.Click(chromedp.CSS("#tab-packages")))
	tab.poll("widgets in the graph", `window.buildnet.views.packages.cy?.$id('widgets').length === 1 && !!document.querySelector('#pkg-cards [data-pkg="widgets"]')`, 10*time.Second)
	tab.screenshot("packages-widgets.png")
	b.checkNoErrors()

	// A read key: everything shown, nothing to save or apply.
	out, err := exec.Command(bin, "key", "create", "--name", "panel-reader", "--role", "read", "--json", "--root", ws).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var key struct{ Key string }
	require.NoError(t, json.Unmarshal(out, &key), "%s", out)
	rb := newBrowser(ctx, t, artifacts, base)
	rtab := rb.newTab("reader", "")
	rtab.do("open the Config tab", chromedp.Navigate(base+"/#config"))
	rtab.login(key.Key)
	rtab.poll("the panel starts", `document.body.dataset.ready === 'true'`, 10*time.Second)
	rtab.poll("the configuration, read-only", `document.getElementById('config-json')?.textContent.includes('widgets')`, 10*time.Second)
	rtab.poll("the templates", `document.querySelectorAll('#templates-list .tpl').length >= 3`, 10*time.Second)
	assert.Zero(t, evalJS[int](rtab, `document.querySelectorAll('#config-save, #config-editor, [data-template-apply], #templates-list form, #templates-list input').length`),
		"no Save or Apply control for a read key")
	assert.Contains(t, evalJS[string](rtab, `document.querySelector('#templates-list [data-template="ts-library"]').textContent`), "name *")
	rtab.screenshot("config-read.png")
	rb.checkNoErrors()
}
