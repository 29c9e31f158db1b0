package cache_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

func ExampleCache() {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "cache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	c, err := cache.Open(filepath.Join(tmp, "cache"), cache.Options{MaxSize: 10 << 30})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// A build produced dist/index.js.
	dist := filepath.Join(tmp, "dist")
	os.MkdirAll(dist, 0o755)
	os.WriteFile(filepath.Join(dist, "index.js"), []byte("export default 42;\n"), 0o644)

	key := hash.Sum([]byte("the package's input digest"))
	if _, err := c.Store(ctx, key, "web", dist, []byte("compiled 1 file\n"), 2*time.Second); err != nil {
		log.Fatal(err)
	}

	// Later, with the same inputs: restore instead of building.
	m, err := c.Lookup(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	restored := filepath.Join(tmp, "elsewhere")
	st, err := c.Restore(ctx, m, restored)
	if err != nil {
		log.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(restored, "index.js"))
	buildLog, _ := c.ReadLog(ctx, m)
	stats, _ := c.Stats(ctx)

	fmt.Printf("package %s, built in %dms\n", m.Package, m.DurationMs)
	fmt.Printf("restored %d file(s): %s", st.Written, out)
	fmt.Printf("log: %s", buildLog)
	fmt.Printf("entries %d, hits %d\n", stats.Entries, stats.Hits)
	// Output:
	// package web, built in 2000ms
	// restored 1 file(s): export default 42;
	// log: compiled 1 file
	// entries 1, hits 1
}
