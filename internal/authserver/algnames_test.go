package authserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// The JWSs stock clients sign with Ed25519 keys name the algorithm Ed25519
// (RFC 9864), which go-jose cannot sign under: the tests build them by hand,
// as npm oauth4webapi does.

// signJWS signs header and claims as a compact JWS by key: Ed25519 keys
// sign the input itself, P-256 keys its SHA-256 (r‖s), whatever alg the
// header names.
func signJWS(t *testing.T, key *keys.Signer, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	var sig []byte
	var err error
	switch k := key.CryptoSigner().(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256([]byte(input))
		r, s, serr := ecdsa.Sign(rand.Reader, k, h[:])
		sig, err = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...), serr
	default:
		sig, err = k.Sign(nil, []byte(input), crypto.Hash(0))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// bareJWK is key's public JWK with alg set to jwkAlg, or without alg.
func bareJWK(t *testing.T, key *keys.Signer, jwkAlg string) map[string]any {
	t.Helper()
	raw, err := json.Marshal(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "kid")
	delete(m, "use")
	delete(m, "alg")
	if jwkAlg != "" {
		m["alg"] = jwkAlg
	}
	return m
}

// namedProof is a DPoP proof by key for POST path whose header names alg
// and embeds jwk.
func (h *harness) namedProof(key *keys.Signer, alg string, jwk map[string]any, path, accessToken string) http.Header {
	h.t.Helper()
	claims := map[string]any{"jti": rand.Text(), "htm": http.MethodPost, "htu": h.issuer + path, "iat": h.clock.Now().Unix()}
	if accessToken != "" {
		claims["ath"] = dpop.AccessTokenHash(accessToken)
	}
	return http.Header{"Dpop": {signJWS(h.t, key, map[string]any{"typ": protocol.TypeDPoPProof, "alg": alg, "jwk": jwk}, claims)}}
}

// ed25519Thumbprint is RFC 7638 §3.2 for an OKP key, computed here rather
// than by keys.Thumbprint: the required members in lexicographic order,
// alg never among them.
func ed25519Thumbprint(t *testing.T, key *keys.Signer) string {
	t.Helper()
	x := bareJWK(t, key, "")["x"].(string)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestEd25519NamedProofAtTheIdP: a grant whose proof names Ed25519 (or
// whose jwk does) is issued a token bound to the key's thumbprint, which
// the step is then completed with under the same name; the name never
// lets another key type through.
func TestEd25519NamedProofAtTheIdP(t *testing.T) {
	h := fixture(t)
	loner := h.agents["loner"]
	ec, _ := keys.Generate(keys.ES256, nil)
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"loner"}, "agent_checksum": {string(loner.sum)}}
	tests := []struct {
		name, alg string
		jwk       map[string]any
		reason    string // "" when the grant must succeed
	}{
		{"alg Ed25519", "Ed25519", bareJWK(t, loner.key, ""), ""},
		{"alg Ed25519, jwk named Ed25519", "Ed25519", bareJWK(t, loner.key, "Ed25519"), ""},
		{"alg EdDSA, jwk named Ed25519", "EdDSA", bareJWK(t, loner.key, "Ed25519"), ""},
		{"alg Ed25519, jwk named EdDSA", "Ed25519", bareJWK(t, loner.key, "EdDSA"), ""},
		{"alg ES256, jwk named Ed25519", "ES256", bareJWK(t, loner.key, "Ed25519"), protocol.ReasonAlgNotAllowed},
		{"alg Ed448", "Ed448", bareJWK(t, loner.key, ""), protocol.ReasonAlgNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.form("/token", "app", secrets["app"], v, h.namedProof(loner.key, tt.alg, tt.jwk, "/token", ""))
			if tt.reason != "" {
				wantError(t, res, 400, protocol.CodeInvalidDPoPProof)
				if res.str("reason") != tt.reason {
					t.Fatalf("reason %q, want %q", res.str("reason"), tt.reason)
				}
				return
			}
			if res.status != 200 || res.str("token_type") != "DPoP" {
				t.Fatalf("grant: %d %s", res.status, res.raw)
			}
			if jkt := h.verify(res.str("access_token")).Cnf.JKT; jkt != ed25519Thumbprint(t, loner.key) || jkt != loner.key.Thumbprint() {
				t.Fatalf("cnf.jkt %s, want the RFC 7638 thumbprint %s", jkt, ed25519Thumbprint(t, loner.key))
			}
		})
	}
	// A P-256 key signing a proof named Ed25519 (or EdDSA) is refused, by
	// its own jwk as by an Ed25519 one.
	for _, alg := range []string{"Ed25519", "EdDSA"} {
		res := h.form("/token", "app", secrets["app"], v, h.namedProof(ec, alg, bareJWK(t, ec, ""), "/token", ""))
		wantError(t, res, 400, protocol.CodeInvalidDPoPProof)
		if res.str("reason") != protocol.ReasonAlgNotAllowed {
			t.Fatalf("P-256 key named %s: reason %q", alg, res.str("reason"))
		}
	}
}

// TestEd25519NamedProofCompletesAStep: the token bound by an Ed25519-named
// proof is used on the IdP's own API with an Ed25519-named proof (with
// ath); a proof of another key under that name is refused.
func TestEd25519NamedProofCompletesAStep(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	planner := h.agents["planner"]
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}, "agent_checksum": {string(planner.sum)},
		"run_id": {run}, "workflow_step": {"plan"}}
	res := h.form("/token", "app", secrets["app"], v, h.namedProof(planner.key, "Ed25519", bareJWK(t, planner.key, ""), "/token", ""))
	if res.status != 200 {
		t.Fatalf("grant: %d %s", res.status, res.raw)
	}
	tok := res.str("access_token")
	path := "/v1/runs/" + run + "/steps/plan/complete"
	thief, _ := keys.Generate(keys.EdDSA, nil)
	stolen := h.jsonReq(http.MethodPost, path, "DPoP "+tok, nil, h.namedProof(thief, "Ed25519", bareJWK(t, thief, ""), path, tok))
	wantError(t, stolen, 401, protocol.CodeInvalidDPoPProof)
	done := h.jsonReq(http.MethodPost, path, "DPoP "+tok, nil, h.namedProof(planner.key, "Ed25519", bareJWK(t, planner.key, "Ed25519"), path, tok))
	if done.status != 200 || h.stepState(run, "plan") != "completed" {
		t.Fatalf("complete: %d %s", done.status, done.raw)
	}
}

// TestRegisterJWKNamedEd25519: an agent may register its Ed25519 key with
// the jwk alg Ed25519 and then prove with EdDSA; a P-256 key named
// Ed25519 is refused at registration.
func TestRegisterJWKNamedEd25519(t *testing.T) {
	h := fixture(t)
	a := h.agents["loner"]
	ec, _ := keys.Generate(keys.ES256, nil)
	register := func(jwk map[string]any) *response {
		body := map[string]any{"client_id": "app", "spec": a.spec, "public_jwk": jwk, "scopes": []string{"repo:read"},
			"audiences": []string{"https://forge.example"}, "workflow_required": false}
		return h.jsonReq(http.MethodPut, "/v1/agents/loner", h.bearer("admin"), body, nil)
	}
	if res := register(bareJWK(t, ec, "Ed25519")); res.status < 400 {
		t.Fatalf("P-256 jwk named Ed25519 registered: %d %s", res.status, res.raw)
	}
	if res := register(bareJWK(t, a.key, "Ed25519")); res.status != 200 && res.status != 201 {
		t.Fatalf("register: %d %s", res.status, res.raw)
	}
	h.mustGrant("app", "loner", "", "", nil) // an EdDSA proof by dpop.NewProof
}

// TestEd25519NamedDelegationAssertion: the delegator's assertion verifies
// under either name of its Ed25519 key and under no other name or key.
func TestEd25519NamedDelegationAssertion(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	h.toPatch(run)
	sup := h.agents["supervisor"]
	other, _ := keys.Generate(keys.EdDSA, nil)
	assertion := func(by *keys.Signer, alg, jti string) string {
		now := h.clock.Now()
		return signJWS(t, by, map[string]any{"typ": protocol.TypeDelegation, "alg": alg, "kid": sup.key.KeyID()}, map[string]any{
			"iss": "supervisor", "sub": "patcher", "aud": h.issuer, "run_id": run, "workflow_step": "patch",
			"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": jti})
	}
	refused := []struct{ name, as string }{
		{"Ed25519 signed by another key", assertion(other, "Ed25519", "r1")},
		{"Ed25519 key named ES256", assertion(sup.key, "ES256", "r2")},
		{"Ed25519 key named Ed448", assertion(sup.key, "Ed448", "r3")},
	}
	for _, tt := range refused {
		wantError(t, h.grant("app", "patcher", run, "patch", url.Values{"delegation_assertion": {tt.as}}), 403, protocol.CodeInvalidDelegation)
	}
	for i, alg := range []string{"Ed25519", "EdDSA"} {
		res := h.grant("app", "patcher", run, "patch", url.Values{"delegation_assertion": {assertion(sup.key, alg, "ok"+alg)}})
		if res.status != 200 {
			t.Fatalf("assertion named %s: %d %s", alg, res.status, res.raw)
		}
		if chain := h.verify(res.str("access_token")).Intent.DelegationChain; !slices.Equal(chain, []string{"supervisor", "patcher"}) {
			t.Fatalf("grant %d: chain %v", i, chain)
		}
	}
}

// TestEd25519NamedClientAssertion: private_key_jwt with an Ed25519 client
// key accepts either name, and no kid when the client has one key; an
// assertion without kid for a client with several keys, by another key,
// or named Ed25519 for a P-256 client key is refused.
func TestEd25519NamedClientAssertion(t *testing.T) {
	ed, _ := keys.Generate(keys.EdDSA, nil)
	ec, _ := keys.Generate(keys.ES256, nil)
	other, _ := keys.Generate(keys.EdDSA, nil)
	edPub, _ := json.Marshal(ed.Public())
	ecPub, _ := json.Marshal(ec.Public())
	cfg := testConfig + "  - client_id: ed-app\n    scopes: [repo:read]\n    jwks: {keys: [" + string(edPub) + "]}\n" +
		"  - client_id: ec-app\n    scopes: [repo:read]\n    jwks: {keys: [" + string(ecPub) + "]}\n" +
		"  - client_id: two-app\n    scopes: [repo:read]\n    jwks: {keys: [" + string(edPub) + ", " + string(ecPub) + "]}\n"
	h := newHarnessAt(t, t.TempDir()+"/db", cfg)
	assertion := func(client string, by *keys.Signer, alg, kid, jti string) string {
		header := map[string]any{"alg": alg}
		if kid != "" {
			header["kid"] = kid
		}
		now := h.clock.Now()
		return signJWS(t, by, header, map[string]any{"iss": client, "sub": client, "aud": h.issuer, "jti": jti,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	}
	tests := []struct {
		name, as string
		status   int
	}{
		{"Ed25519", assertion("ed-app", ed, "Ed25519", ed.KeyID(), "a1"), 200},
		{"EdDSA", assertion("ed-app", ed, "EdDSA", ed.KeyID(), "a2"), 200},
		{"Ed25519 without kid, the client's only key", assertion("ed-app", ed, "Ed25519", "", "a3"), 200},
		{"without kid, the client has two keys", assertion("two-app", ed, "Ed25519", "", "a9"), 401},
		{"without kid, by another key", assertion("ed-app", other, "Ed25519", "", "a10"), 401},
		{"Ed25519 by another key", assertion("ed-app", other, "Ed25519", ed.KeyID(), "a4"), 401},
		{"Ed25519 key named ES256", assertion("ed-app", ed, "ES256", ed.KeyID(), "a5"), 401},
		{"Ed25519 for a P-256 client key", assertion("ec-app", ec, "Ed25519", ec.KeyID(), "a6"), 401},
		{"EdDSA for a P-256 client key", assertion("ec-app", ec, "EdDSA", ec.KeyID(), "a7"), 401},
		{"ES256 for a P-256 client key", assertion("ec-app", ec, "ES256", ec.KeyID(), "a8"), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionTypeJWTBearer}, "client_assertion": {tt.as}}
			if res := h.form("/token", "", "", v, nil); res.status != tt.status {
				t.Fatalf("got %d %s, want %d", res.status, res.raw, tt.status)
			}
		})
	}
}

// TestMetadataListsBothEd25519Names: PROTOCOL.md §3 — wherever metadata
// lists algorithms, both names of Ed25519 are there, beside ES256 and
// RS256, which stay accepted.
func TestMetadataListsBothEd25519Names(t *testing.T) {
	h := newHarness(t)
	res := h.jsonReq(http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, nil)
	want := []any{"ES256", "Ed25519", "EdDSA", "RS256"}
	for _, member := range []string{"dpop_signing_alg_values_supported", "token_endpoint_auth_signing_alg_values_supported"} {
		if got, _ := res.body[member].([]any); !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", member, got, want)
		}
	}
}
