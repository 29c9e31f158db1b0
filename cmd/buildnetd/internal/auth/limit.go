package auth

import (
	"math"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token-bucket rate limit: Rate requests a second on average,
// bursts of up to Burst. A zero Rate means no limit.
type Limit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// Limits are the rate limits of each role, applied per principal (a user
// or a key), and of unauthenticated requests, applied per source IP.
type Limits struct {
	Read  Limit `json:"read"`
	Build Limit `json:"build"`
	Admin Limit `json:"admin"`
	// Anonymous limits the requests that fail to authenticate, per IP: a
	// brake on guessing passwords and keys.
	Anonymous Limit `json:"anonymous"`
}

// DefaultLimits are generous enough for a panel and a CLI, and stop a
// runaway script.
func DefaultLimits() Limits {
	return Limits{
		Read:      Limit{Rate: 20, Burst: 100},
		Build:     Limit{Rate: 20, Burst: 100},
		Admin:     Limit{Rate: 50, Burst: 200},
		Anonymous: Limit{Rate: 2, Burst: 20},
	}
}

// of returns the limit of role r.
func (l Limits) of(r Role) Limit {
	switch r {
	case RoleRead:
		return l.Read
	case RoleBuild:
		return l.Build
	case RoleAdmin:
		return l.Admin
	}
	return l.Anonymous
}

// LimitStatus is a caller's rate limit as /status shows it.
type LimitStatus struct {
	Role      string  `json:"role"`
	Rate      float64 `json:"rate"`
	Burst     int     `json:"burst"`
	Remaining int     `json:"remaining"`
	Unlimited bool    `json:"unlimited,omitempty"`
}

// limiters holds a token bucket per principal.
type limiters struct {
	now func() time.Time

	// mu guards the fields below.
	mu     sync.Mutex
	limits Limits
	m      map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	role Role
	used time.Time
}

func newLimiters(l Limits, now func() time.Time) *limiters {
	return &limiters{now: now, limits: l, m: map[string]*bucket{}}
}

// set replaces the limits; buckets start afresh.
func (l *limiters) set(lim Limits) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.limits = lim
	clear(l.m)
}

func (l *limiters) get() Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limits
}

// bucketLocked returns key's bucket for role, made on first use.
func (l *limiters) bucketLocked(key string, role Role, now time.Time) *bucket {
	b := l.m[key]
	if b == nil || b.role != role {
		lim := l.limits.of(role)
		if strings.HasPrefix(key, cacheBucket) {
			// A remote cache client asks once per package and task: its
			// requests get a bucket of their own, cacheFactor times larger.
			lim.Rate *= cacheFactor
			lim.Burst *= cacheFactor
		}
		r, burst := rate.Limit(lim.Rate), lim.Burst
		if lim.Rate <= 0 {
			r = rate.Inf
		}
		if burst <= 0 {
			burst = max(1, int(math.Ceil(lim.Rate)))
		}
		b = &bucket{lim: rate.NewLimiter(r, burst), role: role}
		l.m[key] = b
	}
	b.used = now
	return b
}

// cacheBucket prefixes the keys of remote cache requests' buckets, and
// cacheFactor scales their limits.
const (
	cacheBucket = "cache:"
	cacheFactor = 50
)

// allow takes a token from key's bucket. When there is none it returns
// false and how long until there is.
func (l *limiters) allow(key string, role Role) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	b := l.bucketLocked(key, role, now)
	l.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// status describes key's bucket.
func (l *limiters) status(key string, role Role) LimitStatus {
	now := l.now()
	l.mu.Lock()
	b := l.bucketLocked(key, role, now)
	lim := l.limits.of(role)
	l.mu.Unlock()
	st := LimitStatus{Role: role.String(), Rate: lim.Rate, Burst: b.lim.Burst()}
	if lim.Rate <= 0 {
		st.Unlimited = true
		return st
	}
	st.Remaining = max(0, int(math.Floor(b.lim.TokensAt(now))))
	return st
}

// sweep forgets the buckets unused since before.
func (l *limiters) sweep(before time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.m {
		if b.used.Before(before) {
			delete(l.m, k)
		}
	}
}
