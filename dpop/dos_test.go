package dpop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// TestHugeRSAKeyRefused: an 8 KiB proof can embed a ~48,000-bit RSA key
// whose signature check would cost ~100 ms (found by fuzzing); such keys
// are refused before any signature check.
func TestHugeRSAKeyRefused(t *testing.T) {
	n := make([]byte, 2000) // 16,000 bits: still under the 8 KiB proof limit
	rand.Read(n)
	n[0] |= 0x80
	jwk := map[string]any{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(n), "e": "AQAB"}
	header := b64json(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})
	payload := b64json(map[string]any{"jti": "j", "htm": "GET", "htu": api, "iat": t0.Unix()})
	proof := header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	now := t0
	v := newVerifier(t, &now)
	start := time.Now()
	_, err := v.Verify(context.Background(), Request{Proof: proof, Method: "GET", URL: api, NoAccessToken: true, AnyKey: true})
	if !errors.Is(err, protocol.ErrMalformedProof) {
		t.Fatalf("err = %v, want malformed (key refused)", err)
	}
	t.Logf("refused in %s", time.Since(start))
}
