package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// Fixed public keys of other types, so that proofs pairing them with an
// Ed25519 alg stay byte-for-byte reproducible in the check vectors (they
// are refused before any signature check): the P-256 key of RFC 7515
// §A.3 and the RSA key of RFC 7638 §3.1.
var (
	p256JWK = map[string]any{"kty": "EC", "crv": "P-256",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
	rsaJWK = map[string]any{"kty": "RSA", "e": "AQAB",
		"n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
)

// foreignJWK names alg in the header and embeds jwk instead of the signer's.
func foreignJWK(alg string, jwk map[string]any) func(map[string]any) {
	return both(set("alg", alg), set("jwk", jwk))
}

func both(a, b func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) { a(m); b(m) }
}

// flipSignature alters a proof's signature segment.
func flipSignature(proof string) string {
	segs := strings.Split(proof, ".")
	segs[2] = flip(segs[2])
	return strings.Join(segs, ".")
}

// TestEd25519NameNeedsAnEd25519Key: alg Ed25519 on proofs really signed by
// P-256 and RSA keys (with their own jwk, signature and all) is refused as
// EdDSA on them is; the same keys under their own alg pass.
func TestEd25519NameNeedsAnEd25519Key(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.RS256} {
		key := mustGenerate(t, alg)
		for _, name := range []string{"Ed25519", "EdDSA", string(alg)} {
			t.Run(string(alg)+" key named "+name, func(t *testing.T) {
				proof := signedAs(t, key, name)
				now := t0
				_, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()})
				switch {
				case name == string(alg) && err != nil:
					t.Fatalf("own alg refused: %v", err)
				case name != string(alg) && !errors.Is(err, protocol.ErrProofAlg):
					t.Fatalf("err = %v, want alg_not_allowed", err)
				}
			})
		}
	}
}

// signedAs is a valid proof by key whose header names alg; the signature is
// the key's own algorithm over that header.
func signedAs(t *testing.T, key *keys.Signer, alg string) string {
	t.Helper()
	header, claims := proofJSON(t, key)
	header["alg"] = alg
	input := b64(mustJSON(t, header)) + "." + b64(mustJSON(t, claims))
	return input + "." + b64(signRaw(t, key, input))
}

// signRaw is the JWS signature of input by a P-256 (r‖s) or RSA key.
func signRaw(t *testing.T, key *keys.Signer, input string) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(input))
	switch k := key.CryptoSigner().(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("no raw signer for %T", key.CryptoSigner())
	return nil
}

// TestEd25519ProofBindsTheSameKey: one Ed25519 key proves possession under
// either name, with one thumbprint (RFC 7638 ignores alg), so a token's
// cnf.jkt holds for both.
func TestEd25519ProofBindsTheSameKey(t *testing.T) {
	key := seedKey(t, 7)
	now := t0
	v := newVerifier(t, &now)
	for i, alg := range []string{"EdDSA", "Ed25519"} {
		proof := mutate(t, key, set("alg", alg), set("jti", strings.Repeat("j", i+1)))
		p, err := v.Verify(t.Context(), Request{Proof: proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()})
		if err != nil || p.JKT != key.Thumbprint() {
			t.Fatalf("%s: %+v, %v", alg, p, err)
		}
	}
}
