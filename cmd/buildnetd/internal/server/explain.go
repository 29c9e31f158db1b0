package server

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/template"
)

// Handlers for explaining decisions, selecting packages, and changing
// the configuration at run time.

func (s *Server) buildSummary(w http.ResponseWriter, r *http.Request) error {
	sum, err := s.e.Summary(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sum)
}

func (s *Server) why(w http.ResponseWriter, r *http.Request) error {
	pkg := r.PathValue("package")
	ex, err := s.e.Why(r.Context(), pkg, r.URL.Query().Get("since"))
	if err != nil {
		return s.withSuggestions(err, []string{pkg})
	}
	return writeJSON(w, http.StatusOK, ex)
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) error {
	a, b := r.URL.Query().Get("a"), r.URL.Query().Get("b")
	if a == "" || b == "" {
		return errorf(http.StatusBadRequest, codeBadRequest, "diff needs two digests: ?a=DIGEST&b=DIGEST")
	}
	rs, err := s.e.Diff(r.Context(), a, b)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"a": a, "b": b, "reasons": rs})
}

func (s *Server) manifest(w http.ResponseWriter, r *http.Request) error {
	m, err := s.e.Manifest(r.Context(), r.PathValue("digest"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) affected(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pkgs, warnings, err := s.e.Affected(r.Context(), buildnet.GitRange{Base: q.Get("base"), Head: q.Get("head")})
	if err != nil {
		return err
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"packages": pkgs, "warnings": warnings})
}

// putConfig replaces the configuration: validated first, then saved to
// .buildnet/config.json and applied without a restart.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err // too large: the body limit answers 413
	}
	// The same strict parser as the file: unknown fields are refused, and
	// errors point at a line and column of what was sent.
	ws, err := buildnet.ParseWorkspace(data, s.e.Root(), "request body")
	if ce, ok := errors.AsType[*buildnet.ConfigError](err); ok && strings.HasPrefix(ce.Msg, "malformed JSON") {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "%s", err)
	}
	if err != nil {
		return err
	}
	if err := buildnet.SaveWorkspace(s.e.Root(), ws); err != nil {
		return err
	}
	change, err := s.e.SetWorkspace(ws)
	if err != nil {
		return err
	}
	s.log.Info("configuration replaced", "added", change.Added, "removed", change.Removed, "changed", change.Changed, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, map[string]any{"change": change, "config": s.e.Workspace()})
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	ts, err := template.Load(r.Context(), s.e.Root())
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, codeInvalidConfig, "%s", err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"templates": ts})
}

// applyTemplate adds a template's packages to the configuration.
func (s *Server) applyTemplate(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Values map[string]string `json:"values"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	ts, err := template.Load(r.Context(), s.e.Root())
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, codeInvalidConfig, "%s", err)
	}
	t, err := template.Find(ts, r.PathValue("name"))
	if err != nil {
		return errorf(http.StatusNotFound, codeNotFound, "%s", err)
	}
	cur := s.e.Workspace()
	next, err := template.ApplyToWorkspace(&cur, s.e.Root(), t, body.Values)
	if err != nil {
		return err
	}
	if err := buildnet.SaveWorkspace(s.e.Root(), next); err != nil {
		return err
	}
	change, err := s.e.SetWorkspace(next)
	if err != nil {
		return err
	}
	s.log.Info("template applied", "template", t.Name, "added", change.Added, "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, map[string]any{"template": t.Name, "packages": change.Added, "change": change})
}

// explainError maps the errors of these handlers; toAPIError calls it.
func explainError(err error) *APIError {
	switch {
	case errors.Is(err, buildnet.ErrConfig):
		return errorf(http.StatusUnprocessableEntity, codeInvalidConfig, "%s", err)
	case errors.Is(err, buildnet.ErrNeverBuilt):
		return errorf(http.StatusNotFound, codeNotFound, "%s", err)
	case errors.Is(err, buildnet.ErrBadFilter), errors.Is(err, buildnet.ErrGit):
		return errorf(http.StatusBadRequest, codeBadRequest, "%s", err)
	case errors.Is(err, template.ErrValue), errors.Is(err, template.ErrInvalid):
		return errorf(http.StatusBadRequest, codeBadRequest, "%s", err)
	case errors.Is(err, template.ErrClash):
		return errorf(http.StatusConflict, codeConflict, "%s", err)
	}
	return nil
}
