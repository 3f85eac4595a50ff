package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/proxy"
)

// withCache puts an API behind a second enforcer of w's policy that uses
// cache, and returns the API's URL.
func (w *world) withCache(cache dpop.ReplayCache, opts ...middleware.Option) string {
	url, _ := w.withCacheEnf(cache, opts...)
	return url
}

func (w *world) withCacheEnf(cache dpop.ReplayCache, opts ...middleware.Option) (string, *middleware.Enforcer) {
	w.t.Helper()
	pol, err := policyfile.Parse([]byte(strings.ReplaceAll(policyYAML, "ISSUER", w.idp.URL)))
	if err != nil {
		w.t.Fatal(err)
	}
	enf, err := middleware.New(context.Background(), pol, append([]middleware.Option{middleware.WithReplayCache(cache), middleware.WithoutRevocationFeed()}, opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(enf.Close)
	up, _ := url.Parse(w.upstream.URL)
	h, err := proxy.New(up, enf, proxy.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	w.t.Cleanup(srv.Close)
	return srv.URL, enf
}

// TestRefusedRequestsTakeNoReplayEntry: proofs that are valid
// in every respect but sent to routes the policy refuses the token use no
// replay-cache entry, however many; a replayed proof on an allowed route
// is still refused, and so is a replayed proof on a refused route.
func TestRefusedRequestsTakeNoReplayEntry(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	tok := w.grant("planner", run, "plan")
	planner := w.agents["planner"].key
	cache := dpop.NewMemoryReplayCache(1000, nil)
	base := w.withCache(cache)
	refused := []struct{ method, path, reason string }{
		{http.MethodPost, "/repos/acme/web/pulls", "insufficient_scope"},
		{http.MethodPost, "/repos/acme/web/branches", "wrong_step"},
		{http.MethodPut, "/repos/acme/web/pulls/1/merge", "wrong_agent"},
		{http.MethodGet, "/repos/acme/api/contents/go.mod", "context_mismatch"},
		{http.MethodDelete, "/repos/acme/web", "no_route"},
	}
	for range 20 {
		for _, r := range refused {
			if code, body := w.send(base, r.method, r.path, tok, planner); code != 403 || body["reason"] != r.reason {
				t.Fatalf("%s %s: %d %v, want 403 %s", r.method, r.path, code, body, r.reason)
			}
		}
	}
	if n := cache.Len(); n != 0 {
		t.Fatalf("%d replay-cache entries after %d refused requests, want 0", n, 20*len(refused))
	}
	read := "/repos/acme/web/contents/go.mod"
	p, _ := dpop.NewProof(planner, http.MethodGet, base+read, dpop.ProofOptions{AccessToken: tok})
	hdr := http.Header{"Dpop": {p}}
	if code, body, _ := w.call(http.MethodGet, base+read, "DPoP "+tok, nil, hdr); code != 200 {
		t.Fatalf("first use: %d %v", code, body)
	}
	if code, body, _ := w.call(http.MethodGet, base+read, "DPoP "+tok, nil, hdr); code != 401 || body["reason"] != "replayed_proof" {
		t.Fatalf("replay on the allowed route: %d %v", code, body)
	}
	if n := cache.Len(); n != 1 {
		t.Fatalf("%d entries after one accepted proof", n)
	}
}

// TestReplayFloodFromOneKey: one agent flooding an allowed
// route exhausts only its own share of the replay cache (429 slow_down
// with Retry-After) while another agent still gets through; a cache full
// of unexpired entries answers 503 temporarily_unavailable with
// Retry-After, never 500.
func TestReplayFloodFromOneKey(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	planTok := w.grant("planner", run, "plan")
	w.complete("planner", run, "plan", planTok)
	patchTok := w.grant("patcher", run, "patch")
	planner, patcher := w.agents["planner"].key, w.agents["patcher"].key
	read := "/repos/acme/web/contents/go.mod"

	t.Run("flood", func(t *testing.T) {
		base := w.withCache(dpop.NewMemoryReplayCache(64, nil))
		accepted, limited := 0, 0
		for range 100 {
			code, body, hdr := w.sendH(base, http.MethodGet, read, planTok, planner)
			switch {
			case code == 200:
				accepted++
			case code == 429 && body["error"] == "slow_down" && body["reason"] == "replay_quota" && hdr.Get("Retry-After") != "":
				limited++
			default:
				t.Fatalf("flooding agent: %d %v %v", code, body, hdr)
			}
		}
		if limited == 0 || accepted > 32 {
			t.Fatalf("flooding agent: %d accepted, %d limited; want at most half the cache", accepted, limited)
		}
		if code, body := w.send(base, http.MethodGet, read, patchTok, patcher); code != 200 {
			t.Fatalf("other agent during the flood: %d %v", code, body)
		}
	})
	t.Run("full", func(t *testing.T) {
		base := w.withCache(dpop.NewMemoryReplayCache(2, nil))
		if code, body := w.send(base, http.MethodGet, read, planTok, planner); code != 200 {
			t.Fatalf("first: %d %v", code, body)
		}
		if code, body := w.send(base, http.MethodGet, read, patchTok, patcher); code != 200 {
			t.Fatalf("other agent: %d %v", code, body)
		}
		for _, who := range []struct {
			tok  string
			name string
		}{{planTok, "planner"}, {patchTok, "patcher"}} {
			code, body, hdr := w.sendH(base, http.MethodGet, read, who.tok, w.agents[who.name].key)
			if code != 503 || body["error"] != "temporarily_unavailable" || body["reason"] != "replay_cache_unavailable" || hdr.Get("Retry-After") == "" {
				t.Fatalf("%s with the cache full: %d %v %v", who.name, code, body, hdr)
			}
		}
	})
}

// TestRestartReopensNoReplayWindow: a proof and a one-time
// token accepted by an enforcer are refused by the enforcer that replaces
// it (a restart: a new memory replay cache) — the proof with
// use_dpop_nonce and a DPoP-Nonce, the token as replay_window_reset —
// while a fresh proof carrying that nonce is accepted and the agent's new
// token works once the window has passed. Without the guard, both
// replays are accepted (the hole).
func TestRestartReopensNoReplayWindow(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	planTok := w.grant("planner", run, "plan")
	w.complete("planner", run, "plan", planTok)
	patcher := w.agents["patcher"].key
	read, pulls := "/repos/acme/web/contents/go.mod", "/repos/acme/web/pulls"
	// Scaled down: 1 s of future skew and leeway instead of 5 s.
	const skew = time.Second
	guard := []middleware.Option{middleware.WithRestartGuard(skew), middleware.WithLeeway(skew)}

	before, enf := w.withCacheEnf(dpop.NewMemoryReplayCache(100, nil), guard...)
	// Once the first enforcer's own epoch window has passed, the token
	// and proofs below are accepted once.
	if err := enf.WaitReplayWindow(context.Background()); err != nil {
		t.Fatal(err)
	}
	patchTok := w.grant("patcher", run, "patch")
	readProof, _ := dpop.NewProof(patcher, http.MethodGet, before+read, dpop.ProofOptions{AccessToken: patchTok})
	pullProof, _ := dpop.NewProof(patcher, http.MethodPost, before+pulls, dpop.ProofOptions{AccessToken: patchTok})
	for _, c := range []struct{ method, path, proof string }{{http.MethodGet, read, readProof}, {http.MethodPost, pulls, pullProof}} {
		if code, body, _ := w.call(c.method, before+c.path, "DPoP "+patchTok, nil, http.Header{"Dpop": {c.proof}}); code != 200 {
			t.Fatalf("%s before the restart: %d %v", c.path, code, body)
		}
	}

	// The restarted enforcer is reached at the same URL the proofs name:
	// public_url makes the htu match.
	restart := func(guarded bool) *httptest.Server {
		opts := []middleware.Option{middleware.WithReplayCache(dpop.NewMemoryReplayCache(100, nil)), middleware.WithoutRevocationFeed()}
		if guarded {
			opts = append(opts, guard...)
		}
		pol, _ := policyfile.Parse([]byte(strings.ReplaceAll(policyYAML, "ISSUER", w.idp.URL) + "public_url: " + before + "\n"))
		enf, err := middleware.New(context.Background(), pol, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(enf.Close)
		srv := httptest.NewServer(enf.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
		t.Cleanup(srv.Close)
		return srv
	}
	replay := func(base, method, path, proof string) (int, map[string]any, http.Header) {
		return w.call(method, base+path, "DPoP "+patchTok, nil, http.Header{"Dpop": {proof}})
	}

	t.Run("without the guard the replays pass", func(t *testing.T) {
		base := restart(false).URL
		if code, _, _ := replay(base, http.MethodGet, read, readProof); code != 200 {
			t.Fatalf("replayed proof without the guard: %d", code)
		}
		if code, body, _ := replay(base, http.MethodPost, pulls, pullProof); code != 200 {
			t.Fatalf("one-time token without the guard: %d %v", code, body)
		}
	})
	t.Run("with the guard", func(t *testing.T) {
		base := restart(true).URL
		code, body, hdr := replay(base, http.MethodGet, read, readProof)
		nonce := hdr.Get("DPoP-Nonce")
		if code != 401 || body["error"] != "use_dpop_nonce" || body["reason"] != "replay_window_reset" || nonce == "" ||
			!strings.Contains(hdr.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
			t.Fatalf("replayed proof: %d %v %v", code, body, hdr)
		}
		fresh, _ := dpop.NewProof(patcher, http.MethodGet, before+read, dpop.ProofOptions{AccessToken: patchTok, Nonce: nonce})
		if code, body, _ := replay(base, http.MethodGet, read, fresh); code != 200 {
			t.Fatalf("fresh proof with the nonce: %d %v", code, body)
		}
		withNonce, _ := dpop.NewProof(patcher, http.MethodPost, before+pulls, dpop.ProofOptions{AccessToken: patchTok, Nonce: nonce})
		if code, body, _ := replay(base, http.MethodPost, pulls, withNonce); code != 401 || body["error"] != "invalid_token" || body["reason"] != "replay_window_reset" {
			t.Fatalf("one-time token issued before the restart: %d %v", code, body)
		}
	})
}
