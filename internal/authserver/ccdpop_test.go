package authserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// TestClientCredentialsWithDPoP: §6.1 (RFC 9449 §5) — a client_credentials
// request with a valid DPoP proof gets a DPoP token bound to the proof's
// key; an invalid DPoP header is 400 invalid_dpop_proof, never a Bearer
// token; without the header the token is Bearer, as before.
func TestClientCredentialsWithDPoP(t *testing.T) {
	h := newHarness(t)
	key, _ := keys.Generate(keys.ES256, nil)
	ed, _ := keys.Generate(keys.EdDSA, nil)
	form := url.Values{"grant_type": {"client_credentials"}}
	proofAt := func(k *keys.Signer, method, uri string, opts dpop.ProofOptions) http.Header {
		if opts.Now.IsZero() {
			opts.Now = h.clock.Now()
		}
		p, err := dpop.NewProof(k, method, uri, opts)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Dpop": {p}}
	}
	replayed := proofAt(key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{})
	tests := []struct {
		name    string
		hdr     http.Header
		wantJKT string // "" with wantCode "": a Bearer token
		code    string
	}{
		{name: "ES256 proof", hdr: replayed, wantJKT: key.Thumbprint()},
		{name: "EdDSA proof", hdr: proofAt(ed, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{}), wantJKT: ed.Thumbprint()},
		{name: "no DPoP header", hdr: nil},
		{name: "replayed proof", hdr: replayed, code: protocol.CodeInvalidDPoPProof},
		{name: "proof for another URL", hdr: proofAt(key, http.MethodPost, h.issuer+"/introspect", dpop.ProofOptions{}), code: protocol.CodeInvalidDPoPProof},
		{name: "proof for another method", hdr: proofAt(key, http.MethodGet, h.issuer+"/token", dpop.ProofOptions{}), code: protocol.CodeInvalidDPoPProof},
		{name: "stale proof", hdr: proofAt(key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{Now: h.clock.Now().Add(-time.Hour)}), code: protocol.CodeInvalidDPoPProof},
		{name: "not a JWS", hdr: http.Header{"Dpop": {"garbage"}}, code: protocol.CodeInvalidDPoPProof},
		{name: "empty header", hdr: http.Header{"Dpop": {""}}, code: protocol.CodeInvalidDPoPProof},
		{name: "two proofs", hdr: http.Header{"Dpop": {
			proofAt(key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{}).Get("Dpop"),
			proofAt(key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{}).Get("Dpop")}}, code: protocol.CodeInvalidDPoPProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.form("/token", "app", secrets["app"], form, tt.hdr)
			if tt.code != "" {
				wantError(t, res, http.StatusBadRequest, tt.code)
				return
			}
			if res.status != 200 {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			c := h.verify(res.str("access_token"))
			if tt.wantJKT == "" {
				if res.str("token_type") != "Bearer" || c.Cnf != nil {
					t.Fatalf("without a proof: token_type %q, cnf %+v", res.str("token_type"), c.Cnf)
				}
				return
			}
			if res.str("token_type") != "DPoP" || c.Cnf == nil || c.Cnf.JKT != tt.wantJKT || c.Intent != nil || c.AgentProof != nil {
				t.Fatalf("token_type %q, claims %+v", res.str("token_type"), c)
			}
			intro := h.form("/introspect", "app", secrets["app"], url.Values{"token": {res.str("access_token")}}, nil)
			if intro.str("token_type") != "DPoP" || intro.body["active"] != true {
				t.Fatalf("introspection %s", intro.raw)
			}
		})
	}
}

// TestBoundClientTokenLifecycle: a DPoP-bound client token works on the
// IdP's APIs only with a proof of its key, is refused as a bearer token,
// and is revocable like any other.
func TestBoundClientTokenLifecycle(t *testing.T) {
	h := newHarness(t)
	h.registerWorkflow("w", map[string]any{"steps": []map[string]any{{"id": "a", "kind": "approval"}}})
	admin, ok := h.boundClientToken("admin")
	if !ok {
		t.Fatal("client_credentials with a DPoP proof issued a Bearer token (§6.1)")
	}
	const path = "/v1/workflows/w"
	get := func() *response {
		return h.jsonReq(http.MethodGet, path, "DPoP "+admin.tok, nil, h.proof(admin.key, http.MethodGet, path, admin.tok))
	}
	if res := get(); res.status != 200 {
		t.Fatalf("with a proof: %d %s", res.status, res.raw)
	}
	wantError(t, h.jsonReq(http.MethodGet, path, "Bearer "+admin.tok, nil, nil), 401, protocol.CodeInvalidDPoPProof)
	if res := h.form("/revoke", "admin", secrets["admin"], url.Values{"token": {admin.tok}}, nil); res.status != 200 {
		t.Fatalf("revoke: %d %s", res.status, res.raw)
	}
	wantError(t, get(), 401, protocol.CodeInvalidToken)
}
