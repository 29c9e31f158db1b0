package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// ErrConfig is matched by every error in an alert configuration.
var ErrConfig = errors.New("alert: invalid configuration")

// ConfigError says what is wrong in an alert configuration.
type ConfigError struct {
	Field string // e.g. rules[1].factor
	Msg   string
	Err   error // underlying cause, if any
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return "alerts: " + e.Msg
	}
	return "alerts." + e.Field + ": " + e.Msg
}

// Is reports whether target is [ErrConfig].
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Unwrap returns the underlying cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// RuleType names what a rule watches.
type RuleType string

// Rule types.
const (
	// RuleBuildFailed fires once for each failed build; with Packages, only
	// when one of those packages failed.
	RuleBuildFailed RuleType = "build_failed"
	// RuleCacheSize fires when the local cache grows past Threshold, and
	// again only after it has gone back under it.
	RuleCacheSize RuleType = "cache_size"
	// RuleSlowPackage fires when a package's build takes more than Factor
	// times the median of its previous durations (same tier).
	RuleSlowPackage RuleType = "slow_package"
	// RuleRepeatedFailures fires when a package has failed Count times in a
	// row, once per streak.
	RuleRepeatedFailures RuleType = "repeated_failures"
)

// Defaults of [Rule] and [ChannelCommon].
const (
	DefaultFactor     = 2.0
	DefaultWindow     = 20
	DefaultMinSamples = 5
	DefaultCount      = 3
	DefaultRetries    = 3
	DefaultTimeout    = 10 * time.Second
	DefaultBackoff    = time.Second
	// MaxBackoff caps the wait between two attempts.
	MaxBackoff = time.Minute
)

// Config is the "alerts" section of the workspace configuration.
type Config struct {
	// Rules are evaluated on every build; each fires independently.
	Rules []Rule `json:"rules,omitempty"`
	// Channels maps a channel name to its configuration: an object with a
	// "type" (a notifier registered in the [buildnet.Registry]) and the
	// type's own fields. See [WebhookConfig], [ChatConfig], [EmailConfig].
	Channels map[string]json.RawMessage `json:"channels,omitempty"`
	// History is how many alerts [Alerter.History] keeps; 0 means 200.
	History int `json:"history,omitempty"`
	// QueueSize bounds the alerts waiting for each channel; 0 means 100.
	// An alert finding its channel's queue full is dropped, logged and
	// counted.
	QueueSize int `json:"queue_size,omitempty"`
}

// Rule is one alert rule. Which fields apply depends on Type.
type Rule struct {
	// Name identifies the rule in notifications, history and metrics.
	// Required and unique.
	Name string `json:"name"`
	// Type is one of the Rule* constants. Required.
	Type RuleType `json:"type"`
	// Channels names the channels notified; empty means all of them.
	Channels []string `json:"channels,omitempty"`
	// Packages restricts build_failed, slow_package and repeated_failures
	// to some packages, in the filter syntax of builds ("api", "api..."
	// for api and its dependencies, "...shared" for shared and its
	// dependents, "./apps/*", "!docs"); empty means every package.
	Packages []string `json:"packages,omitempty"`

	// Threshold is the cache size (cache_size), e.g. "8GB".
	Threshold buildnet.ByteSize `json:"threshold,omitempty"`

	// Factor is how many times its median a duration must exceed
	// (slow_package); 0 means 2.
	Factor float64 `json:"factor,omitempty"`
	// Window is how many previous durations the median is taken over
	// (slow_package); 0 means 20.
	Window int `json:"window,omitempty"`
	// MinSamples is how many previous durations are needed before the rule
	// judges a package (slow_package); 0 means 5.
	MinSamples int `json:"min_samples,omitempty"`
	// MinDuration ignores durations shorter than this (slow_package), so
	// that 3 ms against a median of 1 ms does not page anyone; 0 means
	// none.
	MinDuration buildnet.Duration `json:"min_duration,omitempty"`
	// Tiers are the tiers whose durations are compared (slow_package);
	// empty means full_build only. Each tier has its own median.
	Tiers []buildnet.Tier `json:"tiers,omitempty"`

	// Count is the length of a failure streak (repeated_failures); 0 means 3.
	Count int `json:"count,omitempty"`
}

// withDefaults returns r with its zero values replaced by the defaults.
func (r Rule) withDefaults() Rule {
	if r.Factor == 0 {
		r.Factor = DefaultFactor
	}
	if r.Window == 0 {
		r.Window = DefaultWindow
	}
	if r.MinSamples == 0 {
		r.MinSamples = DefaultMinSamples
	}
	if r.Count == 0 {
		r.Count = DefaultCount
	}
	if len(r.Tiers) == 0 {
		r.Tiers = []buildnet.Tier{buildnet.TierFullBuild}
	}
	return r
}

// ChannelCommon holds the fields every channel configuration may carry;
// the built-in channel configurations embed it. The [Alerter] reads them
// to drive delivery; a notifier of another type must accept them too.
type ChannelCommon struct {
	// Type names the notifier type in the registry. Required.
	Type string `json:"type"`
	// Retries is how many times a failed delivery is tried again; nil
	// means 3, and 0 none.
	Retries *int `json:"retries,omitempty"`
	// Timeout bounds each attempt; 0 means 10s.
	Timeout buildnet.Duration `json:"timeout,omitempty"`
	// Backoff is the wait before the first retry, doubled before each next
	// one up to a minute; 0 means 1s.
	Backoff buildnet.Duration `json:"backoff,omitempty"`
}

func (c ChannelCommon) retries() int {
	if c.Retries == nil {
		return DefaultRetries
	}
	return *c.Retries
}

func (c ChannelCommon) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

func (c ChannelCommon) backoff() time.Duration {
	if c.Backoff <= 0 {
		return DefaultBackoff
	}
	return time.Duration(c.Backoff)
}

// ParseConfig decodes and checks the "alerts" section of a workspace
// configuration. Empty input means no alerts. Unknown fields are errors.
// Channel types and channel fields are checked when an [Alerter] is made,
// since they depend on the registry.
func ParseConfig(data json.RawMessage) (*Config, error) {
	cfg := new(Config)
	if len(bytes.TrimSpace(data)) == 0 || string(bytes.TrimSpace(data)) == "null" {
		return cfg, nil
	}
	if err := decodeStrict(data, cfg); err != nil {
		return nil, &ConfigError{Msg: err.Error(), Err: err}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks the rules and that every channel has a type and every
// channel a rule names exists.
func (c *Config) Validate() error {
	if c.History < 0 {
		return &ConfigError{Field: "history", Msg: "must not be negative"}
	}
	if c.QueueSize < 0 {
		return &ConfigError{Field: "queue_size", Msg: "must not be negative"}
	}
	for name, raw := range c.Channels {
		field := "channels." + name
		if name == "" {
			return &ConfigError{Field: "channels", Msg: "a channel has an empty name"}
		}
		var common struct {
			Type    string            `json:"type"`
			Retries *int              `json:"retries"`
			Timeout buildnet.Duration `json:"timeout"`
			Backoff buildnet.Duration `json:"backoff"`
		}
		if err := json.Unmarshal(raw, &common); err != nil {
			return &ConfigError{Field: field, Msg: err.Error(), Err: err}
		}
		switch {
		case common.Type == "":
			return &ConfigError{Field: field + ".type", Msg: "missing: webhook, slack, discord, email or another registered notifier"}
		case common.Retries != nil && (*common.Retries < 0 || *common.Retries > 20):
			return &ConfigError{Field: field + ".retries", Msg: fmt.Sprintf("%d: want 0 to 20", *common.Retries)}
		case common.Timeout < 0:
			return &ConfigError{Field: field + ".timeout", Msg: "must not be negative"}
		case common.Backoff < 0:
			return &ConfigError{Field: field + ".backoff", Msg: "must not be negative"}
		}
	}
	seen := map[string]bool{}
	for i, r := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			return &ConfigError{Field: field + ".name", Msg: "missing"}
		}
		field = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		if seen[r.Name] {
			return &ConfigError{Field: field + ".name", Msg: "duplicate rule name"}
		}
		seen[r.Name] = true
		for _, ch := range r.Channels {
			if _, ok := c.Channels[ch]; !ok {
				return &ConfigError{Field: field + ".channels", Msg: fmt.Sprintf("unknown channel %q (configured: %s)", ch, strings.Join(c.channelNames(), ", "))}
			}
		}
		if err := r.validate(); err != nil {
			return &ConfigError{Field: field + "." + err.field, Msg: err.msg}
		}
	}
	return nil
}

type fieldErr struct{ field, msg string }

func (r Rule) validate() *fieldErr {
	switch r.Type {
	case RuleBuildFailed:
	case RuleCacheSize:
		if r.Threshold <= 0 {
			return &fieldErr{"threshold", "missing: a size such as \"8GB\""}
		}
		if len(r.Packages) > 0 {
			return &fieldErr{"packages", "does not apply to cache_size"}
		}
	case RuleSlowPackage:
		switch {
		case r.Factor != 0 && r.Factor <= 1:
			return &fieldErr{"factor", fmt.Sprintf("%g: want more than 1", r.Factor)}
		case r.Window < 0 || r.Window > 1000:
			return &fieldErr{"window", fmt.Sprintf("%d: want 1 to 1000", r.Window)}
		case r.MinSamples < 0:
			return &fieldErr{"min_samples", "must not be negative"}
		case r.MinDuration < 0:
			return &fieldErr{"min_duration", "must not be negative"}
		}
		d := r.withDefaults()
		if d.MinSamples > d.Window {
			return &fieldErr{"min_samples", fmt.Sprintf("%d is more than the window (%d)", d.MinSamples, d.Window)}
		}
		for _, t := range r.Tiers {
			switch t {
			case buildnet.TierInstantSkip, buildnet.TierHashSkip, buildnet.TierCacheRestore, buildnet.TierFullBuild:
			default:
				return &fieldErr{"tiers", fmt.Sprintf("unknown tier %q", t)}
			}
		}
	case RuleRepeatedFailures:
		if r.Count < 0 || r.Count == 1 {
			return &fieldErr{"count", fmt.Sprintf("%d: want 2 or more (build_failed alerts on every failure)", r.Count)}
		}
	case "":
		return &fieldErr{"type", "missing: build_failed, cache_size, slow_package or repeated_failures"}
	default:
		return &fieldErr{"type", fmt.Sprintf("unknown rule type %q: want build_failed, cache_size, slow_package or repeated_failures", r.Type)}
	}
	if r.Type != RuleSlowPackage && (r.Factor != 0 || r.Window != 0 || r.MinSamples != 0 || r.MinDuration != 0 || len(r.Tiers) > 0) {
		return &fieldErr{"type", "factor, window, min_samples, min_duration and tiers apply to slow_package only"}
	}
	if r.Type != RuleCacheSize && r.Threshold != 0 {
		return &fieldErr{"threshold", "applies to cache_size only"}
	}
	if r.Type != RuleRepeatedFailures && r.Count != 0 {
		return &fieldErr{"count", "applies to repeated_failures only"}
	}
	return nil
}

func (c *Config) channelNames() []string {
	names := make([]string, 0, len(c.Channels))
	for n := range c.Channels {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the object")
	}
	return nil
}
