package authz_test

import (
	"github.com/ajwt/ajwt/internal/forgery"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/authz"
	"github.com/ajwt/ajwt/keys"
)

// matrixCase is one request of the proxy's attack matrix: build makes it
// for a door (a proof is for the URL the client addresses through it).
type matrixCase struct {
	name   string
	status int
	reason string // "" when allowed
	build  func(t *testing.T, d door) (method, uri string, hdr http.Header)
}

// fixtures are the tokens and keys the matrix uses.
type fixtures struct {
	run, planTok, legacyTok, noAudTok string
	planner, patcher, attacker        *keys.Signer
}

const read = "/repos/acme/web/contents/go.mod"

func (w *world) fixtures(t *testing.T) *fixtures {
	run := w.startRun("acme/web")
	attacker, _ := keys.Generate(keys.ES256, nil)
	return &fixtures{run: run, planTok: w.grant("planner", run, "plan"),
		legacyTok: w.clientToken("app", "app-secret", "https://forge.example"), noAudTok: w.clientToken("app", "app-secret", ""),
		planner: w.agents["planner"], patcher: w.agents["patcher"], attacker: attacker}
}

// tokenCases: forged tokens, each with a valid proof for it.
func tokenCases(t *testing.T, w *world, f *fixtures) []matrixCase {
	tok := f.planTok
	h, _ := forgery.TokenParts(tok)
	kid := h["kid"].(string)
	forged := []struct{ name, token, reason string }{
		{"alg none", forgery.B64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + strings.Split(tok, ".")[1] + ".", "alg_not_allowed"},
		{"HS256 with the public key", forgery.HS256WithPublicKey(t, w.idp, tok), "alg_not_allowed"},
		{"unknown kid", forgery.Reheader(tok, map[string]any{"kid": "no-such-key"}), "unknown_key"},
		{"path traversal kid", forgery.Reheader(tok, map[string]any{"kid": "../../../../etc/passwd"}), "unknown_key"},
		{"SQL-ish kid", forgery.Reheader(tok, map[string]any{"kid": "x' OR '1'='1"}), "unknown_key"},
		{"jku header", forgery.SignedBy(t, tok, f.attacker, map[string]any{"typ": "at+jwt", "kid": kid, "jku": "http://evil.example/jwks"}), "forbidden_header"},
		{"x5u header", forgery.SignedBy(t, tok, f.attacker, map[string]any{"typ": "at+jwt", "kid": kid, "x5u": "http://evil.example/cert"}), "forbidden_header"},
		{"embedded jwk", forgery.Reheader(tok, map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256"}}), "forbidden_header"},
		{"crit header", forgery.Reheader(tok, map[string]any{"crit": []string{"exp"}}), "forbidden_header"},
		{"signed by the attacker with the IdP's kid", forgery.SignedBy(t, tok, f.attacker, map[string]any{"typ": "at+jwt", "kid": kid}), "bad_signature"},
		{"signature stripped", strings.Join(strings.Split(tok, ".")[:2], ".") + ".", "bad_signature"},
		{"signature truncated", forgery.TruncateSig(tok), "bad_signature"},
		{"signature tampered", forgery.Tamper(tok), "bad_signature"},
		{"scope edited after signing", forgery.Reclaim(tok, func(m map[string]any) { m["scope"] = "repo:read repo:write" }), "bad_signature"},
		{"step edited after signing", forgery.Reclaim(tok, func(m map[string]any) { m["intent"].(map[string]any)["workflow_step"] = "patch" }), "bad_signature"},
		{"wrong typ", forgery.Reheader(tok, map[string]any{"typ": "JWT"}), "wrong_type"},
		{"not a JWT", "abc", "malformed"},
		{"oversize token", strings.Repeat("a", 9000), "too_large"},
	}
	var out []matrixCase
	for _, c := range forged {
		out = append(out, matrixCase{"token/" + c.name, 401, c.reason, func(t *testing.T, d door) (string, string, http.Header) {
			return http.MethodGet, read, authHeader("DPoP", c.token, mkProof(t, f.planner, http.MethodGet, d.base+read, c.token))
		}})
	}
	return out
}

// proofCases: the planner's real token with forged or mistaken proofs.
func proofCases(t *testing.T, f *fixtures) []matrixCase {
	tok := f.planTok
	cases := []struct {
		name, reason string
		proof        func(base string) string
	}{
		{"htu with the query", "", func(b string) string { return mkProof(t, f.planner, "GET", b+read+"?ref=main", tok) }},
		{"htu host in upper case", "", func(b string) string { return mkProof(t, f.planner, "GET", strings.ToUpper(b)+read, tok) }},
		{"htu trailing slash", "wrong_htu", func(b string) string { return mkProof(t, f.planner, "GET", b+read+"/", tok) }},
		{"htu path case", "wrong_htu", func(b string) string { return mkProof(t, f.planner, "GET", b+strings.ToUpper(read), tok) }},
		{"htu encoded slash", "wrong_htu", func(b string) string { return mkProof(t, f.planner, "GET", b+"/repos/acme%2Fweb/contents/go.mod", tok) }},
		{"htu dot segments", "wrong_htu", func(b string) string {
			return mkProof(t, f.planner, "GET", b+"/repos/acme/x/../web/contents/go.mod", tok)
		}},
		{"htu of another host", "wrong_htu", func(string) string { return mkProof(t, f.planner, "GET", "http://evil.example"+read, tok) }},
		{"wrong htm", "wrong_htm", func(b string) string { return mkProof(t, f.planner, "POST", b+read, tok) }},
		{"ath missing", "ath_mismatch", func(b string) string { return mkProof(t, f.planner, "GET", b+read, "") }},
		{"ath of another token", "ath_mismatch", func(b string) string { return mkProof(t, f.planner, "GET", b+read, "other") }},
		{"stale iat", "stale_proof", func(b string) string {
			return mkProof(t, f.planner, "GET", b+read, tok, at(time.Now().Add(-5*time.Minute)))
		}},
		{"future iat", "stale_proof", func(b string) string {
			return mkProof(t, f.planner, "GET", b+read, tok, at(time.Now().Add(5*time.Minute)))
		}},
		{"duplicate htu member", "malformed", func(b string) string { return forgery.DupHTU(t, f.planner, b+read, tok) }},
		{"private key in the jwk header", "private_key_in_jwk", func(b string) string { return forgery.PrivateJWKProof(t, f.planner, b+read, tok) }},
		{"HMAC proof", "alg_not_allowed", func(b string) string { return forgery.HMACProof(b+read, tok) }},
		{"proof by another key", "key_mismatch", func(b string) string { return mkProof(t, f.attacker, "GET", b+read, tok) }},
		{"stolen token, the thief's own agent key", "key_mismatch", func(b string) string { return mkProof(t, f.patcher, "GET", b+read, tok) }},
		{"no proof", "missing_proof", func(string) string { return "" }},
	}
	var out []matrixCase
	for _, c := range cases {
		status := map[bool]int{true: 200, false: 401}[c.reason == ""]
		out = append(out, matrixCase{"proof/" + c.name, status, c.reason, func(t *testing.T, d door) (string, string, http.Header) {
			return http.MethodGet, read, authHeader("DPoP", tok, c.proof(d.base))
		}})
	}
	return out
}

// policyCases: valid credentials the policy refuses or allows.
func policyCases(f *fixtures) []matrixCase {
	planned := func(method, uri string) func(*testing.T, door) (string, string, http.Header) {
		return func(t *testing.T, d door) (string, string, http.Header) {
			path, _, _ := strings.Cut(uri, "?")
			return method, uri, authHeader("DPoP", f.planTok, mkProof(t, f.planner, method, d.base+path, f.planTok))
		}
	}
	bearer := func(tok, uri string) func(*testing.T, door) (string, string, http.Header) {
		return func(*testing.T, door) (string, string, http.Header) {
			return http.MethodGet, uri, authHeader("Bearer", tok, "")
		}
	}
	return []matrixCase{
		{"allowed read", 200, "", planned(http.MethodGet, read)},
		{"allowed read with a query", 200, "", planned(http.MethodGet, read+"?ref=main&x=%2F")},
		{"insufficient scope", 403, "insufficient_scope", planned(http.MethodPost, "/repos/acme/web/pulls")},
		{"wrong step", 403, "wrong_step", planned(http.MethodPost, "/repos/acme/web/branches")},
		{"wrong agent", 403, "wrong_agent", planned(http.MethodPut, "/repos/acme/web/pulls/1/merge")},
		{"context mismatch", 403, "context_mismatch", planned(http.MethodGet, "/repos/acme/api/contents/go.mod")},
		{"unmatched route", 403, "no_route", planned(http.MethodDelete, "/repos/acme/web")},
		{"legacy token refused", 401, "legacy_token_refused", bearer(f.legacyTok, read)},
		{"legacy token allowed on a legacy route", 200, "", bearer(f.legacyTok, "/legacy/x")},
		{"wrong audience", 401, "wrong_audience", bearer(f.noAudTok, "/legacy/x")},
		{"DPoP-bound token as a bearer token", 401, "missing_proof", bearer(f.planTok, read)},
		{"no credentials", 401, "malformed", func(*testing.T, door) (string, string, http.Header) { return http.MethodGet, read, nil }},
		{"two Authorization headers", 401, "malformed", func(t *testing.T, d door) (string, string, http.Header) {
			h := authHeader("DPoP", f.planTok, mkProof(t, f.planner, "GET", d.base+read, f.planTok))
			h.Add("Authorization", "DPoP "+f.planTok)
			return http.MethodGet, read, h
		}},
		{"public route", 200, "", func(*testing.T, door) (string, string, http.Header) { return http.MethodGet, "/health", nil }},
		{"public route with a trailing slash", 200, "", func(*testing.T, door) (string, string, http.Header) { return http.MethodGet, "/health/", nil }},
	}
}

// pathCases: spellings of /repos/acme/web/secrets (the patch step's only)
// that an upstream would route there; each has a proof for the URL sent.
func pathCases(f *fixtures) []matrixCase {
	var out []matrixCase
	for _, c := range forgery.SecretsPathCases() {
		status := map[bool]int{true: 400, false: 403}[c.Reason == "non_canonical_path"]
		out = append(out, matrixCase{"path" + c.Path, status, c.Reason, func(t *testing.T, d door) (string, string, http.Header) {
			return http.MethodGet, c.Path, authHeader("DPoP", f.planTok, mkProof(t, f.planner, http.MethodGet, d.base+c.Path, f.planTok))
		}})
	}
	return out
}

// TestParityWithProxy replays the proxy's attack matrix — forged tokens
// and proofs, policy refusals, path spellings, legacy and public routes —
// through the proxy and each of the four doors: every door reaches the
// proxy's status (nginx's door: 403 for 400), error, reason, challenge
// and nonce, and allows exactly what the proxy forwards, with the
// identity the proxy gives the upstream.
func TestParityWithProxy(t *testing.T) {
	w := newWorld(t, authz.Options{})
	f := w.fixtures(t)
	var cases []matrixCase
	cases = append(cases, tokenCases(t, w, f)...)
	cases = append(cases, proofCases(t, f)...)
	cases = append(cases, policyCases(f)...)
	cases = append(cases, pathCases(f)...)
	doors := w.doors()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want outcome
			for i, d := range doors {
				method, uri, hdr := c.build(t, d)
				got := d.send(t, method, uri, hdr)
				checkCase(t, c, d, got)
				if i == 0 {
					want = got
					continue
				}
				sameAsProxy(t, d, got, want)
			}
		})
	}
}

func checkCase(t *testing.T, c matrixCase, d door, got outcome) {
	t.Helper()
	status := c.status
	if d.name == authz.DoorAuthRequest && (status == 400 || status == 413) {
		status = 403
	}
	if got.status != status || got.reason != c.reason {
		t.Fatalf("%s: %d %s/%s, want %d %s", d.name, got.status, got.error, got.reason, status, c.reason)
	}
	if len(got.challenges) > 1 {
		t.Fatalf("%s: %d challenges %v", d.name, len(got.challenges), got.challenges)
	}
	if d.name == "proxy" {
		return
	}
	if d.name != authz.DoorGRPC || got.status != 200 {
		if cc := got.header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("%s: Cache-Control %q", d.name, cc)
		}
	}
	if got.status != 200 && (got.header.Get(authz.HeaderError) != got.error || got.header.Get(authz.HeaderReason) != got.reason) {
		t.Fatalf("%s: Ajwt-Error %q Ajwt-Reason %q, body %s/%s", d.name, got.header.Get(authz.HeaderError), got.header.Get(authz.HeaderReason), got.error, got.reason)
	}
}

func sameAsProxy(t *testing.T, d door, got, want outcome) {
	t.Helper()
	if got.error != want.error || got.reason != want.reason || got.nonce != want.nonce || !slices.Equal(got.challenges, want.challenges) {
		t.Fatalf("%s differs from the proxy:\n got  %s/%s nonce=%v %q\n want %s/%s nonce=%v %q", d.name,
			got.error, got.reason, got.nonce, got.challenges, want.error, want.reason, want.nonce, want.challenges)
	}
	for name, v := range want.identity {
		if got.identity[name] != v {
			t.Fatalf("%s: %s = %q, the proxy's upstream saw %q", d.name, name, got.identity[name], v)
		}
	}
}

// TestParityStateful: what a request spends — a proof's jti, a one-time
// token — and what a revocation ends, through every door as through the
// proxy.
func TestParityStateful(t *testing.T) {
	w := newWorld(t, authz.Options{})
	run := w.startRun("acme/web")
	planTok := w.grant("planner", run, "plan")
	w.complete("planner", run, "plan", planTok)
	patcher := w.agents["patcher"]
	const pulls = "/repos/acme/web/pulls"
	for _, d := range w.doors() {
		t.Run(d.name, func(t *testing.T) {
			tok := w.grant("patcher", run, "patch")
			proof := mkProof(t, patcher, http.MethodGet, d.base+read, tok)
			expect(t, d, d.send(t, http.MethodGet, read, authHeader("DPoP", tok, proof)), 200, "")
			expect(t, d, d.send(t, http.MethodGet, read, authHeader("DPoP", tok, proof)), 401, "replayed_proof")
			post := func() outcome {
				return d.send(t, http.MethodPost, pulls, authHeader("DPoP", tok, mkProof(t, patcher, http.MethodPost, d.base+pulls, tok)))
			}
			got := post()
			expect(t, d, got, 200, "")
			if got.identity["Ajwt-Agent"] != "patcher" || got.identity["Ajwt-Step"] != "patch" || got.identity["Ajwt-Run"] != run ||
				got.identity["Ajwt-Initiated-By"] != "user:alice" || got.identity["Ajwt-Client"] != "app" {
				t.Fatalf("identity %v", got.identity)
			}
			expect(t, d, post(), 401, "token_used")
		})
	}
	t.Run("revocation within 2 s", func(t *testing.T) {
		tok := w.grant("patcher", run, "patch")
		w.api(http.MethodPost, "/v1/agents/patcher/revoke", w.adminToken(), "", http.StatusOK)
		deadline := time.Now().Add(2 * time.Second)
		for _, d := range w.doors() {
			for {
				got := d.send(t, http.MethodGet, read, authHeader("DPoP", tok, mkProof(t, patcher, http.MethodGet, d.base+read, tok)))
				if got.status == 401 && got.reason == "agent_revoked" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: still %d %s two seconds after the revocation", d.name, got.status, got.reason)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})
}

func expect(t *testing.T, d door, got outcome, status int, reason string) {
	t.Helper()
	if got.status != status || got.reason != reason {
		t.Fatalf("%s: %d %s, want %d %s", d.name, got.status, got.reason, status, reason)
	}
}
