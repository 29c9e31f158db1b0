package buildnet_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func why(t *testing.T, w *workspace, pkg string) *buildnet.Explanation {
	t.Helper()
	e := w.open()
	ex, err := e.Why(context.Background(), pkg, "")
	require.NoError(t, err)
	return ex
}

func TestWhyNamesExactlyTheCause(t *testing.T) {
	tests := []struct {
		name   string
		pkg    string
		change func(w *workspace)
		env    []string
		want   []buildnet.Reason
	}{
		{"add file", "d", func(w *workspace) { w.write("pkgs/d/src/new.txt", "new\n") },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonFileAdded, Path: "src/new.txt"}}},
		{"delete file", "d", func(w *workspace) { require.NoError(t, os.Remove(w.path("pkgs/d/src/util.txt"))) },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonFileRemoved, Path: "src/util.txt"}}},
		{"edit file", "d", func(w *workspace) { w.write("pkgs/d/src/main.txt", "changed\n") },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonFileChanged, Path: "src/main.txt"}}},
		{"exec bit", "d", func(w *workspace) { require.NoError(t, os.Chmod(w.path("pkgs/d/src/main.txt"), 0o755)) },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonModeChanged, Path: "src/main.txt"}}},
		{"env var value", "d", func(w *workspace) {}, []string{"BN_TEST_MODE=secret-value-42"},
			[]buildnet.Reason{{Kind: buildnet.ReasonEnvChanged, Name: "BN_TEST_MODE"}}},
		{"command", "d", func(w *workspace) { w.ws.Packages[3].BuildCmd += " # v2"; w.saveConfig() },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonCommandChanged, Name: "build_cmd"}}},
		{"global input", "d", func(w *workspace) { w.write("lock.txt", "lock v2\n") },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonGlobalInputChanged, Path: "lock.txt"}}},
		{"dependency's source", "c", func(w *workspace) { w.write("pkgs/a/src/util.txt", "edited\n") },
			nil, []buildnet.Reason{{Kind: buildnet.ReasonDependencyChanged, Dependency: "b", Reasons: []buildnet.Reason{
				{Kind: buildnet.ReasonDependencyChanged, Dependency: "a", Reasons: []buildnet.Reason{
					{Kind: buildnet.ReasonFileChanged, Path: "src/util.txt"}}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorkspace(t)
			res, _ := w.build(buildnet.Request{})
			require.Equal(t, buildnet.StatusSuccess, res.Status)
			tt.change(w)
			res, _ = w.build(buildnet.Request{Packages: []string{tt.pkg}}, tt.env...)
			require.Equal(t, buildnet.StatusSuccess, res.Status, res.Error)
			var got buildnet.PackageResult
			for _, p := range res.Packages {
				if p.Name == tt.pkg {
					got = p
				}
			}
			require.Equal(t, buildnet.TierFullBuild, got.Tier)
			assert.Equal(t, tt.want, got.Reasons, "build result")
			ex := why(t, w, tt.pkg)
			assert.Equal(t, buildnet.TierFullBuild, ex.Tier)
			assert.Equal(t, tt.want, ex.Reasons, "why")
		})
	}
}

func TestWhyCascadeReadsWell(t *testing.T) {
	w := newWorkspace(t)
	w.build(buildnet.Request{})
	w.write("pkgs/b/src/x.txt", "x\n")
	w.build(buildnet.Request{})
	ex := why(t, w, "c")
	require.Len(t, ex.Reasons, 1)
	assert.Equal(t, "dependency b changed: file added: src/x.txt", ex.Reasons[0].String())

	// skips say which check decided them
	w.build(buildnet.Request{})
	ex = why(t, w, "c")
	assert.Equal(t, buildnet.TierInstantSkip, ex.Tier)
	assert.Equal(t, []buildnet.Reason{{Kind: buildnet.ReasonUnchangedStat}}, ex.Reasons)
}

func TestWhySinceAndDiff(t *testing.T) {
	w := newWorkspace(t)
	first, _ := w.build(buildnet.Request{Packages: []string{"d"}})
	w.write("pkgs/d/src/main.txt", "one\n")
	w.build(buildnet.Request{Packages: []string{"d"}})
	w.write("pkgs/d/src/extra.txt", "two\n")
	w.build(buildnet.Request{Packages: []string{"d"}})
	e := w.open()
	ex, err := e.Why(context.Background(), "d", first.ID)
	require.NoError(t, err)
	assert.Equal(t, []buildnet.Reason{
		{Kind: buildnet.ReasonFileAdded, Path: "src/extra.txt"},
		{Kind: buildnet.ReasonFileChanged, Path: "src/main.txt"},
	}, ex.Reasons)
	rs, err := e.Diff(context.Background(), first.Packages[0].Digest, ex.Digest)
	require.NoError(t, err)
	assert.Equal(t, ex.Reasons, rs)

	_, err = e.Why(context.Background(), "dd", "")
	assert.ErrorIs(t, err, buildnet.ErrUnknownPackage)
	_, err = e.Why(context.Background(), "c", "")
	assert.ErrorIs(t, err, buildnet.ErrNeverBuilt)
}

// treeSums hashes every file under root.
func treeSums(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			sums[rel] = sha256.Sum256([]byte("link:" + l))
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		sums[rel] = sha256.Sum256(b)
		return nil
	}))
	return sums
}

func TestDryRunChangesNothingAndPredicts(t *testing.T) {
	w := newWorkspace(t)
	plan := func() *buildnet.BuildResult {
		e, err := buildnet.Open(context.Background(), buildnet.Config{Root: w.root, ReadOnly: true})
		require.NoError(t, err)
		defer e.Close()
		res, err := e.Plan(context.Background(), buildnet.Request{})
		require.NoError(t, err)
		assert.True(t, res.DryRun)
		return res
	}
	check := func(step string) {
		before := treeSums(t, w.root)
		planned := plan()
		assert.Equal(t, before, treeSums(t, w.root), "%s: a dry run changes nothing", step)
		real, _ := w.build(buildnet.Request{})
		assert.Equal(t, tiers(real), tiers(planned), "%s: the plan predicts the build", step)
		for i := range real.Packages {
			assert.Equal(t, real.Packages[i].Digest, planned.Packages[i].Digest, step)
			assert.Equal(t, real.Packages[i].Reasons, planned.Packages[i].Reasons, step)
		}
	}
	check("fresh workspace") // no state at all: nothing is created either
	check("no change")
	future := filepath.Join(w.root, "pkgs/b/src/main.txt")
	require.NoError(t, os.Chtimes(future, timeIn(t, 60), timeIn(t, 60)))
	check("touch")
	w.write("pkgs/a/src/main.txt", "edit\n")
	check("edit a")
	require.NoError(t, os.RemoveAll(w.path("pkgs/d/dist")))
	check("outputs deleted")
	w.write("pkgs/a/src/main.txt", "package a\n")
	check("back to the first content: from the cache")
}

func TestEnvValuesNeverStored(t *testing.T) {
	w := newWorkspace(t)
	const secret = "hunter2-very-secret-value"
	res, _ := w.build(buildnet.Request{}, "BN_TEST_MODE="+secret)
	w.build(buildnet.Request{}, "BN_TEST_MODE=other-"+secret)
	out, err := json.Marshal(res)
	require.NoError(t, err)
	assert.NotContains(t, string(out), secret)
	e := w.open()
	ex, err := e.Why(context.Background(), "a", "")
	require.NoError(t, err)
	out, _ = json.Marshal(ex)
	assert.NotContains(t, string(out), secret)
	assert.Contains(t, string(out), "BN_TEST_MODE")
	m, err := e.Manifest(context.Background(), ex.Digest)
	require.NoError(t, err)
	out, _ = json.Marshal(m)
	assert.NotContains(t, string(out), secret)
	require.NoError(t, e.Close())
	require.NoError(t, filepath.WalkDir(w.path(".buildnet"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NotContains(t, string(b), secret, "%s holds the value", p)
		return nil
	}))
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

func TestAffected(t *testing.T) {
	w := newWorkspace(t)
	git(t, w.root, "init", "-q", "-b", "main")
	w.write(".gitignore", "dist/\n.buildnet/state.db*\n.buildnet/cache/\n.counts/\n")
	git(t, w.root, "add", "-A")
	git(t, w.root, "commit", "-q", "-m", "init")
	git(t, w.root, "checkout", "-q", "-b", "feature")
	w.write("pkgs/b/src/main.txt", "feature work\n")
	git(t, w.root, "commit", "-q", "-am", "change b")

	e := w.open()
	aff, warn, err := e.Affected(context.Background(), buildnet.GitRange{Base: "main", Head: "HEAD"})
	require.NoError(t, err)
	assert.Empty(t, warn)
	assert.Equal(t, []string{"b", "c"}, aff, "b and its dependent")

	// uncommitted and untracked changes count when no head is given
	w.write("pkgs/d/src/untracked.txt", "new\n")
	aff, _, err = e.Affected(context.Background(), buildnet.GitRange{Base: "main"})
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c", "d"}, aff)

	res, err := e.Build(context.Background(), buildnet.Request{Affected: &buildnet.GitRange{Base: "main", Head: "HEAD"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "full_build", "b": "full_build", "c": "full_build"}, tiers(res), "affected packages with their dependencies")

	_, _, err = e.Affected(context.Background(), buildnet.GitRange{Base: "no-such-branch"})
	assert.ErrorIs(t, err, buildnet.ErrGit)

	// a shallow clone that does not reach the base falls back to all
	clone := t.TempDir()
	git(t, t.TempDir(), "clone", "-q", "--depth", "1", "--branch", "feature", "file://"+w.root, clone)
	ce, err := buildnet.Open(context.Background(), buildnet.Config{Root: clone, ReadOnly: true})
	require.NoError(t, err)
	defer ce.Close()
	aff, warn, err = ce.Affected(context.Background(), buildnet.GitRange{Base: "main"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d"}, sortedCopy(aff))
	require.Len(t, warn, 1)
	assert.Contains(t, warn[0], "shallow clone")
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestSummary(t *testing.T) {
	w := newWorkspace(t)
	w.ws.Packages[3].BuildCmd = "sleep 0.2; " + buildCmd
	w.saveConfig()
	w.build(buildnet.Request{})
	require.NoError(t, os.RemoveAll(w.path("pkgs/d/dist")))
	w.write("pkgs/a/src/main.txt", "edited\n")
	res, _ := w.build(buildnet.Request{})
	e := w.open()
	s, err := e.Summary(context.Background(), res.ID)
	require.NoError(t, err)
	assert.Equal(t, 4, s.Totals.Packages)
	assert.Equal(t, 3, s.Totals.Executed)
	assert.Equal(t, 1, s.Totals.CacheHits)
	byName := map[string]buildnet.PackageSummary{}
	for _, p := range s.Packages {
		byName[p.Name] = p
	}
	d := byName["d"]
	assert.Equal(t, buildnet.TierCacheRestore, d.Tier)
	assert.GreaterOrEqual(t, d.SavedMs, int64(200), "the original build of d took at least its sleep")
	require.NotNil(t, d.Inputs)
	assert.Equal(t, 2, d.Inputs.Files)
	assert.Equal(t, []string{"BN_TEST_MODE"}, d.Inputs.Env)
	b := byName["b"]
	require.Len(t, b.Dependencies, 1)
	assert.Equal(t, "a", b.Dependencies[0].Name)
	assert.Equal(t, byName["a"].Digest, b.Dependencies[0].Digest)
	assert.Equal(t, s.Totals.SavedMs, d.SavedMs)
	assert.Contains(t, buildnet.FormatSummary(s), "1 restored")

	_, err = e.Summary(context.Background(), "nope")
	assert.ErrorIs(t, err, buildnet.ErrBuildNotFound)
}
