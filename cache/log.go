package cache

// Attribute keys of the package's log records.
const (
	keyComponent = "component"
	keyDigest    = "digest"
	keyBlob      = "blob"
	keyPath      = "path"
	keyReason    = "reason"
	keyErr       = "err"
)
