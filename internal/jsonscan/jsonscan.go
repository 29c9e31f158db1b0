// Package jsonscan reads JSON documents of a known shape without
// reflection, for the few hot paths where encoding/json costs more than
// the work around it (a client following a build of hundreds of
// packages decodes hundreds of events).
//
// A [Reader] accepts only what it can decode exactly as encoding/json
// would: it validates every byte, skipped values included, and gives up
// (Err reports why) on anything outside its plain path — a duplicate key,
// a key with escapes, a null, a number too large for its field. The
// caller gives up too (with [Reader.Fail]) on a key that encoding/json
// would match to a field case-insensitively, and then decodes the same
// bytes with encoding/json, whose answer stands. A Reader is thus never
// wrong, only sometimes not fast.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// maxDepth bounds the nesting of skipped values; deeper documents are
// left to encoding/json.
const maxDepth = 512

// Reader reads one JSON document. Its methods read the next value; after
// the first problem every method is a no-op returning a zero value, and
// Err reports the problem.
type Reader struct {
	data  []byte
	pos   int
	err   error
	depth int
}

// NewReader returns a Reader of data, which it does not copy.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Reset makes r read data from its start.
func (r *Reader) Reset(data []byte) { *r = Reader{data: data} }

// Err returns the first problem met, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records a problem found by the caller, such as a key it cannot
// decode exactly, unless r already has one.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("jsonscan: offset %d: %s", r.pos, fmt.Sprintf(format, args...))
	}
}

func (r *Reader) failf(format string, args ...any) { r.Fail(format, args...) }

func (r *Reader) ws() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (r *Reader) peek() byte {
	r.ws()
	if r.pos >= len(r.data) {
		return 0
	}
	return r.data[r.pos]
}

// End checks that nothing but whitespace follows the document.
func (r *Reader) End() {
	if r.ws(); r.err == nil && r.pos < len(r.data) {
		r.failf("data after the top-level value")
	}
}

// Object reads an object, calling member for each key; member must read
// the key's value with exactly one call (Skip when it does not need it).
// A key that appears twice fails: encoding/json would merge the two
// values into one, which a caller replacing the first cannot imitate.
func (r *Reader) Object(member func(key []byte)) {
	if r.err != nil {
		return
	}
	if r.peek() != '{' {
		r.failf("want an object")
		return
	}
	r.pos++
	if r.enter() {
		return
	}
	defer r.leave()
	// Keys met so far, and a 64-bit summary of them: a key whose bit is
	// clear cannot be a duplicate, so most keys skip the comparisons.
	var keys [16][]byte
	seen, summary := keys[:0], uint64(0)
	if r.peek() == '}' {
		r.pos++
		return
	}
	for r.err == nil {
		if r.peek() != '"' {
			r.failf("want a key")
			return
		}
		key, ok := r.plainString()
		if !ok {
			if r.err == nil {
				r.failf("key with escapes or non-ASCII bytes")
			}
			return
		}
		bit := uint64(1) << keyBit(key)
		if summary&bit != 0 {
			for _, k := range seen {
				if bytes.Equal(k, key) {
					r.failf("key %q twice", key)
					return
				}
			}
		}
		summary |= bit
		seen = append(seen, key)
		if r.peek() != ':' {
			r.failf("want ':' after a key")
			return
		}
		r.pos++
		start := r.pos
		member(key)
		if r.err == nil && r.pos == start {
			r.failf("value of %q not read", key)
		}
		switch r.peek() {
		case ',':
			r.pos++
		case '}':
			r.pos++
			return
		default:
			r.failf("want ',' or '}' in an object")
		}
	}
}

// Array reads an array, calling elem once per element; elem must read
// the element with exactly one call.
func (r *Reader) Array(elem func()) {
	if r.err != nil {
		return
	}
	if r.peek() != '[' {
		r.failf("want an array")
		return
	}
	r.pos++
	if r.enter() {
		return
	}
	defer r.leave()
	if r.peek() == ']' {
		r.pos++
		return
	}
	for r.err == nil {
		start := r.pos
		elem()
		if r.err == nil && r.pos == start {
			r.failf("element not read")
		}
		switch r.peek() {
		case ',':
			r.pos++
		case ']':
			r.pos++
			return
		default:
			r.failf("want ',' or ']' in an array")
		}
	}
}

// keyBit summarises a key in [0, 64).
func keyBit(key []byte) uint {
	h := uint(len(key))
	if len(key) > 0 {
		h = h*31 + uint(key[0])
		h = h*31 + uint(key[len(key)-1])
	}
	return h % 64
}

func (r *Reader) enter() bool {
	if r.depth++; r.depth > maxDepth {
		r.failf("nested deeper than %d", maxDepth)
		return true
	}
	return false
}

func (r *Reader) leave() { r.depth-- }

// Strings reads an array of strings. An empty array gives an empty,
// non-nil slice, as encoding/json does.
func (r *Reader) Strings() []string {
	s := []string{}
	r.Array(func() { s = append(s, r.String()) })
	if r.err != nil {
		return nil
	}
	return s
}

// String reads a string.
func (r *Reader) String() string {
	if r.err != nil {
		return ""
	}
	if r.peek() != '"' {
		r.failf("want a string")
		return ""
	}
	start := r.pos
	b, ok := r.plainString()
	if ok {
		return string(b)
	}
	if r.err != nil {
		return ""
	}
	// Escapes or non-ASCII bytes: encoding/json's own unquoting decides
	// (invalid UTF-8 and lone surrogates become U+FFFD).
	var s string
	if err := json.Unmarshal(r.data[start:r.pos], &s); err != nil {
		r.failf("string: %v", err)
	}
	return s
}

// plainString reads a string token; it returns its bytes when they are
// printable ASCII without escapes, and ok false (with the token read and
// validated, r.err nil) otherwise.
func (r *Reader) plainString() (b []byte, ok bool) {
	r.pos++ // the opening quote
	start := r.pos
	plain := true
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		if !special[c] {
			r.pos++
			continue
		}
		switch {
		case c == '"':
			r.pos++
			return r.data[start : r.pos-1], plain
		case c < 0x20:
			r.failf("control character in a string")
			return nil, false
		case c == '\\':
			plain = false
			if r.pos+1 >= len(r.data) {
				r.failf("unterminated string")
				return nil, false
			}
			switch r.data[r.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.pos += 2
			case 'u':
				if r.pos+6 > len(r.data) || !isHex4(r.data[r.pos+2:r.pos+6]) {
					r.failf("bad \\u escape")
					return nil, false
				}
				r.pos += 6
			default:
				r.failf("bad escape")
				return nil, false
			}
		case c >= utf8.RuneSelf:
			plain = false
			r.pos++
		default:
			r.pos++
		}
	}
	r.failf("unterminated string")
	return nil, false
}

// special marks the bytes that end a string's plain run: the quote, the
// backslash, control characters and non-ASCII bytes.
var special = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a number token, validated against JSON's grammar.
func (r *Reader) number() []byte {
	if r.err != nil {
		return nil
	}
	r.ws()
	start := r.pos
	if r.pos < len(r.data) && r.data[r.pos] == '-' {
		r.pos++
	}
	switch {
	case r.pos < len(r.data) && r.data[r.pos] == '0':
		r.pos++
	case r.pos < len(r.data) && '1' <= r.data[r.pos] && r.data[r.pos] <= '9':
		r.digits()
	default:
		r.failf("want a number")
		return nil
	}
	if r.pos < len(r.data) && r.data[r.pos] == '.' {
		r.pos++
		if !r.digits() {
			r.failf("want digits after '.'")
			return nil
		}
	}
	if r.pos < len(r.data) && (r.data[r.pos] == 'e' || r.data[r.pos] == 'E') {
		r.pos++
		if r.pos < len(r.data) && (r.data[r.pos] == '+' || r.data[r.pos] == '-') {
			r.pos++
		}
		if !r.digits() {
			r.failf("want digits in an exponent")
			return nil
		}
	}
	return r.data[start:r.pos]
}

func (r *Reader) digits() bool {
	start := r.pos
	for r.pos < len(r.data) && '0' <= r.data[r.pos] && r.data[r.pos] <= '9' {
		r.pos++
	}
	return r.pos > start
}

// Int reads an integer that fits an int64.
func (r *Reader) Int() int64 {
	return integer(r, "an int64", func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
}

// Uint reads an integer that fits a uint64.
func (r *Reader) Uint() uint64 {
	return integer(r, "a uint64", func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) })
}

// integer reads a number and parses it as what, a kind of integer.
func integer[T int64 | uint64](r *Reader, what string, parse func(string) (T, error)) T {
	b := r.number()
	if r.err != nil {
		return 0
	}
	n, err := parse(string(b))
	if err != nil {
		r.failf("want %s, have %s", what, b)
	}
	return n
}

// Bool reads true or false.
func (r *Reader) Bool() bool {
	switch {
	case r.err != nil:
		return false
	case r.literal("true"):
		return true
	case r.literal("false"):
		return false
	}
	r.failf("want true or false")
	return false
}

// Time reads a string as time.Time.UnmarshalJSON does.
func (r *Reader) Time() time.Time {
	var t time.Time
	if r.err != nil {
		return t
	}
	if r.peek() != '"' {
		r.failf("want a time string")
		return t
	}
	start := r.pos
	if _, ok := r.plainString(); !ok {
		if r.err == nil {
			r.failf("time with escapes")
		}
		return t
	}
	if err := t.UnmarshalJSON(r.data[start:r.pos]); err != nil {
		r.failf("%v", err)
	}
	return t
}

func (r *Reader) literal(lit string) bool {
	r.ws()
	if bytes.HasPrefix(r.data[r.pos:], []byte(lit)) {
		r.pos += len(lit)
		return true
	}
	return false
}

// Skip reads any value and validates it.
func (r *Reader) Skip() {
	if r.err != nil {
		return
	}
	switch c := r.peek(); {
	case c == '"':
		r.plainString()
	case c == '{':
		r.Object(func([]byte) { r.Skip() })
	case c == '[':
		r.Array(r.Skip)
	case c == '-' || '0' <= c && c <= '9':
		r.number()
	case r.literal("true"), r.literal("false"), r.literal("null"):
	default:
		r.failf("want a value")
	}
}

// Raw reads any value and returns its bytes.
func (r *Reader) Raw() []byte {
	r.ws()
	start := r.pos
	r.Skip()
	if r.err != nil {
		return nil
	}
	return r.data[start:r.pos]
}
