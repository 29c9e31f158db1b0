package alert_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/buildnet/buildnettest"
)

// request is one HTTP request a receiver got.
type request struct {
	Header http.Header
	Path   string
	Body   []byte
}

// receiver is a local HTTP server standing in for a webhook, Slack or
// Discord. fail, when set, chooses the status of each request (0 means
// 200) by its 1-based number; hold, when set, keeps every request waiting
// until it is closed.
type receiver struct {
	srv  *httptest.Server
	fail func(n int) int
	hold chan struct{}

	// mu guards reqs and arrived.
	mu      sync.Mutex
	reqs    []request
	arrived int
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	t.Helper()
	rc := &receiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(func() {
		rc.release()
		rc.srv.Close()
	})
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.arrived++
	n := rc.arrived
	hold := rc.hold
	rc.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	code := http.StatusOK
	if rc.fail != nil {
		if c := rc.fail(n); c != 0 {
			code = c
		}
	}
	if code == http.StatusOK {
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{Header: r.Header.Clone(), Path: r.URL.Path, Body: body})
		rc.mu.Unlock()
	}
	w.WriteHeader(code)
	// Echo the path, as some servers do in their errors: it must not
	// reach the logs when it is a secret.
	_, _ = io.WriteString(w, "no good: "+r.URL.RequestURI())
}

// release lets held requests go on.
func (rc *receiver) release() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.hold != nil {
		close(rc.hold)
		rc.hold = nil
	}
}

func (rc *receiver) holdAll() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hold = make(chan struct{})
}

// got returns the requests answered 200.
func (rc *receiver) got() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) arrivals() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.arrived
}

// payloads decodes the webhook payloads received.
func (rc *receiver) payloads(t *testing.T) []alert.Payload {
	t.Helper()
	var out []alert.Payload
	for _, r := range rc.got() {
		var p alert.Payload
		require.NoError(t, json.Unmarshal(r.Body, &p))
		out = append(out, p)
	}
	return out
}

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// workspace is the shared test workspace: base <- api, base <- web, and
// docs; a package fails while .fail/NAME exists.
type workspace = buildnettest.Workspace

func newWorkspace(t *testing.T) *workspace { return buildnettest.New(t) }

// setup makes an alerter watching a new engine of w, running until the
// test ends.
func setup(t *testing.T, w *workspace, cfg string, environ env, logs io.Writer) (*buildnet.Engine, *alert.Alerter) {
	t.Helper()
	e := w.Open()
	c, err := alert.ParseConfig(json.RawMessage(cfg))
	require.NoError(t, err)
	if logs == nil {
		logs = io.Discard
	}
	a, err := alert.New(*c, alert.Options{
		Engine: e, Getenv: environ.get,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() }) // after Run has returned: cleanups run last first
	buildnettest.Run(t, a.Run)
	return e, a
}

// build runs a forced build of every package and waits until the
// alerter has judged it.
func build(t *testing.T, e *buildnet.Engine, a *alert.Alerter, pkgs ...string) *buildnet.BuildResult {
	t.Helper()
	res, err := e.Build(t.Context(), buildnet.Request{Packages: pkgs, Force: true, Requester: "tester"})
	require.NoError(t, err)
	settle(t, e, a)
	return res
}

// settle waits until the alerter has evaluated every event published so
// far.
func settle(t *testing.T, e *buildnet.Engine, a *alert.Alerter) {
	t.Helper()
	mark := e.Publish(buildnet.Event{Type: "test:mark"})
	require.Eventually(t, func() bool { return a.Stats().LastSeq >= mark.Seq }, 10*time.Second, 2*time.Millisecond)
}

// delivered waits until no delivery is pending and returns the history.
func delivered(t *testing.T, a *alert.Alerter) []alert.Record {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, r := range a.History() {
			for _, d := range r.Deliveries {
				if d.Status == alert.DeliveryPending {
					return false
				}
			}
		}
		return true
	}, 20*time.Second, 2*time.Millisecond)
	return a.History()
}

// rules returns the rule names of records, oldest first.
func rules(recs []alert.Record) []string {
	var out []string
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i].Rule)
	}
	return out
}

// smtpServer is a tiny SMTP server speaking enough of RFC 5321 for
// net/smtp: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT.
// failRcpt, when positive, answers the first failRcpt RCPT commands with
// a temporary failure.
type smtpServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	failRcpt int

	// mu guards mails, auths and rcpts.
	mu    sync.Mutex
	mails []mail
	auths []string // decoded AUTH PLAIN credentials
	rcpts int
}

type mail struct {
	From string
	To   []string
	Data string
}

func newSMTPServer(t *testing.T, failRcpt int) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &smtpServer{ln: ln, failRcpt: failRcpt}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.session(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *smtpServer) addr() string { return s.ln.Addr().String() }

func (s *smtpServer) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	say("220 test ESMTP ready")
	var cur mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			say("250-test greets you")
			say("250-8BITMIME")
			say("250 AUTH PLAIN")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			if strings.ToUpper(mech) != "PLAIN" {
				say("504 unrecognised authentication type")
				continue
			}
			dec, err := base64.StdEncoding.DecodeString(resp)
			if err != nil {
				say("501 bad base64")
				continue
			}
			s.mu.Lock()
			s.auths = append(s.auths, string(dec))
			s.mu.Unlock()
			say("235 authenticated")
		case "MAIL":
			cur = mail{From: angle(arg)}
			say("250 ok")
		case "RCPT":
			s.mu.Lock()
			s.rcpts++
			n := s.rcpts
			s.mu.Unlock()
			if n <= s.failRcpt {
				say("451 try again later")
				continue
			}
			cur.To = append(cur.To, angle(arg))
			say("250 ok")
		case "DATA":
			say("354 end with <CRLF>.<CRLF>")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			cur.Data = data.String()
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.mu.Unlock()
			say("250 queued")
		case "RSET":
			cur = mail{}
			say("250 ok")
		case "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 command not implemented")
		}
	}
}

func (s *smtpServer) received() ([]mail, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mail(nil), s.mails...), append([]string(nil), s.auths...)
}

// angle returns what is between < and > in an SMTP argument.
func angle(arg string) string {
	_, rest, _ := strings.Cut(arg, "<")
	addr, _, _ := strings.Cut(rest, ">")
	return addr
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newRegistryWithLeaky returns a registry with the built-in channels and
// a "leaky" one whose errors quote its secret, $LEAKY_TOKEN.
func newRegistryWithLeaky(t *testing.T) *buildnet.Registry {
	t.Helper()
	reg := buildnet.NewRegistry()
	require.NoError(t, alert.RegisterChannels(reg))
	require.NoError(t, reg.RegisterNotifier("leaky", func(_ json.RawMessage, getenv func(string) string) (buildnet.Notifier, error) {
		tok := getenv("LEAKY_TOKEN")
		return notifierFunc(func(context.Context, buildnet.Notification) error {
			return errors.New("rejected with token " + tok)
		}), nil
	}))
	return reg
}

type notifierFunc func(context.Context, buildnet.Notification) error

func (f notifierFunc) Notify(ctx context.Context, n buildnet.Notification) error { return f(ctx, n) }
