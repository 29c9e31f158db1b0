// Package jsonenc appends JSON values exactly as encoding/json writes
// them, for the few hot types whose encoding by reflection costs more
// than the work around it.
package jsonenc

import (
	"encoding/json"
	"time"
)

// AppendString appends s quoted as encoding/json quotes it (with HTML
// escaping). Strings that need no escaping, nearly all of them, are
// copied as they are; the others go through encoding/json.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// TimeOK reports whether t has an RFC 3339 form (a year in [0,9999]),
// which encoding/json requires.
func TimeOK(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// AppendTime appends t as time.Time.MarshalJSON does; t must satisfy
// TimeOK.
func AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// AppendField appends `,"name":value` for a string field tagged
// omitempty, and nothing when value is empty; name needs no escaping.
func AppendField(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return AppendString(b, value)
}

// AppendArray appends xs as a JSON array, each element written by elem.
func AppendArray[T any](b []byte, xs []T, elem func([]byte, T) []byte) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, x)
	}
	return append(b, ']')
}
