package alert

import (
	"errors"
	"net/url"
	"strings"
	"sync"
)

// redactor remembers the secret values read from the environment and
// blanks them out of any text: a second line of defence behind notifiers
// that already keep secrets out of their errors.
type redactor struct {
	// mu guards secrets.
	mu      sync.RWMutex
	secrets []string
}

// minSecretLen is the length under which a value is not treated as a
// secret: blanking "1" or "on" everywhere would garble every message.
const minSecretLen = 4

func (r *redactor) add(v string) {
	if len(v) < minSecretLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if s == v {
			return
		}
	}
	r.secrets = append(r.secrets, v)
	// A URL's path or query may be logged on its own, or escaped.
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		for _, part := range []string{u.EscapedPath(), u.RawQuery, u.User.String()} {
			if len(part) >= 8 {
				r.secrets = append(r.secrets, part)
			}
		}
	}
	if esc := url.QueryEscape(v); esc != v {
		r.secrets = append(r.secrets, esc)
	}
}

// getenv wraps getenv so that every value it returns is redacted.
func (r *redactor) getenv(getenv func(string) string) func(string) string {
	return func(name string) string {
		v := getenv(name)
		r.add(v)
		return v
	}
}

func (r *redactor) text(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// redactedError carries the redacted text of an error and keeps the
// original for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.text(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// stripURL replaces the URL of a *url.Error (which net/http puts in every
// transport error) by name, such as "$SLACK_WEBHOOK_URL" or the URL's
// scheme and host: a chat webhook's URL is its secret.
func stripURL(err error, name string) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: name, Err: ue.Err}
}

// safeURL names a URL by its scheme and host only.
func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
