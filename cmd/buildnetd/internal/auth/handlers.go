package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
	"github.com/musclemap/buildnet/state"
)

// More audit actions, of the routes this package serves.
const (
	ActionAuditExport  = "audit.export"
	ActionConfigChange = "config.change"
)

// maxBody bounds the request bodies of this package's routes.
const maxBody = 64 << 10

// Register adds a route to a mux. stream is set for a long-lived
// response (an event stream) that must not get the request deadlines of
// ordinary routes.
type Register func(pattern string, stream bool, h http.Handler)

// Routes registers the service's endpoints: /auth/*, /keys, /users,
// /sessions, /audit and /security/config, each guarded by [Service.Wrap].
func (s *Service) Routes(reg Register) {
	api := func(pattern string, perm Perm, action string, fn func(http.ResponseWriter, *http.Request) error) {
		reg(pattern, false, s.Wrap(perm, action, s.handler(fn)))
	}
	api("POST /auth/login", PermPublic, "", s.login)
	api("POST /auth/refresh", PermPublic, "", s.refresh)
	api("POST /auth/logout", PermRead, ActionLogout, s.logout)
	api("GET /auth/me", PermRead, "", s.me)
	api("GET /keys", PermKeys, "", s.listKeys)
	api("POST /keys", PermKeys, ActionKeyCreate, s.createKey)
	api("DELETE /keys/{id}", PermKeys, ActionKeyRevoke, s.revokeKey)
	api("GET /users", PermUsers, "", s.listUsers)
	api("POST /users", PermUsers, ActionUserAdd, s.addUser)
	api("PUT /users/{name}", PermUsers, ActionUserUpdate, s.updateUser)
	api("DELETE /users/{name}", PermUsers, ActionUserRemove, s.removeUser)
	api("GET /sessions", PermRead, "", s.listSessions)
	api("GET /sessions/{id}", PermRead, "", s.getSession)
	api("DELETE /sessions/{id}", PermRead, ActionSessionClose, s.deleteSession)
	api("POST /sessions/{id}/handoff", PermRead, ActionHandoff, s.handoff)
	api("GET /audit", PermRead, "", s.listAudit)
	api("GET /security/config", PermConfig, "", s.getSettings)
	api("PUT /security/config", PermConfig, ActionConfigChange, s.putSettings)
	reg("GET /audit/export", true, s.Wrap(PermRead, ActionAuditExport, s.handler(s.exportAudit)))
	reg("GET /audit/stream", true, s.Wrap(PermRead, "", s.handler(s.streamAudit)))
}

// handler adapts fn, writing its error as JSON.
func (s *Service) handler(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := fn(w, r); err != nil {
			if rec, ok := w.(*httpstatus.Recorder); ok && rec.Written() {
				s.log.Debug("request failed after its response began", "path", r.URL.Path, "err", err)
				return
			}
			WriteError(w, toError(err))
		}
	})
}

// toError maps an error to the one the client sees.
func toError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	switch {
	case errors.Is(err, state.ErrNotFound), errors.Is(err, ErrNoSession):
		return errorf(http.StatusNotFound, CodeNotFound, "%s", err)
	case errors.Is(err, state.ErrExists):
		return errorf(http.StatusConflict, CodeConflict, "%s", err)
	case errors.Is(err, state.ErrInvalid), errors.Is(err, state.ErrInvalidCursor), errors.Is(err, ErrInvalidName),
		errors.Is(err, ErrInvalidRole), errors.Is(err, ErrWeakPassword):
		return errorf(http.StatusBadRequest, CodeBadRequest, "%s", err)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return errorf(http.StatusRequestEntityTooLarge, "too_large", "request body too large")
	}
	return errorf(http.StatusInternalServerError, "internal", "%s", err)
}

// decode reads a JSON body into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return errorf(http.StatusBadRequest, "invalid_json", "invalid JSON body: %s", err)
	}
	return nil
}

// loginRequest is the body of POST /auth/login: a user and password, or
// a key.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Key      string `json:"key"`
	// Cookie asks for the tokens in HttpOnly cookies instead of the body
	// (the panel).
	Cookie bool `json:"cookie"`
}

// LoginResponse is what a login or a refresh returns.
type LoginResponse struct {
	Token            string    `json:"token,omitempty"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
	CSRFToken        string    `json:"csrf_token"`
	Session          string    `json:"session"`
	Actor            string    `json:"actor"`
	Kind             string    `json:"kind"`
	Name             string    `json:"name"`
	Role             Role      `json:"role"`
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) error {
	ip := clientIP(r)
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	// The attempted user name is the entry's target, never its actor: a
	// failed login must not write arbitrary actors into the audit log.
	attempted := req.User
	if len(attempted) > 64 {
		attempted = attempted[:64]
	}
	if req.Key != "" {
		attempted = "key"
	}
	if ok, d := s.limits.allow("login:"+ip, RoleNone); !ok {
		return s.deny(r.Context(), &Caller{Principal: Principal{ID: "anonymous"}, IP: ip}, r, ActionLogin, attempted, rateLimited(d, ip), nil)
	}
	var (
		p   Principal
		err error
	)
	switch {
	case req.Key != "" && req.User == "":
		p, err = s.keyPrincipal(r.Context(), req.Key)
	case req.User != "" && req.Key == "":
		p, err = s.passwordPrincipal(r.Context(), req.User, req.Password)
	default:
		return errorf(http.StatusBadRequest, CodeBadRequest, `log in with {"user","password"} or {"key"}`)
	}
	if err != nil {
		if !errors.Is(err, ErrUnknownKey) && !errors.Is(err, ErrRevokedKey) && !errors.Is(err, errBadPassword) {
			return err
		}
		e := errorf(http.StatusUnauthorized, CodeUnauthorized, "login failed: %s", publicLoginReason(err))
		return s.deny(r.Context(), &Caller{Principal: Principal{ID: "anonymous"}, IP: ip}, r, ActionLogin, attempted, e, nil)
	}
	kind := "login"
	if req.Cookie {
		kind = "panel"
	}
	sid, _, err := s.sessions.open(r.Context(), p, kind, ip)
	if err != nil {
		e := errorf(http.StatusTooManyRequests, CodeSessionLimit, "%s", err)
		e.RetryAfter = time.Minute
		return s.deny(r.Context(), &Caller{Principal: p, IP: ip}, r, ActionLogin, p.Actor(), e, nil)
	}
	c := &Caller{Principal: p, Session: sid, IP: ip}
	resp, err := s.issue(p, sid, "")
	if err != nil {
		return err
	}
	s.Record(r.Context(), c, ActionLogin, p.Actor(), state.OutcomeAllowed, map[string]any{"method": loginMethod(req), "cookie": req.Cookie})
	return s.respondTokens(w, r, resp, req.Cookie)
}

func loginMethod(req loginRequest) string {
	if req.Key != "" {
		return "key"
	}
	return "password"
}

var errBadPassword = errors.New("auth: wrong user or password")

func publicLoginReason(err error) string {
	if errors.Is(err, errBadPassword) {
		return "wrong user or password"
	}
	return publicReason(err)
}

// passwordPrincipal checks a user's password.
func (s *Service) passwordPrincipal(ctx context.Context, name, password string) (Principal, error) {
	u, err := s.store.User(ctx, name)
	if errors.Is(err, state.ErrNotFound) {
		// As long for an unknown user as for a wrong password.
		CheckPassword(s.dummyHash, password)
		return Principal{}, errBadPassword
	}
	if err != nil {
		return Principal{}, err
	}
	if !CheckPassword(u.PasswordHash, password) {
		return Principal{}, errBadPassword
	}
	role, err := ParseRole(u.Role)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Kind: "user", ID: u.Name, Name: u.Name, Role: role}, nil
}

// issue makes an access and a refresh token for p in session sid. csrf
// is kept across a refresh; "" makes a new one.
func (s *Service) issue(p Principal, sid, csrf string) (LoginResponse, error) {
	now := s.now()
	st := s.Settings()
	if csrf == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return LoginResponse{}, fmt.Errorf("generate csrf token: %w", err)
		}
		csrf = hex.EncodeToString(b[:])
	}
	var tv int64
	name := p.ID
	if p.Kind == "user" {
		u, err := s.store.User(context.Background(), p.ID)
		if err != nil {
			return LoginResponse{}, err
		}
		tv = u.TokenVersion
	}
	mk := func(typ string, ttl time.Duration) (string, time.Time, error) {
		jti, err := newID("", 8)
		if err != nil {
			return "", time.Time{}, err
		}
		exp := now.Add(ttl)
		tok, err := signToken(&claims{
			RegisteredClaims: jwt.RegisteredClaims{Issuer: tokenIssuer, Subject: p.Actor(), ID: jti,
				IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)},
			Typ: typ, Kind: p.Kind, Name: name, TV: tv, Sid: sid, CSRF: csrf,
		}, s.secret)
		return tok, exp.UTC(), err
	}
	access, exp, err := mk(tokenAccess, st.AccessTTL.D())
	if err != nil {
		return LoginResponse{}, err
	}
	refresh, rexp, err := mk(tokenRefresh, st.RefreshTTL.D())
	if err != nil {
		return LoginResponse{}, err
	}
	return LoginResponse{Token: access, ExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: rexp, CSRFToken: csrf,
		Session: sid, Actor: p.Actor(), Kind: p.Kind, Name: p.Name, Role: p.Role}, nil
}

// respondTokens writes resp, moving the tokens into cookies when asked.
func (s *Service) respondTokens(w http.ResponseWriter, r *http.Request, resp LoginResponse, cookie bool) error {
	w.Header().Set(SessionHeader, resp.Session)
	if cookie {
		secure := r.TLS != nil
		http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: resp.Token, Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: secure})
		http.SetCookie(w, &http.Cookie{Name: RefreshCookie, Value: resp.RefreshToken, Path: "/auth/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: secure})
		http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: resp.CSRFToken, Path: "/",
			SameSite: http.SameSiteStrictMode, Secure: secure})
		resp.Token, resp.RefreshToken = "", ""
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Service) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	cookie := false
	if req.RefreshToken == "" {
		if c, err := r.Cookie(RefreshCookie); err == nil {
			req.RefreshToken, cookie = c.Value, true
		}
	}
	ip := clientIP(r)
	fail := func(err error) error {
		e := errorf(http.StatusUnauthorized, CodeUnauthorized, "refresh failed: %s", publicReason(err))
		return s.deny(r.Context(), &Caller{Principal: Principal{ID: "anonymous"}, IP: ip}, r, ActionRefresh, "", e, nil)
	}
	if ok, d := s.limits.allow("login:"+ip, RoleNone); !ok {
		return s.deny(r.Context(), &Caller{Principal: Principal{ID: "anonymous"}, IP: ip}, r, ActionRefresh, "", rateLimited(d, ip), nil)
	}
	cl, err := parseToken(req.RefreshToken, s.secret, tokenRefresh, s.now)
	if err != nil {
		return fail(err)
	}
	p, err := s.claimsPrincipal(r.Context(), cl)
	if err != nil {
		return fail(err)
	}
	if cl.Sid == "" || !s.sessions.isOpen(cl.Sid, p.Actor()) {
		return fail(fmt.Errorf("%w: its session has ended", ErrInvalidToken))
	}
	resp, err := s.issue(p, cl.Sid, cl.CSRF)
	if err != nil {
		return err
	}
	return s.respondTokens(w, r, resp, cookie)
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	if _, err := s.sessions.closeSession(r.Context(), c.Session, false); err != nil && !errors.Is(err, ErrNoSession) {
		return err
	}
	Annotate(r.Context(), c.Session, nil)
	for _, name := range []string{TokenCookie, RefreshCookie, CSRFCookie} {
		path := "/"
		if name == RefreshCookie {
			path = "/auth/"
		}
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: name != CSRFCookie, SameSite: http.SameSiteStrictMode})
	}
	return writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
}

// Me describes the caller, for GET /auth/me and /status.
type Me struct {
	Actor     string      `json:"actor"`
	Kind      string      `json:"kind"`
	Name      string      `json:"name"`
	Role      Role        `json:"role"`
	Session   string      `json:"session"`
	RateLimit LimitStatus `json:"rate_limit"`
}

// Describe returns what GET /auth/me says of c.
func (s *Service) Describe(c *Caller) Me {
	return Me{Actor: c.Actor(), Kind: c.Kind, Name: c.Name, Role: c.Role, Session: c.Session, RateLimit: s.LimitStatus(c)}
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	return writeJSON(w, http.StatusOK, s.Describe(c))
}

func (s *Service) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.store.Keys(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": keys, "next": ""})
}

func (s *Service) createKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return err
	}
	c, _ := FromContext(r.Context())
	ck, err := CreateKey(r.Context(), s.store, req.Name, role, c.Actor())
	if err != nil {
		return err
	}
	Annotate(r.Context(), "key:"+ck.ID, map[string]any{"name": ck.Name, "role": ck.Role})
	return writeJSON(w, http.StatusCreated, ck)
}

func (s *Service) revokeKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	Annotate(r.Context(), "key:"+id, nil)
	err := s.store.RevokeKey(r.Context(), id, time.Time{})
	s.forgetKeys() // refused from now on, not after keyCacheTTL
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "revoked": true})
}

func (s *Service) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.store.Users(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": users, "next": ""})
}

type userRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

func (s *Service) addUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	Annotate(r.Context(), req.Name, map[string]any{"role": req.Role})
	role, err := ParseRole(req.Role)
	if err != nil {
		return err
	}
	if err := AddUser(r.Context(), s.store, req.Name, role, req.Password, s.cost); err != nil {
		return err
	}
	u, err := s.store.User(r.Context(), req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (s *Service) updateUser(w http.ResponseWriter, r *http.Request) error {
	var req userRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	role := RoleNone
	if req.Role != "" {
		var err error
		if role, err = ParseRole(req.Role); err != nil {
			return err
		}
	}
	Annotate(r.Context(), name, map[string]any{"role": req.Role, "password_changed": req.Password != ""})
	if err := UpdateUser(r.Context(), s.store, name, role, req.Password, s.cost); err != nil {
		return err
	}
	u, err := s.store.User(r.Context(), name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Service) removeUser(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	Annotate(r.Context(), name, nil)
	if err := s.store.DeleteUser(r.Context(), name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "removed": true})
}

// visibleSession returns session id if c may see it: its own, or any for
// an admin.
func (s *Service) visibleSession(c *Caller, id string) (SessionInfo, error) {
	info, ok := s.sessions.Info(id)
	if !ok || (info.Actor != c.Actor() && !Allowed(c, PermSessionsAll)) {
		return SessionInfo{}, fmt.Errorf("session %s: %w", id, ErrNoSession)
	}
	return info, nil
}

// sessionView is a session with its queue.
type sessionView struct {
	SessionInfo
	Queue   any  `json:"queue"`
	Current bool `json:"current"`
}

func (s *Service) view(c *Caller, info SessionInfo) sessionView {
	v := sessionView{SessionInfo: info, Current: info.ID == c.Session}
	q := []any{}
	if s.engine != nil {
		for _, p := range s.engine.Queue() {
			if slices.Contains(info.Builds, p.BuildID) {
				q = append(q, p)
			}
		}
	}
	v.Queue = q
	return v
}

func (s *Service) listSessions(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	actor := c.Actor()
	if Allowed(c, PermSessionsAll) && r.URL.Query().Get("all") == "true" {
		actor = ""
	}
	out := []sessionView{}
	for _, info := range s.sessions.List(actor) {
		out = append(out, s.view(c, info))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sessions": out, "next": ""})
}

func (s *Service) getSession(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	id := r.PathValue("id")
	if id == "current" {
		id = c.Session
	}
	info, err := s.visibleSession(c, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.view(c, info))
}

func (s *Service) deleteSession(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	id := r.PathValue("id")
	Annotate(r.Context(), id, nil)
	if _, err := s.visibleSession(c, id); err != nil {
		return err
	}
	cancel := r.URL.Query().Get("cancel_builds") == "true"
	info, err := s.sessions.closeSession(r.Context(), id, cancel)
	if err != nil {
		return err
	}
	Annotate(r.Context(), id, map[string]any{"owner": info.Actor, "cancelled_builds": cancel})
	return writeJSON(w, http.StatusOK, map[string]any{"id": id, "closed": true})
}

func (s *Service) handoff(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	from := r.PathValue("id")
	if from == "current" {
		from = c.Session
	}
	var req struct {
		To string `json:"to"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	Annotate(r.Context(), from, map[string]any{"to": req.To})
	if req.To == "" {
		return errorf(http.StatusBadRequest, CodeBadRequest, `handoff: missing "to" session`)
	}
	moved, err := s.sessions.handoff(r.Context(), from, req.To, c.Principal)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Status == http.StatusForbidden {
			return s.deny(r.Context(), c, r, ActionHandoff, from, e, map[string]any{"to": req.To})
		}
		return err
	}
	Annotate(r.Context(), from, map[string]any{"builds": moved})
	return writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": req.To, "builds": moved})
}

// auditQuery reads the filters of GET /audit and /audit/export. A caller
// without PermAuditAll sees only its own entries.
func (s *Service) auditQuery(r *http.Request, c *Caller) (state.AuditQuery, error) {
	v := r.URL.Query()
	q := state.AuditQuery{Actor: v.Get("actor"), Action: v.Get("action"), Outcome: v.Get("outcome"),
		Search: v.Get("q"), Cursor: v.Get("cursor")}
	if q.Outcome != "" && q.Outcome != state.OutcomeAllowed && q.Outcome != state.OutcomeDenied {
		return q, errorf(http.StatusBadRequest, CodeBadRequest, "outcome %q: want allowed or denied", q.Outcome)
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if s := v.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, errorf(http.StatusBadRequest, CodeBadRequest, "%s=%q: want an RFC 3339 time", name, s)
			}
			*dst = t
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return q, errorf(http.StatusBadRequest, CodeBadRequest, "limit=%q: want a non-negative integer", l)
		}
		q.Limit = n
	}
	if !Allowed(c, PermAuditAll) {
		if q.Actor != "" && q.Actor != c.Actor() {
			return q, s.deny(r.Context(), c, r, "audit.read", q.Actor, forbidden(c, PermAuditAll), nil)
		}
		q.Actor = c.Actor()
	}
	return q, nil
}

func (s *Service) listAudit(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	q, err := s.auditQuery(r, c)
	if err != nil {
		return err
	}
	entries, next, err := s.store.Audit(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next": next})
}

func (s *Service) exportAudit(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	q, err := s.auditQuery(r, c)
	if err != nil {
		return err
	}
	Annotate(r.Context(), "", map[string]any{"filter": r.URL.RawQuery})
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="buildnet-audit.ndjson"`)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	return ExportNDJSON(r.Context(), s.store, q, w)
}

// ExportNDJSON writes the entries matching q to w as NDJSON, oldest
// first: one JSON object a line, ready for Loki or Elasticsearch.
func ExportNDJSON(ctx context.Context, store state.AuditStore, q state.AuditQuery, w io.Writer) error {
	enc := json.NewEncoder(w)
	return store.ExportAudit(ctx, q, func(e state.AuditEntry) error { return enc.Encode(ndjsonEntry(e)) })
}

// ndjsonEntry is an entry as exported: the time also under @timestamp,
// as Elasticsearch expects.
func ndjsonEntry(e state.AuditEntry) any {
	return struct {
		Timestamp time.Time `json:"@timestamp"`
		state.AuditEntry
	}{e.Time, e}
}

// auditPing is the keep-alive period of GET /audit/stream.
const auditPing = 15 * time.Second

func (s *Service) streamAudit(w http.ResponseWriter, r *http.Request) error {
	c, _ := FromContext(r.Context())
	all := Allowed(c, PermAuditAll)
	sub := s.audit.Subscribe()
	defer sub.Close()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, ": connected\n\n"); err != nil {
		return nil
	}
	_ = rc.Flush()
	ping := time.NewTicker(auditPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil {
				return nil
			}
		case e, ok := <-sub.Entries():
			if !ok {
				return nil
			}
			if !all && e.Actor != c.Actor() {
				continue
			}
			b, err := json.Marshal(e)
			if err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: audit\ndata: %s\n\n", e.Seq, b); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

func (s *Service) getSettings(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.Settings())
}

func (s *Service) putSettings(w http.ResponseWriter, r *http.Request) error {
	st := s.Settings()
	if err := decode(r, &st); err != nil {
		return err
	}
	if st.CORSOrigins == nil {
		st.CORSOrigins = []string{}
	}
	if err := st.Validate(); err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "%s", err)
	}
	if s.settingsPath != "" {
		if err := SaveSettings(s.settingsPath, st); err != nil {
			return err
		}
	}
	if err := s.SetSettings(st); err != nil {
		return err
	}
	Annotate(r.Context(), "security", map[string]any{"settings": st})
	return writeJSON(w, http.StatusOK, st)
}
