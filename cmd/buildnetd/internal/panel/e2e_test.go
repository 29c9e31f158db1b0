package panel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const chromiumPath = "/usr/bin/chromium"

// successColor is the colour of a built package (--st-built, #3fb950) as
// cytoscape reports it.
const successColor = "rgb(63,185,80)"

// TestPanelInBrowser drives the panel of a real buildnetd in headless
// Chromium: the graph shows every package, clicking a node builds it, the
// Logs tab shows the build's coloured output, the node turns green, and the
// other tabs show the build. A second tab without WebSocket falls back to
// SSE. Any JavaScript error or exception fails the test.
func TestPanelInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install Debian's chromium package (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", chromiumPath)
	}
	artifacts := artifactDir(t)
	base, ws := startDaemon(t, artifacts)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newBrowser(ctx, t, artifacts, base)
	tab := b.newTab("main", "")

	// Overview: the panel loads, goes live over the WebSocket and counts
	// the packages.
	tab.do("open the panel", chromedp.Navigate(base+"/"))
	tab.login(adminKey(t, ws))
	tab.poll("the panel starts", `document.body.dataset.ready === 'true'`, 10*time.Second)
	tab.poll("the live dot says WebSocket", `document.getElementById('live-dot').dataset.state === 'ws'`, 10*time.Second)
	tab.poll("the WebSocket hello", `!!window.buildnet.ctx.live.session`, 5*time.Second)
	tab.poll("the overview counts the packages", `document.querySelector('#stat-packages .stat-value')?.textContent === '4'`, 5*time.Second)
	checkANSI(t, tab)

	// Packages: the graph has one node per package, none built yet.
	tab.do("open the Packages tab", chromedp.Click(chromedp.CSS("#tab-packages")))
	tab.poll("the graph renders", `(() => { const cy = window.buildnet.views.packages.cy; return !!cy && cy.nodes().length > 0; })()`, 10*time.Second)
	nodes := evalJS[[]string](tab, `window.buildnet.views.packages.cy.nodes().map((n) => n.id()).sort()`)
	var want []string
	for _, p := range testPackages {
		want = append(want, p.Name)
	}
	slices.Sort(want)
	require.Equal(t, want, nodes, "graph nodes")
	assert.Equal(t, 4, evalJS[int](tab, `window.buildnet.views.packages.cy.edges().length`), "graph edges (dependencies)")
	assert.Equal(t, len(want), evalJS[int](tab, `document.querySelectorAll('#pkg-cards .pkg-card').length`), "package cards")
	assert.Equal(t, "never", nodeStatus(tab, "core"))

	// Click the node of core with the mouse, where cytoscape drew it.
	evalJS[bool](tab, `(() => {
		window.__coreStatuses = [];
		window.buildnet.views.packages.cy.$id('core').on('data', (e) => window.__coreStatuses.push(e.target.data('status')));
		return true;
	})()`)
	pos := evalJS[struct{ X, Y float64 }](tab, `(() => {
		const cy = window.buildnet.views.packages.cy;
		const box = cy.container().getBoundingClientRect();
		const p = cy.$id('core').renderedPosition();
		return {x: box.left + p.x, y: box.top + p.y};
	})()`)
	tab.do("click the core node", chromedp.MouseClickXY(pos.X, pos.Y))

	// Logs: core's output (and its dependency shared's) arrives live, with
	// the ANSI colours rendered as spans and no escape left.
	tab.do("open the Logs tab", chromedp.Click(chromedp.CSS("#tab-logs")))
	tab.poll("core's output in the Logs tab", `document.getElementById('log-view').textContent.includes('core-marker')`, 15*time.Second)
	tab.poll("core's build finishes", `document.getElementById('log-view').textContent.includes('built core')`, 15*time.Second)
	logText := evalJS[string](tab, `document.getElementById('log-view').textContent`)
	assert.Contains(t, logText, "shared-marker", "the dependency's output")
	assert.NotContains(t, logText, "\x1b", "raw escape codes in the log view")
	assert.NotContains(t, logText, "[0m", "raw escape codes in the log view")
	assert.True(t, evalJS[bool](tab, `[...document.querySelectorAll('#log-view .ansi-fg-5')].some((e) => e.textContent === 'core-marker')`),
		"the magenta marker is not a coloured span")
	assert.True(t, evalJS[bool](tab, `[...document.querySelectorAll('#log-view .log-line.stderr')].some((e) => e.textContent.includes('core is a test package'))`),
		"the stderr line is not marked")
	tab.screenshot("logs.png")

	// The node turns green: built, in the success colour.
	tab.do("back to the Packages tab", chromedp.Click(chromedp.CSS("#tab-packages")))
	tab.poll("core turns green", fmt.Sprintf(`(() => {
		const n = window.buildnet.views.packages.cy.$id('core');
		return n.data('status') === 'built' && n.hasClass('st-built') && n.style('background-color') === %q;
	})()`, successColor), 10*time.Second)
	for _, name := range []string{"core", "shared"} {
		assert.Equal(t, "built", nodeStatus(tab, name), name)
		assert.Equal(t, successColor, evalJS[string](tab, fmt.Sprintf(`window.buildnet.views.packages.cy.$id(%q).style('background-color')`, name)), name)
		assert.Equal(t, "built", evalJS[string](tab, fmt.Sprintf(`document.querySelector('#pkg-cards [data-pkg=%q]').dataset.status`, name)), name+" card")
	}
	for _, name := range []string{"ui", "app"} {
		assert.Equal(t, "never", nodeStatus(tab, name), "%s was not part of the build", name)
	}
	assert.Contains(t, evalJS[[]string](tab, `window.__coreStatuses`), "building", "core never showed as building")
	assert.Contains(t, evalJS[string](tab, `window.buildnet.views.packages.graphSVG()`), ">core</text>", "SVG export")
	assert.True(t, evalJS[bool](tab, `window.buildnet.views.packages.cy.png({output: 'base64uri', full: true}).startsWith('data:image/png')`), "PNG export")
	tab.screenshot("packages.png")

	// Builds: the build is in the history; its details list the tiers.
	tab.do("open the Builds tab", chromedp.Click(chromedp.CSS("#tab-builds")))
	tab.poll("the build in the history", `document.querySelectorAll('#builds-table tbody tr[data-build]').length >= 1`, 10*time.Second)
	tab.do("open the build", chromedp.Click(chromedp.CSS("#builds-table tbody tr[data-build] button")))
	tab.poll("the build's packages", `document.querySelector('#build-packages tr[data-pkg="core"]')?.textContent.includes('full build')`, 10*time.Second)
	assert.Contains(t, evalJS[string](tab, `document.querySelector('#build-packages tr[data-pkg="core"]').textContent`), "no previous build", "core's tier reason")
	tab.do("show the build's log", chromedp.Click(chromedp.CSS("#build-show-log")))
	tab.poll("the build's log", `[...document.querySelectorAll('#build-log .ansi-fg-5')].some((e) => e.textContent === 'core-marker')`, 10*time.Second)
	tab.poll("the build-time chart", `document.querySelectorAll('#builds-chart rect.bar').length >= 1`, 5*time.Second)
	tab.screenshot("builds.png")
	evalJS[bool](tab, `(() => { const s = document.getElementById('f-status'); s.value = 'failed'; s.dispatchEvent(new Event('change')); return true; })()`)
	tab.poll("no failed build", `document.querySelector('#builds-table tbody').textContent.includes('No builds match')`, 5*time.Second)
	evalJS[bool](tab, `(() => { const s = document.getElementById('f-status'); s.value = ''; const t = document.getElementById('f-tier'); t.value = 'full_build'; t.dispatchEvent(new Event('change')); return true; })()`)
	tab.poll("the full build", `document.querySelectorAll('#builds-table tbody tr[data-build]').length === 1`, 5*time.Second)

	// Cache: both outputs were stored.
	tab.do("open the Cache tab", chromedp.Click(chromedp.CSS("#tab-cache")))
	tab.poll("the cache entries", `(() => { const t = document.querySelector('#cache-entries tbody').textContent; return t.includes('core') && t.includes('shared'); })()`, 10*time.Second)
	tab.screenshot("cache.png")

	// Config: the configuration, in the editor (an admin key).
	tab.do("open the Config tab", chromedp.Click(chromedp.CSS("#tab-config")))
	tab.poll("the configuration", `document.getElementById('config-editor').value.includes('sh build.sh core')`, 10*time.Second)
	tab.screenshot("config.png")

	// A second tab whose WebSocket cannot work falls back to SSE, and
	// still gets the events of a build it starts.
	sse := b.newTab("sse", `window.WebSocket = undefined;`)
	sse.do("open the panel without WebSocket", chromedp.Navigate(base+"/"))
	sse.poll("the live dot says SSE", `document.getElementById('live-dot').dataset.state === 'sse'`, 10*time.Second)
	sse.do("build all", chromedp.Click(chromedp.CSS("#action-build-all")))
	sse.do("open the Logs tab", chromedp.Click(chromedp.CSS("#tab-logs")))
	sse.poll("app's output over SSE", `document.getElementById('log-view').textContent.includes('app-marker')`, 15*time.Second)
	tab.poll("app turns green in the first tab", `window.buildnet.views.packages.cy.$id('app').data('status') === 'built'`, 15*time.Second)

	tab.do("open the Overview tab", chromedp.Click(chromedp.CSS("#tab-overview")))
	tab.poll("recent builds listed", `document.querySelectorAll('.recent-list li').length >= 2`, 10*time.Second)
	tab.screenshot("overview.png")

	// The tabs follow the arrow keys.
	tab.do("arrow to the next tab", chromedp.Focus(chromedp.CSS("#tab-overview")), chromedp.KeyEvent(kb.ArrowRight))
	tab.poll("the Packages tab selected", `document.getElementById('tab-packages').getAttribute('aria-selected') === 'true' && !document.getElementById('panel-packages').hidden && document.activeElement.id === 'tab-packages'`, 5*time.Second)

	// Clearing the cache asks first.
	tab.do("open the Cache tab", chromedp.Click(chromedp.CSS("#tab-cache")))
	tab.do("clear the cache", chromedp.Click(chromedp.CSS("#cache-clear")))
	tab.poll("the confirmation", `document.getElementById('confirm').open`, 5*time.Second)
	tab.do("confirm", chromedp.Click(chromedp.CSS("#confirm-ok")))
	tab.poll("an empty cache", `document.querySelector('#cache-entries tbody').textContent.includes('The cache is empty')`, 10*time.Second)

	b.checkNoErrors()
}

// checkANSI runs the panel's ANSI converter in the page: colours become
// spans, everything else is escaped, and other escape sequences vanish.
func checkANSI(t *testing.T, tab *browserTab) {
	tests := []struct{ in, want string }{
		{"plain <b>&</b>", "plain &lt;b&gt;&amp;&lt;/b&gt;"},
		{"\x1b[31m<script>alert(1)</script>\x1b[0m", `<span class="ansi-fg-1">&lt;script&gt;alert(1)&lt;/script&gt;</span>`},
		{"\x1b[1;92mok\x1b[22m done\x1b[39m.", `<span class="ansi-bold ansi-fg-10">ok</span><span class="ansi-fg-10"> done</span>.`},
		{"\x1b[2mdim\x1b[0m \x1b[90mgrey", `<span class="ansi-dim">dim</span> <span class="ansi-fg-8">grey</span>`},
		{"\x1b[38;5;196mX\x1b[39m", `<span style="color:rgb(255,0,0)">X</span>`},
		{"\x1b[38;2;10;20;300m\"q'\x1b[m", `<span style="color:rgb(10,20,255)">&quot;q&#39;</span>`},
		{"a\x1b[2Kb\x1b]0;title\x07c\x1b[?25l", "abc"},
		{"10%\r50%\r100%", "100%"},
	}
	for _, tt := range tests {
		in, err := json.Marshal(tt.in)
		require.NoError(t, err)
		got := evalAwait[string](tab, fmt.Sprintf(`import('/js/ansi.js').then((m) => m.ansiToHtml(%s))`, in))
		assert.Equal(t, tt.want, got, "ansiToHtml(%q)", tt.in)
	}
	html := evalAwait[string](tab, `import('/js/views/config.js').then((m) => m.highlightJSON({"<img src=x onerror=alert(1)>": "</span><b>", "n": 1, "ok": true}))`)
	assert.NotContains(t, html, "<img")
	assert.NotContains(t, html, "<b>")
	assert.Contains(t, html, `<span class="n">1</span>`)
	assert.Contains(t, html, `<span class="b">true</span>`)
}

func nodeStatus(tab *browserTab, name string) string {
	return evalJS[string](tab, fmt.Sprintf(`window.buildnet.views.packages.cy.$id(%q).data('status')`, name))
}

// artifactDir is $BUILDNET_ARTIFACTS (created) or a temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("BUILDNET_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, "panel")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// startDaemon builds buildnetd, starts it on a generated workspace and a
// free port, waits for /health and returns the base URL and the
// workspace. The daemon is stopped when the test ends.
func startDaemon(t *testing.T, artifacts string) (string, string) {
	t.Helper()
	base, ws, _ := startDaemonBin(t, artifacts)
	return base, ws
}

// startDaemonBin is startDaemon that also returns the buildnetd binary.
func startDaemonBin(t *testing.T, artifacts string) (base, ws, bin string) {
	t.Helper()
	tmp := t.TempDir()
	bin = filepath.Join(tmp, "buildnetd")
	goCmd, err := exec.LookPath("go")
	require.NoError(t, err, "the go command is needed to build buildnetd")
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	out, err := exec.CommandContext(buildCtx, goCmd, "build", "-o", bin, "github.com/musclemap/buildnet/cmd/buildnetd").CombinedOutput()
	require.NoError(t, err, "go build buildnetd:\n%s", out)

	ws = writeWorkspace(t, filepath.Join(tmp, "ws"))
	port := freePort(t)
	logPath := filepath.Join(artifacts, "buildnetd.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "start", "--root", ws, "--port", strconv.Itoa(port), "--listen", "127.0.0.1")
	cmd.Dir = ws
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("buildnetd log (%s):\n%s", logPath, data)
		}
	})

	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			data, _ := os.ReadFile(logPath)
			t.Fatalf("buildnetd exited before it answered /health (%v):\n%s", err, data)
		default:
		}
		var health struct{ Status, Workspace string }
		if err := getJSON(base+"/health", &health); err == nil {
			require.Equal(t, "ok", health.Status)
			return base, ws, bin
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(logPath)
			t.Fatalf("buildnetd did not answer /health on %s in 20 s:\n%s", base, data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// browser is one headless Chromium; it collects the JavaScript errors of
// all its tabs.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
	base      string // the daemon: the only origin the panel may reach
	first     *browserTab

	// mu guards problems, warnings and expected.
	mu       sync.Mutex
	problems []string
	warnings []string
	// expected are the failed requests a test provokes on purpose (an
	// invalid configuration refused with 422, say): browser log errors
	// whose text and URL contain both strings of one pair are not
	// problems.
	expected [][2]string
}

// expectHTTPError declares that requests to a URL containing path may fail
// with the status: the browser logs them, but they are not errors of the
// panel.
func (b *browser) expectHTTPError(path string, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expected = append(b.expected, [2]string{path, strconv.Itoa(status)})
}

// isExpected reports whether a browser log error is an expected failed
// request.
func (b *browser) isExpected(text, url string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.expected {
		if strings.Contains(url, e[0]) && strings.Contains(text, e[1]) {
			return true
		}
	}
	return false
}

func newBrowser(ctx context.Context, t *testing.T, artifacts, base string) *browser {
	allocCtx, cancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	t.Cleanup(cancel)
	return &browser{t: t, ctx: allocCtx, artifacts: artifacts, base: base}
}

func (b *browser) problem(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// listen records console errors, uncaught exceptions and browser log
// errors (failed requests) of one tab, and any request that does not go
// to the daemon.
func (b *browser) listen(name string) func(ev any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			b.problem("[%s] exception at %s:%d: %s", name, d.URL, d.LineNumber+1, text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert &&
				ev.Type != runtime.ConsoleAPICalledTypeWarning {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			if ev.Type == runtime.ConsoleAPICalledTypeWarning {
				b.mu.Lock()
				b.warnings = append(b.warnings, fmt.Sprintf("[%s] console.warn: %s", name, strings.Join(parts, " ")))
				b.mu.Unlock()
				return
			}
			b.problem("[%s] console.%s: %s", name, ev.Type, strings.Join(parts, " "))
		case *network.EventRequestWillBeSent:
			u := ev.Request.URL
			if !strings.HasPrefix(u, b.base+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
				b.problem("[%s] request to %s, not to the daemon", name, u)
			}
		case *cdplog.EventEntryAdded:
			if e := ev.Entry; e != nil && e.Level == cdplog.EntryLevelError && !b.isExpected(e.Text, e.URL) {
				b.problem("[%s] browser log (%s): %s %s", name, e.Source, e.Text, e.URL)
			}
		}
	}
}

// newTab opens a tab; init, when set, runs in every document before the
// page's own scripts.
func (b *browser) newTab(name, init string) *browserTab {
	// The first tab starts the browser; the others open in it.
	parent := b.ctx
	if b.first != nil {
		parent = b.first.ctx
	}
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithListener(b.listen(name)))
	b.t.Cleanup(cancel)
	tab := &browserTab{b: b, name: name, ctx: ctx}
	if b.first == nil {
		b.first = tab
	}
	tab.do("start the tab", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error { return nil }))
	_, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{})
	require.NoError(b.t, err, "enable the browser log")
	_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(b.t, err, "enable the network events")
	if init != "" {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: init})
		require.NoError(b.t, err, "add the init script")
	}
	return tab
}

func (b *browser) checkNoErrors() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.warnings {
		b.t.Logf("%s (a warning, not an error)", w)
	}
	assert.Empty(b.t, b.problems, "the panel logged JavaScript errors")
}

// browserTab is one page of the browser.
type browserTab struct {
	b    *browser
	name string
	ctx  context.Context
}

// fail stops the test with a screenshot and the page's text.
func (tab *browserTab) fail(what string, err error) {
	t := tab.b.t
	t.Helper()
	shot := tab.screenshot(fmt.Sprintf("failure-%s.png", tab.name))
	text, _ := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
	tab.b.mu.Lock()
	problems := slices.Clone(tab.b.problems)
	tab.b.mu.Unlock()
	t.Fatalf("[%s] %s: %v\nscreenshot: %s\nJavaScript problems: %q\npage text:\n%s", tab.name, what, err, shot, problems, text)
}

func (tab *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tab.b.t.Helper()
	if err := chromedp.Do(tab.ctx, steps...); err != nil {
		tab.fail(what, err)
	}
}

// poll waits until the JavaScript expression is truthy.
func (tab *browserTab) poll(what, expr string, timeout time.Duration) {
	tab.b.t.Helper()
	_, err := chromedp.Run(tab.ctx, chromedp.Poll[any](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		tab.fail("waiting for "+what, err)
	}
}

// evalAwait evaluates expr, which gives a promise, and returns its value.
func evalAwait[T any](tab *browserTab, expr string) T {
	tab.b.t.Helper()
	v, err := chromedp.Run(tab.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.fail("evaluate "+expr, err)
	}
	return v
}

func evalJS[T any](tab *browserTab, expr string) T {
	tab.b.t.Helper()
	v, err := chromedp.Run(tab.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tab.fail("evaluate "+expr, err)
	}
	return v
}

// screenshot saves the page as a PNG in the artifacts folder and returns
// its path ("" when it could not be taken).
func (tab *browserTab) screenshot(name string) string {
	t := tab.b.t
	buf, err := chromedp.Run(tab.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Logf("screenshot %s: %v", name, err)
		}
		return ""
	}
	p := filepath.Join(tab.b.artifacts, name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot: %s", p)
	return p
}
