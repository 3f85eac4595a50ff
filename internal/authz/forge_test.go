package authz_test

import (
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
)

// The forgeries of the attack matrix are internal/forgery's, shared with
// the middleware's own matrix.

func mkProof(t *testing.T, key *keys.Signer, method, uri, tok string, opts ...func(*dpop.ProofOptions)) string {
	t.Helper()
	po := dpop.ProofOptions{AccessToken: tok}
	for _, o := range opts {
		o(&po)
	}
	p, err := dpop.NewProof(key, method, uri, po)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func at(when time.Time) func(*dpop.ProofOptions) { return func(o *dpop.ProofOptions) { o.Now = when } }
