package buildnet_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/hash"
)

func TestHooks(t *testing.T) {
	w := newWorkspace(t)
	d := &w.ws.Packages[3]
	d.Hooks.PreBuild = "echo pre >> ../../.counts/order"
	d.BuildCmd = "echo build >> ../../.counts/order; " + buildCmd
	d.Hooks.PostBuild = "echo post >> ../../.counts/order"
	w.saveConfig()
	res, _ := w.build(buildnet.Request{Packages: []string{"d"}})
	require.Equal(t, buildnet.StatusSuccess, res.Status, res.Error)
	assert.Equal(t, "pre\nbuild\npost\n", w.read(".counts/order"))

	// hooks are part of the digest
	d.Hooks.PostBuild = "echo post2 >> ../../.counts/order"
	w.saveConfig()
	res, _ = w.build(buildnet.Request{Packages: []string{"d"}})
	assert.Equal(t, buildnet.TierFullBuild, res.Packages[0].Tier)
	assert.Equal(t, []buildnet.Reason{{Kind: buildnet.ReasonCommandChanged, Name: "post_build"}}, res.Packages[0].Reasons)

	// a failing pre_build fails the package before the command runs
	d.Hooks.PreBuild = "echo nope; exit 4"
	w.saveConfig()
	before := w.runs("d")
	res, _ = w.build(buildnet.Request{Packages: []string{"d"}})
	assert.Equal(t, buildnet.StatusFailed, res.Status)
	assert.Contains(t, res.Packages[0].Error, "pre_build hook: command exited with status 4")
	assert.Equal(t, before, w.runs("d"))

	// a failing post_build fails the package, and nothing is cached
	d.Hooks.PreBuild = ""
	d.Hooks.PostBuild = "exit 5"
	w.saveConfig()
	res, _ = w.build(buildnet.Request{Packages: []string{"d"}})
	assert.Contains(t, res.Packages[0].Error, "post_build hook")
	res, _ = w.build(buildnet.Request{Packages: []string{"d"}})
	assert.Equal(t, buildnet.TierFullBuild, res.Packages[0].Tier, "a failed build is never cached")
}

func TestCustomRunnerAndHash(t *testing.T) {
	w := newWorkspace(t)
	reg := buildnet.NewRegistry()
	var mu sync.Mutex
	var ran []string
	require.NoError(t, reg.RegisterRunner("recorder", buildnet.RunnerFunc(func(ctx context.Context, job buildnet.RunJob) error {
		mu.Lock()
		ran = append(ran, job.Package+":"+job.Step)
		mu.Unlock()
		job.Output("stdout", "recorded "+job.Command)
		return nil
	})))
	require.NoError(t, reg.RegisterHash(hash.Algorithm{Name: "sha256", New: sha256.New}))
	assert.Error(t, reg.RegisterRunner("recorder", nil), "names are unique")

	w.ws.Packages[3].Runner = "recorder"
	w.ws.Hash = "sha256"
	w.saveConfig()
	open := func() *buildnet.Engine {
		e, err := buildnet.Open(context.Background(), buildnet.Config{Root: w.root, Registry: reg})
		require.NoError(t, err)
		t.Cleanup(func() { e.Close() })
		return e
	}
	e := open()
	res, err := e.Build(context.Background(), buildnet.Request{Packages: []string{"d"}})
	require.NoError(t, err)
	require.Equal(t, buildnet.StatusSuccess, res.Status, res.Error)
	assert.Equal(t, []string{"d:build_cmd"}, ran)
	assert.Equal(t, 0, w.runs("d"), "the shell never ran")

	m, err := e.Manifest(context.Background(), res.Packages[0].Digest)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("package d\n"))
	for _, f := range m.Files {
		if f.Path == "src/main.txt" {
			assert.True(t, strings.HasPrefix(hashHex(sum[:16]), f.Hash), "sources hashed with the registered algorithm")
		}
	}

	// an unknown plugin is a configuration error naming what exists
	w.ws.Packages[3].Runner = "nope"
	w.saveConfig()
	_, err = buildnet.Open(context.Background(), buildnet.Config{Root: w.root, Registry: reg})
	require.ErrorIs(t, err, buildnet.ErrConfig)
	assert.Contains(t, err.Error(), `no runner named "nope" (registered: [recorder sh])`)
}

func hashHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
