package redisx

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/token"
)

// api is an enforcer in front of a handler that answers 200: GET
// /repos/{owner}/{repo} for repo:read, and POST .../pulls once per token.
type api struct {
	t      *testing.T
	issuer *token.Issuer
	agent  *keys.Signer
	ks     token.KeySource
}

const apiURL = "http://api.example"

func newAPI(t *testing.T) *api {
	issuerKey, _ := keys.Generate(keys.ES256, nil)
	agent, _ := keys.Generate(keys.EdDSA, nil)
	iss, err := token.NewIssuer("https://idp.example", issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}})
	return &api{t: t, issuer: iss, agent: agent, ks: ks}
}

// enforcer is one node (a proxy) using cache, with the restart guard
// scaled down to 1 s of future skew and leeway.
func (a *api) enforcer(cache dpop.ReplayCache) *middleware.Enforcer {
	pol, err := policy.Compile(policy.Rules{Issuer: "https://idp.example", Resource: apiURL, Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}"}, Scopes: []string{"repo:read"}},
		{Match: policy.MatchRule{Method: "POST", Path: "/repos/{owner}/{repo}/pulls"}, Scopes: []string{"repo:read"}, OneTime: true}}})
	if err != nil {
		a.t.Fatal(err)
	}
	enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(a.ks), middleware.WithoutRevocationFeed(),
		middleware.WithReplayCache(cache), middleware.WithRestartGuard(time.Second), middleware.WithLeeway(time.Second))
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(enf.Close)
	return enf
}

func (a *api) token() string {
	now := time.Now()
	chain := []string{"planner"}
	tok, err := a.issuer.Mint(&token.Claims{Subject: "planner", Audience: token.Audience{apiURL}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), ID: "jti-" + now.Format(time.RFC3339Nano), Scope: "repo:read",
		Cnf:        &token.Confirmation{JKT: a.agent.Thumbprint()},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000", RegistrationID: "r", Version: 1},
		Intent: &token.Intent{WorkflowID: "wf", WorkflowVersion: 1, RunID: "run", WorkflowStep: "plan", ExecutedBy: "planner",
			DelegationChain: chain, DelegationChainHash: token.ChainHash(chain), StepSequenceHash: token.StepSequenceHash(nil, "plan"),
			CompletedSteps: []string{}, ExecutionContext: map[string]string{"repo": "acme/web"}}})
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

func (a *api) proof(method, path, tok, nonce string) string {
	p, err := dpop.NewProof(a.agent, method, apiURL+path, dpop.ProofOptions{AccessToken: tok, Nonce: nonce})
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

type answer struct {
	code   int
	header http.Header
	body   map[string]string
	raw    string
}

func send(enf *middleware.Enforcer, method, path, tok, proof string) answer {
	r := httptest.NewRequest(method, apiURL+path, nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", proof)
	rec := httptest.NewRecorder()
	enf.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, r)
	a := answer{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &a.body)
	return a
}

const (
	read  = "/repos/acme/web"
	pulls = "/repos/acme/web/pulls"
)

// replayAfterLoss: a proof and a one-time token accepted before Redis
// lost its data (lose) are refused afterwards at either node — the proof
// with use_dpop_nonce and the new epoch's nonce, which both nodes share,
// the token as replay_window_reset — and a fresh proof with the nonce is
// accepted at the other node.
func replayAfterLoss(t *testing.T, rdb *redis.Client, prefix string, lose func()) {
	a := newAPI(t)
	nodeA, nodeB := a.enforcer(NewReplayCache(rdb, prefix)), a.enforcer(NewReplayCache(rdb, prefix))
	if err := nodeA.WaitReplayWindow(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := a.token()
	readProof, pullProof := a.proof("GET", read, tok, ""), a.proof("POST", pulls, tok, "")
	for _, c := range []struct{ method, path, proof string }{{"GET", read, readProof}, {"POST", pulls, pullProof}} {
		if got := send(nodeA, c.method, c.path, tok, c.proof); got.code != 200 {
			t.Fatalf("%s before the loss: %d %s", c.path, got.code, got.raw)
		}
	}
	if got := send(nodeB, "GET", read, tok, readProof); got.code != 401 || got.body["reason"] != "replayed_proof" {
		t.Fatalf("replay at the other node before the loss: %d %s", got.code, got.raw)
	}
	lose()
	got := send(nodeB, "GET", read, tok, readProof)
	nonce := got.header.Get("DPoP-Nonce")
	if got.code != 401 || got.body["error"] != "use_dpop_nonce" || got.body["reason"] != "replay_window_reset" || nonce == "" {
		t.Fatalf("replay after the loss: %d %v %s", got.code, got.header, got.raw)
	}
	if got := send(nodeA, "GET", read, tok, a.proof("GET", read, tok, nonce)); got.code != 200 {
		t.Fatalf("fresh proof with the nonce at the other node: %d %s", got.code, got.raw)
	}
	if got := send(nodeA, "POST", pulls, tok, a.proof("POST", pulls, tok, nonce)); got.code != 401 || got.body["reason"] != "replay_window_reset" {
		t.Fatalf("one-time token after the loss: %d %s", got.code, got.raw)
	}
}

func TestReplayAfterRedisLossMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	replayAfterLoss(t, rdb, "ajwt:proxy-replay:", mr.FlushAll)
}

// TestReplayAfterRedisLossRealRedis: the same against the machine's Redis;
// the loss is every key under the test's own prefix deleted (the shared
// Redis is never flushed).
func TestReplayAfterRedisLossRealRedis(t *testing.T) {
	url := os.Getenv("AJWT_TEST_REDIS")
	if url == "" {
		t.Skip("SKIPPED: AJWT_TEST_REDIS is not set; the replay epoch was NOT tested against a real Redis")
	}
	rdb, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	prefix := "ajwt-test-epoch:" + time.Now().Format("150405.000000") + ":"
	lose := func() {
		keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("keys under %s: %v %v", prefix, keys, err)
		}
		if err := rdb.Del(context.Background(), keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	replayAfterLoss(t, rdb, prefix, lose)
}

// TestRedisDownAnswers503: with Redis unreachable the
// enforcer answers 503 temporarily_unavailable with Retry-After, and
// nothing of the failure (address, dial error) reaches the client.
func TestRedisDownAnswers503(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	a := newAPI(t)
	enf := a.enforcer(NewReplayCache(rdb, "ajwt:proxy-replay:"))
	if err := enf.WaitReplayWindow(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := a.token()
	addr := mr.Addr()
	mr.Close()
	for _, c := range []struct{ method, path string }{{"GET", read}, {"POST", pulls}} {
		got := send(enf, c.method, c.path, tok, a.proof(c.method, c.path, tok, ""))
		if got.code != 503 || got.body["error"] != "temporarily_unavailable" || got.body["reason"] != "replay_cache_unavailable" ||
			got.header.Get("Retry-After") == "" || strings.Contains(got.raw, addr) || strings.Contains(strings.ToLower(got.raw), "dial") ||
			strings.Contains(strings.ToLower(got.raw), "redis") || got.header.Get("WWW-Authenticate") != "" {
			t.Fatalf("%s with Redis down: %d %v %s", c.path, got.code, got.header, got.raw)
		}
	}
}
