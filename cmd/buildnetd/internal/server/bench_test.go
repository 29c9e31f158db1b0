package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/musclemap/buildnet/buildnet"
)

// BenchmarkBuildCachedWait is a no-op build (every package instant_skip)
// through POST /build/{package}?wait=true: the HTTP and JSON overhead over
// BenchmarkEngineNoopBuild.
func BenchmarkBuildCachedWait(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	f.build("/build/api", "")
	client := testClient
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(f.url+"/build/api?wait=true", "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		var res buildnet.BuildResult
		err = json.NewDecoder(resp.Body).Decode(&res)
		_, _ = io.Copy(io.Discard, resp.Body) // to EOF, so the connection is reused
		resp.Body.Close()
		if err != nil || res.Status != buildnet.StatusSuccess || res.Packages[1].Tier != buildnet.TierInstantSkip {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkEngineNoopBuild is the same no-op build in process.
func BenchmarkEngineNoopBuild(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	f.build("/build/api", "")
	ctx := context.Background()
	req := buildnet.Request{Packages: []string{"api"}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := f.e.Build(ctx, req)
		if err != nil || res.Status != buildnet.StatusSuccess || res.Packages[1].Tier != buildnet.TierInstantSkip {
			b.Fatalf("%v %+v", err, res)
		}
	}
}

// BenchmarkStatus is GET /status from one client.
func BenchmarkStatus(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	f.build("/build/api", "")
	client := testClient
	b.ReportAllocs()
	for b.Loop() {
		getStatus(b, client, f.url)
	}
}

// BenchmarkStatusParallel is GET /status from concurrent clients.
func BenchmarkStatusParallel(b *testing.B) {
	f := newFixture(b, fixtureOpts{})
	f.build("/build/api", "")
	client := withAdmin(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			getStatus(b, client, f.url)
		}
	})
}

func getStatus(b *testing.B, client *http.Client, url string) {
	resp, err := client.Get(url + "/status")
	if err != nil {
		b.Error(err)
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Errorf("status %d: %v", resp.StatusCode, err)
	}
}
