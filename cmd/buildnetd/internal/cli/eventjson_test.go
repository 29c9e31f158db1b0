package cli

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// daemonEvents are events as the daemon sends them: every field the CLI
// reads and several it skips.
func daemonEvents(t testing.TB) [][]byte {
	ms := func(n int64) *int64 { return &n }
	at := time.Date(2026, 11, 26, 23, 47, 25, 806864582, time.UTC)
	res := &buildnet.BuildResult{ID: "20261126-234725.806136-0d47b8", Status: buildnet.StatusFailed, DurationMs: 84, StartedAt: at,
		Requester: "key:ci", Error: "1 package failed", Warnings: []string{"fell back to building everything"},
		Packages: []buildnet.PackageResult{
			{Name: "shared", Tier: buildnet.TierInstantSkip, Status: buildnet.StatusSuccess, Digest: "59eddfcf2d2e9ee3", Reason: &buildnet.Reason{Kind: buildnet.ReasonUnchangedStat}},
			{Name: "web", Tier: buildnet.TierCacheRestore, Status: buildnet.StatusSuccess, DurationMs: 3, CacheSource: "remote", SavedMs: 1200,
				Reason: &buildnet.Reason{Kind: buildnet.ReasonCacheHit, Source: "remote"}},
			{Name: "api", Tier: buildnet.TierFullBuild, Status: buildnet.StatusFailed, DurationMs: 40, Error: "exit status 2",
				Reason:  &buildnet.Reason{Kind: "dependency_changed", Dependency: "shared", Reasons: []buildnet.Reason{{Kind: buildnet.ReasonFileAdded, Path: "src/a.ts"}}},
				Reasons: []buildnet.Reason{{Kind: buildnet.ReasonForced}}, Output: []string{"\x1b[31merror\x1b[0m: types", "\tat main.ts:3 — “quoted”"}},
		}}
	events := []buildnet.Event{
		{Seq: 1, Type: buildnet.EventBuildStart, Time: at, BuildID: res.ID, Packages: []string{"shared", "web", "api"}, Requester: "key:ci"},
		{Seq: 2, Type: buildnet.EventPackageStart, Time: at, BuildID: res.ID, Package: "api"},
		{Seq: 3, Type: buildnet.EventPackageOutput, Time: at, BuildID: res.ID, Package: "api", Stream: "stderr", Line: "\x1b[31merror\x1b[0m <b>&</b>"},
		{Seq: 4, Type: buildnet.EventPackageComplete, Time: at, BuildID: res.ID, Package: "shared", Tier: buildnet.TierInstantSkip,
			Status: buildnet.StatusSuccess, DurationMs: ms(0), Digest: "59eddfcf2d2e9ee3", Reason: &buildnet.Reason{Kind: buildnet.ReasonUnchangedStat}},
		{Seq: 5, Type: buildnet.EventPackageComplete, Time: at, BuildID: res.ID, Package: "api", Tier: buildnet.TierFullBuild,
			Status: buildnet.StatusFailed, DurationMs: ms(40), Error: "exit status 2"},
		{Seq: 6, Type: buildnet.EventBuildComplete, Time: at, BuildID: res.ID, Status: res.Status, DurationMs: ms(84), Result: res},
	}
	var out [][]byte
	for _, ev := range events {
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func TestDaemonEventsTakeThePlainPath(t *testing.T) {
	for _, data := range daemonEvents(t) {
		var fast, slow streamEvent
		if err := scanEvent(data, &fast); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s:\n scanned %+v\n encoding/json %+v", data, fast, slow)
		}
	}
}

func TestDecodeEventFallsBackToEncodingJSON(t *testing.T) {
	// A null, a folded key and an escaped key are all left to encoding/json,
	// whose answer the CLI gets.
	var se streamEvent
	data := []byte(`{"seq":9,"Type":"package:complete","pack\u0061ge":"web","error":null,"result":null}`)
	if err := decodeEvent(data, &se); err != nil {
		t.Fatal(err)
	}
	if se.Seq != 9 || se.Type != buildnet.EventPackageComplete || se.Package != "web" || se.Result != nil {
		t.Errorf("decoded %+v", se)
	}
	if err := decodeEvent([]byte(`{"seq":"nine"}`), &se); err == nil {
		t.Error("a string seq decoded without error")
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, data := range daemonEvents(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow streamEvent
		errFast := decodeEvent(data, &fast)
		errSlow := json.Unmarshal(data, &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: decodeEvent error %v, encoding/json error %v", data, errFast, errSlow)
		}
		if errSlow == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\n decodeEvent   %+v\n encoding/json %+v", data, fast, slow)
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	data := daemonEvents(b)[3]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var se streamEvent
		if err := decodeEvent(data, &se); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEventEncodingJSON(b *testing.B) {
	data := daemonEvents(b)[3]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var se streamEvent
		if err := json.Unmarshal(data, &se); err != nil {
			b.Fatal(err)
		}
	}
}
