package buildnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/remote"
	"github.com/musclemap/buildnet/hash"
)

// RemoteTypeTurbo is the built-in remote cache type: a server speaking the
// Turborepo remote cache protocol. It is what an empty
// [RemoteConfig.Type] means.
const RemoteTypeTurbo = "turbo"

// DefaultRemoteTimeout bounds each remote cache request when
// [RemoteConfig.Timeout] is zero. Closing an engine waits as long for
// its uploads.
const DefaultRemoteTimeout = 30 * time.Second

// RemoteConfig configures a remote cache shared between machines, under
// "cache.remote" in the configuration. A package the local cache misses is
// looked up there before it is built, and (with Write) a package that was
// built is uploaded in the background. Failures of the remote cache are
// logged and counted, never a failed build: the package is built instead.
//
// The defaults, read on and write off, suit laptops: the usual setup is
// "CI writes, laptops read", so that only trusted CI machines can put
// artifacts into the shared cache (see docs/remote-cache.md).
type RemoteConfig struct {
	// Type selects the implementation: "" or "turbo" for the built-in
	// Turborepo protocol client, or the name of a backend in the
	// engine's [Registry], which receives this whole object as JSON.
	Type string `json:"type,omitempty"`
	// URL is the server's base address, such as
	// "https://cache.example.com"; the client adds /v8/artifacts/….
	// Required for the built-in type.
	URL string `json:"url,omitempty"`
	// Team is the team slug, or a Vercel team id (starting with team_).
	Team string `json:"team,omitempty"`
	// TokenEnv names the environment variable holding the bearer token.
	// The token is read from the engine's environment, never stored in
	// the configuration, never logged.
	TokenEnv string `json:"token_env,omitempty"`
	// Read makes builds look packages up in the remote cache; nil means
	// true.
	Read *bool `json:"read,omitempty"`
	// Write makes builds upload what they built; false by default.
	Write bool `json:"write,omitempty"`
	// SignatureKeyEnv names the environment variable holding a secret
	// shared by every machine. When set, uploads are signed and an
	// artifact without a valid signature is refused.
	SignatureKeyEnv string `json:"signature_key_env,omitempty"`
	// Timeout bounds each request ("30s"); 0 means
	// [DefaultRemoteTimeout].
	Timeout Duration `json:"timeout,omitempty"`

	// raw is the object as read, for a registry backend.
	raw json.RawMessage
}

// remoteFields is RemoteConfig without its methods, for plain decoding.
type remoteFields RemoteConfig

// UnmarshalJSON reads the object strictly for the built-in type, and
// keeps it whole for a registry backend, whose own fields it cannot know.
func (c *RemoteConfig) UnmarshalJSON(data []byte) error {
	var probe struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return err
	}
	var f remoteFields
	dec := json.NewDecoder(bytes.NewReader(data))
	if probe.Type == "" || probe.Type == RemoteTypeTurbo {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("cache.remote: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	f.raw = bytes.Clone(data)
	*c = RemoteConfig(f)
	return nil
}

// MarshalJSON writes the object as read for a registry backend, so that
// its own fields survive.
func (c RemoteConfig) MarshalJSON() ([]byte, error) {
	if !c.builtin() && c.raw != nil {
		return c.raw, nil
	}
	f := remoteFields(c)
	f.raw = nil
	return json.Marshal(f)
}

// IsZero reports whether no remote cache is configured.
func (c RemoteConfig) IsZero() bool {
	return c.Type == "" && c.URL == "" && c.Team == "" && c.TokenEnv == "" && c.Read == nil &&
		!c.Write && c.SignatureKeyEnv == "" && c.Timeout == 0
}

// CanRead reports whether builds look packages up in the remote cache.
func (c RemoteConfig) CanRead() bool { return c.Read == nil || *c.Read }

func (c RemoteConfig) builtin() bool { return c.Type == "" || c.Type == RemoteTypeTurbo }

func (c RemoteConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultRemoteTimeout
	}
	return time.Duration(c.Timeout)
}

// validate checks the remote cache settings; the zero value is valid.
func (c RemoteConfig) validate() *ConfigError {
	if c.IsZero() {
		return nil
	}
	field := func(f string) string { return "cache.remote." + f }
	if c.builtin() {
		if c.URL == "" {
			return &ConfigError{Field: field("url"), Msg: "missing: the remote cache server's base address, e.g. \"https://cache.example.com\""}
		}
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			return &ConfigError{Field: field("url"), Msg: fmt.Sprintf("not a URL: %v", err), Err: err}
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			return &ConfigError{Field: field("url"), Msg: fmt.Sprintf("%q is not an http or https address", u.Redacted())}
		case u.RawQuery != "" || u.Fragment != "":
			return &ConfigError{Field: field("url"), Msg: "give the base address only: team and paths are added by BuildNet"}
		case u.User != nil:
			return &ConfigError{Field: field("url"), Msg: "holds credentials: put the token in the environment variable named by token_env"}
		}
	}
	for f, v := range map[string]string{"token_env": c.TokenEnv, "signature_key_env": c.SignatureKeyEnv} {
		if v != "" && !envNameRE().MatchString(v) {
			// Not quoted: it may well be the secret itself.
			return &ConfigError{Field: field(f), Msg: "not an environment variable name: give the variable's name, not its value"}
		}
	}
	if c.Timeout < 0 {
		return &ConfigError{Field: field("timeout"), Msg: "must not be negative"}
	}
	return nil
}

// RemoteStats describes the remote cache and counts its use since the
// engine opened.
type RemoteStats struct {
	Configured bool `json:"configured"`
	// Disabled says why a configured remote cache is not used, such as a
	// token variable that is not set.
	Disabled string `json:"disabled,omitempty"`
	Type     string `json:"type,omitempty"`
	URL      string `json:"url,omitempty"` // any password masked
	Team     string `json:"team,omitempty"`
	Read     bool   `json:"read"`
	Write    bool   `json:"write"`
	Signed   bool   `json:"signed"`

	Hits      int64 `json:"hits"`       // packages whose artifact was downloaded and verified
	Misses    int64 `json:"misses"`     // lookups the remote did not hold
	Errors    int64 `json:"errors"`     // failed lookups and uploads, refused artifacts included
	Refused   int64 `json:"refused"`    // artifacts refused: bad signature, failed verification, too large
	Skipped   int64 `json:"skipped"`    // requests not sent while the remote rests after repeated failures
	BytesDown int64 `json:"bytes_down"` // artifact bytes downloaded
	BytesUp   int64 `json:"bytes_up"`   // artifact bytes uploaded

	Uploads        int64 `json:"uploads"`         // artifacts uploaded
	UploadsPending int64 `json:"uploads_pending"` // queued or in progress
	UploadsFailed  int64 `json:"uploads_failed"`  // given up after retries
	UploadsDropped int64 `json:"uploads_dropped"` // not attempted: queue full or engine closing
}

// remoteState holds an engine's remote cache, made on first use from the
// configuration in force and made again when that configuration changes.
type remoteState struct {
	// mu guards everything below.
	mu      sync.Mutex
	cur     *remoteCache
	retired []*remoteCache // replaced by a new configuration; flushed on Close
	closed  bool
}

// remoteCache is one configured remote cache.
type remoteCache struct {
	cfg      RemoteConfig
	key      string           // cfg as JSON, to notice changes
	backend  cache.Backend    // nil when disabled
	client   *remote.Client   // the backend, for the built-in type
	uploader *remote.Uploader // nil unless writes are on
	disabled string

	hits, misses, lookupErrs, refused atomic.Int64
}

// remoteFor returns the remote cache for cfg, nil when none is configured
// or the engine is closed. Nothing is sent over the network.
func (e *Engine) remoteFor(cfg RemoteConfig) *remoteCache {
	if cfg.IsZero() {
		return nil
	}
	key, _ := json.Marshal(cfg)
	rs := &e.remote
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cur != nil && rs.cur.key == string(key) {
		return rs.cur
	}
	if rs.closed {
		return nil
	}
	rc := e.newRemoteCache(cfg)
	rc.key = string(key)
	if rs.cur != nil {
		rs.retired = append(rs.retired, rs.cur)
	}
	rs.cur = rc
	return rc
}

func (e *Engine) newRemoteCache(cfg RemoteConfig) *remoteCache {
	rc := &remoteCache{cfg: cfg}
	log := e.log.With("component", "remote-cache")
	getenv := func(name string) string { return e.envMap[name] }
	var token, sigKey string
	if cfg.TokenEnv != "" {
		if token = getenv(cfg.TokenEnv); token == "" {
			rc.disabled = fmt.Sprintf("the token variable %s is not set", cfg.TokenEnv)
		}
	}
	if cfg.SignatureKeyEnv != "" && rc.disabled == "" {
		if sigKey = getenv(cfg.SignatureKeyEnv); sigKey == "" {
			rc.disabled = fmt.Sprintf("signing is on but the key variable %s is not set: artifacts could not be verified", cfg.SignatureKeyEnv)
		}
	}
	if rc.disabled == "" {
		var err error
		if cfg.builtin() {
			rc.client, err = remote.New(remote.Options{
				URL: cfg.URL, Team: cfg.Team, Token: token, SignatureKey: []byte(sigKey),
				Timeout: cfg.timeout(), Logger: e.log,
			})
			rc.backend = rc.client
		} else {
			var f BackendFactory
			if f, err = e.registry.Backend(cfg.Type); err == nil {
				var raw []byte
				if raw, err = json.Marshal(cfg); err == nil {
					rc.backend, err = f(raw, getenv)
				}
			}
		}
		if err != nil {
			rc.backend, rc.client = nil, nil
			rc.disabled = err.Error()
		}
	}
	if rc.disabled != "" {
		log.Warn("remote cache disabled", "reason", rc.disabled)
		return rc
	}
	if cfg.Write && e.cache != nil {
		var p remote.Putter = backendPutter{rc.backend}
		if rc.client != nil {
			p = rc.client
		}
		rc.uploader = remote.NewUploader(p, remote.UploaderOptions{Logger: e.log})
	}
	log.Info("remote cache configured", "url", rc.url(), "read", cfg.CanRead(), "write", rc.uploader != nil, "signed", sigKey != "")
	return rc
}

func (rc *remoteCache) url() string {
	if rc.client != nil {
		return rc.client.URL()
	}
	if u, err := url.Parse(rc.cfg.URL); err == nil {
		return u.Redacted()
	}
	return ""
}

// backendPutter uploads through any [cache.Backend].
type backendPutter struct{ b cache.Backend }

func (p backendPutter) PutArtifact(ctx context.Context, key hash.Digest, r io.Reader, size int64, _ time.Duration) error {
	return p.b.Put(ctx, key, r, size)
}

// fetchRemote looks the package up in the remote cache after a local
// miss and imports a hit into the local cache, verified. It returns nil
// when the remote cache has nothing usable; failures are logged and
// counted, never returned, and the package is then built.
func (j *execJob) fetchRemote(ctx context.Context) *cache.Manifest {
	e, p := j.run.e, j.p
	rc := e.remoteFor(j.run.ws.Cache.Remote)
	if rc == nil || rc.backend == nil || !rc.cfg.CanRead() {
		return nil
	}
	body, err := rc.backend.Get(ctx, j.digest)
	if err != nil {
		switch {
		case errors.Is(err, cache.ErrNotFound):
			rc.misses.Add(1)
		case ctx.Err() != nil:
		case errors.Is(err, remote.ErrUnavailable):
			rc.lookupErrs.Add(1)
			e.log.Debug("remote cache resting; building", "pkg", p.Name)
		default:
			rc.lookupErrs.Add(1)
			if errors.Is(err, remote.ErrSignature) || errors.Is(err, remote.ErrTooLarge) {
				rc.refused.Add(1)
			}
			e.log.Warn("remote cache lookup failed; building", "pkg", p.Name, "digest", j.digest.String(), "err", err)
		}
		return nil
	}
	defer body.Close()
	m, err := e.cache.Import(ctx, j.digest, body)
	if err != nil {
		if ctx.Err() == nil {
			rc.lookupErrs.Add(1)
			rc.refused.Add(1)
			e.log.Warn("remote cache artifact refused; building", "pkg", p.Name, "digest", j.digest.String(), "err", err)
		}
		return nil
	}
	rc.hits.Add(1)
	e.maybeEvict()
	return m
}

// uploadRemote queues the upload of the entry just stored for the
// package, when the remote cache takes writes. The build does not wait.
func (j *execJob) uploadRemote(took time.Duration) {
	e := j.run.e
	rc := e.remoteFor(j.run.ws.Cache.Remote)
	if rc == nil || rc.uploader == nil {
		return
	}
	c, key := e.cache, j.digest
	rc.uploader.Enqueue(key, took, func(ctx context.Context, w io.Writer) error {
		return c.Export(ctx, key, w)
	})
}

// remoteHas tells a plan whether the remote cache holds the digest. A
// registry backend, which cannot be asked without downloading, is
// assumed not to.
func (r *run) remoteHas(digest hash.Digest) bool {
	rc := r.e.remoteFor(r.ws.Cache.Remote)
	if rc == nil || rc.client == nil || !rc.cfg.CanRead() {
		return false
	}
	ok, err := rc.client.Exists(r.ctx, digest)
	return err == nil && ok
}

// closeRemote waits for pending uploads, at most the remote timeout, and
// stops using the remote cache. Uploads still pending then are dropped
// with a warning: a closing engine never fails because of the cache.
func (e *Engine) closeRemote() {
	rs := &e.remote
	rs.mu.Lock()
	rs.closed = true
	all := rs.retired
	if rs.cur != nil {
		all = append(all, rs.cur)
	}
	rs.mu.Unlock()
	var wg sync.WaitGroup
	for _, rc := range all {
		if rc.uploader == nil {
			if rc.client != nil {
				rc.client.Close()
			}
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), rc.cfg.timeout())
			defer cancel()
			if err := rc.uploader.Close(ctx); err != nil {
				e.log.Warn("remote cache uploads not flushed", "err", err)
			}
			if rc.client != nil {
				rc.client.Close()
			}
		})
	}
	wg.Wait()
}

// RemoteStats describes the remote cache of the current configuration and
// counts its use since the engine opened. Nothing is sent over the network.
func (e *Engine) RemoteStats() RemoteStats {
	e.mu.Lock()
	cfg := e.ws.Cache.Remote
	e.mu.Unlock()
	var st RemoteStats
	if cfg.IsZero() {
		return st
	}
	rs := &e.remote
	cur := e.remoteFor(cfg)
	rs.mu.Lock()
	all := rs.retired
	if cur == nil {
		cur = rs.cur // closed engine: report the last one
	}
	if rs.cur != nil {
		all = append(all, rs.cur)
	}
	rs.mu.Unlock()
	st.Configured = true
	if cur != nil {
		st.Disabled = cur.disabled
		st.Type = cmpOr(cur.cfg.Type, RemoteTypeTurbo)
		st.URL = cur.url()
		st.Team = cur.cfg.Team
		st.Read = cur.backend != nil && cur.cfg.CanRead()
		st.Write = cur.uploader != nil
		st.Signed = cur.client != nil && cur.client.Signed()
	}
	for _, rc := range all {
		st.Hits += rc.hits.Load()
		st.Misses += rc.misses.Load()
		st.Errors += rc.lookupErrs.Load()
		st.Refused += rc.refused.Load()
		if rc.client != nil {
			cs := rc.client.Stats()
			st.Skipped += cs.Skipped
			st.BytesDown += cs.BytesDown
			st.BytesUp += cs.BytesUp
		}
		if rc.uploader != nil {
			us := rc.uploader.Stats()
			st.Uploads += us.Uploaded
			st.UploadsPending += us.Pending
			st.UploadsFailed += us.Failed
			st.UploadsDropped += us.Dropped
			st.Errors += us.Failed
		}
	}
	return st
}
