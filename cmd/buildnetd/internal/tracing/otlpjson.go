package tracing

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/musclemap/buildnet/internal/jsonenc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// This file encodes spans as an ExportTraceServiceRequest in OTLP's JSON
// encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// the protobuf JSON mapping, with lowerCamelCase field names, 64-bit
// integers as decimal strings and enums as integers, except that trace
// and span ids are hex strings rather than base64. A field holding its
// zero value is left out, as the mapping allows.

// Bits of OTLP's SpanFlags beyond the W3C trace flags: whether the parent
// (or linked) span context is known to be remote, and whether it is.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// resourceGroup is the spans of one resource, by instrumentation scope.
type resourceGroup struct {
	key    attribute.Distinct
	res    *resource.Resource
	scopes []*scopeGroup
}

// scopeGroup is the spans of one instrumentation scope of a resource.
type scopeGroup struct {
	attrs attribute.Distinct
	scope instrumentation.Scope
	spans []sdktrace.ReadOnlySpan
}

// group sorts spans by resource then by scope, each in the order first
// met. There are few of either, so a linear search finds them.
func group(spans []sdktrace.ReadOnlySpan) []*resourceGroup {
	var groups []*resourceGroup
	for _, s := range spans {
		res := s.Resource()
		key := res.Equivalent()
		var rg *resourceGroup
		for _, g := range groups {
			if g.key == key {
				rg = g
				break
			}
		}
		if rg == nil {
			rg = &resourceGroup{key: key, res: res}
			groups = append(groups, rg)
		}
		scope := s.InstrumentationScope()
		attrs := scope.Attributes.Equivalent()
		var sg *scopeGroup
		for _, g := range rg.scopes {
			if g.attrs == attrs && g.scope.Name == scope.Name && g.scope.Version == scope.Version && g.scope.SchemaURL == scope.SchemaURL {
				sg = g
				break
			}
		}
		if sg == nil {
			sg = &scopeGroup{attrs: attrs, scope: scope}
			rg.scopes = append(rg.scopes, sg)
		}
		sg.spans = append(sg.spans, s)
	}
	return groups
}

// appendExportRequest appends spans to b as the JSON of an
// ExportTraceServiceRequest.
func appendExportRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	b = append(b, `{"resourceSpans":`...)
	b = jsonenc.AppendArray(b, group(spans), appendResourceSpans)
	return append(b, '}')
}

// appendResourceSpans appends a ResourceSpans message.
func appendResourceSpans(b []byte, rg *resourceGroup) []byte {
	b = append(b, `{"resource":{`...)
	b = appendAttributes(b, "attributes", rg.res.Attributes())
	b = append(b, '}')
	b = appendKey(b, "scopeSpans")
	b = jsonenc.AppendArray(b, rg.scopes, appendScopeSpans)
	b = appendStringField(b, "schemaUrl", rg.res.SchemaURL())
	return append(b, '}')
}

// appendScopeSpans appends a ScopeSpans message.
func appendScopeSpans(b []byte, sg *scopeGroup) []byte {
	b = append(b, `{"scope":{`...)
	b = appendStringField(b, "name", sg.scope.Name)
	b = appendStringField(b, "version", sg.scope.Version)
	b = appendAttributes(b, "attributes", sg.scope.Attributes.ToSlice())
	b = append(b, '}')
	b = appendKey(b, "spans")
	b = jsonenc.AppendArray(b, sg.spans, appendSpan)
	b = appendStringField(b, "schemaUrl", sg.scope.SchemaURL)
	return append(b, '}')
}

// appendSpan appends a Span message.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	b = append(b, '{')
	parent := s.Parent()
	b = appendSpanContext(b, s.SpanContext(), parent.IsRemote())
	if pid := parent.SpanID(); pid.IsValid() {
		b = appendID(b, "parentSpanId", pid[:])
	}
	b = appendStringField(b, "name", s.Name())
	b = appendIntField(b, "kind", int64(spanKind(s.SpanKind())))
	b = appendTime(b, "startTimeUnixNano", s.StartTime())
	b = appendTime(b, "endTimeUnixNano", s.EndTime())
	b = appendAttributes(b, "attributes", s.Attributes())
	b = appendIntField(b, "droppedAttributesCount", int64(s.DroppedAttributes()))
	if evs := s.Events(); len(evs) > 0 {
		b = appendKey(b, "events")
		b = jsonenc.AppendArray(b, evs, func(b []byte, ev sdktrace.Event) []byte {
			b = append(b, '{')
			b = appendTime(b, "timeUnixNano", ev.Time)
			b = appendStringField(b, "name", ev.Name)
			b = appendAttributes(b, "attributes", ev.Attributes)
			b = appendIntField(b, "droppedAttributesCount", int64(ev.DroppedAttributeCount))
			return append(b, '}')
		})
	}
	b = appendIntField(b, "droppedEventsCount", int64(s.DroppedEvents()))
	if links := s.Links(); len(links) > 0 {
		b = appendKey(b, "links")
		b = jsonenc.AppendArray(b, links, func(b []byte, l sdktrace.Link) []byte {
			b = append(b, '{')
			b = appendSpanContext(b, l.SpanContext, l.SpanContext.IsRemote())
			b = appendAttributes(b, "attributes", l.Attributes)
			b = appendIntField(b, "droppedAttributesCount", int64(l.DroppedAttributeCount))
			return append(b, '}')
		})
	}
	b = appendIntField(b, "droppedLinksCount", int64(s.DroppedLinks()))
	if st := s.Status(); st.Code != codes.Unset || st.Description != "" {
		b = appendKey(b, "status")
		b = append(b, '{')
		b = appendStringField(b, "message", st.Description)
		b = appendIntField(b, "code", int64(statusCode(st.Code)))
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendSpanContext appends the fields a Span and a Link share: traceId,
// spanId, traceState and flags. remote is whether the span's parent, or
// the linked span, is remote.
func appendSpanContext(b []byte, sc trace.SpanContext, remote bool) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendID(b, "traceId", tid[:])
	b = appendID(b, "spanId", sid[:])
	b = appendStringField(b, "traceState", sc.TraceState().String())
	flags := int64(sc.TraceFlags()) | flagHasIsRemote
	if remote {
		flags |= flagIsRemote
	}
	return appendIntField(b, "flags", flags)
}

// spanKind returns OTLP's SpanKind for k. The values are the same but
// for those OTLP does not know, which are unspecified.
func spanKind(k trace.SpanKind) int {
	switch k {
	case trace.SpanKindInternal, trace.SpanKindServer, trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer:
		return int(k)
	}
	return 0
}

// statusCode returns OTLP's StatusCode for c: OTLP numbers Ok 1 and
// Error 2, where OpenTelemetry Go numbers Error 1 and Ok 2.
func statusCode(c codes.Code) int {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	}
	return 0
}

// appendKey appends the key of a field of an object, after a comma unless
// the field is the object's first. key needs no escaping.
func appendKey(b []byte, key string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, '"', ':')
}

// appendStringField appends a string field, unless s is empty.
func appendStringField(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(appendKey(b, key), s)
}

// appendIntField appends a 32-bit integer field as a JSON number, unless
// n is 0.
func appendIntField(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(appendKey(b, key), n, 10)
}

// appendID appends a trace or span id field in hex.
func appendID(b []byte, key string, id []byte) []byte {
	b = append(appendKey(b, key), '"')
	b = hex.AppendEncode(b, id)
	return append(b, '"')
}

// appendTime appends a fixed64 field of nanoseconds since the Unix epoch,
// unless t is the zero time.
func appendTime(b []byte, key string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(appendKey(b, key), '"')
	b = strconv.AppendUint(b, uint64(max(t.UnixNano(), 0)), 10)
	return append(b, '"')
}

// appendAttributes appends a field of KeyValue messages, unless kvs is
// empty.
func appendAttributes(b []byte, key string, kvs []attribute.KeyValue) []byte {
	if len(kvs) == 0 {
		return b
	}
	return jsonenc.AppendArray(appendKey(b, key), kvs, func(b []byte, kv attribute.KeyValue) []byte {
		return appendKeyValue(b, string(kv.Key), kv.Value)
	})
}

// appendKeyValue appends a KeyValue message.
func appendKeyValue(b []byte, key string, v attribute.Value) []byte {
	b = append(b, `{"key":`...)
	b = appendString(b, key)
	b = append(b, `,"value":`...)
	b = appendValue(b, v)
	return append(b, '}')
}

// appendValue appends v as an AnyValue message. An empty value is an
// AnyValue with no value set.
func appendValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.BOOL:
		return appendBool(b, v.AsBool())
	case attribute.INT64:
		return appendInt(b, v.AsInt64())
	case attribute.FLOAT64:
		return appendDouble(b, v.AsFloat64())
	case attribute.STRING:
		b = append(b, `{"stringValue":`...)
		b = appendString(b, v.AsString())
		return append(b, '}')
	case attribute.BYTESLICE:
		b = append(b, `{"bytesValue":"`...)
		b = base64.StdEncoding.AppendEncode(b, v.AsByteSlice())
		return append(b, `"}`...)
	case attribute.BOOLSLICE:
		return appendArray(b, v.AsBoolSlice(), appendBool)
	case attribute.INT64SLICE:
		return appendArray(b, v.AsInt64Slice(), appendInt)
	case attribute.FLOAT64SLICE:
		return appendArray(b, v.AsFloat64Slice(), appendDouble)
	case attribute.STRINGSLICE:
		return appendArray(b, v.AsStringSlice(), func(b []byte, s string) []byte {
			b = append(b, `{"stringValue":`...)
			b = appendString(b, s)
			return append(b, '}')
		})
	case attribute.SLICE:
		return appendArray(b, v.AsSlice(), appendValue)
	case attribute.MAP:
		b = append(b, `{"kvlistValue":{`...)
		b = appendAttributes(b, "values", v.AsMap())
		return append(b, "}}"...)
	}
	return append(b, "{}"...)
}

// appendArray appends vs as an AnyValue holding an ArrayValue, each
// element appended by elem.
func appendArray[T any](b []byte, vs []T, elem func([]byte, T) []byte) []byte {
	if len(vs) == 0 {
		return append(b, `{"arrayValue":{}}`...)
	}
	b = append(b, `{"arrayValue":{"values":`...)
	b = jsonenc.AppendArray(b, vs, elem)
	return append(b, "}}"...)
}

// appendBool appends an AnyValue holding a bool.
func appendBool(b []byte, v bool) []byte {
	b = append(b, `{"boolValue":`...)
	b = strconv.AppendBool(b, v)
	return append(b, '}')
}

// appendInt appends an AnyValue holding an int64, as a decimal string.
func appendInt(b []byte, v int64) []byte {
	b = append(b, `{"intValue":"`...)
	b = strconv.AppendInt(b, v, 10)
	return append(b, `"}`...)
}

// appendDouble appends an AnyValue holding a double. JSON has no NaN or
// infinities; the mapping spells them as strings.
func appendDouble(b []byte, v float64) []byte {
	b = append(b, `{"doubleValue":`...)
	switch {
	case math.IsNaN(v):
		b = append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		b = append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		b = append(b, `"-Infinity"`...)
	default:
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as protobuf strings must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
