package main

import (
	"testing"
	"time"
)

func TestEventTimeMatchesTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-11-26T22:32:02.155792989Z", "2026-11-26T22:32:02.1Z", "2026-11-26T22:32:02Z",
		"2026-01-02T03:04:05.000000001Z", "2026-11-26T22:32:02.155792989+01:00",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := eventTime([]byte(`data: {"seq":1,"type":"x","time":"` + s + `"}`))
		if !ok || !got.Equal(want) {
			t.Errorf("eventTime(%s) = %v, %v; want %v", s, got, ok, want)
		}
	}
	if _, ok := eventTime([]byte(`data: {"seq":1}`)); ok {
		t.Error("a line without a time has one")
	}
	if _, ok := parseUTC([]byte("2026-11-26T22:32:02.1234567891Z")); ok {
		t.Error("ten fraction digits accepted")
	}
}
