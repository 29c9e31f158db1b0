package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func TestEventJSONMatchesReflection(t *testing.T) {
	d, zero := int64(42), int64(0)
	now := time.Date(2026, 11, 26, 22, 40, 1, 120000000, time.UTC)
	cases := []buildnet.Event{
		{Seq: 1, Type: buildnet.EventBuildStart, Time: now, BuildID: "b1", Packages: []string{"a", "b<c>"}, Requester: "key:k1"},
		{Seq: 2, Type: buildnet.EventPackageStart, Time: now, BuildID: "b1", Package: "a"},
		{Seq: 3, Type: buildnet.EventPackageOutput, Time: now, BuildID: "b1", Package: "a", Stream: "stderr", Line: "\x1b[31mred\x1b[0m & \"quoted\" \\ ünï"},
		{Seq: 4, Type: buildnet.EventPackageComplete, Time: now, BuildID: "b1", Package: "a", Tier: buildnet.TierInstantSkip,
			Status: buildnet.StatusSuccess, DurationMs: &zero, Digest: "59eddf", Reason: &buildnet.Reason{Kind: buildnet.ReasonUnchangedStat}},
		{Seq: 5, Type: buildnet.EventPackageComplete, Time: now.In(time.FixedZone("x", -3600)), BuildID: "b1", Package: "b", Tier: buildnet.TierFullBuild,
			Status: buildnet.StatusFailed, DurationMs: &d, Error: "exit status 1", Reason: &buildnet.Reason{Kind: buildnet.ReasonFileChanged, Path: "src/x.ts", Message: "m"}},
		{Seq: 6, Type: buildnet.EventPackageComplete, Time: now, Package: "c", Reason: &buildnet.Reason{Kind: buildnet.ReasonDependencyChanged, Dependency: "a",
			Reasons: []buildnet.Reason{{Kind: buildnet.ReasonFileAdded, Path: "p"}}}},
		{Seq: 7, Type: buildnet.EventBuildComplete, Time: now, BuildID: "b1", Status: buildnet.StatusSuccess,
			Result: &buildnet.BuildResult{ID: "b1", Status: buildnet.StatusSuccess, Packages: []buildnet.PackageResult{{Name: "a"}}}},
		{Seq: 8, Type: buildnet.EventConfigReloaded, Time: now, Change: &buildnet.ConfigChange{Added: []string{"x"}}},
		{Seq: 9, Type: buildnet.EventPackageStart},
		{Seq: 10, Type: buildnet.EventPackageStart, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, ev := range cases {
		want, wantErr := json.Marshal(ev)
		got, err := appendEventJSON(nil, &ev)
		if wantErr != nil {
			require.Error(t, err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add(uint64(1), "package:complete", "b1", "api", "stdout", "line", "instant_skip", "success", int64(3), "d", "", "unchanged_stat", "", int64(1764196201123456789))
	f.Add(uint64(2), "package:output", "", "a<b", "", "\x1b[1m\u2028\xff", "", "", int64(-1), "", "e&", "file_changed", "x\"y", int64(0))
	f.Fuzz(func(t *testing.T, seq uint64, typ, build, pkg, stream, line, tier, status string, dur int64, digest, errMsg, kind, path string, ns int64) {
		ev := buildnet.Event{Seq: seq, Type: buildnet.EventType(typ), Time: time.Unix(0, ns).UTC(), BuildID: build, Package: pkg, Stream: stream,
			Line: line, Tier: buildnet.Tier(tier), Status: buildnet.Status(status), Digest: digest, Error: errMsg, Packages: []string{pkg, line}[:len(pkg)%3]}
		if dur >= 0 {
			ev.DurationMs = &dur
		}
		if kind != "" {
			ev.Reason = &buildnet.Reason{Kind: buildnet.ReasonKind(kind), Path: path}
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Skip()
		}
		got, err := appendEventJSON(nil, &ev)
		if err != nil || string(got) != string(want) {
			t.Fatalf("appendEventJSON\n got %s (%v)\nwant %s", got, err, want)
		}
	})
}

// BenchmarkEventJSON compares the encoding of a package:complete event
// field by field with encoding/json's.
func BenchmarkEventJSON(b *testing.B) {
	d := int64(3)
	ev := buildnet.Event{Seq: 42, Type: buildnet.EventPackageComplete, Time: time.Now(), BuildID: "20261126-224823.188463-2f8fb4",
		Package: "p0042", Tier: buildnet.TierInstantSkip, Status: buildnet.StatusSuccess, DurationMs: &d,
		Digest: "59eddfcf2d2e9ee3ee5e5085852a3c59908c5d6ccd72063a91614ba8985f804c", Reason: &buildnet.Reason{Kind: buildnet.ReasonUnchangedStat}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = appendEventJSON(buf[:0], &ev)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(ev)
		}
	})
}
