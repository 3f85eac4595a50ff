package token

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/protocol"
)

// strictB64 decodes JWS segments strictly: no padding, no non-zero trailing bits,
// so every token has exactly one encoding and a flipped last character of
// the signature can never verify. Never modified after initialisation.
var strictB64 = base64.RawURLEncoding.Strict()

// forbiddenHeaders would let a token choose its own key (jku, x5u, jwk,
// x5c, and the certificate hints x5t, x5t#S256), make the verifier skip
// extensions it does not understand (crit) or change what is signed (b64,
// RFC 7797).
var forbiddenHeaders = [...]string{"jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit", "b64"}

// compact is a token split into its decoded parts, before any check of the
// signature.
type compact struct {
	header  map[string]json.RawMessage
	payload []byte
}

// splitCompact enforces the size cap and the compact form (RFC 7515 §7.1):
// three canonical base64url segments and a header that is one strict JSON
// object (no duplicate members, which two parsers could read differently).
func splitCompact(raw string) (*compact, error) {
	if len(raw) > protocol.MaxTokenSize {
		return nil, protocol.ErrTokenTooLarge.WithDescription("token larger than %d bytes", protocol.MaxTokenSize)
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, sig, _ := strings.Cut(rest, ".")
	if strings.Count(raw, ".") != 2 {
		return nil, malformed("not a compact JWS of three parts")
	}
	header, err1 := decodeSegment(h)
	payload, err2 := decodeSegment(p)
	_, err3 := decodeSegment(sig)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, malformed("segments must be unpadded canonical base64url")
	}
	if err := strictjson.Check(header, protocol.MaxJSONDepth); err != nil {
		return nil, malformed("header: %v", err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(header, &members); err != nil || members == nil {
		return nil, malformed("header is not a JSON object")
	}
	return &compact{header: members, payload: payload}, nil
}

func decodeSegment(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") { // the decoder would skip them
		return nil, base64.CorruptInputError(0)
	}
	return strictB64.DecodeString(s)
}

// headerString returns a string header member; ok is false when the member
// is absent or not a string.
func (c *compact) headerString(name string) (string, bool) {
	raw, present := c.header[name]
	if !present {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// forbiddenHeader names the first forbidden member present, if any.
func (c *compact) forbiddenHeader() string {
	for _, name := range forbiddenHeaders {
		if _, ok := c.header[name]; ok {
			return name
		}
	}
	return ""
}

// isAccessTokenType accepts "at+jwt" and its full media type
// "application/at+jwt", case-insensitively: RFC 7515 §4.1.9 lets a typ omit
// "application/" and media types compare case-insensitively (RFC 2045).
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, protocol.TypeAccessToken) ||
		strings.EqualFold(typ, "application/"+protocol.TypeAccessToken)
}
