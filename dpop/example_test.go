package dpop_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
)

func ExampleNewProof() {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize) // a fixed key, for a reproducible output
	agentKey, _ := keys.NewSigner(ed25519.NewKeyFromSeed(seed), keys.EdDSA, "")

	proof, err := dpop.NewProof(agentKey, "GET", "https://forge.example/repos/acme/web?ref=main",
		dpop.ProofOptions{AccessToken: "the-access-token", Now: time.Unix(1_800_000_000, 0), JTI: "jti-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	parts := strings.Split(proof, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	fmt.Println(string(header))
	fmt.Println(string(claims))
	// Output:
	// {"alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw"},"typ":"dpop+jwt"}
	// {"jti":"jti-1","htm":"GET","htu":"https://forge.example/repos/acme/web","iat":1800000000,"ath":"uby9Z8Gb_H_x4fPjwNzgu794b860ifwPsbwnlfNiCFs"}
}

func ExampleVerifier_Verify() {
	agentKey, _ := keys.Generate(keys.EdDSA, nil)
	proof, _ := dpop.NewProof(agentKey, "GET", "https://forge.example/repos/acme/web", dpop.ProofOptions{AccessToken: "tok"})

	v, _ := dpop.NewVerifier(dpop.NewMemoryReplayCache(1<<16, nil))
	req := dpop.Request{Proof: proof, Method: "GET", URL: "https://forge.example/repos/acme/web?page=2",
		AccessToken: "tok", JKT: agentKey.Thumbprint()}
	p, err := v.Verify(context.Background(), req)
	fmt.Println(p.HTU, err)
	_, err = v.Verify(context.Background(), req) // the same proof again
	fmt.Println(err)
	req.Proof = proof + "," + proof // two DPoP headers
	_, err = v.Verify(context.Background(), req)
	fmt.Println(err)
	// Output:
	// https://forge.example/repos/acme/web <nil>
	// invalid_dpop_proof (replayed_proof): proof already used
	// invalid_dpop_proof (malformed): more than one DPoP proof; send exactly one DPoP header
}
