package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
)

// Audit actions of the file routes.
const (
	ActionRead  = "file.read"
	ActionWrite = "file.write"
	ActionMove  = "file.move"
	ActionDiff  = "file.diff"
)

// maxEditBody bounds the body of an edit: the JSON-encoded content.
const maxEditBody = 4 << 20

// Routes registers the file endpoints, guarded by svc: reading needs
// auth.PermRead, editing and moving auth.PermFilesWrite.
//
//	GET  /files                      the packages, as the roots of the tree
//	GET  /files/list?path=DIR        a directory's entries
//	GET  /files/content?path=FILE    a file, with its text
//	GET  /files/raw?path=FILE        a file's bytes, as a download
//	PUT  /files/content?path=FILE    {"content","base_sha256"}: save
//	POST /files/move                 {"from","to"}: move a file
//	GET  /files/diff?path=&from=&to= compare working, git[:REV], version:N
//	GET  /files/history?path=FILE    git log of the file and its saved versions
func (b *Browser) Routes(svc *auth.Service, reg auth.Register) {
	api := func(pattern string, perm auth.Perm, action string, fn func(http.ResponseWriter, *http.Request) error) {
		reg(pattern, false, svc.Wrap(perm, action, handler(fn)))
	}
	api("GET /files", auth.PermRead, "", b.roots)
	api("GET /files/list", auth.PermRead, "", b.list)
	api("GET /files/content", auth.PermRead, ActionRead, b.read)
	api("GET /files/raw", auth.PermRead, ActionRead, b.raw)
	api("PUT /files/content", auth.PermFilesWrite, ActionWrite, b.write)
	api("POST /files/move", auth.PermFilesWrite, ActionMove, b.move)
	api("GET /files/diff", auth.PermRead, "", b.diff)
	api("GET /files/history", auth.PermRead, "", b.history)
}

func handler(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			auth.Annotate(r.Context(), "", map[string]any{"error": err.Error()})
			auth.WriteError(w, toError(err))
		}
	})
}

// toError maps the browser's errors to HTTP.
func toError(err error) *auth.Error {
	if e, ok := errors.AsType[*auth.Error](err); ok {
		return e
	}
	e := func(status int, code string) *auth.Error {
		return &auth.Error{Status: status, Code: code, Message: err.Error()}
	}
	switch {
	case errors.Is(err, ErrBadPath), errors.Is(err, ErrSymlink), errors.Is(err, ErrOutside), errors.Is(err, ErrNotInPackage),
		errors.Is(err, ErrBinary), errors.Is(err, ErrIsDir), errors.Is(err, ErrNotDir):
		return e(http.StatusBadRequest, "bad_path")
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoGit):
		return e(http.StatusNotFound, "not_found")
	case errors.Is(err, ErrExists), errors.Is(err, ErrConflict):
		return e(http.StatusConflict, "conflict")
	case errors.Is(err, ErrTooLarge):
		return e(http.StatusRequestEntityTooLarge, "too_large")
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return e(http.StatusRequestEntityTooLarge, "too_large")
	}
	return e(http.StatusInternalServerError, "internal")
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

func (b *Browser) roots(w http.ResponseWriter, r *http.Request) error {
	entries, err := b.List(r.Context(), "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "next": ""})
}

func (b *Browser) list(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	entries, err := b.List(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"path": p, "entries": entries, "next": ""})
}

func (b *Browser) read(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	auth.Annotate(r.Context(), p, nil)
	f, _, err := b.Read(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, f)
}

func (b *Browser) raw(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	auth.Annotate(r.Context(), p, nil)
	f, info, err := b.Open(r.Context(), p)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(info.Path)}))
	w.Header().Set("Content-Security-Policy", "sandbox")
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, f)
	return err
}

func (b *Browser) write(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	auth.Annotate(r.Context(), p, nil)
	var req struct {
		Content    *string `json:"content"`
		BaseSHA256 string  `json:"base_sha256"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEditBody))
	if err := dec.Decode(&req); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return &auth.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "invalid JSON body: " + err.Error()}
	}
	if req.Content == nil {
		return &auth.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: `missing "content"`}
	}
	c, _ := auth.FromContext(r.Context())
	actor := ""
	if c != nil {
		actor = c.Actor()
	}
	f, err := b.Write(r.Context(), p, []byte(*req.Content), req.BaseSHA256, actor)
	if err != nil {
		return err
	}
	auth.Annotate(r.Context(), f.Path, map[string]any{"sha256": f.SHA256, "size": f.Size, "base_sha256": req.BaseSHA256})
	f.Content = ""
	return writeJSON(w, http.StatusOK, f)
}

func (b *Browser) move(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return &auth.Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "invalid JSON body: " + err.Error()}
	}
	auth.Annotate(r.Context(), req.From, map[string]any{"to": req.To})
	// A target given as a directory (ending in /) keeps the name.
	if strings.HasSuffix(req.To, "/") {
		req.To += path.Base(req.From)
	}
	f, err := b.Move(r.Context(), req.From, req.To)
	if err != nil {
		return err
	}
	auth.Annotate(r.Context(), req.From, map[string]any{"to": f.Path})
	f.Content = ""
	return writeJSON(w, http.StatusOK, map[string]any{"from": req.From, "to": f.Path, "file": f})
}

func (b *Browser) diff(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	d, err := b.Diff(r.Context(), v.Get("path"), v.Get("from"), v.Get("to"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (b *Browser) history(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	versions, err := b.Versions(r.Context(), p)
	if err != nil {
		return err
	}
	commits, err := b.GitLog(r.Context(), p, 0)
	gitOK := true
	if errors.Is(err, ErrNoGit) {
		commits, gitOK = []Commit{}, false
	} else if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"path": p, "git": gitOK, "commits": commits, "versions": versions})
}
