package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets measure start this test binary as its writer.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMeasureGetsEveryMessage(t *testing.T) {
	// measure fails unless every stream got every round's message whole.
	if err := measure(3, 5, 4096, time.Millisecond, ""); err != nil {
		t.Fatal(err)
	}
}

func TestMeasureReportsAWriterThatCannotStart(t *testing.T) {
	if err := measure(1, 1, 64, time.Millisecond, "no-such-cpu-list"); err == nil {
		t.Fatal("a writer under a bad CPU list did not fail the measure")
	}
}
