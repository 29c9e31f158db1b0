package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/files"
	"github.com/musclemap/buildnet/state"
)

// authStore is what the auth service needs of the engine's store.
type authStore interface {
	state.AuthStore
	state.AuditStore
}

// setupAuth makes the auth service and the file browser unless the
// options gave them.
func (s *Server) setupAuth() {
	s.auth, s.files = s.opts.Auth, s.opts.Files
	ctx := context.Background()
	// The engine's store is wrapped; the server keeps its own handle on
	// the same database for keys, users, sessions, the audit log and file
	// versions.
	var store authStore
	if s.auth == nil || s.files == nil {
		db, err := state.Open(ctx, filepath.Join(s.e.StateDir(), "state.db"), state.Options{Logger: s.log.With("component", "state")})
		if err != nil {
			s.authErr = err
		} else {
			s.db, store = db, db
		}
	}
	if s.auth == nil {
		if store == nil {
			if s.authErr == nil {
				s.authErr = errors.New("no state store")
			}
		} else {
			st, err := auth.LoadSettings(filepath.Join(s.e.StateDir(), auth.SettingsFile))
			if err == nil {
				s.auth, err = auth.New(ctx, auth.Options{Store: store, Engine: s.e, Settings: &st, Logger: s.log.With("component", "auth"),
					SettingsPath: filepath.Join(s.e.StateDir(), auth.SettingsFile)})
			}
			if err == nil {
				s.ownAuth = true
				var path string
				var created bool
				path, created, err = auth.EnsureAdminKey(ctx, store, s.e.StateDir())
				if created {
					s.log.Info("created an admin API key", "file", path)
				}
			}
			s.authErr = err
		}
		if s.authErr != nil {
			s.log.Error("no authentication: every request but /health will be refused", "err", s.authErr)
		}
	}
	if s.files == nil {
		var vs files.VersionStore
		if s.db != nil {
			vs = s.db
		}
		b, err := files.New(files.Options{Root: s.e.Root(), Versions: vs, Packages: func() []files.Package {
			ws := s.e.Workspace()
			out := make([]files.Package, len(ws.Packages))
			for i, p := range ws.Packages {
				out[i] = files.Package{Name: p.Name, Path: p.Path}
			}
			return out
		}})
		if err != nil {
			s.log.Error("no file browser", "err", err)
		} else {
			s.files, s.ownFiles = b, true
		}
	}
}

// guard wraps h with the auth service's checks for perm.
func (s *Server) guard(perm auth.Perm, action string, h http.Handler) http.Handler {
	if s.auth == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, errorf(http.StatusServiceUnavailable, codeUnavailable, "authentication is unavailable: %v", s.authErr))
		})
	}
	return s.auth.Wrap(perm, action, h)
}

// caller returns the authenticated caller of a request.
func caller(r *http.Request) *auth.Caller {
	c, _ := auth.FromContext(r.Context())
	return c
}

// corsHeaders are the request headers a cross-origin client may send.
const corsHeaders = "Authorization, Content-Type, Last-Event-ID, " + auth.SessionHeader + ", " + auth.CSRFHeader

// corsOrigin returns the request's Origin when the settings allow it.
func (s *Server) corsOrigin(r *http.Request) string {
	o := r.Header.Get("Origin")
	if o == "" || s.auth == nil {
		return ""
	}
	if slices.Contains(s.auth.Settings().CORSOrigins, strings.TrimSuffix(o, "/")) {
		return o
	}
	return ""
}

// cors adds the CORS headers for an allowed origin, and answers its
// preflight (it then returns true). CORS is off (no header at all)
// unless the settings name origins.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	o := s.corsOrigin(r)
	if o == "" {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", o)
	h.Add("Vary", "Origin")
	// The remote cache has headers of its own.
	artifact := strings.HasPrefix(r.URL.Path, "/v8/artifacts")
	if artifact {
		h.Set("Access-Control-Expose-Headers", auth.SessionHeader+", Retry-After, "+artifacts.ExposedHeaders)
	} else {
		h.Set("Access-Control-Expose-Headers", auth.SessionHeader+", Retry-After")
	}
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
		if artifact {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT")
			h.Set("Access-Control-Allow-Headers", corsHeaders+", "+artifacts.CORSHeaders)
		} else {
			h.Set("Access-Control-Allow-Headers", corsHeaders)
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// checkOrigin refuses cross-origin unsafe requests, except from the
// origins CORS allows. Credentials there travel in the Authorization
// header (the cookies are SameSite=Strict), so they cannot be forged.
func (s *Server) checkOrigin(r *http.Request) error {
	if s.corsOrigin(r) != "" {
		return nil
	}
	return s.cop.Check(r)
}
