package remote

// Attribute keys of the package's log records.
const (
	keyComponent = "component"
	keyDigest    = "digest"
	keyErr       = "err"
	keyAttempt   = "attempt"
	keyStatus    = "status"
	keyBytes     = "bytes"
	keyURL       = "url"
	keyCooldown  = "cooldown"
)
