package middleware_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"github.com/ajwt/ajwt/internal/forgery"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
)

func parts(tok string) (map[string]any, map[string]any, string) {
	p := strings.Split(tok, ".")
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(p[0])
	cb, _ := base64.RawURLEncoding.DecodeString(p[1])
	json.Unmarshal(hb, &h)
	json.Unmarshal(cb, &c)
	return h, c, p[2]
}

// TestAttackMatrix sends forged tokens and proofs to a real enforcer in
// front of an API, with tokens from a real IdP: each is refused with the
// right reason, none is accepted, nothing crashes.
func TestAttackMatrix(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	tok := w.grant("planner", run, "plan")
	key := w.agents["planner"].key
	read := "/repos/acme/web/contents/go.mod"
	h, c, _ := parts(tok)
	kid := h["kid"].(string)
	attacker, _ := keys.Generate(keys.ES256, nil)
	// HS256 "signed" with the IdP's public key (alg confusion).
	jwksRes, _ := http.Get(w.idp.URL + "/jwks.json")
	var set jose.JSONWebKeySet
	json.NewDecoder(jwksRes.Body).Decode(&set)
	jwksRes.Body.Close()
	pubJSON, _ := json.Marshal(set.Keys[0])
	hsIn := forgery.B64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + strings.Split(tok, ".")[1]
	mac := hmac.New(sha256.New, pubJSON)
	mac.Write([]byte(hsIn))
	hs256 := hsIn + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	edited := func(mut func(map[string]any)) string {
		cc := map[string]any{}
		for k, v := range c {
			cc[k] = v
		}
		mut(cc)
		p := strings.Split(tok, ".")
		return p[0] + "." + forgery.B64(cc) + "." + p[2]
	}

	tokenCases := []struct {
		name, token, reason string
	}{
		{"alg none", forgery.B64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + strings.Split(tok, ".")[1] + ".", "alg_not_allowed"},
		{"HS256 with the public key", hs256, "alg_not_allowed"},
		{"unknown kid", forgery.Reheader(tok, map[string]any{"kid": "no-such-key"}), "unknown_key"},
		{"path traversal kid", forgery.Reheader(tok, map[string]any{"kid": "../../../../etc/passwd"}), "unknown_key"},
		{"SQL-ish kid", forgery.Reheader(tok, map[string]any{"kid": "x' OR '1'='1"}), "unknown_key"},
		{"jku header", forgery.SignedBy(t, tok, attacker, map[string]any{"typ": "at+jwt", "kid": kid, "jku": "http://evil.example/jwks"}), "forbidden_header"},
		{"x5u header", forgery.SignedBy(t, tok, attacker, map[string]any{"typ": "at+jwt", "kid": kid, "x5u": "http://evil.example/cert"}), "forbidden_header"},
		{"embedded jwk", forgery.Reheader(tok, map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "P-256"}}), "forbidden_header"},
		{"crit header", forgery.Reheader(tok, map[string]any{"crit": []string{"exp"}}), "forbidden_header"},
		{"signed by the attacker with the IdP's kid", forgery.SignedBy(t, tok, attacker, map[string]any{"typ": "at+jwt", "kid": kid}), "bad_signature"},
		{"signature stripped", strings.Join(strings.Split(tok, ".")[:2], ".") + ".", "bad_signature"},
		{"signature truncated", forgery.TruncateSig(tok), "bad_signature"},
		{"scope edited after signing", edited(func(m map[string]any) { m["scope"] = "repo:read repo:write" }), "bad_signature"},
		{"step edited after signing", edited(func(m map[string]any) { m["intent"].(map[string]any)["workflow_step"] = "patch" }), "bad_signature"},
		{"wrong typ", forgery.Reheader(tok, map[string]any{"typ": "JWT"}), "wrong_type"},
		{"not a JWT", "abc", "malformed"},
		{"oversize token", strings.Repeat("a", 9000), "too_large"},
	}
	for _, tt := range tokenCases {
		t.Run("token/"+tt.name, func(t *testing.T) {
			code, body := w.send(w.api.URL, http.MethodGet, read, tt.token, key)
			if code != 401 || body["reason"] != tt.reason {
				t.Fatalf("got %d %v, want 401 %s", code, body, tt.reason)
			}
		})
	}

	base := w.api.URL
	proofCases := []struct {
		name   string
		proof  func() string
		reason string
	}{
		{"htu with the query", func() string { return mkProof(t, key, "GET", base+read+"?ref=main", tok) }, ""}, // query is ignored: accepted
		{"htu host in upper case", func() string {
			return mkProof(t, key, "GET", strings.ToUpper(base[:7])+strings.ToUpper(base[7:])+read, tok)
		}, ""},
		{"htu trailing slash", func() string { return mkProof(t, key, "GET", base+read+"/", tok) }, "wrong_htu"},
		{"htu path case", func() string { return mkProof(t, key, "GET", base+strings.ToUpper(read), tok) }, "wrong_htu"},
		{"htu encoded slash", func() string { return mkProof(t, key, "GET", base+"/repos/acme%2Fweb/contents/go.mod", tok) }, "wrong_htu"},
		{"htu dot segments", func() string { return mkProof(t, key, "GET", base+"/repos/acme/x/../web/contents/go.mod", tok) }, "wrong_htu"},
		{"ath missing", func() string { return mkProof(t, key, "GET", base+read, "") }, "ath_mismatch"},
		{"stale iat", func() string { return mkProofAt(t, key, "GET", base+read, tok, time.Now().Add(-5*time.Minute)) }, "stale_proof"},
		{"future iat", func() string { return mkProofAt(t, key, "GET", base+read, tok, time.Now().Add(5*time.Minute)) }, "stale_proof"},
		{"duplicate htu member", func() string { return forgery.DupHTU(t, key, base+read, tok) }, "malformed"},
		{"private key in the jwk header", func() string { return forgery.PrivateJWKProof(t, key, base+read, tok) }, "private_key_in_jwk"},
		{"HMAC proof", func() string { return forgery.HMACProof(base+read, tok) }, "alg_not_allowed"},
		{"proof by another key", func() string { return mkProof(t, attacker, "GET", base+read, tok) }, "key_mismatch"},
	}
	for _, tt := range proofCases {
		t.Run("proof/"+tt.name, func(t *testing.T) {
			code, body, _ := w.call(http.MethodGet, base+read, "DPoP "+tok, nil, http.Header{"Dpop": {tt.proof()}})
			if tt.reason == "" {
				if code != 200 {
					t.Fatalf("an equivalent URI was refused: %d %v", code, body)
				}
				return
			}
			if code != 401 || body["reason"] != tt.reason {
				t.Fatalf("got %d %v, want 401 %s", code, body, tt.reason)
			}
		})
	}

	t.Run("token not yet valid for the enforcer's clock", func(t *testing.T) {
		pol, _ := policyfile.Parse([]byte(strings.ReplaceAll(forgery.MatrixPolicy, "ISSUER", w.idp.URL)))
		earlier := func() time.Time { return time.Now().Add(-10 * time.Minute) }
		enf, err := middleware.New(context.Background(), pol, middleware.WithClock(earlier), middleware.WithoutRevocationFeed())
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "http://api.example"+read, nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		if _, err := enf.Check(r); err == nil || !strings.Contains(err.Error(), "issued_in_future") {
			t.Fatalf("err = %v", err)
		}
	})
}

func mkProof(t *testing.T, key *keys.Signer, method, uri, tok string) string {
	return mkProofAt(t, key, method, uri, tok, time.Time{})
}

func mkProofAt(t *testing.T, key *keys.Signer, method, uri, tok string, at time.Time) string {
	p, err := dpop.NewProof(key, method, uri, dpop.ProofOptions{AccessToken: tok, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPathCanonicalization: spellings of a restricted path that an
// upstream would route to it never reach it under a broader route (§8).
// /repos/{owner}/{repo}/secrets is for the patch step only; /repos/** is
// open to repo:read, which the planner's token has. Each request carries
// a valid proof for the exact URL sent.
func TestPathCanonicalization(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	tok := w.grant("planner", run, "plan")
	key := w.agents["planner"].key
	for _, base := range []string{w.prx.URL, w.api.URL} {
		name := map[bool]string{true: "proxy", false: "middleware"}[base == w.prx.URL]
		for _, tt := range forgery.SecretsPathCases() {
			t.Run(name+tt.Path, func(t *testing.T) {
				before := w.hits.Load()
				code, body := w.send(base, http.MethodGet, tt.Path, tok, key)
				status := map[bool]int{true: 400, false: 403}[tt.Reason == "non_canonical_path"]
				if code != status || body["reason"] != tt.Reason {
					t.Fatalf("got %d %v, want %d %s", code, body, status, tt.Reason)
				}
				if tt.Reason == "non_canonical_path" && body["error"] != "invalid_request" {
					t.Fatalf("error = %v", body["error"])
				}
				if w.hits.Load() != before {
					t.Fatalf("the upstream received %s", w.lastURI)
				}
			})
		}
	}

	t.Run("the proxy forwards the canonical path it matched", func(t *testing.T) {
		for raw, want := range map[string]string{
			"/repos/acme/web/contents/%7e%61%2a": "/repos/acme/web/contents/~a%2A",
			"/repos/acme/web/contents/dir/":      "/repos/acme/web/contents/dir/",
			"/repos/acme/web/issues/%c3%a9?q=1":  "/repos/acme/web/issues/%C3%A9?q=1",
		} {
			path, _, _ := strings.Cut(raw, "?")
			p := mkProof(t, key, http.MethodGet, w.prx.URL+path, tok)
			code, body, _ := w.call(http.MethodGet, w.prx.URL+raw, "DPoP "+tok, nil, http.Header{"Dpop": {p}})
			if code != 200 || w.lastURI != want {
				t.Fatalf("%s: %d %v, upstream saw %q, want %q", raw, code, body, w.lastURI, want)
			}
		}
	})
	t.Run("a proof for the raw or the canonical spelling is accepted", func(t *testing.T) {
		raw := "/repos/acme/web/contents/%7Ea"
		for _, htu := range []string{w.prx.URL + raw, w.prx.URL + "/repos/acme/web/contents/~a"} {
			p := mkProof(t, key, http.MethodGet, htu, tok)
			if code, body, _ := w.call(http.MethodGet, w.prx.URL+raw, "DPoP "+tok, nil, http.Header{"Dpop": {p}}); code != 200 {
				t.Fatalf("proof for %s: %d %v", htu, code, body)
			}
		}
		p := mkProof(t, key, http.MethodGet, w.prx.URL+"/repos/acme/web/contents/~a/", tok)
		if code, body, _ := w.call(http.MethodGet, w.prx.URL+raw, "DPoP "+tok, nil, http.Header{"Dpop": {p}}); code != 401 || body["reason"] != "wrong_htu" {
			t.Fatalf("proof with a trailing slash: %d %v", code, body)
		}
	})
	t.Run("public route with a trailing slash", func(t *testing.T) {
		if code, body, _ := w.call(http.MethodGet, w.prx.URL+"/health/", "", nil, nil); code != 200 || w.lastURI != "/health/" {
			t.Fatalf("%d %v, upstream saw %q", code, body, w.lastURI)
		}
	})
}
