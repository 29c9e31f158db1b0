package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// TLS modes of an email channel.
const (
	// TLSAuto upgrades with STARTTLS when the server offers it. Go's SMTP
	// client refuses to send a password unencrypted, except to localhost.
	TLSAuto = "auto"
	// TLSStartTLS requires STARTTLS.
	TLSStartTLS = "starttls"
	// TLSImplicit connects with TLS from the start (SMTPS, port 465).
	TLSImplicit = "implicit"
)

// EmailConfig configures an "email" channel: a plain-text mail sent over
// SMTP.
type EmailConfig struct {
	ChannelCommon
	// Addr is the SMTP server's host:port. Required.
	Addr string `json:"addr"`
	// From is the sender address. Required.
	From string `json:"from"`
	// To lists the recipients. Required.
	To []string `json:"to"`
	// Username and PasswordEnv (an environment variable holding the
	// password) enable AUTH PLAIN.
	Username    string `json:"username,omitempty"`
	PasswordEnv string `json:"password_env,omitempty"`
	// TLS is auto (the default), starttls or implicit.
	TLS string `json:"tls,omitempty"`
	// SubjectPrefix starts every subject; "" means "[buildnet] ".
	SubjectPrefix string `json:"subject_prefix,omitempty"`
	// HelloName is the name sent in EHLO; "" means "localhost".
	HelloName string `json:"hello_name,omitempty"`
}

// Email is the "email" channel. It is safe for concurrent use.
type Email struct {
	cfg      EmailConfig
	host     string
	password string
}

var _ buildnet.Notifier = (*Email)(nil)

// NewEmail makes an email channel from its configuration
// ([EmailConfig]); it is a [buildnet.NotifierFactory].
func NewEmail(config json.RawMessage, getenv func(string) string) (buildnet.Notifier, error) {
	var c EmailConfig
	if err := decodeStrict(config, &c); err != nil {
		return nil, fmt.Errorf("email channel: %w", err)
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("email channel: addr %q: want host:port", c.Addr)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return nil, fmt.Errorf("email channel: from %q: %w", c.From, err)
	}
	if len(c.To) == 0 {
		return nil, errors.New("email channel: to: missing")
	}
	for _, to := range c.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("email channel: to %q: %w", to, err)
		}
	}
	switch c.TLS {
	case "":
		c.TLS = TLSAuto
	case TLSAuto, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("email channel: tls %q: want auto, starttls or implicit", c.TLS)
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "[buildnet] "
	}
	if c.HelloName == "" {
		c.HelloName = "localhost"
	}
	e := &Email{cfg: c, host: host}
	switch {
	case c.PasswordEnv != "" && c.Username == "":
		return nil, errors.New("email channel: password_env without username")
	case c.PasswordEnv != "":
		if e.password = getenv(c.PasswordEnv); e.password == "" {
			return nil, fmt.Errorf("email channel: password_env: $%s is empty or unset", c.PasswordEnv)
		}
	case c.Username != "":
		return nil, errors.New("email channel: username without password_env")
	}
	return e, nil
}

// Notify sends n by mail. Errors name the server, never the password.
func (e *Email) Notify(ctx context.Context, n buildnet.Notification) error {
	if err := e.send(ctx, n); err != nil {
		return fmt.Errorf("send mail via %s: %w", e.cfg.Addr, err)
	}
	return nil
}

func (e *Email) send(ctx context.Context, n buildnet.Notification) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.cfg.Addr)
	if err != nil {
		return err
	}
	// net/smtp knows nothing of contexts: the deadline bounds the whole
	// exchange, and closing the connection interrupts it when ctx ends.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if e.cfg.TLS == TLSImplicit {
		conn = tls.Client(conn, &tls.Config{ServerName: e.host, MinVersion: tls.VersionTLS12})
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(e.cfg.HelloName); err != nil {
		return err
	}
	if e.cfg.TLS != TLSImplicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: e.host, MinVersion: tls.VersionTLS12}); err != nil {
				return err
			}
		} else if e.cfg.TLS == TLSStartTLS {
			return errors.New("server does not offer STARTTLS")
		}
	}
	if e.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.cfg.Username, e.password, e.host)); err != nil {
			return fmt.Errorf("authenticate as %s: %w", e.cfg.Username, err)
		}
	}
	if err := c.Mail(addrOnly(e.cfg.From)); err != nil {
		return err
	}
	for _, to := range e.cfg.To {
		if err := c.Rcpt(addrOnly(to)); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(e.message(n)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func addrOnly(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return s
	}
	return a.Address
}

// message renders n as an RFC 5322 message with CRLF line ends.
func (e *Email) message(n buildnet.Notification) []byte {
	var b bytes.Buffer
	header := func(k, v string) {
		// A value with a line break would let a title inject headers.
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		b.WriteString(k + ": " + v + "\r\n")
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	header("From", e.cfg.From)
	header("To", strings.Join(e.cfg.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", e.cfg.SubjectPrefix+n.Title))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@buildnet>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	if n.Kind != "" {
		header("X-BuildNet-Event", n.Kind)
	}
	b.WriteString("\r\n")
	var body strings.Builder
	body.WriteString(n.Title + "\n")
	if n.Text != "" {
		body.WriteString("\n" + n.Text + "\n")
	}
	if keys := shownFields(n); len(keys) > 0 {
		body.WriteString("\n")
		for _, k := range keys {
			body.WriteString(k + ": " + n.Fields[k] + "\n")
		}
	}
	if id := n.Fields[FieldAlertID]; id != "" {
		body.WriteString("\nalert " + id + " sent by buildnetd\n")
	}
	// SMTP wants CRLF line ends; the DATA writer dot-stuffs lines.
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body.String(), "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}
