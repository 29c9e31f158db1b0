package auth

import (
	"testing"
	"time"
)

// Remote cache requests (one per package and task) draw from a bucket of
// their own, larger than the one of ordinary API calls.
func TestCacheRequestsHaveTheirOwnBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiters(Limits{Read: Limit{Rate: 1, Burst: 2}}, func() time.Time { return now })
	api, cache := 0, 0
	for range 200 {
		if ok, _ := l.allow("p:ci", RoleRead); ok {
			api++
		}
		if ok, _ := l.allow(cacheBucket+"ci", RoleRead); ok {
			cache++
		}
	}
	if api != 2 {
		t.Errorf("API calls allowed = %d, want the burst of 2", api)
	}
	if cache != 2*cacheFactor {
		t.Errorf("cache requests allowed = %d, want %d", cache, 2*cacheFactor)
	}
}
