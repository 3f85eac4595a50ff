package dpop_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
)

func ExampleNewProof() {
	agentKey, _ := keys.Generate(keys.EdDSA, nil)
	proof, err := dpop.NewProof(agentKey, "GET", "https://forge.example/repos/acme/web?ref=main",
		dpop.ProofOptions{AccessToken: "the-access-token"})
	fmt.Println(len(proof) > 0, err)
	// Output: true <nil>
}

func ExampleVerifier_Verify() {
	agentKey, _ := keys.Generate(keys.EdDSA, nil)
	proof, _ := dpop.NewProof(agentKey, "GET", "https://forge.example/repos/acme/web", dpop.ProofOptions{AccessToken: "tok"})

	v, _ := dpop.NewVerifier(dpop.NewMemoryReplayCache(1<<16, time.Now))
	req := dpop.Request{Proof: proof, Method: "GET", URL: "https://forge.example/repos/acme/web",
		AccessToken: "tok", JKT: agentKey.Thumbprint()}
	_, err := v.Verify(context.Background(), req)
	fmt.Println(err)
	_, err = v.Verify(context.Background(), req) // the same proof again
	fmt.Println(err)
	// Output:
	// <nil>
	// invalid_dpop_proof (replayed_proof): proof already used
}
