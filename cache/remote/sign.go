package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	stdhash "hash"
	"strings"
)

// Sign returns the x-artifact-tag of an artifact as turbo computes it: the
// base64 (standard alphabet, no padding) HMAC-SHA256, keyed by secret, of
// the JSON object {"hash":artifactHash,"teamId":team} followed by the
// artifact's bytes.
func Sign(secret []byte, team, artifactHash string, artifact []byte) string {
	h := newSigner(secret, team, artifactHash)
	h.Write(artifact)
	return encodeTag(h.Sum(nil))
}

// newSigner returns an HMAC that has consumed the signature's metadata;
// the artifact's bytes are written to it next.
func newSigner(secret []byte, team, artifactHash string) stdhash.Hash {
	h := hmac.New(sha256.New, secret)
	h.Write(signatureMetadata(team, artifactHash))
	return h
}

// signatureMetadata is the JSON that precedes the artifact in the signed
// message. Field order and the absence of HTML escaping match serde_json.
func signatureMetadata(team, artifactHash string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding a struct of two strings cannot fail.
	_ = enc.Encode(struct {
		Hash   string `json:"hash"`
		TeamID string `json:"teamId"`
	}{artifactHash, team})
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func encodeTag(sum []byte) string { return base64.RawStdEncoding.EncodeToString(sum) }

// tagMatches reports whether tag, padded or not, encodes sum.
func tagMatches(tag string, sum []byte) bool {
	got, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(tag), "="))
	return err == nil && hmac.Equal(got, sum)
}
