package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

// serveCacheFlags are the flags of `start` for the remote cache the
// daemon serves (see docs/remote-cache.md).
type serveCacheFlags struct {
	on          bool
	maxSize     string
	maxArtifact string
	maxAge      time.Duration

	opts artifacts.Options // set by check
}

func (f *serveCacheFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.on, "serve-cache", false, "serve a remote cache (Turborepo protocol, /v8/artifacts) from <state dir>/artifacts to turbo and other BuildNet instances")
	fs.StringVar(&f.maxSize, "serve-cache-max-size", "10GB", "bound on the served cache's total size; the least recently used artifacts are evicted (0: no bound)")
	fs.StringVar(&f.maxArtifact, "serve-cache-max-artifact", "512MB", "largest artifact the served cache accepts; larger uploads get 413")
	fs.DurationVar(&f.maxAge, "serve-cache-max-age", 0, "evict served artifacts not used for this long (0: never)")
}

// check validates the flags.
func (f *serveCacheFlags) check() error {
	size, err := buildnet.ParseByteSize(f.maxSize)
	if err != nil {
		return usageErr("start: --serve-cache-max-size: %v", err)
	}
	one, err := buildnet.ParseByteSize(f.maxArtifact)
	if err != nil || one <= 0 {
		return usageErr("start: --serve-cache-max-artifact %q: want a positive size such as 512MB", f.maxArtifact)
	}
	if f.maxAge < 0 {
		return usageErr("start: --serve-cache-max-age %s: want a positive duration, or 0 for never", f.maxAge)
	}
	f.opts = artifacts.Options{MaxSize: int64(size), MaxArtifactSize: int64(one), MaxAge: f.maxAge}
	if size == 0 {
		f.opts.MaxSize = -1 // no bound
	}
	return nil
}

// open opens the served cache in e's state directory, with its index in
// the state database, when --serve-cache is on; it returns nil otherwise.
// The returned function closes it.
func (f *serveCacheFlags) open(ctx context.Context, e *buildnet.Engine, logger *slog.Logger) (*artifacts.Store, func(), error) {
	if !f.on {
		return nil, func() {}, nil
	}
	db, err := state.Open(ctx, filepath.Join(e.StateDir(), "state.db"), state.Options{Logger: logger.With("component", "state")})
	if err != nil {
		return nil, nil, fmt.Errorf("serve cache: %w", err)
	}
	opts := f.opts
	opts.Dir, opts.Index, opts.Logger = filepath.Join(e.StateDir(), "artifacts"), db, logger
	s, err := artifacts.Open(ctx, opts)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("serve cache: %w", err)
	}
	warnRateLimits(e, logger)
	st := s.Stats()
	logger.Info("serving a remote cache", "dir", s.Dir(), "entries", st.Entries, "bytes", st.Bytes,
		"max_size", st.MaxSize, "max_artifact_size", st.MaxArtifactSize, "max_age", f.maxAge)
	return s, func() {
		if err := errors.Join(s.Close(), db.Close()); err != nil {
			logger.Error("close served cache", "err", err)
		}
	}, nil
}

// cacheRequestRate is the request rate below which the read or build
// role's rate limit throttles a cold restore or a CI upload of a large
// workspace: each package is one request.
const cacheRequestRate = 100

// cacheBucketFactor is how much larger the cache requests' own bucket is
// than the role's limit (see the auth package).
const cacheBucketFactor = 50

// warnRateLimits warns when the rate limits of the roles cache keys have
// would throttle the served cache.
func warnRateLimits(e *buildnet.Engine, logger *slog.Logger) {
	st, err := auth.LoadSettings(filepath.Join(e.StateDir(), auth.SettingsFile))
	if err != nil {
		return // the server reports it
	}
	for role, l := range map[string]auth.Limit{"read": st.RateLimits.Read, "build": st.RateLimits.Build} {
		if l.Rate > 0 && l.Rate*cacheBucketFactor < cacheRequestRate {
			logger.Warn("cache requests draw from a bucket 50 times the role's rate limit, and that is still low: a build restoring or uploading many packages makes one request per package, and gets 429 beyond the limit; raise rate_limits in security.json for the roles of your cache keys",
				"role", role, "rate", l.Rate, "burst", l.Burst)
		}
	}
}
