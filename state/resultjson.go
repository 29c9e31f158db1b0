package state

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

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
		b = appendRawJSON(b, reasons)
	}
	return append(b, '}')
}

// appendRawJSON appends raw, valid JSON as encoding/json writes a
// json.RawMessage: compacted, with <, >, &, U+2028 and U+2029 escaped.
func appendRawJSON(b []byte, raw string) []byte {
	if !strings.ContainsAny(raw, " \t\r\n<>&\u2028\u2029") {
		return append(b, raw...)
	}
	var compact, escaped bytes.Buffer
	_ = json.Compact(&compact, []byte(raw)) // valid: the caller checked
	json.HTMLEscape(&escaped, compact.Bytes())
	return append(b, escaped.Bytes()...)
}

// appendResultsJSON appends results as a JSON array.
func appendResultsJSON(b []byte, results []PackageResult) []byte {
	return jsonenc.AppendArray(b, results, appendResultJSON)
}
