package dpop

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// ProofOptions are the optional members of a proof.
type ProofOptions struct {
	AccessToken string    // when set, ath = base64url(SHA-256(AccessToken))
	Nonce       string    // the server's last DPoP-Nonce, if it sent one
	Now         time.Time // iat; zero means time.Now()
	JTI         string    // zero means 128 random bits, base64url
}

// proofClaims is the payload NewProof signs (RFC 9449 §4.2).
type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// NewProof signs a proof for one request: header typ dpop+jwt, alg of key
// and the public jwk (never a kid); claims jti, htm, htu, iat and, when
// given, ath and nonce. uri may carry a query and fragment: htu leaves them
// out (RFC 9449 §4.2) and is normalised as NormalizeHTU does.
func NewProof(key *keys.Signer, method, uri string, opts ProofOptions) (string, error) {
	if key == nil {
		return "", errors.New("dpop: nil key")
	}
	c, err := newClaims(method, uri, opts)
	if err != nil {
		return "", err
	}
	signer, err := key.JOSE(protocol.TypeDPoPProof, &jose.SignerOptions{EmbedJWK: true})
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("dpop: claims: %w", err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: sign: %w", err)
	}
	return obj.CompactSerialize()
}

func newClaims(method, uri string, opts ProofOptions) (*proofClaims, error) {
	if !isToken(method) {
		return nil, fmt.Errorf("dpop: method %q is not an HTTP method token", method)
	}
	if len(opts.JTI) > maxJTI {
		return nil, fmt.Errorf("dpop: jti longer than %d bytes", maxJTI)
	}
	htu, err := NormalizeHTU(uri)
	if err != nil {
		return nil, err
	}
	c := &proofClaims{JTI: opts.JTI, HTM: method, HTU: htu, Nonce: opts.Nonce}
	if c.JTI == "" {
		c.JTI = randomID()
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	c.IAT = now.Unix()
	if opts.AccessToken != "" {
		c.ATH = AccessTokenHash(opts.AccessToken)
	}
	return c, nil
}

// AccessTokenHash is the ath value for a token: base64url of the SHA-256
// of its ASCII text (RFC 9449 §4.2).
func AccessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ProofFromHeader joins every DPoP header value of a request into the one
// string Request.Proof takes. Two or more values then make Verify refuse
// the request (RFC 9449 §4.3: not more than one DPoP header), where
// h.Get("DPoP") would silently look at the first only.
func ProofFromHeader(h http.Header) string {
	return strings.Join(h.Values("DPoP"), ",")
}

// randomID is 128 bits from crypto/rand, more than the 96 RFC 9449 §4.2
// asks of a jti.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// isToken is the token rule of RFC 9110 §5.6.2, which HTTP methods follow.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isUnreserved(c) && strings.IndexByte("!#$%&'*+^`|", c) < 0 {
			return false
		}
	}
	return true
}
