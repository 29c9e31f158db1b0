package artifacts_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts"
	"github.com/musclemap/buildnet/state"
)

func Example() {
	dir, err := os.MkdirTemp("", "artifacts")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	s, err := artifacts.Open(ctx, artifacts.Options{Dir: filepath.Join(dir, "artifacts"), Index: db, MaxSize: 1 << 30})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// What PUT /v8/artifacts/3ffe8eec5a903987?slug=acme does.
	body := "a tar.zst of outputs"
	if _, err := s.Put(ctx, "acme", "3ffe8eec5a903987", strings.NewReader(body), int64(len(body)),
		artifacts.Meta{DurationMs: 1001, Tag: "c2lnbmF0dXJl"}); err != nil {
		log.Fatal(err)
	}

	// What GET does: the body is verified as it is read.
	a, rc, err := s.Get(ctx, "acme", "3ffe8eec5a903987")
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%d bytes, built in %d ms, tag %s)\n", b, a.Size, a.DurationMs, a.Tag)

	// Teams are separate key spaces.
	_, _, err = s.Get(ctx, "other", "3ffe8eec5a903987")
	fmt.Println(err)
	st := s.Stats()
	fmt.Println(st.Entries, st.Hits, st.Misses)
	// Output:
	// a tar.zst of outputs (20 bytes, built in 1001 ms, tag c2lnbmF0dXJl)
	// get artifact other/3ffe8eec5a903987: artifacts: artifact not found
	// 1 1 1
}
