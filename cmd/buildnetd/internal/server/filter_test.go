package server

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/musclemap/buildnet/buildnet"
)

func TestFilter(t *testing.T) {
	t.Parallel()
	start := &buildnet.Event{Type: buildnet.EventBuildStart, Packages: []string{"core", "api"}}
	coreOut := &buildnet.Event{Type: buildnet.EventPackageOutput, Package: "core"}
	apiOut := &buildnet.Event{Type: buildnet.EventPackageOutput, Package: "api"}
	uiDone := &buildnet.Event{Type: buildnet.EventBuildComplete, Result: &buildnet.BuildResult{Packages: []buildnet.PackageResult{{Name: "ui"}}}}
	cleared := &buildnet.Event{Type: buildnet.EventCacheCleared}
	off := &filter{off: true}
	tests := []struct {
		name string
		f    *filter
		want [5]bool // start, coreOut, apiOut, uiDone, cleared
	}{
		{"zero passes all", &filter{}, [5]bool{true, true, true, true, true}},
		{"off passes nothing", off, [5]bool{}},
		{"subscribe all", off.subscribe(nil, nil), [5]bool{true, true, true, true, true}},
		{"one type", off.subscribe([]string{"package:output"}, nil), [5]bool{false, true, true, false, false}},
		{"one package", off.subscribe(nil, []string{"core"}), [5]bool{true, true, false, false, true}},
		{"type and package", off.subscribe([]string{"package:output"}, []string{"api"}), [5]bool{false, false, true, false, false}},
		{"widened", off.subscribe([]string{"package:output"}, nil).subscribe([]string{"cache:cleared"}, nil), [5]bool{false, true, true, false, true}},
		{"all but a type", off.subscribe(nil, nil).unsubscribe([]string{"package:output"}, nil), [5]bool{true, false, false, true, true}},
		{"all but a package", off.subscribe(nil, nil).unsubscribe(nil, []string{"api"}), [5]bool{true, true, false, true, true}},
		{"narrowed", off.subscribe([]string{"package:output", "build:start"}, nil).unsubscribe([]string{"build:start"}, nil), [5]bool{false, true, true, false, false}},
		{"unsubscribe all", off.subscribe(nil, nil).unsubscribe(nil, nil), [5]bool{}},
		{"resubscribed", off.subscribe(nil, nil).unsubscribe([]string{"package:output"}, nil).subscribe([]string{"package:output"}, nil), [5]bool{true, true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := [5]bool{tt.f.match(start), tt.f.match(coreOut), tt.f.match(apiOut), tt.f.match(uiDone), tt.f.match(cleared)}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStripANSI(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"plain":                                "plain",
		"\x1b[32mgreen\x1b[0m":                 "green",
		"\x1b[1;31mbold red\x1b[m!":            "bold red!",
		"\x1b]8;;http://x\x07link\x1b]8;;\x07": "link",
		"\x1b]0;title\x1b\\text":               "text",
		"a\x1bcb":                              "ab",
		"cut\x1b":                              "cut",
		"cut\x1b[12":                           "cut",
	}
	for in, want := range tests {
		assert.Equal(t, want, string(stripANSI([]byte(in))), "%q", in)
	}
}
