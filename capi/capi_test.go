package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/capi/internal/capitest"
	"github.com/musclemap/buildnet/state"
)

// workspace writes a two-package workspace and returns the open config.
func workspace(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		".buildnet/config.json": `{"packages":[
			{"name":"lib","path":"lib","build_cmd":"echo lib; mkdir -p dist && cp src.txt dist/"},
			{"name":"app","path":"app","build_cmd":"echo app; mkdir -p dist","dependencies":["lib"]}]}`,
		"lib/src.txt": "lib\n",
		"app/src.txt": "app\n",
	}
	for rel, content := range files {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return fmt.Sprintf(`{"root":%q}`, root)
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   int
		msg    string
	}{
		{"null", "", capitest.InvalidArgument, "config_json is NULL"},
		{"not json", "{", capitest.InvalidArgument, "decode config_json"},
		{"unknown field", `{"root":"/tmp","roots":1}`, capitest.InvalidArgument, "roots"},
		{"trailing data", `{"root":"/tmp"} {}`, capitest.InvalidArgument, "data after"},
		{"missing root", `{}`, capitest.Config, "root"},
		{"no such root", `{"root":"/nonexistent/bn-capi"}`, capitest.Config, "not a directory"},
		{"no config", fmt.Sprintf(`{"root":%q}`, t.TempDir()), capitest.Config, "no configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, st, msg := capitest.Open(tt.config)
			assert.Equal(t, capitest.StatusName(tt.want), capitest.StatusName(st))
			assert.Zero(t, h)
			assert.Contains(t, msg, tt.msg)
		})
	}
}

func TestBuildEventsAndClose(t *testing.T) {
	runtime.LockOSThread() // bn_last_error is per thread
	defer runtime.UnlockOSThread()
	h, st, msg := capitest.Open(workspace(t))
	require.Equal(t, capitest.OK, st, msg)
	assert.Empty(t, capitest.LastError())

	sub, st, msg := capitest.Subscribe(h)
	require.Equal(t, capitest.OK, st, msg)

	res, st, msg := capitest.Build(h, "")
	require.Equal(t, capitest.OK, st, msg)
	assert.Equal(t, 2, strings.Count(res, `"tier":"full_build"`), res)
	res, st, msg = capitest.Build(h, `{"packages":["app"]}`)
	require.Equal(t, capitest.OK, st, msg)
	assert.Equal(t, 2, strings.Count(res, `"tier":"instant_skip"`), res)

	_, st, msg = capitest.Build(h, `{"packages":["nope"]}`)
	assert.Equal(t, capitest.UnknownPackage, st)
	assert.Contains(t, msg, `"nope"`)

	g, st, _ := capitest.Graph(h)
	require.Equal(t, capitest.OK, st)
	assert.Contains(t, g, `"edges":[{"from":"app","to":"lib"}]`)

	require.Equal(t, capitest.OK, first(capitest.Close(h)))
	// bn_engine_close returns after the final call: nothing left behind.
	types, finals := capitest.Recorded()
	assert.Equal(t, 1, finals)
	require.NotEmpty(t, types)
	assert.Equal(t, "build:start", types[0])
	assert.Equal(t, "END", types[len(types)-1])
	assert.Equal(t, 2, count(types, "build:complete"))
	assert.Equal(t, 4, count(types, "package:complete"))
	assert.Zero(t, handles.count(), "handle table empty after close")

	assert.Equal(t, capitest.InvalidHandle, first(capitest.Close(h)))
	assert.Equal(t, capitest.InvalidHandle, first(capitest.Unsubscribe(sub)))
	_, st, _ = capitest.Build(h, "")
	assert.Equal(t, capitest.InvalidHandle, st)
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, capitest.OK},
		{&argError{"x"}, capitest.InvalidArgument},
		{fmt.Errorf("filter: %w", buildnet.ErrBadFilter), capitest.InvalidArgument},
		{&handleError{"engine", 1}, capitest.InvalidHandle},
		{&buildnet.ConfigError{Msg: "bad"}, capitest.Config},
		{fmt.Errorf("x: %w", buildnet.ErrUnknownPackage), capitest.UnknownPackage},
		{buildnet.ErrClosed, capitest.Closed},
		{buildnet.ErrReadOnly, capitest.ReadOnly},
		{buildnet.ErrBuildNotFound, capitest.NotFound},
		{buildnet.ErrNeverBuilt, capitest.NotFound},
		{state.ErrNotFound, capitest.NotFound},
		{context.Canceled, capitest.Cancelled},
		{errors.New("disk full"), capitest.Internal},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			assert.Equal(t, capitest.StatusName(tt.want), capitest.StatusName(int(statusOf(tt.err))))
		})
	}
}

func TestFinishRecoversPanic(t *testing.T) {
	// bn_last_error is per thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := statusOf(nil)
	func() {
		defer finish(&st, nil)
		panic("boom")
	}()
	assert.Equal(t, capitest.Panic, int(st))
	assert.Contains(t, capitest.LastError(), "panic")
	assert.Contains(t, capitest.LastError(), "boom")
}

func first(st int, _ string) int { return st }

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func Example() {
	fmt.Println(capitest.Version(), capitest.StatusName(capitest.UnknownPackage))
	// Output: 0.1.0 BN_ERR_UNKNOWN_PACKAGE
}
