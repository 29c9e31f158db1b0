package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// Channel type names registered by [RegisterChannels].
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
	TypeDiscord = "discord"
	TypeEmail   = "email"
)

// Fields the [Alerter] sets in every [buildnet.Notification] it sends.
const (
	FieldRule    = "rule"     // the rule's name
	FieldAlertID = "alert_id" // the alert's id, the same on every retry
	FieldTime    = "time"     // when the alert fired, RFC 3339
)

// Headers of a webhook request.
const (
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the
	// request body, keyed with the channel's secret; see [VerifySignature].
	HeaderSignature = "X-BuildNet-Signature-256"
	// HeaderDelivery carries the alert id, the same on every retry, so
	// that a receiver can drop duplicates.
	HeaderDelivery = "X-BuildNet-Delivery"
	// HeaderEvent carries the notification kind, e.g. build_failed.
	HeaderEvent = "X-BuildNet-Event"
)

// ErrPermanent is matched by delivery errors that retrying cannot fix,
// such as a 4xx answer: the [Alerter] does not retry them.
var ErrPermanent = errors.New("alert: permanent delivery failure")

// RegisterChannels adds the built-in channel types to reg: webhook,
// slack, discord and email. A type already registered under one of these
// names is left alone, so an embedder's own wins and calling it twice is
// harmless.
func RegisterChannels(reg *buildnet.Registry) error {
	for name, f := range map[string]buildnet.NotifierFactory{
		TypeWebhook: NewWebhook,
		TypeSlack:   newChatFactory(TypeSlack),
		TypeDiscord: newChatFactory(TypeDiscord),
		TypeEmail:   NewEmail,
	} {
		if _, err := reg.Notifier(name); err == nil {
			continue
		}
		if err := reg.RegisterNotifier(name, f); err != nil {
			return fmt.Errorf("register alert channels: %w", err)
		}
	}
	return nil
}

// WebhookConfig configures a "webhook" channel: a JSON [Payload] POSTed
// to a URL.
type WebhookConfig struct {
	ChannelCommon
	// URL receives the POST. Exactly one of URL and URLEnv is required.
	URL string `json:"url,omitempty"`
	// URLEnv names an environment variable holding the URL, for URLs that
	// carry a token.
	URLEnv string `json:"url_env,omitempty"`
	// SecretEnv names an environment variable holding the HMAC key; when
	// set, each request carries [HeaderSignature]. The variable must not be
	// empty.
	SecretEnv string `json:"secret_env,omitempty"`
}

// Payload is the JSON body of a webhook request: the notification with
// the alert's id, time and rule.
type Payload struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Rule string    `json:"rule"`
	buildnet.Notification
}

// Webhook is the "webhook" channel. It is safe for concurrent use.
type Webhook struct {
	url    string
	name   string // how the URL appears in errors
	secret []byte
	client *http.Client
}

var _ buildnet.Notifier = (*Webhook)(nil)

// NewWebhook makes a webhook channel from its configuration
// ([WebhookConfig]); it is a [buildnet.NotifierFactory].
func NewWebhook(config json.RawMessage, getenv func(string) string) (buildnet.Notifier, error) {
	var c WebhookConfig
	if err := decodeStrict(config, &c); err != nil {
		return nil, fmt.Errorf("webhook channel: %w", err)
	}
	u, name, err := channelURL(c.URL, c.URLEnv, getenv, true)
	if err != nil {
		return nil, fmt.Errorf("webhook channel: %w", err)
	}
	w := &Webhook{url: u, name: name, client: newHTTPClient()}
	if c.SecretEnv != "" {
		s := getenv(c.SecretEnv)
		if s == "" {
			return nil, fmt.Errorf("webhook channel: secret_env: $%s is empty or unset", c.SecretEnv)
		}
		w.secret = []byte(s)
	}
	return w, nil
}

// channelURL returns the URL configured directly or through an env var,
// and how to name it in errors.
func channelURL(direct, env string, getenv func(string) string, directAllowed bool) (u, name string, err error) {
	switch {
	case direct != "" && env != "":
		return "", "", errors.New("url and url_env: set one, not both")
	case direct != "" && !directAllowed:
		return "", "", errors.New("url: the URL is a secret, name an environment variable holding it with url_env")
	case direct != "":
		u, name = direct, safeURL(direct)
	case env != "":
		u, name = getenv(env), "$"+env
		if u == "" {
			return "", "", fmt.Errorf("url_env: $%s is empty or unset", env)
		}
	default:
		return "", "", errors.New("url_env: missing")
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", "", fmt.Errorf("%s: not an http or https URL", name)
	}
	return u, name, nil
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		// A redirect would resend the alert elsewhere, maybe as a GET:
		// report it instead.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Sign returns the value of [HeaderSignature] for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature reports whether header, the value of
// [HeaderSignature], is body's signature with secret. It compares in
// constant time.
func VerifySignature(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(sum, m.Sum(nil))
}

// Notify POSTs n as a [Payload].
func (w *Webhook) Notify(ctx context.Context, n buildnet.Notification) error {
	p := Payload{ID: n.Fields[FieldAlertID], Rule: n.Fields[FieldRule], Notification: n}
	p.Time, _ = time.Parse(time.RFC3339Nano, n.Fields[FieldTime])
	if p.Time.IsZero() {
		p.Time = time.Now().UTC()
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode webhook payload: %w", err)
	}
	h := http.Header{}
	h.Set(HeaderEvent, n.Kind)
	if p.ID != "" {
		h.Set(HeaderDelivery, p.ID)
	}
	if w.secret != nil {
		h.Set(HeaderSignature, Sign(w.secret, body))
	}
	return post(ctx, w.client, w.url, w.name, body, h)
}

// post sends body and maps the answer to an error: 2xx is success, 408,
// 429 and 5xx are worth retrying, anything else is [ErrPermanent].
func post(ctx context.Context, client *http.Client, u, name string, body []byte, h http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post to %s: %w", name, stripURL(err, name))
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "buildnet-alert/1")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", name, stripURL(err, name))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?"))}
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("post to %s: %w", name, err)
	default:
		return fmt.Errorf("post to %s: %w: %w", name, err, ErrPermanent)
	}
}

// StatusError is an HTTP answer other than 2xx from a channel.
type StatusError struct {
	Code int
	Body string // the start of the response body
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body)
}
