package keys

import (
	"crypto"
	"encoding/base64"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public JWK,
// base64url without padding: the value of cnf.jkt (RFC 9449 §6).
func Thumbprint(jwk *jose.JSONWebKey) (string, error) {
	if jwk == nil || jwk.Key == nil {
		return "", fmt.Errorf("keys: thumbprint of an empty key")
	}
	pub := jwk.Public()
	raw, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("keys: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}
