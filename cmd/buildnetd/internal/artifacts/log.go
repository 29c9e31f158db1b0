package artifacts

// Attribute keys of the package's log records.
const (
	keyComponent = "component"
	keyTeam      = "team"
	keyKey       = "key"
	keyBlob      = "blob"
	keyBytes     = "bytes"
	keyReason    = "reason"
	keyErr       = "err"
)
