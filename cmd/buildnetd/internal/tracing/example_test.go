package tracing_test

import (
	"fmt"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/tracing"
)

func ExampleTracer_Observe() {
	rec := tracetest.NewSpanRecorder()
	tr := tracing.New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), nil)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := int64(250)
	tr.Observe(buildnet.Event{Type: buildnet.EventBuildStart, BuildID: "b1", Time: t0, Packages: []string{"api"}})
	tr.Observe(buildnet.Event{Type: buildnet.EventPackageStart, BuildID: "b1", Package: "api", Time: t0})
	tr.Observe(buildnet.Event{Type: buildnet.EventPackageComplete, BuildID: "b1", Package: "api", Time: t0.Add(250 * time.Millisecond),
		Tier: buildnet.TierFullBuild, Status: buildnet.StatusSuccess, DurationMs: &ms})
	tr.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, BuildID: "b1", Time: t0.Add(300 * time.Millisecond), Status: buildnet.StatusSuccess})
	for _, s := range rec.Ended() {
		fmt.Println(s.Name(), s.EndTime().Sub(s.StartTime()), s.Parent().IsValid())
	}
	// Output:
	// package api 250ms true
	// build 300ms false
}
