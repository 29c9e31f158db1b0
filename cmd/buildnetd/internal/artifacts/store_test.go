package artifacts

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConcurrentUse uploads, replaces, downloads and evicts from several
// goroutines, then checks that the store is consistent: its totals match
// the index, every artifact's blob is there and sound, and no blob is
// left that no artifact uses.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxSize: 20_000})
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 40 {
				key := fmt.Sprintf("k%02d", (g*7+i)%30)
				// Bodies repeat across keys and goroutines: blobs are shared.
				body := bytes.Repeat([]byte{byte(i % 5)}, 1000+(i%5)*100)
				if _, err := f.store.Put(ctx, "acme", key, bytes.NewReader(body), int64(len(body)), Meta{DurationMs: 1}); err != nil {
					t.Error(err)
					return
				}
				if _, rc, err := f.store.Get(ctx, "acme", fmt.Sprintf("k%02d", (g+i)%30)); err == nil {
					_, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	st := f.store.Stats()
	tot, err := f.db.ArtifactTotals(ctx)
	require.NoError(t, err)
	assert.Equal(t, tot.Entries, st.Entries)
	assert.Equal(t, tot.Bytes, st.Bytes)
	assert.LessOrEqual(t, st.Bytes, int64(20_000))
	assert.Positive(t, st.Evictions)
	assert.Zero(t, st.Corrupt)
	all, err := f.db.LeastRecentArtifacts(ctx, 1000)
	require.NoError(t, err)
	blobs := map[string]bool{}
	for _, a := range all {
		_, rc, err := f.store.Get(ctx, a.Team, a.Key)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, rc)
		require.NoError(t, err, "%s sound", a.Key)
		require.NoError(t, rc.Close())
		blobs[a.Blob.String()] = true
	}
	assert.Equal(t, len(blobs), countBlobs(t, f.dir), "no orphan blob")
}
