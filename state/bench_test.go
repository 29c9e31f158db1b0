package state

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/musclemap/buildnet/hash"
)

func BenchmarkPackageStates(b *testing.B) {
	db := newBenchDB(b)
	ctx := b.Context()
	const n, size = 100, 10 << 10
	states := make([]PackageState, n)
	for i := range states {
		name := fmt.Sprintf("pkg-%03d", i)
		states[i] = PackageState{Name: name, Digest: hash.Sum([]byte(name)), Snapshot: bytes.Repeat([]byte{byte(i)}, size)}
	}
	if err := db.PutPackageStates(ctx, states); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * size)
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.PackageStates(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != n {
			b.Fatalf("got %d states, want %d", len(got), n)
		}
	}
}

// BenchmarkFinishBuild measures recording a build of 100 packages; each
// iteration creates the build it finishes.
func BenchmarkFinishBuild(b *testing.B) {
	db := newBenchDB(b)
	ctx := b.Context()
	results := make([]PackageResult, 100)
	for i := range results {
		name := fmt.Sprintf("pkg-%03d", i)
		results[i] = PackageResult{Package: name, Tier: "hash_skip", Status: "success", Digest: hash.Sum([]byte(name)),
			DurationMs: int64(i), Reason: `{"unchanged":true}`, StartedAt: time.Now()}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("build-%d", i)
		i++
		if err := db.CreateBuild(ctx, Build{ID: id, Status: StatusRunning}); err != nil {
			b.Fatal(err)
		}
		if err := db.FinishBuild(ctx, id, StatusSuccess, "", time.Time{}, results); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchDB(b *testing.B) *DB {
	b.Helper()
	db, err := Open(b.Context(), b.TempDir()+"/state.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

// BenchmarkCreateNoopBuild measures recording, in one write, a finished
// build of 500 packages that were all instant_skip: what a watching
// daemon writes for every "nothing changed" build.
func BenchmarkCreateNoopBuild(b *testing.B) {
	db := newBenchDB(b)
	ctx := b.Context()
	results := make([]PackageResult, 500)
	for i := range results {
		name := fmt.Sprintf("p%04d", i)
		results[i] = PackageResult{Package: name, Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte(name)),
			Reason: `{"kind":"unchanged_stat"}`}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		for j := range results {
			results[j].StartedAt = start // as the engine records them
		}
		err := db.CreateBuild(ctx, Build{ID: fmt.Sprintf("build-%d", i), Status: StatusSuccess, Requester: "key:bench",
			CreatedAt: start, StartedAt: start, FinishedAt: start.Add(time.Millisecond), Packages: results})
		if err != nil {
			b.Fatal(err)
		}
	}
}
