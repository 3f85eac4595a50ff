package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/ajwt/ajwt/internal/clip"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// members is a decoded JSON object. Members are looked up by their exact
// name: encoding/json's struct decoding matches names case-insensitively,
// which would let {"typ":"JWT","TYP":"dpop+jwt"} read differently here and
// in any other JOSE library.
type members map[string]json.RawMessage

// str returns a string member; ok is false when it is absent or not a string.
func (m members) str(name string) (s string, ok bool) {
	raw, present := m[name]
	if !present || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

type proofParts struct {
	headerSeg    string     // the header as sent: what the key cache is keyed by
	header       members    // nil when headerSeg is in the key cache
	known        *cachedKey // the cached outcome of checking headerSeg, if any
	claims       members
	signingInput string // "header.payload" as sent (RFC 7515 §5.2)
	signature    []byte
}

// splitProof checks the proof's form before anything reads it: present,
// within the size limit, one proof, three base64url segments, and header
// and payload single JSON objects with no duplicate member names and no
// deep nesting (RFC 9449 §4.3 steps 1–2, PROTOCOL.md §10). A header seen
// before (an agent sends the same one with every proof) is not decoded
// again: its checked outcome is in the key cache.
func (v *Verifier) splitProof(raw string) (*proofParts, error) {
	switch {
	case raw == "":
		return nil, protocol.ErrMissingProof.WithDescription("DPoP proof required")
	case len(raw) > protocol.MaxTokenSize:
		return nil, protocol.ErrProofTooLarge.WithDescription("proof larger than %d bytes", protocol.MaxTokenSize)
	case strings.ContainsRune(raw, ','):
		return nil, protocol.ErrMalformedProof.WithDescription("more than one DPoP proof; send exactly one DPoP header")
	}
	segs := strings.Split(raw, ".")
	if len(segs) != 3 || !isCompactJWS(raw) {
		return nil, protocol.ErrMalformedProof.WithDescription("not a compact JWS")
	}
	// Strict decoding: with non-zero padding bits allowed, one signature
	// would have several spellings.
	sig, err := base64.RawURLEncoding.Strict().DecodeString(segs[2])
	if err != nil {
		return nil, protocol.ErrMalformedProof.WithDescription("signature is not canonical base64url")
	}
	parts := &proofParts{headerSeg: segs[0], signingInput: raw[:len(segs[0])+1+len(segs[1])], signature: sig}
	if k, ok := v.keys.Get(segs[0]); ok {
		parts.known = &k
	} else if parts.header, err = decodeObject(segs[0], "header"); err != nil {
		return nil, err
	}
	if parts.claims, err = decodeObject(segs[1], "payload"); err != nil {
		return nil, err
	}
	return parts, nil
}

// isCompactJWS refuses every byte outside base64url and ".": Go's base64
// decoder skips CR and LF, which would make one proof spellable many ways.
func isCompactJWS(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func decodeObject(seg, what string) (members, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, protocol.ErrMalformedProof.WithDescription("%s is not base64url", what)
	}
	if !utf8.Valid(data) {
		return nil, protocol.ErrMalformedProof.WithDescription("%s is not UTF-8", what)
	}
	if err := strictjson.Check(data, protocol.MaxJSONDepth); err != nil {
		return nil, protocol.ErrMalformedProof.WithDescription("%s: %v", what, err)
	}
	var m members
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, protocol.ErrMalformedProof.WithDescription("%s is not a JSON object", what)
	}
	return m, nil
}

// checkHeaderAndSignature checks the header and the embedded key, then
// the signature with that key (RFC 9449 §4.3 steps 4–7), and returns a
// Proof holding the key and its thumbprint.
func (v *Verifier) checkHeaderAndSignature(parts *proofParts) (*Proof, error) {
	key, err := v.headerKey(parts)
	if err != nil {
		return nil, err
	}
	if !verifySignature(parts.signingInput, parts.signature, key.alg, key.jwk.Key) {
		return nil, protocol.ErrProofSignature.WithDescription("proof signature does not verify with its jwk")
	}
	return &Proof{Key: key.jwk, JKT: key.jkt}, nil
}

// headerKey is checkHeader, parseEmbeddedKey and the thumbprint,
// remembered per header as sent.
func (v *Verifier) headerKey(parts *proofParts) (cachedKey, error) {
	if parts.known != nil {
		return *parts.known, nil
	}
	alg, err := v.checkHeader(parts.header)
	if err != nil {
		return cachedKey{}, err
	}
	jwk, err := parseEmbeddedKey(parts.header["jwk"], alg)
	if err != nil {
		return cachedKey{}, err
	}
	jkt, err := keys.Thumbprint(jwk)
	if err != nil {
		return cachedKey{}, protocol.ErrMalformedProof.Wrap(err)
	}
	k := cachedKey{alg: alg, jwk: jwk, jkt: jkt}
	v.keys.Put(parts.headerSeg, k)
	return k, nil
}

// checkHeader checks typ and alg and returns alg.
func (v *Verifier) checkHeader(h members) (string, error) {
	if typ, _ := h.str("typ"); typ != protocol.TypeDPoPProof {
		return "", protocol.ErrProofType.WithDescription("typ must be %s", protocol.TypeDPoPProof)
	}
	alg, _ := h.str("alg")
	if !v.allows(alg) {
		return "", protocol.ErrProofAlg.WithDescription("alg %q not allowed", clip.Text(alg, clip.Short))
	}
	// A proof's key is its jwk and nothing else: parameters naming another
	// key are refused rather than half-understood, and crit too, since no
	// extension is understood here.
	for _, name := range [...]string{"kid", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit"} {
		if _, ok := h[name]; ok {
			return "", protocol.ErrMalformedProof.WithDescription("header %q not allowed in a proof: the key is the embedded jwk", name)
		}
	}
	return alg, nil
}

func (v *Verifier) allows(alg string) bool {
	for _, a := range v.algs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// parseEmbeddedKey requires a public jwk of a type ajwt accepts (keys.ParsePublicJWK:
// Ed25519, P-256, RSA 2048–4096 bits with e = 65537, "use" sig if any) that
// fits alg.
func parseEmbeddedKey(raw json.RawMessage, alg string) (*jose.JSONWebKey, error) {
	var m members
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, protocol.ErrMalformedProof.WithDescription("header needs the public key as a jwk object")
	}
	// Members of private or symmetric key material (RFC 7518 §6.2.2,
	// §6.3.2, §6.4.1; "priv" of go-jose's AKP keys).
	for _, name := range [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"} {
		if _, ok := m[name]; ok {
			return nil, protocol.ErrProofPrivateKey.WithDescription("the jwk holds private key material (%q)", name)
		}
	}
	jwk, err := keys.ParsePublicJWK(raw)
	if err != nil {
		return nil, protocol.ErrMalformedProof.WithDescription("jwk: %v", err)
	}
	// ParsePublicJWK has matched a jwk "alg" member to the key; each key
	// type has one algorithm, so the header's alg must be that one. An
	// Ed25519 key's algorithm has two names (RFC 9864), and the header and
	// the jwk may each use either: they name the same thing.
	if !keys.FitsKey(alg, jwk.Key) {
		return nil, protocol.ErrProofAlg.WithDescription("alg %s does not fit the jwk", alg)
	}
	return jwk, nil
}

// verifySignature checks a JWS signature (RFC 7515 §5.2, RFC 7518 §3.3–3.4,
// RFC 8037 §3.1, RFC 9864) with the standard library. Nothing here is
// chosen by the proof: alg passed the allow-list, and the key was parsed,
// checked and matched to alg by embeddedKey; the switch matches both again.
// go-jose would only parse the header and its jwk a second time (a fifth of
// a proof check) before calling the same functions, and v4.1.9 does not
// know the name Ed25519.
func verifySignature(input string, sig []byte, alg string, key any) bool {
	switch k := key.(type) {
	case ed25519.PublicKey:
		named := alg == string(keys.EdDSA) || alg == string(keys.Ed25519)
		return named && len(k) == ed25519.PublicKeySize && ed25519.Verify(k, []byte(input), sig)
	case *ecdsa.PublicKey:
		if alg != string(keys.ES256) || len(sig) != 64 {
			return false
		}
		h := sha256.Sum256([]byte(input))
		return ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	case *rsa.PublicKey:
		h := sha256.Sum256([]byte(input))
		return alg == string(keys.RS256) && rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig) == nil
	}
	return false
}
