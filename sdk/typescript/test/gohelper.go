//go:build ignore

// gohelper prints a DPoP proof and a delegation assertion made by the Go
// shim's packages for the example patcher agent, so that the TypeScript
// tests can check that what Go signs verifies on the TypeScript side and
// that both derive the same key from the same master secret.
//
//	go run ./sdk/typescript/test/gohelper.go MASTER_HEX
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/specfile"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gohelper:", err)
		os.Exit(1)
	}
}

func run() error {
	master, err := hex.DecodeString(os.Args[1])
	if err != nil {
		return err
	}
	spec, err := specfile.Load("examples/vuln-patch/agents/patcher.yaml")
	if err != nil {
		return err
	}
	sum, err := agentspec.Sum(spec)
	if err != nil {
		return err
	}
	priv, err := keys.DeriveAgentKey(master, spec.AgentID, string(sum))
	if err != nil {
		return err
	}
	signer, err := keys.NewSigner(priv, keys.EdDSA, "")
	if err != nil {
		return err
	}
	proof, err := dpop.NewProof(signer, "POST", "https://forge.example/repos/acme/web/pulls?draft=1", dpop.ProofOptions{AccessToken: "go-token"})
	if err != nil {
		return err
	}
	js, err := signer.JOSE(protocol.TypeDelegation, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	delegation, err := jwt.Signed(js).Claims(map[string]any{"iss": "patcher", "sub": "classifier", "aud": "http://idp.example",
		"run_id": "r1", "workflow_step": "verify", "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": "j1"}).Serialize()
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{
		"checksum": string(sum), "jkt": signer.Thumbprint(), "proof": proof, "delegation": delegation,
	})
}
