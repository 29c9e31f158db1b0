package state

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/musclemap/buildnet/internal/jsonenc"
)

// appendResultJSON appends r as PackageResult.MarshalJSON writes it. It
// is the encoding of every package result the store writes: a no-op build
// of a large workspace keeps hundreds of them on its row, and reflection
// would cost more than the rest of recording the build.
func appendResultJSON(b []byte, r PackageResult) []byte {
	reasons := ""
	if len(r.Reason) > 0 && r.Reason[0] == '[' && json.Valid([]byte(r.Reason)) {
		reasons, r.Reason = r.Reason, ""
	}
	b = append(b, `{"name":`...)
	b = jsonenc.AppendString(b, r.Package)
	b = jsonenc.AppendField(b, "tier", r.Tier)
	b = append(b, `,"status":`...)
	b = jsonenc.AppendString(b, r.Status)
	if !r.Digest.IsZero() {
		b = append(b, `,"digest":"`...)
		b = hex.AppendEncode(b, r.Digest[:])
		b = append(b, '"')
	}
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendInt(b, r.DurationMs, 10)
	b = jsonenc.AppendField(b, "error", r.Error)
	b = jsonenc.AppendField(b, "reason", r.Reason)
	b = jsonenc.AppendField(b, "cache_source", r.CacheSource)
	if !r.StartedAt.IsZero() {
		b = append(b, `,"started_at":`...)
		b = jsonenc.AppendTime(b, r.StartedAt)
	}
	if r.SavedMs != 0 {
		b = append(b, `,"saved_ms":`...)
		b = strconv.AppendInt(b, r.SavedMs, 10)
	}
	if reasons != "" {
		b = append(b, `,"reasons":`...)
		if bytes.ContainsAny([]byte(reasons), " \t\r\n") {
			var buf bytes.Buffer
			_ = json.Compact(&buf, []byte(reasons)) // valid: checked above
			b = append(b, buf.Bytes()...)
		} else {
			b = append(b, reasons...)
		}
	}
	return append(b, '}')
}

// appendResultsJSON appends results as a JSON array.
func appendResultsJSON(b []byte, results []PackageResult) []byte {
	return jsonenc.AppendArray(b, results, appendResultJSON)
}
