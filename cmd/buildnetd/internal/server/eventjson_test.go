package server

import (
	"encoding/json"
	"fmt"
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

func TestResultJSONMatchesReflection(t *testing.T) {
	now := time.Date(2026, 11, 26, 22, 40, 1, 120000000, time.FixedZone("x", 5400))
	full := &buildnet.BuildResult{ID: "b1", Status: buildnet.StatusFailed, DurationMs: 84, StartedAt: now, Requester: "key:ci <bot>",
		Error: "failed: api", DryRun: true, Warnings: []string{"fell back", "\u2028"},
		Packages: []buildnet.PackageResult{
			{Name: "shared", Tier: buildnet.TierInstantSkip, Status: buildnet.StatusSuccess, Digest: "59eddf", Reason: &buildnet.Reason{Kind: buildnet.ReasonUnchangedStat}},
			{Name: "web", Tier: buildnet.TierCacheRestore, Status: buildnet.StatusSuccess, DurationMs: 3, CacheSource: "remote", SavedMs: 1200,
				Reason: &buildnet.Reason{Kind: buildnet.ReasonCacheHit, Source: "remote"}},
			{Name: "api", Tier: buildnet.TierFullBuild, Status: buildnet.StatusFailed, DurationMs: -1, Error: "exit status 2",
				Reason: &buildnet.Reason{Kind: buildnet.ReasonDependencyChanged, Dependency: "shared", Message: "m",
					Reasons: []buildnet.Reason{{Kind: buildnet.ReasonFileAdded, Path: "src/a&b.ts", Reasons: []buildnet.Reason{{Kind: "x"}}}}},
				Reasons: []buildnet.Reason{{Kind: buildnet.ReasonForced}, {Kind: buildnet.ReasonEnvChanged, Name: "NODE_ENV"}},
				Output:  []string{"\x1b[31merror\x1b[0m: types", "\tat main.ts:3 — “quoted” \xff"}},
			{Name: "none", Status: buildnet.StatusSkipped, Reasons: []buildnet.Reason{}, Output: []string{}},
		}}
	cases := []*buildnet.BuildResult{
		full,
		{ID: "empty", Status: buildnet.StatusSuccess},
		{ID: "no packages", Packages: []buildnet.PackageResult{}},
		{ID: "year 10000", StartedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, r := range cases {
		want, wantErr := json.Marshal(r)
		got, err := appendResultJSON(nil, r)
		if wantErr != nil {
			require.Error(t, err, r.ID)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		ev := buildnet.Event{Seq: 9, Type: buildnet.EventBuildComplete, Time: now, BuildID: r.ID, Status: r.Status, Result: r}
		want, _ = json.Marshal(ev)
		got, err = appendEventJSON(nil, &ev)
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
		if seq%2 == 0 {
			// A build:complete with a result made of the same strings.
			ev.Result = &buildnet.BuildResult{ID: build, Status: buildnet.Status(status), DurationMs: dur, StartedAt: ev.Time,
				Requester: errMsg, Warnings: ev.Packages, Packages: []buildnet.PackageResult{{Name: pkg, Tier: buildnet.Tier(tier),
					Status: buildnet.Status(status), DurationMs: dur, Digest: digest, Error: line, Reason: ev.Reason, SavedMs: dur / 2,
					CacheSource: stream, Output: ev.Packages}}}
			if ev.Reason != nil {
				ev.Result.Packages[0].Reasons = []buildnet.Reason{*ev.Reason, {Kind: "k", Reasons: []buildnet.Reason{*ev.Reason}}}
			}
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

// BenchmarkResultJSON compares the encoding of a no-op build's result of
// 500 packages (the answer of a waited build, the end of its stream) with
// encoding/json's.
func BenchmarkResultJSON(b *testing.B) {
	res := &buildnet.BuildResult{ID: "20261126-224823.188463-2f8fb4", Status: buildnet.StatusSuccess, DurationMs: 1, StartedAt: time.Now()}
	for i := range 500 {
		res.Packages = append(res.Packages, buildnet.PackageResult{Name: fmt.Sprintf("p%04d", i), Tier: buildnet.TierInstantSkip,
			Status: buildnet.StatusSuccess, Digest: "59eddfcf2d2e9ee3ee5e5085852a3c59908c5d6ccd72063a91614ba8985f804c",
			Reason: &buildnet.Reason{Kind: buildnet.ReasonUnchangedStat}})
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 128<<10)
		for b.Loop() {
			buf, _ = appendResultJSON(buf[:0], res)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
