package fileset_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/internal/fileset"
)

func tree(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(f), 0o644))
	}
	return root
}

func paths(t *testing.T, root string, spec fileset.Spec) []string {
	t.Helper()
	files, err := fileset.Scan(root, spec)
	require.NoError(t, err)
	out := []string{}
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

func TestDefaultSources(t *testing.T) {
	root := tree(t, "p/src/a.ts", "p/src/deep/b.ts", "p/dist/out.js", "p/node_modules/x/i.js", "p/.cache/c", "p/package.json", "q/other.ts")
	require.NoError(t, os.Symlink("../outside", filepath.Join(root, "p/link")))
	got := paths(t, root, fileset.Spec{Dir: "p", ExcludeDirs: []string{"p/dist"}, SkipHidden: true})
	assert.Equal(t, []string{"p/link", "p/package.json", "p/src/a.ts", "p/src/deep/b.ts"}, got)
}

func TestPatterns(t *testing.T) {
	root := tree(t, "p/src/a.ts", "p/src/a.test.ts", "p/src/deep/b.ts", "p/src/c.css", "p/dist/x.ts", "p/tsconfig.json", "lock.yaml")
	got := paths(t, root, fileset.Spec{
		Include:     []string{"p/src/**/*.ts", "p/tsconfig.json", "p/**/*.ts", "lock.yaml", "missing/**"},
		ExcludeDirs: []string{"p/dist"},
	})
	assert.Equal(t, []string{"lock.yaml", "p/src/a.test.ts", "p/src/a.ts", "p/src/deep/b.ts", "p/tsconfig.json"}, got)
}

func TestSymlinkedDirNotFollowed(t *testing.T) {
	root := tree(t, "p/src/a.ts")
	outside := tree(t, "secret.ts")
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "p/src/out")))
	got := paths(t, root, fileset.Spec{Include: []string{"p/**"}})
	assert.Equal(t, []string{"p/src/a.ts", "p/src/out"}, got, "the link is a file of its own; nothing behind it is listed")
	files, err := fileset.Scan(root, fileset.Spec{Include: []string{"p/**"}})
	require.NoError(t, err)
	assert.True(t, files[1].Stat.IsLink())
}

func TestBadPattern(t *testing.T) {
	_, err := fileset.Scan(t.TempDir(), fileset.Spec{Include: []string{"src/[a"}})
	assert.Error(t, err)
}

func BenchmarkScan(b *testing.B) {
	root := b.TempDir()
	for i := range 20 {
		for j := range 50 {
			p := filepath.Join(root, "pkg", "src", string(rune('a'+i)), string(rune('a'+j%26))+string(rune('a'+j/26))+".ts")
			require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(b, os.WriteFile(p, []byte("x"), 0o644))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fileset.Scan(root, fileset.Spec{Dir: "pkg", SkipHidden: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPlainDirectoryAndDepth(t *testing.T) {
	root := tree(t, "p/src/a.ts", "p/src/deep/b.ts", "p/top.ts", "package.json", "x/package.json")
	assert.Equal(t, []string{"p/src/a.ts", "p/src/deep/b.ts"}, paths(t, root, fileset.Spec{Include: []string{"p/src"}}))
	assert.Equal(t, []string{"package.json"}, paths(t, root, fileset.Spec{Include: []string{"package.json"}}))
	assert.Equal(t, []string{"p/top.ts"}, paths(t, root, fileset.Spec{Include: []string{"p/*.ts"}}))
	assert.Equal(t, []string{"p/src/a.ts"}, paths(t, root, fileset.Spec{Include: []string{"p/*/*.ts"}}))
}
