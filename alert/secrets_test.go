package alert_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
)

// TestSecretsNeverLogged makes every channel fail with its secrets in
// play — a URL token echoed back by the server, an HMAC key, an SMTP
// password — and checks that no secret reaches the logs, the history or
// the stats.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	echo := newReceiver(t, func(int) int { return 500 }) // answers with the request URI
	smtp := newSMTPServer(t, 1000)                       // refuses every recipient
	environ := env{
		"HOOK_URL":      echo.srv.URL + "/hook/tok-3f9a8b7c6d5e",
		"HOOK_SECRET":   "hmac-key-0a1b2c3d",
		"SLACK_URL":     echo.srv.URL + "/services/T1/B2/slack-tok-9z8y7x",
		"DISCORD_URL":   "http://127.0.0.1:1/api/webhooks/42/discord-tok-5w4v3u",
		"SMTP_PASSWORD": "smtp-pw-1q2w3e4r",
	}
	cfg := fmt.Sprintf(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {
			"hook": {"type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET", "retries": 1, "backoff": "1ms"},
			"slack": {"type": "slack", "url_env": "SLACK_URL", "retries": 1, "backoff": "1ms"},
			"discord": {"type": "discord", "url_env": "DISCORD_URL", "retries": 1, "backoff": "1ms"},
			"mail": {"type": "email", "addr": %q, "from": "a@example.com", "to": ["b@example.com"],
				"username": "bot", "password_env": "SMTP_PASSWORD", "retries": 1, "backoff": "1ms"}
		}
	}`, smtp.addr())
	c, err := alert.ParseConfig(json.RawMessage(cfg))
	require.NoError(t, err)
	var logs safeBuffer
	a, err := alert.New(*c, alert.Options{Getenv: environ.get, Logger: newLogger(&logs)})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	recs := delivered(t, a)
	require.Len(t, recs, 1)
	for _, d := range recs[0].Deliveries {
		assert.Equal(t, alert.DeliveryFailed, d.Status, d.Channel)
		assert.Equal(t, 2, d.Attempts, d.Channel)
		assert.NotEmpty(t, d.Error, d.Channel)
	}
	hist, err := json.Marshal(a.History())
	require.NoError(t, err)
	stats, err := json.Marshal(a.Stats())
	require.NoError(t, err)
	require.Contains(t, logs.String(), "alert delivery failed")
	require.Contains(t, logs.String(), "HTTP 500", "the server's answer is logged")
	for name, secret := range environ {
		for where, text := range map[string]string{"logs": logs.String(), "history": string(hist), "stats": string(stats)} {
			assert.NotContains(t, text, secret, "%s leaks $%s", where, name)
		}
	}
	for _, tok := range []string{"tok-3f9a8b7c6d5e", "slack-tok-9z8y7x", "discord-tok-5w4v3u"} {
		assert.NotContains(t, logs.String(), tok)
		assert.NotContains(t, string(hist), tok)
	}
}

func TestSecretsNotInConfigErrors(t *testing.T) {
	t.Parallel()
	environ := env{"SLACK_URL": "ftp://hooks.example.com/services/secret-token-abc"}
	c, err := alert.ParseConfig(json.RawMessage(`{"channels": {"s": {"type": "slack", "url_env": "SLACK_URL"}}}`))
	require.NoError(t, err)
	_, err = alert.New(*c, alert.Options{Getenv: environ.get})
	require.Error(t, err)
	assert.ErrorIs(t, err, alert.ErrConfig)
	assert.Contains(t, err.Error(), "$SLACK_URL: not an http or https URL")
	assert.NotContains(t, err.Error(), "secret-token-abc")
}

func TestRedactsEchoedSecrets(t *testing.T) {
	t.Parallel()
	// A notifier of another type whose errors carry its secret: the
	// alerter still keeps it out of the history.
	c, err := alert.ParseConfig(json.RawMessage(`{
		"rules": [{"name": "any", "type": "build_failed"}],
		"channels": {"leaky": {"type": "leaky", "retries": 0}}
	}`))
	require.NoError(t, err)
	reg := newRegistryWithLeaky(t)
	a, err := alert.New(*c, alert.Options{Registry: reg, Getenv: env{"LEAKY_TOKEN": "leaky-secret-value"}.get})
	require.NoError(t, err)
	defer a.Close()
	a.Observe(t.Context(), failedBuild("b1"))
	d := delivered(t, a)[0].Deliveries[0]
	assert.Equal(t, alert.DeliveryFailed, d.Status)
	assert.Equal(t, "rejected with token [REDACTED]", d.Error)
}
