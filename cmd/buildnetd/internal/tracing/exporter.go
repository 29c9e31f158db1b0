package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ErrShutdown is the error of an export after [Exporter.Shutdown].
var ErrShutdown = errors.New("tracing: exporter shut down")

// Defaults of [ExporterOptions].
const (
	DefaultTimeout        = 10 * time.Second
	DefaultInitialBackoff = time.Second
	DefaultMaxElapsed     = time.Minute
)

// maxBackoff bounds one wait between attempts, unless the collector asks
// for longer with Retry-After.
const maxBackoff = 30 * time.Second

// maxBodySnippet bounds the piece of a collector's answer kept in an
// [HTTPError].
const maxBodySnippet = 512

// ExporterOptions configures an [Exporter]. The zero value of each field
// means its default.
type ExporterOptions struct {
	// Header is added to each request, such as an authorization token.
	Header http.Header
	// Timeout bounds each attempt at posting a batch; 0 means
	// [DefaultTimeout].
	Timeout time.Duration
	// Gzip compresses the requests' bodies.
	Gzip bool
	// Client posts the requests; nil means a client of the exporter's
	// own, which [Exporter.Shutdown] closes the idle connections of.
	Client *http.Client
	// InitialBackoff is the first wait before retrying a failed
	// attempt, doubled (with jitter) after each further failure up to
	// 30 s; 0 means [DefaultInitialBackoff].
	InitialBackoff time.Duration
	// MaxElapsed bounds the time spent retrying one batch; 0 means
	// [DefaultMaxElapsed].
	MaxElapsed time.Duration
}

// Exporter posts spans to an OTLP/HTTP collector in OTLP's JSON encoding
// (Content-Type application/json). It implements
// [sdktrace.SpanExporter] and is safe for concurrent use.
//
// An attempt that fails with 429, 502, 503 or 504, or without an answer,
// is retried after a growing wait, or after the wait the collector's
// Retry-After header asks for if longer, until the batch is sent, its
// context ends, the exporter is shut down, or the retries would outlast
// [ExporterOptions.MaxElapsed]. Other failures are not retried.
type Exporter struct {
	url   string // where to post
	where string // url without user info or query, for errors
	opts  ExporterOptions
	own   bool // opts.Client is the exporter's own

	// stopped ends with [ErrShutdown] as its cause on Shutdown.
	stopped context.Context
	stop    context.CancelCauseFunc
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)

// NewExporter returns an exporter posting spans to the http or https URL
// rawURL, which is used as is (see [Config.TracesURL]).
func NewExporter(rawURL string, opts ExporterOptions) (*Exporter, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: exporter URL %q: want an http or https URL", rawURL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = DefaultInitialBackoff
	}
	if opts.MaxElapsed <= 0 {
		opts.MaxElapsed = DefaultMaxElapsed
	}
	opts.Header = opts.Header.Clone()
	e := &Exporter{url: rawURL, where: u.Scheme + "://" + u.Host + u.Path, opts: opts}
	if e.opts.Client == nil {
		e.opts.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		e.own = true
	}
	e.stopped, e.stop = context.WithCancelCause(context.Background())
	return e, nil
}

// ExportSpans posts spans as one request, retrying as [Exporter] says.
// After [Exporter.Shutdown] it fails with [ErrShutdown].
func (e *Exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Err() != nil {
		return ErrShutdown
	}
	if len(spans) == 0 {
		return nil
	}
	body, err := e.encode(spans)
	if err != nil {
		return fmt.Errorf("export spans: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(e.stopped, func() { cancel(ErrShutdown) })()

	giveUp := time.Now().Add(e.opts.MaxElapsed)
	backoff := e.opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		retry, wait, err := e.post(ctx, body, giveUp)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("export %d spans to %s: %w (attempt %d: %w)", len(spans), e.where, context.Cause(ctx), attempt, err)
		case !retry:
			return fmt.Errorf("export %d spans to %s: %w", len(spans), e.where, err)
		}
		// The collector's Retry-After is honoured, but never shortens
		// the backoff: "Retry-After: 0" must not make a busy loop. The
		// jitter spreads the retries of daemons that failed together.
		wait = max(wait, backoff/2+rand.N(backoff/2+1))
		backoff = min(2*backoff, maxBackoff)
		deadline, ok := ctx.Deadline()
		if end := time.Now().Add(wait); end.After(giveUp) || (ok && end.After(deadline)) {
			return fmt.Errorf("export %d spans to %s: gave up after attempt %d: %w", len(spans), e.where, attempt, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("export %d spans to %s: %w (attempt %d: %w)", len(spans), e.where, context.Cause(ctx), attempt, err)
		case <-t.C:
		}
	}
}

// encode returns the body of a request exporting spans.
func (e *Exporter) encode(spans []sdktrace.ReadOnlySpan) ([]byte, error) {
	body := appendExportRequest(make([]byte, 0, 512*len(spans)), spans)
	if !e.opts.Gzip {
		return body, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	return buf.Bytes(), nil
}

// post makes one attempt at posting body, for no longer than the
// timeout nor past giveUp. On failure, retry says whether to try again,
// and wait how long the collector asked to wait first (Retry-After), or
// -1 when it did not ask.
func (e *Exporter) post(ctx context.Context, body []byte, giveUp time.Time) (retry bool, wait time.Duration, err error) {
	deadline := time.Now().Add(e.opts.Timeout)
	if giveUp.Before(deadline) {
		deadline = giveUp
	}
	actx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return false, -1, err
	}
	for k, vs := range e.opts.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	if e.opts.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.opts.Client.Do(req)
	if err != nil {
		// No answer, or none within the timeout: the collector may be
		// restarting.
		return true, -1, err
	}
	defer func() {
		// Reading the rest lets the connection be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return false, -1, partialSuccess(resp)
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodySnippet))
	err = &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(bytes.ToValidUTF8(snippet, nil)))}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, parseRetryAfter(resp.Header.Get("Retry-After")), err
	}
	return false, -1, err
}

// partialSuccess returns the error of a successful answer that says the
// collector rejected some spans, or nil.
func partialSuccess(resp *http.Response) error {
	// Only a JSON answer is read: a collector may answer a JSON request
	// in protobuf, which has nothing to say on success but for this.
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return nil
	}
	var ans struct {
		PartialSuccess *struct {
			RejectedSpans json.RawMessage `json:"rejectedSpans"`
			ErrorMessage  string          `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&ans); err != nil || ans.PartialSuccess == nil {
		return nil // an answer we cannot read is still a success
	}
	ps := ans.PartialSuccess
	n, _ := strconv.ParseInt(strings.Trim(string(ps.RejectedSpans), `"`), 10, 64)
	if n == 0 && ps.ErrorMessage == "" {
		return nil
	}
	return fmt.Errorf("collector rejected %d spans: %s", n, ps.ErrorMessage)
}

// parseRetryAfter returns the wait a Retry-After header asks for, in
// seconds or until a date, or -1 when it asks for none. A wait past a day
// is a day: the exporter gives up on such waits anyway.
func parseRetryAfter(v string) time.Duration {
	const maxWait = 24 * time.Hour
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, int64(maxWait/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxWait)
	}
	return -1
}

// Shutdown makes later exports fail with [ErrShutdown] and cancels those
// under way. It is idempotent and returns nil.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.stop(ErrShutdown)
	if e.own {
		e.opts.Client.CloseIdleConnections()
	}
	return nil
}

// HTTPError is the error of a request the collector refused.
type HTTPError struct {
	StatusCode int    // such as 400
	Status     string // such as "400 Bad Request"
	Body       string // the start of the collector's answer
}

// Error returns the status and body of the answer.
func (e *HTTPError) Error() string {
	if e.Body == "" {
		return "collector answered " + e.Status
	}
	return "collector answered " + e.Status + ": " + e.Body
}
