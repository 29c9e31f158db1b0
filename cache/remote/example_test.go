package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/remote"
	"github.com/musclemap/buildnet/cache/remote/remotetest"
	"github.com/musclemap/buildnet/hash"
)

// A CI job uploads in the background; a laptop downloads, verifying the
// signature both share.
func ExampleClient() {
	srv := remotetest.NewServer("token")
	defer srv.Close()
	ctx := context.Background()
	opts := remote.Options{URL: srv.URL, Team: "acme", Token: "token", SignatureKey: []byte("shared secret")}

	ci, _ := remote.New(opts)
	up := remote.NewUploader(ci, remote.UploaderOptions{})
	key := hash.Sum([]byte("input digest of a package"))
	up.Enqueue(key, 1200*time.Millisecond, func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, "artifact") // cache.Cache.Export in real use
		return err
	})
	up.Close(ctx) // waits for the upload

	laptop, _ := remote.New(opts)
	rc, err := laptop.Get(ctx, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	fmt.Println(string(body))

	_, err = laptop.Get(ctx, hash.Sum([]byte("never built")))
	fmt.Println(errors.Is(err, cache.ErrNotFound))

	srv.SetArtifact("acme", key.String(), remotetest.Artifact{Body: []byte("tampered"), Tag: strings.Repeat("A", 43)})
	_, err = laptop.Get(ctx, key)
	fmt.Println(errors.Is(err, remote.ErrSignature))
	fmt.Printf("%+v\n", laptop.Stats())
	// Output:
	// artifact
	// true
	// true
	// {Hits:1 Misses:1 Errors:1 Refused:1 Skipped:0 Uploads:0 BytesDown:16 BytesUp:0}
}
