package panel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adminKey reads the admin key the daemon wrote for the workspace ws.
func adminKey(t *testing.T, ws string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ws, ".buildnet", "admin.key"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// login fills the panel's login form with an API key.
func (tab *browserTab) login(key string) {
	tab.poll("the login form", `!document.getElementById('login').hidden`, 10*time.Second)
	tab.do("log in with a key",
		chromedp.SendKeys(chromedp.CSS("#login-key"), key),
		chromedp.Click(chromedp.CSS("#login-submit")))
	tab.poll("logged in", `document.body.dataset.auth === 'in'`, 10*time.Second)
}

// createKey creates an API key through the API with the admin key.
func createKey(t *testing.T, base, admin, name, role string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "role": role})
	req, err := http.NewRequest(http.MethodPost, base+"/keys", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var k struct{ Key string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&k))
	return k.Key
}

// TestPanelLoginRolesAuditFiles logs in with a build key in headless
// Chromium: the panel shows the key and its role, hides the admin
// actions, triggers a build that the Audit tab then shows (live), and the
// Files tab shows a file without any edit control.
func TestPanelLoginRolesAuditFiles(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install Debian's chromium package (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", chromiumPath)
	}
	artifacts := artifactDir(t)
	base, ws := startDaemon(t, artifacts)
	buildKey := createKey(t, base, adminKey(t, ws), "panel-builder", "build")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newBrowser(ctx, t, artifacts, base)
	tab := b.newTab("builder", "")
	tab.do("open the panel", chromedp.Navigate(base+"/#audit"))
	assert.True(t, evalJS[bool](tab, `document.body.dataset.auth === 'out'`), "the panel asks for a login first")
	tab.login(buildKey)
	tab.poll("the panel starts", `document.body.dataset.ready === 'true'`, 10*time.Second)
	assert.Equal(t, "key panel-builder", evalJS[string](tab, `document.getElementById('whoami-name').textContent`))
	assert.Equal(t, "build", evalJS[string](tab, `document.getElementById('whoami-role').textContent`))
	assert.False(t, evalJS[bool](tab, `document.cookie.includes('bn_token')`), "the token is not readable by scripts")
	assert.Empty(t, evalJS[string](tab, `JSON.stringify(sessionStorage).includes('bnk_') ? 'key stored' : ''`), "the key is not kept")

	// The build role sees the build actions, not the admin ones.
	tab.do("open the Overview tab", chromedp.Click(chromedp.CSS("#tab-overview")))
	assert.True(t, evalJS[bool](tab, `getComputedStyle(document.getElementById('action-build-all')).display !== 'none'`), "Build all shown")
	assert.True(t, evalJS[bool](tab, `getComputedStyle(document.getElementById('action-clear-cache')).display === 'none'`), "Clear cache hidden")

	// The Audit tab, open, gets the build's entry live.
	tab.do("open the Audit tab", chromedp.Click(chromedp.CSS("#tab-audit")))
	tab.poll("the audit stream connected", `document.getElementById('audit-live').textContent.includes('live')`, 10*time.Second)
	tab.do("open the Overview tab", chromedp.Click(chromedp.CSS("#tab-overview")))
	tab.do("build all", chromedp.Click(chromedp.CSS("#action-build-all")))
	tab.do("back to the Audit tab", chromedp.Click(chromedp.CSS("#tab-audit")))
	tab.poll("the build in the audit log", `[...document.querySelectorAll('#audit-table tbody tr')].some((r) => r.dataset.action === 'build.trigger' && r.dataset.outcome === 'allowed' && r.textContent.includes('key:'))`, 15*time.Second)
	tab.poll("the user's build history", `document.querySelectorAll('#user-builds tbody tr[data-build]').length >= 1 || (document.getElementById('history-user').dispatchEvent(new Event('change')), false)`, 15*time.Second)
	tab.screenshot("audit.png")

	// Files: a file is shown; there is no edit control for this role.
	tab.do("open the Files tab", chromedp.Click(chromedp.CSS("#tab-files")))
	tab.poll("the package tree", `document.querySelectorAll('#files-tree .node[data-type="dir"]').length >= 4`, 10*time.Second)
	tab.do("expand core", chromedp.Click(chromedp.CSS(`#files-tree .node[data-path="packages/core"]`)))
	tab.poll("core's files", `!!document.querySelector('#files-tree .node[data-path="packages/core/src"]')`, 10*time.Second)
	tab.do("expand src", chromedp.Click(chromedp.CSS(`#files-tree .node[data-path="packages/core/src"]`)))
	tab.poll("core's source", `!!document.querySelector('#files-tree .node[data-path="packages/core/src/index.txt"]')`, 10*time.Second)
	tab.do("open the file", chromedp.Click(chromedp.CSS(`#files-tree .node[data-path="packages/core/src/index.txt"]`)))
	tab.poll("the file's content", `document.getElementById('file-content')?.textContent === 'package core\n'`, 10*time.Second)
	assert.False(t, evalJS[bool](tab, `!!document.getElementById('file-edit') || !!document.getElementById('file-editor') || !!document.getElementById('file-save')`),
		"no edit control for a build key")
	assert.False(t, evalJS[bool](tab, `document.querySelector('#files-tree .node[data-path="packages/core/src/index.txt"]').draggable`), "no drag to move either")
	tab.screenshot("files.png")

	// The same file for an admin, in a second browser session: editable.
	admin := newBrowser(ctx, t, artifacts, base)
	atab := admin.newTab("admin", "")
	atab.do("open the panel", chromedp.Navigate(base+"/#files"))
	atab.login(adminKey(t, ws))
	atab.poll("the package tree", `document.querySelectorAll('#files-tree .node[data-type="dir"]').length >= 4`, 10*time.Second)
	evalAwait[bool](atab, `window.buildnet.views.files.open('packages/core/src/index.txt').then(() => true)`)
	atab.poll("the edit control", `!!document.getElementById('file-edit')`, 10*time.Second)

	b.checkNoErrors()
	admin.checkNoErrors()
}
