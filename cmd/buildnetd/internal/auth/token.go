package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token kinds, in the "typ" claim: an access token authenticates
// requests; a refresh token only gets a new pair.
const (
	tokenAccess  = "access"
	tokenRefresh = "refresh"
)

// tokenIssuer is the "iss" claim of every token.
const tokenIssuer = "buildnetd"

// tokenAlg is the one algorithm tokens are signed and accepted with.
const tokenAlg = "HS256"

// ErrInvalidToken is returned for a token that is malformed, signed with
// another key or algorithm, expired, of the wrong kind, or whose user,
// key or session no longer allows it.
var ErrInvalidToken = errors.New("auth: invalid or expired token")

// claims are the claims of buildnetd's tokens.
type claims struct {
	jwt.RegisteredClaims
	// Typ is access or refresh.
	Typ string `json:"typ"`
	// Kind is user or key: what logged in.
	Kind string `json:"knd"`
	// Name is the user name, or the key id.
	Name string `json:"name"`
	// TV is the user's token version when the token was issued.
	TV int64 `json:"tv,omitempty"`
	// Sid is the session the token belongs to.
	Sid string `json:"sid,omitempty"`
	// CSRF is the value a cookie-authenticated unsafe request must send
	// in X-CSRF-Token.
	CSRF string `json:"csrf,omitempty"`
}

// signToken signs c with secret.
func signToken(c *claims, secret []byte) (string, error) {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// parseToken verifies s and returns its claims: HS256 only, under
// secret, issued by buildnetd, not expired, of kind typ.
func parseToken(s string, secret []byte, typ string, now func() time.Time) (*claims, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{tokenAlg}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(now),
	)
	var c claims
	_, err := p.ParseWithClaims(s, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refuses other algorithms; checking
		// the type too means no other key type can ever be returned.
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok || t.Method.Alg() != tokenAlg {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return secret, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Typ != typ {
		return nil, fmt.Errorf("%w: a %s token where a %s token is needed", ErrInvalidToken, c.Typ, typ)
	}
	if c.Subject == "" || (c.Kind != "user" && c.Kind != "key") || c.Name == "" {
		return nil, fmt.Errorf("%w: missing subject", ErrInvalidToken)
	}
	return &c, nil
}
