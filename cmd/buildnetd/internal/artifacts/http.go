package artifacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
	"github.com/musclemap/buildnet/state"
)

// Protocol header names.
const (
	// HeaderDuration carries the time the artifact took to produce, in
	// milliseconds: sent with an upload, returned with a download.
	HeaderDuration = "x-artifact-duration"
	// HeaderTag carries the client's signature of the artifact, stored
	// and returned verbatim.
	HeaderTag = "x-artifact-tag"
)

// TransferTimeout bounds receiving one upload or sending one download.
const TransferTimeout = 10 * time.Minute

// smallBody is the size up to which a download is verified before the
// answer begins, so that a corrupt one answers 404.
const smallBody = 1 << 20

// maxJSONBody bounds the bodies of usage events and queries.
const maxJSONBody = 1 << 20

// maxQueryHashes bounds the hashes of one query.
const maxQueryHashes = 1000

// Error codes of the JSON error bodies.
const (
	codeBadRequest    = "bad_request"
	codeNotFound      = "not_found"
	codeTooLarge      = "too_large"
	codeStorageFailed = "storage_failed"
	codeMethod        = "method_not_allowed"
	codeInternal      = "internal"
	// CodeDisabled is the code turbo recognises as remote caching being
	// off on the server.
	CodeDisabled = "remote_caching_disabled"
)

// allowedHeader reports whether a preflight may ask to send the request
// header name (lower case).
func allowedHeader(name string) bool {
	switch name {
	case "authorization", "content-type", "user-agent", HeaderDuration, HeaderTag,
		"x-artifact-client-ci", "x-artifact-client-interactive", "x-artifact-sha", "x-artifact-dirty-hash":
		return true
	}
	return false
}

// CORSHeaders lists, for Access-Control-Allow-Headers, the headers of the
// protocol beyond Authorization and Content-Type.
const CORSHeaders = "User-Agent, x-artifact-duration, x-artifact-tag, x-artifact-client-ci, x-artifact-client-interactive, x-artifact-sha, x-artifact-dirty-hash"

// ExposedHeaders lists, for Access-Control-Expose-Headers, the response
// headers a browser client reads.
const ExposedHeaders = "x-artifact-duration, x-artifact-tag"

// Team returns the team a request names: its teamId, team or slug query
// parameter, in that order (turbo sends teamId only for Vercel ids, which
// start with "team_", and slug for a configured team name).
func Team(r *http.Request) string {
	q := r.URL.Query()
	for _, p := range []string{"teamId", "team", "slug"} {
		if v := q.Get(p); v != "" {
			return v
		}
	}
	return ""
}

// artifactKey returns the {hash} of /v8/artifacts/{hash}.
func artifactKey(r *http.Request) string {
	if k := r.PathValue("hash"); k != "" {
		return k
	}
	return strings.TrimPrefix(r.URL.Path, "/v8/artifacts/")
}

type apiError struct {
	status  int
	code    string
	message string
}

func writeError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": fmt.Sprintf(format, args...)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"cannot encode the answer"}}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ServeArtifact answers GET, HEAD and PUT /v8/artifacts/{hash}: a
// download (404 for a miss), an existence check, an upload (202).
func (s *Store) ServeArtifact(w http.ResponseWriter, r *http.Request) {
	team, key := Team(r), artifactKey(r)
	if team == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "a team is required: send the slug (or teamId) query parameter")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.serveGet(w, r, team, key)
	case http.MethodPut:
		s.servePut(w, r, team, key)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT")
		writeError(w, http.StatusMethodNotAllowed, codeMethod, "method %s not allowed on %s", r.Method, r.URL.Path)
	}
}

// readError maps an error of a lookup to the answer.
func readError(err error) apiError {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		return apiError{http.StatusNotFound, codeNotFound, "artifact not found"}
	case errors.Is(err, ErrInvalid):
		return apiError{http.StatusBadRequest, codeBadRequest, err.Error()}
	}
	return apiError{http.StatusInternalServerError, codeInternal, "cannot read the artifact store"}
}

func (s *Store) serveGet(w http.ResponseWriter, r *http.Request, team, key string) {
	ctx := r.Context()
	fail := func(err error) {
		e := readError(err)
		if e.status >= 500 {
			s.log.LogAttrs(ctx, slog.LevelError, "artifact lookup failed", slog.String(keyTeam, team), slog.String(keyKey, key), slog.Any(keyErr, err))
		}
		writeError(w, e.status, e.code, "%s", e.message)
	}
	if r.Method == http.MethodHead {
		a, err := s.Stat(ctx, team, key)
		if err != nil {
			fail(err)
			return
		}
		setArtifactHeaders(w, a)
		w.WriteHeader(http.StatusOK)
		return
	}
	a, rc, err := s.Get(ctx, team, key)
	if err != nil {
		fail(err)
		return
	}
	defer rc.Close()
	rctl := http.NewResponseController(w)
	_ = rctl.SetWriteDeadline(time.Now().Add(TransferTimeout))
	if a.Size <= smallBody {
		body, err := io.ReadAll(rc)
		if err != nil {
			fail(err)
			return
		}
		setArtifactHeaders(w, a)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
		return
	}
	setArtifactHeaders(w, a)
	w.WriteHeader(http.StatusOK)
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
		}
		if rerr == io.EOF {
			return
		}
		if rerr != nil {
			// The answer has begun: cut it short, so that the client
			// sees a failed download rather than a complete wrong one.
			s.log.LogAttrs(ctx, slog.LevelWarn, "artifact download aborted", slog.String(keyTeam, team), slog.String(keyKey, key), slog.Any(keyErr, rerr))
			panic(http.ErrAbortHandler)
		}
	}
}

func setArtifactHeaders(w http.ResponseWriter, a state.Artifact) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("Cache-Control", "no-store")
	h.Set(HeaderDuration, strconv.FormatInt(a.DurationMs, 10))
	if a.Tag != "" {
		h.Set(HeaderTag, a.Tag)
	}
}

// putError maps an error of an upload to the answer: 4xx always, since
// turbo retries 5xx, which would only repeat the failure.
func putError(err error) apiError {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe):
		return apiError{http.StatusRequestEntityTooLarge, codeTooLarge, err.Error()}
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrIncomplete):
		return apiError{http.StatusBadRequest, codeBadRequest, err.Error()}
	}
	return apiError{http.StatusPreconditionFailed, codeStorageFailed, "the artifact could not be stored; see the server's log"}
}

func (s *Store) servePut(w http.ResponseWriter, r *http.Request, team, key string) {
	ctx := r.Context()
	target := "artifact:" + team + "/" + key
	refuse := func(err error) {
		e := putError(err)
		level := slog.LevelDebug
		if e.status == http.StatusPreconditionFailed {
			level = slog.LevelError
		}
		s.log.LogAttrs(ctx, level, "artifact upload refused", slog.String(keyTeam, team), slog.String(keyKey, key),
			slog.Int("status", e.status), slog.Any(keyErr, err))
		auth.Annotate(ctx, target, map[string]any{"team": team, "key": key, "error": e.message})
		writeError(w, e.status, e.code, "%s", e.message)
	}
	var meta Meta
	if d := r.Header.Get(HeaderDuration); d != "" {
		v, err := strconv.ParseInt(d, 10, 64)
		if err != nil || v < 0 {
			s.rejected.Add(1)
			refuse(fmt.Errorf("%w: %s %q: want a number of milliseconds", ErrInvalid, HeaderDuration, d))
			return
		}
		meta.DurationMs = v
	}
	meta.Tag = r.Header.Get(HeaderTag)
	if r.ContentLength > s.maxOne {
		s.rejected.Add(1)
		// The body is not read: do not keep the connection for it.
		w.Header().Set("Connection", "close")
		refuse(fmt.Errorf("%w: %d bytes, at most %d accepted", ErrTooLarge, r.ContentLength, s.maxOne))
		return
	}
	rctl := http.NewResponseController(w)
	deadline := time.Now().Add(TransferTimeout)
	_ = rctl.SetReadDeadline(deadline)
	_ = rctl.SetWriteDeadline(deadline)
	st, err := s.Put(ctx, team, key, r.Body, r.ContentLength, meta)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			w.Header().Set("Connection", "close")
		}
		refuse(err)
		return
	}
	details := map[string]any{"team": team, "key": key, "size": st.Size, "blob": st.Blob.String(),
		"duration_ms": st.DurationMs, "tagged": st.Tag != ""}
	if !st.Replaced.IsZero() {
		details["replaced_blob"] = st.Replaced.String()
	}
	if ci := r.Header.Get("x-artifact-client-ci"); ci != "" {
		details["ci"] = ci
	}
	auth.Annotate(ctx, target, details)
	writeJSON(w, http.StatusAccepted, map[string][]string{"urls": {team + "/" + key}})
}

// ServeStatus answers GET /v8/artifacts/status: {"status":"enabled"}.
func (s *Store) ServeStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "enabled"})
}

// usageEvent is one item of POST /v8/artifacts/events.
type usageEvent struct {
	SessionID string `json:"sessionId"`
	Source    string `json:"source"` // LOCAL or REMOTE
	Event     string `json:"event"`  // HIT or MISS
	Hash      string `json:"hash"`
	Duration  int64  `json:"duration,omitempty"`
}

// ServeEvents answers POST /v8/artifacts/events, the usage events turbo
// reports (a JSON array): they are counted, and kept out of the audit
// log.
func (s *Store) ServeEvents(w http.ResponseWriter, r *http.Request) {
	auth.SkipAudit(r.Context())
	var evs []usageEvent
	if err := decodeJSON(r, &evs); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "usage events: %v", err)
		return
	}
	s.events.Add(int64(len(evs)))
	writeJSON(w, http.StatusOK, struct{}{})
}

// queryRequest is the body of POST /v8/artifacts.
type queryRequest struct {
	Hashes []string `json:"hashes"`
}

// artifactInfo is one answer of POST /v8/artifacts.
type artifactInfo struct {
	Size           int64  `json:"size"`
	TaskDurationMs int64  `json:"taskDurationMs"`
	Tag            string `json:"tag,omitempty"`
}

// ServeQuery answers POST /v8/artifacts ({"hashes": [...]}) with, for each
// hash, the artifact's size, duration and tag, or {"error": {"message"}}.
// It reads the index only: a query is not a use.
func (s *Store) ServeQuery(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	auth.SkipAudit(ctx)
	team := Team(r)
	if team == "" {
		writeError(w, http.StatusBadRequest, codeBadRequest, "a team is required: send the slug (or teamId) query parameter")
		return
	}
	var q queryRequest
	if err := decodeJSON(r, &q); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "query: %v", err)
		return
	}
	if len(q.Hashes) > maxQueryHashes {
		writeError(w, http.StatusBadRequest, codeBadRequest, "query: %d hashes, at most %d accepted", len(q.Hashes), maxQueryHashes)
		return
	}
	out := make(map[string]any, len(q.Hashes))
	for _, h := range q.Hashes {
		a, err := s.query(ctx, team, h)
		if err != nil {
			e := readError(err)
			if e.status >= 500 {
				writeError(w, e.status, e.code, "%s", e.message)
				return
			}
			out[h] = map[string]any{"error": map[string]string{"message": e.message}}
			continue
		}
		out[h] = artifactInfo{Size: a.Size, TaskDurationMs: a.DurationMs, Tag: a.Tag}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Store) query(ctx context.Context, team, key string) (state.Artifact, error) {
	if err := checkNames(team, key); err != nil {
		return state.Artifact{}, err
	}
	a, err := s.index.Artifact(ctx, team, key)
	if errors.Is(err, state.ErrNotFound) {
		return state.Artifact{}, ErrNotFound
	}
	return a, err
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// ServePreflight answers OPTIONS on the protocol's paths, as turbo's
// --preflight sends it (no Origin): 200 with the methods and the request
// headers the server accepts, Authorization among them, so that turbo
// goes on sending its token. It never allows an origin: browsers get
// Access-Control-Allow-Origin only from the daemon's CORS settings, which
// answer their preflights before this handler.
func ServePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Allow", "GET, HEAD, PUT, POST, OPTIONS")
	h.Set("Cache-Control", "no-store")
	if r.Header.Get("Access-Control-Request-Method") == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, POST, OPTIONS")
	if asked := allowedOf(r.Header.Get("Access-Control-Request-Headers")); asked != "" {
		h.Set("Access-Control-Allow-Headers", asked)
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusOK)
}

// allowedOf returns the headers of list (comma-separated) that the
// protocol uses, lower-cased.
func allowedOf(list string) string {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); allowedHeader(f) {
			out = append(out, f)
		}
	}
	return strings.Join(out, ", ")
}

// Disabled answers the protocol's requests on a daemon that serves no
// remote cache: status "disabled", preflights as usual, and 403 with the
// code turbo recognises for everything else, so that turbo reports remote
// caching off instead of counting misses.
func Disabled(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodOptions:
		ServePreflight(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v8/artifacts/status":
		writeJSON(w, http.StatusOK, map[string]string{"status": "disabled"})
	default:
		auth.SkipAudit(r.Context())
		writeError(w, http.StatusForbidden, CodeDisabled, "this buildnetd serves no remote cache: start it with --serve-cache")
	}
}

// CountDenied wraps h, the guarded artifact handler, to count the
// uploads refused for want of credentials or of the build role (401 and
// 403 answers to PUT) in [Stats].Denied.
func (s *Store) CountDenied(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			h.ServeHTTP(w, r)
			return
		}
		sw := httpstatus.Wrap(w)
		h.ServeHTTP(sw, r)
		if sw.Status == http.StatusUnauthorized || sw.Status == http.StatusForbidden {
			s.denied.Add(1)
		}
	})
}
