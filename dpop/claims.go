package dpop

import (
	"crypto/subtle"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// fill copies the claims into p: jti (1–256 bytes), htm, htu and iat are
// required, ath and nonce optional but strings when present (RFC 9449
// §4.2, §4.3 step 3).
func (c members) fill(p *Proof) error {
	var ok [4]bool
	p.JTI, ok[0] = c.str("jti")
	p.HTM, ok[1] = c.str("htm")
	p.HTU, ok[2] = c.str("htu")
	p.IssuedAt, ok[3] = c.numericDate("iat")
	if ok != [4]bool{true, true, true, true} || p.JTI == "" || len(p.JTI) > maxJTI || p.HTM == "" || p.HTU == "" {
		return protocol.ErrMalformedProof.WithDescription("proof needs jti (1–%d bytes), htm, htu and iat", maxJTI)
	}
	var err error
	if p.ATH, err = c.optionalStr("ath"); err != nil {
		return err
	}
	p.Nonce, err = c.optionalStr("nonce")
	return err
}

func (c members) optionalStr(name string) (string, error) {
	if _, present := c[name]; !present {
		return "", nil
	}
	s, ok := c.str(name)
	if !ok {
		return "", protocol.ErrMalformedProof.WithDescription("%s must be a string", name)
	}
	return s, nil
}

// numericDate reads a JSON number of seconds (RFC 7519 §2), fractions
// allowed, from 0 to 2^53 (beyond that a float64 is not exact).
func (c members) numericDate(name string) (time.Time, bool) {
	raw, present := c[name]
	if !present {
		return time.Time{}, false
	}
	// raw is valid JSON (strictjson checked it), and of JSON values only
	// numbers parse as floats: a quoted "123" does not.
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || f < 0 || f > 1<<53 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// checkRequest compares the claims with the request (RFC 9449 §4.3 steps
// 8–12), in the order of the package documentation.
func (v *Verifier) checkRequest(p *Proof, r Request) error {
	if p.HTM != r.Method {
		return protocol.ErrWrongMethod.WithDescription("htm does not match the request method")
	}
	if err := checkHTU(p.HTU, r.URL); err != nil {
		return err
	}
	if d := v.now().Sub(p.IssuedAt); d > v.window || d < -v.future {
		return protocol.ErrStaleProof.WithDescription("proof iat is more than %s before or %s after now", v.window, v.future)
	}
	if v.nonces != nil && !v.nonces.Valid(p.Nonce) {
		return protocol.ErrNonceRequired.WithDescription("use the server's DPoP-Nonce")
	}
	if !r.NoAccessToken && !equal(p.ATH, AccessTokenHash(r.AccessToken)) {
		return protocol.ErrAthMismatch.WithDescription("ath does not match the access token")
	}
	if !r.AnyKey && !equal(p.JKT, r.JKT) {
		return protocol.ErrKeyMismatch.WithDescription("proof key is not the key the token is bound to")
	}
	return nil
}

// stated refuses a Request that leaves a binding unsaid (ErrUnstatedBinding).
func (r Request) stated() error {
	if (r.AccessToken == "") != r.NoAccessToken || (r.JKT == "") != r.AnyKey {
		return ErrUnstatedBinding
	}
	return nil
}

// checkHTU refuses an htu with its own query or fragment (RFC 9449 §4.2
// defines htu without them) and otherwise compares normalised forms.
func checkHTU(htu, requestURL string) error {
	if strings.ContainsAny(htu, "?#") {
		return protocol.ErrWrongURI.WithDescription("htu must not carry a query or fragment")
	}
	want, err := NormalizeHTU(requestURL)
	if err != nil {
		return protocol.ErrWrongURI.WithDescription("request URL: %v", err)
	}
	got, err := NormalizeHTU(htu)
	if err != nil || got != want {
		return protocol.ErrWrongURI.WithDescription("htu does not match the request URI")
	}
	return nil
}

// equal compares in constant time: ath and jkt are compared against
// attacker-supplied values.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
