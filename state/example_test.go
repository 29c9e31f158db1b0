package state_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/state"
)

func Example() {
	dir, err := os.MkdirTemp("", "buildnet-state")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	db, err := state.Open(ctx, filepath.Join(dir, ".buildnet", "state.db"), state.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Record a build and its outcome.
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if err := db.CreateBuild(ctx, state.Build{ID: "b1", Status: state.StatusRunning, Requester: "cli", CreatedAt: start}); err != nil {
		log.Fatal(err)
	}
	digest := hash.Sum([]byte("api inputs"))
	results := []state.PackageResult{
		{Package: "shared", Tier: "instant_skip", Status: "success"},
		{Package: "api", Tier: "full_build", Status: "success", Digest: digest, DurationMs: 840},
	}
	if err := db.FinishBuild(ctx, "b1", state.StatusSuccess, "", start.Add(900*time.Millisecond), results); err != nil {
		log.Fatal(err)
	}
	// Remember what api was built from, for the next build's skip decision.
	if err := db.PutPackageStates(ctx, []state.PackageState{{Name: "api", Digest: digest}}); err != nil {
		log.Fatal(err)
	}

	// Query the history: builds in which api ran a full build.
	builds, next, err := db.Builds(ctx, state.Query{Package: "api", Tier: "full_build"})
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range builds {
		fmt.Println(b.ID, b.Status, b.DurationMs, "ms")
		for _, p := range b.Packages {
			fmt.Println(" ", p.Package, p.Tier)
		}
	}
	fmt.Printf("next page: %q\n", next)

	states, err := db.PackageStates(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("api built from", states["api"].Digest == digest)
	// Output:
	// b1 success 900 ms
	//   shared instant_skip
	//   api full_build
	// next page: ""
	// api built from true
}
