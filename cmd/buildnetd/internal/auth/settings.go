package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SettingsFile is the name of the settings file in the state directory.
const SettingsFile = "security.json"

// Duration is a time.Duration written as a string such as "30m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a time.ParseDuration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// Settings are the daemon's security settings, kept in
// .buildnet/security.json.
type Settings struct {
	// RateLimits per role, applied per user or key.
	RateLimits Limits `json:"rate_limits"`
	// AccessTTL is how long a login token is valid.
	AccessTTL Duration `json:"access_ttl"`
	// RefreshTTL is how long a refresh token is valid.
	RefreshTTL Duration `json:"refresh_ttl"`
	// SessionIdle closes a session with nothing in flight, no stream and
	// no build in progress after this long; 0 never.
	SessionIdle Duration `json:"session_idle"`
	// MaxSessions bounds the sessions of one user or key in use at once;
	// 0 means no bound.
	MaxSessions int `json:"max_sessions_per_actor"`
	// AuditRetentionDays prunes audit entries older than this; 0 keeps
	// them forever.
	AuditRetentionDays int `json:"audit_retention_days"`
	// CORSOrigins are the origins (scheme://host[:port]) allowed to call
	// the API from a browser; empty means none: CORS off.
	CORSOrigins []string `json:"cors_origins"`
}

// DefaultSettings returns the settings used when there is no settings
// file.
func DefaultSettings() Settings {
	return Settings{
		RateLimits:         DefaultLimits(),
		AccessTTL:          Duration(time.Hour),
		RefreshTTL:         Duration(7 * 24 * time.Hour),
		SessionIdle:        Duration(30 * time.Minute),
		MaxSessions:        16,
		AuditRetentionDays: 90,
		CORSOrigins:        []string{},
	}
}

// AuditRetention returns the retention period, 0 for forever.
func (s Settings) AuditRetention() time.Duration {
	return time.Duration(s.AuditRetentionDays) * 24 * time.Hour
}

// Validate reports settings that cannot work.
func (s Settings) Validate() error {
	var errs []error
	if s.AccessTTL.D() < time.Second || s.RefreshTTL.D() < s.AccessTTL.D() {
		errs = append(errs, errors.New("access_ttl must be at least 1s and refresh_ttl at least access_ttl"))
	}
	if s.SessionIdle < 0 || s.MaxSessions < 0 || s.AuditRetentionDays < 0 {
		errs = append(errs, errors.New("session_idle, max_sessions_per_actor and audit_retention_days must not be negative"))
	}
	for _, l := range []Limit{s.RateLimits.Read, s.RateLimits.Build, s.RateLimits.Admin, s.RateLimits.Anonymous} {
		if l.Rate < 0 || l.Burst < 0 {
			errs = append(errs, errors.New("rate limits must not be negative"))
			break
		}
	}
	for _, o := range s.CORSOrigins {
		if o == "*" || o == "" {
			errs = append(errs, fmt.Errorf("cors_origins: %q: name each origin", o))
		}
	}
	return errors.Join(errs...)
}

// LoadSettings reads the settings file at path over the defaults; a
// missing file means the defaults.
func LoadSettings(path string) (Settings, error) {
	st := DefaultSettings()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read settings %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read settings %s: %w", path, err)
	}
	if st.CORSOrigins == nil {
		st.CORSOrigins = []string{}
	}
	if err := st.Validate(); err != nil {
		return st, fmt.Errorf("settings %s: %w", path, err)
	}
	return st, nil
}

// SaveSettings writes st to path atomically.
func SaveSettings(path string, st Settings) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'), 0o600)
}

// writeFileAtomic writes data to path through a synced temporary file
// renamed over it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
