package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
	"github.com/musclemap/buildnet/state"
)

// Error codes of the JSON error bodies this package writes.
const (
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeRateLimited  = "rate_limited"
	CodeCSRF         = "csrf"
	CodeSessionLimit = "session_limit"
	CodeBadRequest   = "bad_request"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
)

// Cookie and header names.
const (
	// TokenCookie holds the panel's access token (HttpOnly).
	TokenCookie = "bn_token"
	// RefreshCookie holds the panel's refresh token (HttpOnly, sent only
	// to /auth/).
	RefreshCookie = "bn_refresh"
	// CSRFHeader must carry the login's CSRF token on unsafe requests
	// authenticated by cookie.
	CSRFHeader = "X-CSRF-Token"
	// CSRFCookie holds the CSRF token where the panel's script can read
	// it (not HttpOnly): a tab opened later finds the login by it.
	CSRFCookie = "bn_csrf"
)

// Error is a refusal with the HTTP status and the code the client gets,
// written as {"error":{"code","message","need_role"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// NeedRole is the role a 403 asks for.
	NeedRole string `json:"need_role,omitempty"`
	// RetryAfter is how long a 429 asks to wait.
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteError writes e as the JSON error body, with WWW-Authenticate on a
// 401 and Retry-After on a 429.
func WriteError(w http.ResponseWriter, e *Error) {
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="buildnetd"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	_ = writeJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

// Principal is who a request comes from: a user or an API key.
type Principal struct {
	// Kind is user or key.
	Kind string `json:"kind"`
	// ID is the user name or the key id.
	ID string `json:"id"`
	// Name is the user name or the key's name.
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// Actor names the principal in the audit log and as the requester of its
// builds: the user name, or "key:" and the key id.
func (p Principal) Actor() string {
	if p.Kind == "key" {
		return "key:" + p.ID
	}
	return p.ID
}

// Caller is an authenticated request's principal with its session and
// source address.
type Caller struct {
	Principal
	Session string
	IP      string

	viaCookie bool
	csrf      string
	note      *note
}

// note is what a handler adds to its request's audit entry.
type note struct {
	// mu guards the fields below.
	mu       sync.Mutex
	target   string
	details  map[string]any
	recorded bool // a denial, or the request by CommitAudit, was recorded
	skip     bool
	// commit records the allowed request with an HTTP status; set by
	// Wrap when the request is to be audited.
	commit func(status int) <-chan struct{}
}

type callerKey struct{}

// FromContext returns the caller [Service.Wrap] put in ctx.
func FromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}

// NewContext returns ctx carrying c, for code that runs a caller's
// request outside [Service.Wrap] (a WebSocket operation).
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Annotate sets the target and adds details to the audit entry of the
// request in ctx.
func Annotate(ctx context.Context, target string, details map[string]any) {
	c, ok := FromContext(ctx)
	if !ok || c.note == nil {
		return
	}
	c.note.mu.Lock()
	defer c.note.mu.Unlock()
	if target != "" {
		c.note.target = target
	}
	for k, v := range details {
		if c.note.details == nil {
			c.note.details = map[string]any{}
		}
		c.note.details[k] = v
	}
}

// CommitAudit records the allowed request in ctx now, as [Service.Wrap]
// would when the handler returns, with status as its HTTP status, and
// returns a channel closed once the entry is committed; Wrap then does
// not record the request again. A handler about to wait for long work
// commits its entry first and waits on the channel before it answers, so
// that the entry is written while the work runs (not queued behind the
// records that work makes) and no answer leaves unrecorded. Details and
// target must be annotated before. Outside Wrap, or for a request that is
// not audited, the channel is already closed.
func CommitAudit(ctx context.Context, status int) <-chan struct{} {
	c, ok := FromContext(ctx)
	if !ok || c.note == nil || c.note.commit == nil {
		return closedChan
	}
	return c.note.commit(status)
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// SkipAudit keeps the request in ctx out of the audit log when it is
// allowed (a handler that records its own entries).
func SkipAudit(ctx context.Context) {
	if c, ok := FromContext(ctx); ok && c.note != nil {
		c.note.mu.Lock()
		c.note.skip = true
		c.note.mu.Unlock()
	}
}

// Engine is what the service needs of the build engine: the builds in
// progress, to tell busy sessions from idle ones, and a way to cancel
// the builds of a closed session. *buildnet.Engine implements it.
type Engine interface {
	ActiveBuilds() []string
	Cancel(id string) error
	Queue() []buildnet.QueuedPackage
}

// Options configures a [Service].
type Options struct {
	// Store keeps keys, users, sessions and the audit log. Required.
	Store interface {
		state.AuthStore
		state.AuditStore
	}
	// Engine, when set, lets sessions see and cancel their builds.
	Engine Engine
	// Settings are the initial settings; the zero value means
	// [DefaultSettings].
	Settings *Settings
	// SettingsPath, when set, is where PUT /security/config saves the
	// settings.
	SettingsPath string
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// BcryptCost is the cost of password hashes; 0 means bcrypt's
	// default. Tests lower it.
	BcryptCost int
	// SweepInterval is how often idle sessions are closed and the audit
	// log pruned; 0 means a quarter of the idle timeout, at most a
	// minute.
	SweepInterval time.Duration
}

// Service authenticates, authorises, rate-limits and audits requests and
// keeps the sessions. It is safe for concurrent use.
type Service struct {
	store interface {
		state.AuthStore
		state.AuditStore
	}
	engine       Engine
	log          *slog.Logger
	now          func() time.Time
	secret       []byte
	cost         int
	dummyHash    string // compared against for unknown users
	settingsPath string
	limits       *limiters
	sessions     *Sessions
	audit        *Auditor
	stop         context.CancelFunc
	wg           sync.WaitGroup

	// mu guards the fields below.
	mu       sync.Mutex
	settings Settings
	touched  map[string]time.Time // key id → last last-used write
	keys     map[string]knownKey  // key hash → a recent successful lookup
}

// keyCacheTTL is how long a successful API key lookup is reused. A key
// revoked through this daemon is refused at once; one revoked in the
// database by another process, within keyCacheTTL.
const keyCacheTTL = 2 * time.Second

// maxKnownKeys bounds the key lookups kept.
const maxKnownKeys = 1024

// knownKey is a successful API key lookup.
type knownKey struct {
	p  Principal
	at time.Time
}

// New returns a service over opts.Store, loading the token secret and
// the open sessions. Close stops it.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("auth: new service: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	st := DefaultSettings()
	if opts.Settings != nil {
		st = *opts.Settings
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("auth settings: %w", err)
	}
	secret, err := opts.Store.AuthSecret(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: load token secret: %w", err)
	}
	s := &Service{
		store: opts.Store, engine: opts.Engine, log: opts.Logger, now: opts.Now, secret: secret,
		cost: opts.BcryptCost, settingsPath: opts.SettingsPath, settings: st, touched: map[string]time.Time{}, keys: map[string]knownKey{},
	}
	if s.dummyHash, err = HashPassword("not a password of anyone", s.cost); err != nil {
		return nil, err
	}
	s.limits = newLimiters(st.RateLimits, opts.Now)
	s.sessions = newSessions(opts.Store, opts.Logger, opts.Now, st.SessionIdle.D(), st.MaxSessions)
	if opts.Engine != nil {
		s.sessions.active = opts.Engine.ActiveBuilds
		s.sessions.cancel = opts.Engine.Cancel
	}
	if err := s.sessions.load(ctx); err != nil {
		return nil, fmt.Errorf("auth: load sessions: %w", err)
	}
	s.audit = NewAuditor(opts.Store, opts.Logger, opts.Now)
	interval := opts.SweepInterval
	if interval <= 0 {
		interval = min(time.Minute, max(time.Second, st.SessionIdle.D()/4))
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	s.wg.Go(func() { s.sweeper(sctx, interval) })
	return s, nil
}

// Close stops the sweeper and the auditor. Sessions stay recorded, to be
// resumed by the next service.
func (s *Service) Close() error {
	s.stop()
	s.wg.Wait()
	s.sessions.wait()
	s.audit.Close()
	return nil
}

// Auditor returns the service's audit log writer.
func (s *Service) Auditor() *Auditor { return s.audit }

// Sessions returns the service's sessions.
func (s *Service) Sessions() *Sessions { return s.sessions }

// Settings returns the settings in force.
func (s *Service) Settings() Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// SetSettings validates st and puts it in force: rate limits start
// afresh.
func (s *Service) SetSettings(st Settings) error {
	if err := st.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.settings = st
	s.mu.Unlock()
	s.limits.set(st.RateLimits)
	s.sessions.configure(st.SessionIdle.D(), st.MaxSessions)
	return nil
}

func (s *Service) sweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		s.Sweep(ctx)
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if _, err := s.audit.Prune(ctx, s.Settings().AuditRetention()); err != nil && ctx.Err() == nil {
				s.log.Warn("prune audit log", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep closes the sessions idle for longer than the idle timeout,
// cancelling their builds still in progress, and forgets stale rate
// limiters. The service runs it periodically; it returns the sessions
// it closed.
func (s *Service) Sweep(ctx context.Context) []string {
	ids := s.sessions.idleSessions()
	for _, id := range ids {
		info, err := s.sessions.closeSession(ctx, id, true)
		if err != nil {
			if !errors.Is(err, ErrNoSession) {
				s.log.Warn("close idle session", "session", id, "err", err)
			}
			continue
		}
		s.log.Debug("closed idle session", "session", id, "actor", info.Actor)
		_ = s.audit.Record(ctx, state.AuditEntry{Actor: info.Actor, Role: info.Role, Session: id, Action: ActionSessionExpire,
			Target: id, Outcome: state.OutcomeAllowed, Details: map[string]any{"idle_since": info.LastSeen.Format(time.RFC3339Nano)}})
	}
	s.limits.sweep(s.now().Add(-10 * time.Minute))
	return ids
}

// clientIP returns the request's source IP.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bearer returns the credentials of r: the Authorization bearer value,
// else the token cookie (viaCookie set).
func bearer(r *http.Request) (cred string, viaCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, v, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(v), false
		}
		return "", false
	}
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// errNoCredentials is a request with nothing to authenticate it.
var errNoCredentials = errors.New("auth: no credentials")

// ErrRevokedKey is returned for a key that was revoked.
var ErrRevokedKey = errors.New("auth: key revoked")

// ErrUnknownKey is returned for a key the store does not know.
var ErrUnknownKey = errors.New("auth: unknown key")

// keyPrincipal authenticates an API key.
func (s *Service) keyPrincipal(ctx context.Context, key string) (Principal, error) {
	if !IsKey(key) {
		return Principal{}, ErrUnknownKey
	}
	hash := HashKey(key)
	now := time.Now()
	s.mu.Lock()
	known, ok := s.keys[string(hash)]
	s.mu.Unlock()
	if ok && now.Sub(known.at) < keyCacheTTL {
		s.touchKey(ctx, known.p.ID)
		return known.p, nil
	}
	k, err := s.store.KeyByHash(ctx, hash)
	if errors.Is(err, state.ErrNotFound) {
		return Principal{}, ErrUnknownKey
	}
	if err != nil {
		return Principal{}, err
	}
	if k.Revoked() {
		return Principal{}, fmt.Errorf("%w: %s", ErrRevokedKey, k.ID)
	}
	role, err := ParseRole(k.Role)
	if err != nil {
		return Principal{}, err
	}
	s.touchKey(ctx, k.ID)
	p := Principal{Kind: "key", ID: k.ID, Name: k.Name, Role: role}
	s.mu.Lock()
	if len(s.keys) >= maxKnownKeys {
		clear(s.keys)
	}
	s.keys[string(hash)] = knownKey{p: p, at: now}
	s.mu.Unlock()
	return p, nil
}

// forgetKeys drops the cached key lookups, after a key changed.
func (s *Service) forgetKeys() {
	s.mu.Lock()
	clear(s.keys)
	s.mu.Unlock()
}

// touchKey records a key's use, at most once a minute per key.
func (s *Service) touchKey(ctx context.Context, id string) {
	now := s.now()
	s.mu.Lock()
	last, ok := s.touched[id]
	if ok && now.Sub(last) < touchEvery {
		s.mu.Unlock()
		return
	}
	s.touched[id] = now
	s.mu.Unlock()
	if err := s.store.TouchKey(ctx, id, now); err != nil {
		s.log.Warn("record key use", "key", id, "err", err)
	}
}

// claimsPrincipal checks that the user or key a token names still allows
// it, and returns the principal with its current role.
func (s *Service) claimsPrincipal(ctx context.Context, c *claims) (Principal, error) {
	switch c.Kind {
	case "user":
		u, err := s.store.User(ctx, c.Name)
		if errors.Is(err, state.ErrNotFound) {
			return Principal{}, fmt.Errorf("%w: user %s no longer exists", ErrInvalidToken, c.Name)
		}
		if err != nil {
			return Principal{}, err
		}
		if u.TokenVersion != c.TV {
			return Principal{}, fmt.Errorf("%w: issued before the user's password or role changed", ErrInvalidToken)
		}
		role, err := ParseRole(u.Role)
		if err != nil {
			return Principal{}, err
		}
		return Principal{Kind: "user", ID: u.Name, Name: u.Name, Role: role}, nil
	case "key":
		k, err := s.store.Key(ctx, c.Name)
		if errors.Is(err, state.ErrNotFound) {
			return Principal{}, fmt.Errorf("%w: key %s no longer exists", ErrInvalidToken, c.Name)
		}
		if err != nil {
			return Principal{}, err
		}
		if k.Revoked() {
			return Principal{}, fmt.Errorf("%w: %s", ErrRevokedKey, k.ID)
		}
		role, err := ParseRole(k.Role)
		if err != nil {
			return Principal{}, err
		}
		s.touchKey(ctx, k.ID)
		return Principal{Kind: "key", ID: k.ID, Name: k.Name, Role: role}, nil
	}
	return Principal{}, ErrInvalidToken
}

// Authenticate returns the caller of r, without a session yet: from an
// Authorization: Bearer API key or access token, or from the token
// cookie.
func (s *Service) Authenticate(r *http.Request) (*Caller, error) {
	cred, viaCookie := bearer(r)
	if cred == "" {
		return nil, errNoCredentials
	}
	ctx := r.Context()
	c := &Caller{IP: clientIP(r), viaCookie: viaCookie}
	if strings.HasPrefix(cred, KeyPrefix) {
		if viaCookie {
			return nil, ErrUnknownKey // keys go in the header only
		}
		p, err := s.keyPrincipal(ctx, cred)
		if err != nil {
			return nil, err
		}
		c.Principal = p
		return c, nil
	}
	cl, err := parseToken(cred, s.secret, tokenAccess, s.now)
	if err != nil {
		return nil, err
	}
	p, err := s.claimsPrincipal(ctx, cl)
	if err != nil {
		return nil, err
	}
	if cl.Sid != "" && !s.sessions.isOpen(cl.Sid, p.Actor()) {
		return nil, fmt.Errorf("%w: its session has ended", ErrInvalidToken)
	}
	c.Principal, c.Session, c.csrf = p, cl.Sid, cl.CSRF
	return c, nil
}

// deny records a refusal and returns the error to write.
func (s *Service) deny(ctx context.Context, c *Caller, r *http.Request, action, target string, e *Error, details map[string]any) *Error {
	entry := state.AuditEntry{Action: action, Target: target, Outcome: state.OutcomeDenied, Details: map[string]any{
		"status": e.Status, "reason": e.Code, "message": e.Message}}
	if r != nil {
		entry.SourceIP = clientIP(r)
		entry.Details["method"], entry.Details["path"] = r.Method, r.URL.Path
	}
	if c != nil {
		entry.Actor, entry.Role, entry.Session = c.Actor(), c.Role.String(), c.Session
		if c.Kind == "key" {
			entry.Details["key_name"] = c.Name
		}
		if c.IP != "" {
			entry.SourceIP = c.IP
		}
		if c.note != nil {
			c.note.mu.Lock()
			c.note.recorded = true
			c.note.mu.Unlock()
		}
	}
	for k, v := range details {
		entry.Details[k] = v
	}
	if e.NeedRole != "" {
		entry.Details["need_role"] = e.NeedRole
	}
	if err := s.audit.Record(context.WithoutCancel(ctx), entry); err != nil {
		s.log.Error("audit a refusal", "action", action, "err", err)
	}
	return e
}

// forbidden is the 403 for perm.
func forbidden(c *Caller, perm Perm) *Error {
	need := perm.Role()
	e := errorf(http.StatusForbidden, CodeForbidden, "%s needs the %s role; %s has %s", perm, need, c.Actor(), c.Role)
	e.NeedRole = need.String()
	return e
}

// rateLimited is the 429 after d.
func rateLimited(d time.Duration, who string) *Error {
	e := errorf(http.StatusTooManyRequests, CodeRateLimited, "rate limit of %s exceeded; retry in %s", who, d.Round(time.Millisecond))
	e.RetryAfter = d
	return e
}

// Authorize checks that c may do perm, taking a token from its rate
// limit, and records a refusal (as action on target) in the audit log.
// Handlers and WebSocket operations call it for checks that depend on
// the target, so that one function decides for every transport.
func (s *Service) Authorize(ctx context.Context, c *Caller, perm Perm, action, target string) error {
	if ok, d := s.limits.allow("p:"+c.Actor(), c.Role); !ok {
		return s.deny(ctx, c, nil, action, target, rateLimited(d, c.Actor()), nil)
	}
	return s.Check(ctx, c, perm, action, target)
}

// Check is Authorize without the rate limit, for a check inside a request
// [Service.Wrap] already counted.
func (s *Service) Check(ctx context.Context, c *Caller, perm Perm, action, target string) error {
	if !c.Role.Allows(perm.Role()) {
		return s.deny(ctx, c, nil, action, target, forbidden(c, perm), nil)
	}
	return nil
}

// Allowed reports whether c's role allows perm, recording nothing.
func Allowed(c *Caller, perm Perm) bool { return c.Role.Allows(perm.Role()) }

// Record appends an entry for c to the audit log.
func (s *Service) Record(ctx context.Context, c *Caller, action, target, outcome string, details map[string]any) {
	e := state.AuditEntry{Action: action, Target: target, Outcome: outcome, Details: details}
	if c != nil {
		e.Actor, e.Role, e.Session, e.SourceIP = c.Actor(), c.Role.String(), c.Session, c.IP
	}
	if err := s.audit.Record(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit", "action", action, "err", err)
	}
}

// LimitStatus describes c's rate limit.
func (s *Service) LimitStatus(c *Caller) LimitStatus { return s.limits.status("p:"+c.Actor(), c.Role) }

// safeMethod reports whether m changes nothing.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Wrap returns h guarded by perm: the request must authenticate (unless
// perm is PermPublic), stay within its rate limit, have the role perm
// needs and, when authenticated by cookie and unsafe, carry the CSRF
// token. It then gets a session (SessionHeader on the response), and the
// caller in its context. Every refusal is audited; an allowed request is
// audited as action when action is not "", and as "http.METHOD" when it
// is unsafe and action is "".
func (s *Service) Wrap(perm Perm, action string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if perm == PermPublic {
			h.ServeHTTP(w, r)
			return
		}
		if action == "" && !safeMethod(r.Method) {
			action = "http." + strings.ToLower(r.Method)
		}
		auditAction := action
		if auditAction == "" {
			auditAction = "http.request"
		}
		ctx := r.Context()
		c, err := s.Authenticate(r)
		if err != nil {
			ip := clientIP(r)
			if ok, d := s.limits.allow("ip:"+ip, RoleNone); !ok {
				WriteError(w, s.deny(ctx, nil, r, auditAction, r.URL.Path, rateLimited(d, ip), nil))
				return
			}
			msg := "authentication required: send Authorization: Bearer <API key or token>"
			if !errors.Is(err, errNoCredentials) {
				msg = "invalid credentials: " + publicReason(err)
			}
			e := errorf(http.StatusUnauthorized, CodeUnauthorized, "%s", msg)
			WriteError(w, s.deny(ctx, nil, r, auditAction, r.URL.Path, e, nil))
			return
		}
		bucket := "p:" + c.Actor()
		if strings.HasPrefix(r.URL.Path, "/v8/") {
			bucket = cacheBucket + c.Actor()
		}
		if ok, d := s.limits.allow(bucket, c.Role); !ok {
			WriteError(w, s.deny(ctx, c, r, auditAction, r.URL.Path, rateLimited(d, c.Actor()), nil))
			return
		}
		if !c.Role.Allows(perm.Role()) {
			WriteError(w, s.deny(ctx, c, r, auditAction, r.URL.Path, forbidden(c, perm), nil))
			return
		}
		if c.viaCookie && !safeMethod(r.Method) {
			got := r.Header.Get(CSRFHeader)
			if c.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.csrf)) != 1 {
				e := errorf(http.StatusForbidden, CodeCSRF, "missing or wrong %s header", CSRFHeader)
				WriteError(w, s.deny(ctx, c, r, auditAction, r.URL.Path, e, nil))
				return
			}
		}
		release, err := s.attachSession(ctx, c, r)
		if err != nil {
			e := errorf(http.StatusTooManyRequests, CodeSessionLimit, "%s", err)
			e.RetryAfter = time.Minute
			WriteError(w, s.deny(ctx, c, r, auditAction, r.URL.Path, e, nil))
			return
		}
		defer release()
		w.Header().Set(SessionHeader, c.Session)
		c.note = &note{}
		// record writes the entry of the allowed request, once.
		record := func(status int) {
			c.note.mu.Lock()
			skip := c.note.recorded || c.note.skip
			c.note.recorded = true
			target, details := c.note.target, maps.Clone(c.note.details)
			c.note.mu.Unlock()
			if skip {
				return
			}
			if details == nil {
				details = map[string]any{}
			}
			if status == 0 {
				status = http.StatusOK
			}
			details["status"], details["method"], details["path"] = status, r.Method, r.URL.Path
			if c.Kind == "key" {
				details["key_name"] = c.Name
			}
			s.Record(ctx, c, action, target, state.OutcomeAllowed, details)
		}
		if action != "" {
			c.note.commit = func(status int) <-chan struct{} {
				done := make(chan struct{})
				go func() {
					defer close(done)
					record(status)
				}()
				return done
			}
		}
		rw := httpstatus.Wrap(w)
		h.ServeHTTP(rw, r.WithContext(NewContext(ctx, c)))
		if action != "" {
			record(rw.Status)
		}
	})
}

// publicReason says why credentials were refused without telling which
// part was wrong beyond what helps a legitimate user.
func publicReason(err error) string {
	switch {
	case errors.Is(err, ErrRevokedKey):
		return "the API key was revoked"
	case errors.Is(err, ErrUnknownKey):
		return "unknown API key"
	case errors.Is(err, ErrInvalidToken):
		return "invalid or expired token"
	}
	return "authentication failed"
}

// attachSession gives c a session for this request: its token's, the one
// named by the SessionHeader if it is c's and open, the one of its
// connection, or a new one.
func (s *Service) attachSession(ctx context.Context, c *Caller, r *http.Request) (func(), error) {
	actor := c.Actor()
	try := func(id string) bool { return id != "" && s.sessions.acquire(ctx, id, actor) }
	if c.Session != "" {
		if try(c.Session) {
			return func() { s.sessions.release(c.Session) }, nil
		}
		return nil, ErrNoSession
	}
	cs := connSessionFrom(ctx)
	switch {
	case try(r.Header.Get(SessionHeader)):
		c.Session = r.Header.Get(SessionHeader)
	case cs != nil && try(cs.get(actor)):
		c.Session = cs.get(actor)
	default:
		kind := "http"
		if r.URL.Path == "/ws" {
			kind = "ws"
		}
		if ua := r.Header.Get("User-Agent"); strings.HasPrefix(ua, "buildnetd-cli") {
			kind = "cli"
		}
		id, evicted, err := s.sessions.open(ctx, c.Principal, kind, c.IP)
		if err != nil {
			return nil, err
		}
		for _, old := range evicted {
			s.Record(ctx, c, ActionSessionClose, old, state.OutcomeAllowed, map[string]any{"reason": "evicted: session limit"})
		}
		if !try(id) {
			return nil, ErrNoSession
		}
		c.Session = id
		if cs != nil {
			cs.set(actor, id)
		}
	}
	return func() { s.sessions.release(c.Session) }, nil
}

// connSession remembers, per client connection, the session of each
// actor that used it.
type connSession struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]string
}

func (cs *connSession) get(actor string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.m[actor]
}

func (cs *connSession) set(actor, id string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.m[actor] = id
}

type connKey struct{}

// ConnContext is an [http.Server.ConnContext]: it gives each client
// connection its own session, reused by every request on it.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connSession{m: map[string]string{}})
}

func connSessionFrom(ctx context.Context) *connSession {
	cs, _ := ctx.Value(connKey{}).(*connSession)
	return cs
}
