package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	stdhash "hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

// ErrSignature is returned for a downloaded artifact whose x-artifact-tag
// is missing or does not match while signing is on. The artifact is not
// served.
var ErrSignature = errors.New("remote: artifact signature missing or invalid")

// ErrTooLarge is returned for an artifact larger than
// [Options.MaxArtifactSize].
var ErrTooLarge = errors.New("remote: artifact too large")

// ErrUnavailable is returned without contacting the server while the
// client rests after [Options.MaxFailures] consecutive failures.
var ErrUnavailable = errors.New("remote: cache unavailable after repeated failures")

// Defaults of [Options].
const (
	DefaultTimeout         = 30 * time.Second
	DefaultMaxConcurrent   = 8
	DefaultMaxArtifactSize = 1 << 30
	DefaultMaxFailures     = 5
	DefaultCooldown        = 30 * time.Second
	DefaultUserAgent       = "buildnet-remote-cache/1"
)

// Protocol header names.
const (
	headerDuration = "x-artifact-duration"
	headerTag      = "x-artifact-tag"
)

// maxErrorBody bounds what is read of an error response.
const maxErrorBody = 4 << 10

// Options configures a [Client]. Only URL is required.
type Options struct {
	// URL is the server's base address, such as
	// "https://cache.example.com"; the client adds /v8/artifacts/….
	URL string
	// Team selects the team's artifacts: sent as teamId when it starts
	// with "team_" (a Vercel team id), as slug otherwise. Self-hosted
	// servers such as turborepo-remote-cache require one.
	Team string
	// Token is sent as "Authorization: Bearer <Token>"; "" sends none.
	// It never appears in errors or logs.
	Token string
	// SignatureKey, when not empty, signs uploads and makes downloads
	// without a valid signature fail with [ErrSignature].
	SignatureKey []byte
	// Timeout bounds each request, body included; 0 means
	// [DefaultTimeout].
	Timeout time.Duration
	// MaxConcurrent bounds the requests in flight; 0 means
	// [DefaultMaxConcurrent].
	MaxConcurrent int
	// MaxArtifactSize bounds what is downloaded or uploaded; 0 means
	// [DefaultMaxArtifactSize].
	MaxArtifactSize int64
	// MaxFailures is how many consecutive failures (network errors,
	// timeouts, 5xx) make the client rest for Cooldown; 0 means
	// [DefaultMaxFailures], a negative value never rests.
	MaxFailures int
	// Cooldown is how long the client rests; 0 means [DefaultCooldown].
	Cooldown time.Duration
	// TempDir holds artifacts too large to buffer in memory; "" means
	// the system's temporary directory.
	TempDir string
	// UserAgent is sent with every request; "" means [DefaultUserAgent].
	UserAgent string
	// Logger receives debug records of requests and a warning when the
	// client starts resting; nil discards them.
	Logger *slog.Logger
	// HTTPClient sends the requests; nil means a client of its own over
	// a clone of [http.DefaultTransport].
	HTTPClient *http.Client
}

// Stats counts a Client's work since it was created. Errors includes
// Refused; Skipped requests are in neither.
type Stats struct {
	Hits      int64 `json:"hits"`       // downloads that returned an artifact
	Misses    int64 `json:"misses"`     // lookups the server answered 404
	Errors    int64 `json:"errors"`     // requests that failed: network, timeout, status, truncated or refused body
	Refused   int64 `json:"refused"`    // downloads refused: bad signature or too large
	Skipped   int64 `json:"skipped"`    // requests not sent while resting (ErrUnavailable)
	Uploads   int64 `json:"uploads"`    // artifacts the server accepted
	BytesDown int64 `json:"bytes_down"` // artifact bytes received
	BytesUp   int64 `json:"bytes_up"`   // artifact bytes sent
}

// StatusError reports an HTTP status the protocol does not expect, such
// as 401 for a bad token or 5xx for a failing server.
type StatusError struct {
	Method  string // GET, HEAD or PUT
	Code    int    // HTTP status code
	Message string // the server's explanation, shortened; may be empty
}

// Error implements the error interface.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("remote: %s answered %d %s", e.Method, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Temporary reports whether the same request may succeed later: a 5xx
// or 429 answer.
func (e *StatusError) Temporary() bool { return e.Code >= 500 || e.Code == http.StatusTooManyRequests }

// Retryable reports whether err, returned by a [Client], may go away if
// the request is sent again: a network error, a timeout, a truncated body,
// a 5xx or 429 answer. A miss, a refused artifact, any other status and
// a cancelled context are not.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Temporary()
	}
	if _, ok := errors.AsType[notRetryable](err); ok {
		return false
	}
	for _, e := range []error{cache.ErrNotFound, ErrSignature, ErrTooLarge, ErrUnavailable} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// notRetryable marks local failures, such as a source that cannot be
// read, that sending again would not fix.
type notRetryable struct{ err error }

func (e notRetryable) Error() string { return e.err.Error() }
func (e notRetryable) Unwrap() error { return e.err }

// Client talks to one remote cache. It is safe for concurrent use.
type Client struct {
	base      string // URL without a trailing slash
	redacted  string // base for messages, without credentials
	query     string // team parameter, with its leading "?", or ""
	team      string
	token     string
	key       []byte
	timeout   time.Duration
	maxSize   int64
	maxFail   int
	cooldown  time.Duration
	tempDir   string
	userAgent string
	log       *slog.Logger
	http      *http.Client
	own       *http.Transport // closed by Close; nil for Options.HTTPClient
	sem       chan struct{}

	hits, misses, errs, refused, skipped, uploads, bytesDown, bytesUp atomic.Int64

	// mu guards the failure count and the rest period.
	mu        sync.Mutex
	failures  int
	restUntil time.Time
}

var _ cache.Backend = (*Client)(nil)

// New returns a client for the server at opts.URL. It checks the options
// but does not contact the server.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.URL)
	switch {
	case opts.URL == "":
		return nil, errors.New("new remote cache client: empty URL")
	case err != nil:
		return nil, fmt.Errorf("new remote cache client: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("new remote cache client: URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return nil, fmt.Errorf("new remote cache client: URL %q has no host", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("new remote cache client: URL %q: give the base address, without query or fragment", u.Redacted())
	case strings.ContainsAny(opts.Token, "\r\n"):
		return nil, errors.New("new remote cache client: token contains a line break")
	}
	c := &Client{
		base:      strings.TrimRight(u.String(), "/"),
		redacted:  strings.TrimRight(u.Redacted(), "/"),
		team:      opts.Team,
		token:     opts.Token,
		key:       opts.SignatureKey,
		timeout:   opts.Timeout,
		maxSize:   opts.MaxArtifactSize,
		maxFail:   opts.MaxFailures,
		cooldown:  opts.Cooldown,
		tempDir:   opts.TempDir,
		userAgent: opts.UserAgent,
		log:       opts.Logger,
		http:      opts.HTTPClient,
	}
	if opts.Team != "" {
		q := url.Values{}
		if strings.HasPrefix(opts.Team, "team_") {
			q.Set("teamId", opts.Team)
		} else {
			q.Set("slug", opts.Team)
		}
		c.query = "?" + q.Encode()
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxSize <= 0 {
		c.maxSize = DefaultMaxArtifactSize
	}
	if c.maxFail == 0 {
		c.maxFail = DefaultMaxFailures
	}
	if c.cooldown <= 0 {
		c.cooldown = DefaultCooldown
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With(keyComponent, "remote-cache")
	conc := opts.MaxConcurrent
	if conc <= 0 {
		conc = DefaultMaxConcurrent
	}
	c.sem = make(chan struct{}, conc)
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = conc
		c.own = tr
		c.http = &http.Client{Transport: tr}
	}
	return c, nil
}

// URL returns the server's base address with any password masked.
func (c *Client) URL() string { return c.redacted }

// Signed reports whether the client signs uploads and verifies downloads.
func (c *Client) Signed() bool { return len(c.key) > 0 }

// Close releases idle connections of the client's own transport. The
// client stays usable.
func (c *Client) Close() {
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errs.Load(), Refused: c.refused.Load(),
		Skipped: c.skipped.Load(), Uploads: c.uploads.Load(), BytesDown: c.bytesDown.Load(), BytesUp: c.bytesUp.Load(),
	}
}

// Get downloads the artifact stored under key. The whole artifact is
// received and, when signing is on, verified before Get returns; the
// caller closes the result. A miss returns an error wrapping
// [cache.ErrNotFound].
func (c *Client) Get(ctx context.Context, key hash.Digest) (io.ReadCloser, error) {
	rc, err := c.get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get %s from remote cache: %w", key.Short(), err)
	}
	return rc, nil
}

func (c *Client) get(ctx context.Context, key hash.Digest) (io.ReadCloser, error) {
	release, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(rctx, http.MethodGet, key, nil, 0, nil)
	if err != nil {
		return nil, c.failed(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		drain(resp.Body)
		c.answered()
		c.misses.Add(1)
		return nil, cache.ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, c.failed(ctx, c.statusError(http.MethodGet, resp))
	case resp.ContentLength > c.maxSize:
		return nil, c.refuse(fmt.Errorf("%w: %d bytes, at most %d accepted", ErrTooLarge, resp.ContentLength, c.maxSize))
	}
	sp := &spool{dir: c.tempDir}
	var w io.Writer = sp
	var mac stdhash.Hash
	if c.Signed() {
		mac = newSigner(c.key, c.team, key.String())
		w = io.MultiWriter(sp, mac)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, c.maxSize+1))
	c.bytesDown.Add(n)
	switch {
	case err != nil:
		sp.discard()
		return nil, c.failed(ctx, fmt.Errorf("read artifact after %d bytes: %w", n, err))
	case n > c.maxSize:
		sp.discard()
		return nil, c.refuse(fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.maxSize))
	case mac != nil && !tagMatches(resp.Header.Get(headerTag), mac.Sum(nil)):
		sp.discard()
		what := "wrong"
		if resp.Header.Get(headerTag) == "" {
			what = "missing"
		}
		return nil, c.refuse(fmt.Errorf("%w: %s tag", ErrSignature, what))
	}
	rc, err := sp.reader()
	if err != nil {
		return nil, fmt.Errorf("read spooled artifact: %w", err)
	}
	c.answered()
	c.hits.Add(1)
	c.log.LogAttrs(ctx, slog.LevelDebug, "remote cache hit", slog.String(keyDigest, key.String()), slog.Int64(keyBytes, n))
	return rc, nil
}

// Exists reports whether the server holds an artifact under key, with a
// HEAD request. With signing on, the artifact may still be refused by
// [Client.Get].
func (c *Client) Exists(ctx context.Context, key hash.Digest) (bool, error) {
	ok, err := c.exists(ctx, key)
	if err != nil {
		return false, fmt.Errorf("check %s in remote cache: %w", key.Short(), err)
	}
	return ok, nil
}

func (c *Client) exists(ctx context.Context, key hash.Digest) (bool, error) {
	release, err := c.begin(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(rctx, http.MethodHead, key, nil, 0, nil)
	if err != nil {
		return false, c.failed(ctx, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		c.answered()
		return true, nil
	case http.StatusNotFound:
		c.answered()
		return false, nil
	}
	return false, c.failed(ctx, c.statusError(http.MethodHead, resp))
}

// Put stores what r yields under key, implementing [cache.Backend]; it
// is [Client.PutArtifact] with no build duration.
func (c *Client) Put(ctx context.Context, key hash.Digest, r io.Reader, size int64) error {
	return c.PutArtifact(ctx, key, r, size, 0)
}

// PutArtifact uploads what r yields as the artifact for key, with
// duration, the time the build took, as x-artifact-duration. size is the
// length of r's content, or -1 if unknown. A reader that is also an
// [io.Seeker] with a known size is sent as it is, from its current
// offset; any other is first copied aside, so that a reader failing
// halfway never reaches the server. PutArtifact does not retry.
func (c *Client) PutArtifact(ctx context.Context, key hash.Digest, r io.Reader, size int64, duration time.Duration) error {
	if err := c.put(ctx, key, r, size, duration); err != nil {
		return fmt.Errorf("put %s to remote cache: %w", key.Short(), err)
	}
	return nil
}

func (c *Client) put(ctx context.Context, key hash.Digest, r io.Reader, size int64, duration time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	body, tag, err := c.prepare(key, r, size)
	if err != nil {
		return notRetryable{err}
	}
	defer body.Close()
	release, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer release()
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set(headerDuration, strconv.FormatInt(max(duration.Milliseconds(), 0), 10))
	if tag != "" {
		h.Set(headerTag, tag)
	}
	gb := &guardedBody{r: io.LimitReader(body.r, body.n)}
	resp, err := c.send(rctx, http.MethodPut, key, gb, body.n, h)
	if err != nil {
		c.bytesUp.Add(gb.detach())
		return c.failed(ctx, err)
	}
	defer resp.Body.Close()
	// The transport may still be sending when the answer arrives: take
	// the body back before the caller reuses its reader.
	c.bytesUp.Add(gb.detach())
	if resp.StatusCode/100 != 2 {
		return c.failed(ctx, c.statusError(http.MethodPut, resp))
	}
	drain(resp.Body)
	c.answered()
	c.uploads.Add(1)
	c.log.LogAttrs(ctx, slog.LevelDebug, "remote cache upload", slog.String(keyDigest, key.String()), slog.Int64(keyBytes, body.n))
	return nil
}

// putBody is an upload's content: n bytes of r from its current offset.
type putBody struct {
	r     io.Reader
	n     int64
	close func() error
}

func (b *putBody) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}

// prepare makes r sendable with a known length and computes its
// signature tag when signing is on.
func (c *Client) prepare(key hash.Digest, r io.Reader, size int64) (*putBody, string, error) {
	if rs, ok := r.(io.ReadSeeker); ok && size >= 0 {
		return c.prepareSeeker(key, rs, size)
	}
	sp := &spool{dir: c.tempDir}
	var w io.Writer = sp
	var mac stdhash.Hash
	if c.Signed() {
		mac = newSigner(c.key, c.team, key.String())
		w = io.MultiWriter(sp, mac)
	}
	n, err := io.Copy(w, io.LimitReader(r, c.maxSize+1))
	switch {
	case err != nil:
		sp.discard()
		return nil, "", fmt.Errorf("read artifact: %w", err)
	case n > c.maxSize:
		sp.discard()
		return nil, "", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.maxSize)
	case size >= 0 && n != size:
		sp.discard()
		return nil, "", fmt.Errorf("read %d bytes, expected %d", n, size)
	}
	rc, err := sp.reader()
	if err != nil {
		return nil, "", fmt.Errorf("read spooled artifact: %w", err)
	}
	tag := ""
	if mac != nil {
		tag = encodeTag(mac.Sum(nil))
	}
	return &putBody{r: rc, n: n, close: rc.Close}, tag, nil
}

func (c *Client) prepareSeeker(key hash.Digest, rs io.ReadSeeker, size int64) (*putBody, string, error) {
	if size > c.maxSize {
		return nil, "", fmt.Errorf("%w: %d bytes, at most %d accepted", ErrTooLarge, size, c.maxSize)
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, "", fmt.Errorf("seek artifact: %w", err)
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err == nil && end-start < size {
		err = fmt.Errorf("holds %d bytes, expected %d", end-start, size)
	}
	if err == nil {
		_, err = rs.Seek(start, io.SeekStart)
	}
	if err != nil {
		return nil, "", fmt.Errorf("measure artifact: %w", err)
	}
	tag := ""
	if c.Signed() {
		mac := newSigner(c.key, c.team, key.String())
		n, err := io.Copy(mac, io.LimitReader(rs, size))
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, expected %d", n, size)
		}
		if err == nil {
			_, err = rs.Seek(start, io.SeekStart)
		}
		if err != nil {
			return nil, "", fmt.Errorf("sign artifact: %w", err)
		}
		tag = encodeTag(mac.Sum(nil))
	}
	return &putBody{r: rs, n: size}, tag, nil
}

// begin waits for a request slot. It fails fast with ErrUnavailable while
// the client rests after repeated failures.
func (c *Client) begin(ctx context.Context) (release func(), err error) {
	c.mu.Lock()
	resting := time.Now().Before(c.restUntil)
	c.mu.Unlock()
	if resting {
		c.skipped.Add(1)
		return nil, ErrUnavailable
	}
	select {
	case c.sem <- struct{}{}:
		return func() { <-c.sem }, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// send sends one request. body, when not nil, has length n.
func (c *Client) send(ctx context.Context, method string, key hash.Digest, body io.ReadCloser, n int64, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v8/artifacts/"+key.String()+c.query, nil)
	if err != nil {
		return nil, notRetryable{err}
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if body != nil {
		req.ContentLength = n
		req.Body = http.NoBody
		if n > 0 {
			req.Body = body
		}
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	// An error names the URL, which never holds the token; net/http
	// masks any password in it.
	return c.http.Do(req)
}

// answered records a request the server answered as the protocol says,
// ending any run of failures.
func (c *Client) answered() {
	c.mu.Lock()
	c.failures = 0
	c.restUntil = time.Time{}
	c.mu.Unlock()
}

// failed counts a failed request and returns err. A request cancelled by
// its caller is not a failure of the server and is not counted.
func (c *Client) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	c.errs.Add(1)
	if !Retryable(err) {
		// The server answered, if unhelpfully: it is up.
		c.answered()
		return err
	}
	c.mu.Lock()
	c.failures++
	rest := c.maxFail > 0 && c.failures >= c.maxFail
	if rest {
		c.restUntil = time.Now().Add(c.cooldown)
	}
	failures := c.failures
	c.mu.Unlock()
	if rest && failures == c.maxFail {
		c.log.LogAttrs(ctx, slog.LevelWarn, "remote cache failing; pausing requests",
			slog.String(keyURL, c.redacted), slog.Duration(keyCooldown, c.cooldown), slog.Any(keyErr, err))
	}
	return err
}

// refuse counts a downloaded artifact that is not served.
func (c *Client) refuse(err error) error {
	c.errs.Add(1)
	c.refused.Add(1)
	c.answered()
	return err
}

// statusError reads the server's explanation from resp.
func (c *Client) statusError(method string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := errorMessage(b)
	if c.token != "" {
		msg = strings.ReplaceAll(msg, c.token, "[redacted]")
	}
	return &StatusError{Method: method, Code: resp.StatusCode, Message: msg}
}

// errorMessage extracts a message from a JSON error body in the shapes
// servers use ({"message"}, {"error": "…"}, {"error": {"message"}}), or
// takes the text as it is, shortened to one printable line.
func errorMessage(b []byte) string {
	var v struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	msg := string(b)
	if json.Unmarshal(b, &v) == nil {
		var inner struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		var s string
		switch {
		case v.Message != "":
			msg = v.Message
		case json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			msg = inner.Message
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s
		}
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, msg)
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…"
	}
	return msg
}

func drain(r io.Reader) { io.Copy(io.Discard, io.LimitReader(r, maxErrorBody)) }

// errDetached is what a request body yields once taken back.
var errDetached = errors.New("request body no longer available")

// guardedBody is a request body that can be taken back from the
// transport, which may go on reading it after the response has arrived.
type guardedBody struct {
	// mu guards everything below.
	mu       sync.Mutex
	r        io.Reader
	n        int64
	detached bool
}

func (g *guardedBody) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.detached {
		return 0, errDetached
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	return n, err
}

// Close does nothing: the reader belongs to the caller.
func (g *guardedBody) Close() error { return nil }

// detach stops further reads and returns the bytes read.
func (g *guardedBody) detach() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.detached = true
	return g.n
}
