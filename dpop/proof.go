package dpop

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// ProofOptions are the optional members of a proof.
type ProofOptions struct {
	AccessToken string    // sets ath = base64url(SHA-256(token))
	Nonce       string    // a server-provided DPoP-Nonce
	Now         time.Time // zero: time.Now()
	JTI         string    // zero: 128 random bits
}

type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// NewProof signs a proof for one request with key; uri may carry a query
// and fragment, which htu leaves out (RFC 9449 §4.2).
func NewProof(key *keys.Signer, method, uri string, opts ProofOptions) (string, error) {
	if key == nil || method == "" {
		return "", errors.New("dpop: key and method are required")
	}
	htu, err := NormalizeHTU(uri)
	if err != nil {
		return "", err
	}
	c := proofClaims{JTI: opts.JTI, HTM: method, HTU: htu, IAT: opts.Now.Unix(), Nonce: opts.Nonce}
	if opts.Now.IsZero() {
		c.IAT = time.Now().Unix()
	}
	if c.JTI == "" {
		c.JTI = randomID()
	}
	if opts.AccessToken != "" {
		c.ATH = AccessTokenHash(opts.AccessToken)
	}
	signer, err := key.JOSE(protocol.TypeDPoPProof, &jose.SignerOptions{EmbedJWK: true})
	if err != nil {
		return "", err
	}
	payload, _ := json.Marshal(c) // strings and ints only
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// AccessTokenHash is the ath value for a token.
func AccessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NormalizeHTU reduces a request URI to what htu compares (RFC 9449 §4.3,
// RFC 3986 §6.2.2–6.2.3): scheme and host lowercased, default port
// dropped, empty path "/", percent-encoding of unreserved characters
// decoded and hex digits uppercased; query and fragment removed. Paths are
// not otherwise rewritten: "/a/" ≠ "/a", dot segments stay, case matters.
func NormalizeHTU(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", fmt.Errorf("dpop: htu: not a usable absolute URI")
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "http" && scheme != "https") || u.Hostname() == "" {
		return "", fmt.Errorf("dpop: htu: want an absolute http(s) URI")
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + port
	}
	path, err := normalizePath(u.EscapedPath())
	if err != nil {
		return "", err
	}
	return scheme + "://" + host + path, nil
}

// normalizePath decodes percent-encoded unreserved characters and
// uppercases the hex of the rest, so equivalent spellings compare equal but
// an encoded "/" (%2F) stays distinct from a real one.
func normalizePath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", errors.New("dpop: htu: bad percent-encoding")
		}
		c := unhex(p[i+1])<<4 | unhex(p[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(p[i : i+3]))
		}
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
