package alert_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cfg, err string
	}{
		{"empty", ``, ""},
		{"null", `null`, ""},
		{"all rule types", `{"rules": [
			{"name": "a", "type": "build_failed", "packages": ["api..."], "channels": ["x"]},
			{"name": "b", "type": "cache_size", "threshold": "8GB"},
			{"name": "c", "type": "slow_package", "factor": 1.5, "window": 10, "min_samples": 10, "min_duration": "2s", "tiers": ["full_build", "cache_restore"]},
			{"name": "d", "type": "repeated_failures", "count": 2}
		], "channels": {"x": {"type": "webhook", "url": "http://127.0.0.1/x", "retries": 0, "timeout": "5s", "backoff": "100ms"}}}`, ""},
		{"unknown field", `{"rulez": []}`, `unknown field "rulez"`},
		{"unknown rule field", `{"rules": [{"name": "a", "type": "build_failed", "treshold": 1}]}`, `unknown field "treshold"`},
		{"missing name", `{"rules": [{"type": "build_failed"}]}`, "rules[0].name: missing"},
		{"duplicate name", `{"rules": [{"name": "a", "type": "build_failed"}, {"name": "a", "type": "build_failed"}]}`, "duplicate rule name"},
		{"unknown type", `{"rules": [{"name": "a", "type": "build_slow"}]}`, `unknown rule type "build_slow"`},
		{"missing type", `{"rules": [{"name": "a"}]}`, "type: missing"},
		{"unknown channel", `{"rules": [{"name": "a", "type": "build_failed", "channels": ["nope"]}], "channels": {"x": {"type": "webhook"}}}`, `unknown channel "nope" (configured: x)`},
		{"channel without type", `{"channels": {"x": {"url": "http://x"}}}`, "channels.x.type: missing"},
		{"negative retries", `{"channels": {"x": {"type": "webhook", "retries": -1}}}`, "channels.x.retries: -1"},
		{"cache without threshold", `{"rules": [{"name": "a", "type": "cache_size"}]}`, "threshold: missing"},
		{"cache with packages", `{"rules": [{"name": "a", "type": "cache_size", "threshold": 5, "packages": ["x"]}]}`, "does not apply"},
		{"factor too low", `{"rules": [{"name": "a", "type": "slow_package", "factor": 1}]}`, "factor: 1: want more than 1"},
		{"min samples over window", `{"rules": [{"name": "a", "type": "slow_package", "window": 3}]}`, "min_samples: 5 is more than the window (3)"},
		{"unknown tier", `{"rules": [{"name": "a", "type": "slow_package", "tiers": ["fast"]}]}`, `unknown tier "fast"`},
		{"count of one", `{"rules": [{"name": "a", "type": "repeated_failures", "count": 1}]}`, "count: 1: want 2 or more"},
		{"factor on the wrong rule", `{"rules": [{"name": "a", "type": "build_failed", "factor": 3}]}`, "apply to slow_package only"},
		{"threshold on the wrong rule", `{"rules": [{"name": "a", "type": "build_failed", "threshold": "1GB"}]}`, "applies to cache_size only"},
		{"bad size", `{"rules": [{"name": "a", "type": "cache_size", "threshold": "lots"}]}`, `bad size "lots"`},
		{"trailing data", `{} {}`, "unexpected data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := alert.ParseConfig(json.RawMessage(tt.cfg))
			if tt.err == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, alert.ErrConfig)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

func TestWorkspaceCarriesAlerts(t *testing.T) {
	t.Parallel()
	ws, err := buildnet.ParseWorkspace([]byte(`{"packages": [{"name": "a", "path": "a", "build_cmd": "true"}],
		"alerts": {"rules": [{"name": "r", "type": "repeated_failures"}]}}`), "", "config.json")
	require.NoError(t, err)
	c, err := alert.ParseConfig(ws.Alerts)
	require.NoError(t, err)
	require.Len(t, c.Rules, 1)
	a, err := alert.New(*c, alert.Options{})
	require.NoError(t, err)
	defer a.Close()
	assert.Equal(t, alert.DefaultCount, a.Rules()[0].Count, "defaults filled in")
}

func TestNewChecksChannelsAndPackages(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t)
	e := w.Open()
	tests := []struct {
		name, cfg, err string
		env            env
	}{
		{"unknown channel type", `{"channels": {"x": {"type": "pager"}}}`, `no notifier named "pager"`, nil},
		{"secret env unset", `{"channels": {"x": {"type": "webhook", "url": "http://127.0.0.1/", "secret_env": "NOPE"}}}`, "secret_env: $NOPE is empty or unset", nil},
		{"slack url inline", `{"channels": {"x": {"type": "slack", "url": "https://hooks.slack.com/x"}}}`, `unknown field "url"`, nil},
		{"webhook url and url_env", `{"channels": {"x": {"type": "webhook", "url": "http://a/", "url_env": "U"}}}`, "set one, not both", env{"U": "http://b/"}},
		{"webhook bad scheme", `{"channels": {"x": {"type": "webhook", "url": "file:///etc/passwd"}}}`, "not an http or https URL", nil},
		{"email without to", `{"channels": {"x": {"type": "email", "addr": "127.0.0.1:25", "from": "a@example.com"}}}`, "to: missing", nil},
		{"email bad addr", `{"channels": {"x": {"type": "email", "addr": "mail", "from": "a@example.com", "to": ["b@example.com"]}}}`, "want host:port", nil},
		{"email user without password", `{"channels": {"x": {"type": "email", "addr": "127.0.0.1:25", "from": "a@example.com", "to": ["b@example.com"], "username": "u"}}}`, "username without password_env", nil},
		{"email bad tls", `{"channels": {"x": {"type": "email", "addr": "127.0.0.1:25", "from": "a@example.com", "to": ["b@example.com"], "tls": "yes"}}}`, `tls "yes"`, nil},
		{"filter matching nothing", `{"rules": [{"name": "r", "type": "build_failed", "packages": ["apii"]}]}`, `rules[0] (r).packages: buildnet: unknown package: filter "apii" matches no package (did you mean api?)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := alert.ParseConfig(json.RawMessage(tt.cfg))
			require.NoError(t, err)
			_, err = alert.New(*c, alert.Options{Engine: e, Getenv: tt.env.get})
			require.Error(t, err)
			assert.ErrorIs(t, err, alert.ErrConfig)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(`{"rules": [{"name": "a", "type": "slow_package", "factor": 3}]}`)
	f.Add(`{"rules": [{"name": "a", "type": "cache_size", "threshold": "1GB"}], "channels": {"x": {"type": "slack"}}}`)
	f.Add(`{"history": -1}`)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := alert.ParseConfig(json.RawMessage(s))
		if err != nil {
			return
		}
		// A configuration that parses is valid, and survives a round trip.
		require.NoError(t, c.Validate())
		data, err := json.Marshal(c)
		require.NoError(t, err)
		_, err = alert.ParseConfig(data)
		require.NoError(t, err)
	})
}
