// Package remotetest provides remote cache servers for tests: [Server],
// an in-process server speaking the Turborepo remote cache protocol that
// can be told to misbehave, and [StartNPM], which runs the real
// turborepo-remote-cache server from npm on the loopback interface.
package remotetest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is a way for a [Server] to misbehave on artifact requests.
type Fault int

// Faults. They apply to GET and HEAD requests only unless noted, so that a
// test can fill the server first and break it afterwards.
const (
	Healthy  Fault = iota // speak the protocol
	Fail500               // answer 500 to every request, PUT included
	Hang                  // answer nothing until the client gives up
	Truncate              // announce the full length, send half the artifact, drop the connection
	Garbage               // answer 200 with random bytes
)

// maxHang bounds how long a hanging request is held, so that a test
// whose client has no timeout still ends.
const maxHang = 30 * time.Second

// Server is an in-memory remote cache server. It answers
// GET/HEAD/PUT /v8/artifacts/{hash} and GET /v8/artifacts/status like
// turborepo-remote-cache: a bearer token when one is set, a team as
// teamId, team or slug query parameter (400 without), 404 for a miss,
// and it stores and returns x-artifact-tag and x-artifact-duration.
type Server struct {
	// URL is the server's base address, http://127.0.0.1:port.
	URL string

	token string
	srv   *httptest.Server
	stop  chan struct{}

	// mu guards everything below.
	mu        sync.Mutex
	artifacts map[string]Artifact // by team + "/" + hash
	fault     Fault
	failNext  int
	failCode  int
	requests  map[string]int // by method
}

// Artifact is what a [Server] stores for one team and hash.
type Artifact struct {
	Body     []byte
	Tag      string // x-artifact-tag, "" when none was sent
	Duration string // x-artifact-duration as received
}

// NewServer starts a server on the loopback interface that requires
// token as bearer token ("" requires none). Close it when done.
func NewServer(token string) *Server {
	s := &Server{token: token, stop: make(chan struct{}), artifacts: map[string]Artifact{}, requests: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close makes hanging requests return and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetFault makes the server misbehave from now on; Healthy restores it.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// FailNext makes the next n artifact requests, of any method, answer
// status code.
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, code
}

// Requests returns how many artifact requests of method (GET, HEAD, PUT)
// the server received; "" counts them all.
func (s *Server) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if method != "" {
		return s.requests[method]
	}
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

// Artifact returns what is stored for team and hash.
func (s *Server) Artifact(team, hash string) (Artifact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.artifacts[team+"/"+hash]
	a.Body = bytes.Clone(a.Body)
	return a, ok
}

// SetArtifact stores a for team and hash, as a tampering server would.
func (s *Server) SetArtifact(team, hash string, a Artifact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.Body = bytes.Clone(a.Body)
	s.artifacts[team+"/"+hash] = a
}

// Hashes returns the hashes stored for team.
func (s *Server) Hashes(team string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.artifacts {
		if h, ok := strings.CutPrefix(k, team+"/"); ok {
			out = append(out, h)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v8/artifacts/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if rest == "status" && r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"enabled"}`)
		return
	}
	s.mu.Lock()
	s.requests[r.Method]++
	fault := s.fault
	code := 0
	if s.failNext > 0 {
		s.failNext--
		code = s.failCode
	}
	s.mu.Unlock()
	if code != 0 {
		writeError(w, code, "injected failure")
		return
	}
	if s.token != "" && r.Header.Get("Authorization") != "Bearer "+s.token {
		writeError(w, http.StatusUnauthorized, "Invalid authorization token")
		return
	}
	q := r.URL.Query()
	team := q.Get("teamId")
	if team == "" {
		team = q.Get("team")
	}
	if team == "" {
		team = q.Get("slug")
	}
	if team == "" {
		writeError(w, http.StatusBadRequest, "querystring should have required property 'team'")
		return
	}
	if fault == Fail500 {
		writeError(w, http.StatusInternalServerError, "injected failure")
		return
	}
	key := team + "/" + rest
	switch r.Method {
	case http.MethodPut:
		s.put(w, r, key)
	case http.MethodGet, http.MethodHead:
		s.get(w, r, key, fault)
	default:
		writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
	}
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, key string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// An aborted upload stores nothing.
		writeError(w, http.StatusBadRequest, "incomplete body")
		return
	}
	s.mu.Lock()
	s.artifacts[key] = Artifact{Body: body, Tag: r.Header.Get("x-artifact-tag"), Duration: r.Header.Get("x-artifact-duration")}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string][]string{"urls": {key}})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, key string, fault Fault) {
	switch fault {
	case Hang:
		t := time.NewTimer(maxHang)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-s.stop:
		case <-t.C:
		}
		return
	case Garbage:
		junk := make([]byte, 1024)
		rand.Read(junk)
		w.Header().Set("Content-Length", strconv.Itoa(len(junk)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(junk)
		}
		return
	}
	s.mu.Lock()
	a, ok := s.artifacts[key]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Artifact not found")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	if a.Tag != "" {
		h.Set("x-artifact-tag", a.Tag)
	}
	if a.Duration != "" {
		h.Set("x-artifact-duration", a.Duration)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if fault == Truncate {
		w.Write(a.Body[:len(a.Body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	w.Write(a.Body)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"statusCode": code, "error": http.StatusText(code), "message": msg})
}
