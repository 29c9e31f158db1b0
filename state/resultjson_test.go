package state

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/hash"
)

// reflectResultJSON is PackageResult's JSON as encoding/json writes it by
// reflection: the reference appendResultJSON must match byte for byte.
func reflectResultJSON(t testing.TB, r PackageResult) []byte {
	var (
		b   []byte
		err error
	)
	if len(r.Reason) > 0 && r.Reason[0] == '[' && json.Valid([]byte(r.Reason)) {
		raw := r.Reason
		r.Reason = ""
		b, err = json.Marshal(struct {
			packageResultJSON
			Reasons json.RawMessage `json:"reasons"`
		}{packageResultJSON(r), json.RawMessage(raw)})
	} else {
		b, err = json.Marshal(packageResultJSON(r))
	}
	require.NoError(t, err)
	return b
}

func TestResultJSONMatchesReflection(t *testing.T) {
	started := time.Date(2026, 11, 26, 22, 30, 1, 123456789, time.FixedZone("x", 3600))
	cases := []PackageResult{
		{Package: "api", Status: "success"},
		{Package: "api", Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte("x")), DurationMs: 3,
			Reason: `[{"kind":"unchanged_stat"}]`, StartedAt: started},
		{Package: "ui", Tier: "full_build", Status: "failed", Error: "exit status 1\n<b>\"quoted\" & \\ \t ünïcode \u2028", DurationMs: -1,
			Reason: "plain text reason", CacheSource: "remote", SavedMs: 1200, StartedAt: time.Unix(0, 0).UTC()},
		{Package: "x", Status: "success", Reason: "[not json"},
		{Package: "x", Status: "success", Reason: "[ {\"kind\" : \"forced\"} ,\n {\"kind\":\"a b\"} ]"},
		{Package: "bad\xffutf8", Status: "success", Error: "\x00\x1f"},
	}
	for _, c := range cases {
		want := reflectResultJSON(t, c)
		got, err := json.Marshal(c)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		var back PackageResult
		require.NoError(t, json.Unmarshal(got, &back))
	}
	all := appendResultsJSON(nil, cases)
	var back []PackageResult
	require.NoError(t, json.Unmarshal(all, &back))
	require.Len(t, back, len(cases))
	require.Equal(t, "api", back[1].Package)
	require.True(t, back[1].StartedAt.Equal(started))
}

func TestResultJSONRejectsYearsWithoutRFC3339Form(t *testing.T) {
	_, err := json.Marshal(PackageResult{Package: "a", Status: "success", StartedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	require.Error(t, err)
	require.ErrorIs(t, checkResults([]PackageResult{{Package: "a", StartedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}}), ErrInvalid)
}

func FuzzResultJSON(f *testing.F) {
	f.Add("api", "instant_skip", "success", "", `[{"kind":"unchanged_stat"}]`, "local", int64(3), int64(0), int64(1764196201123456789))
	f.Add("a<b>", "", "failed", "x\"\\\n\u2028", "text", "", int64(-5), int64(9), int64(0))
	f.Fuzz(func(t *testing.T, name, tier, status, errMsg, reason, source string, dur, saved, startNs int64) {
		r := PackageResult{Package: name, Tier: tier, Status: status, Error: errMsg, Reason: reason, CacheSource: source,
			DurationMs: dur, SavedMs: saved, Digest: hash.Sum([]byte(name))}
		if startNs != 0 {
			r.StartedAt = time.Unix(0, startNs).UTC()
		}
		want := reflectResultJSON(t, r)
		got := appendResultJSON(nil, r)
		if string(want) != string(got) {
			t.Fatalf("appendResultJSON\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkResultsJSON encodes the results of a no-op build of 500
// packages, as FinishBuild stores them, field by field and with
// encoding/json.
func BenchmarkResultsJSON(b *testing.B) {
	rs := make([]PackageResult, 500)
	for i := range rs {
		rs[i] = PackageResult{Package: "p" + strconv.Itoa(i), Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte{byte(i)}),
			Reason: `[{"kind":"unchanged_stat"}]`, StartedAt: time.Now()}
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 256*len(rs))
		for b.Loop() {
			buf = appendResultsJSON(buf[:0], rs)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range rs {
				_ = reflectResultJSON(b, r)
			}
		}
	})
}
