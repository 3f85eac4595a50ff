package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"pgregory.net/rapid"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// The HTTP side of the run-state machine property: one real server shared
// by every sequence (each sequence registers its own agents and workflows
// under fresh ids), the requests the actions send, and an enforcer's view
// of the revocation feed.

const (
	tenantA      = "tenant-a"
	tenantB      = "tenant-b"
	approverA    = "approver-a"    // approves_for: [tenant-a]
	approverAB   = "approver-ab"   // approves_for: [tenant-a, tenant-b]
	approverNone = "approver-none" // no approves_for: approves nothing
	smAudience   = "https://forge.example"
)

// smApprovesFor is the approver configuration below, for the model.
var smApprovesFor = map[string][]string{approverA: {tenantA}, approverAB: {tenantA, tenantB}, approverNone: nil}

// Rate limits are out of the way: sequences send many refused grants on
// purpose, and the fake clock barely moves.
const smConfig = `
issuer: ISSUER
signing_alg: EdDSA
token_ttl: 300s
failed_grants_per_minute: 1000000
token_requests_per_second: 1000000
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: tenant-a, client_secret: tenant-a-secret, scopes: [ajwt:run]}
  - {client_id: tenant-b, client_secret: tenant-b-secret, scopes: [ajwt:run]}
  - {client_id: approver-a, client_secret: approver-a-secret, scopes: [ajwt:approve], approves_for: [tenant-a]}
  - {client_id: approver-ab, client_secret: approver-ab-secret, scopes: [ajwt:approve], approves_for: [tenant-a, tenant-b]}
  - {client_id: approver-none, client_secret: approver-none-secret, scopes: [ajwt:approve]}
`

// smServer is the server under test and the test's HTTP client of it.
type smServer struct {
	h    *harness // ts, issuer, clock and srv; its *testing.T helpers are not used from rapid
	hc   *http.Client
	seqs atomic.Int64

	mu     sync.Mutex
	tokens map[string]cachedToken // client_credentials tokens by client
	stats  map[string]int         // what the sequences exercised, for the log

	feed *feedView
}

// count notes that a sequence exercised what.
func (s *smServer) count(what string) {
	s.mu.Lock()
	s.stats[what]++
	s.mu.Unlock()
}

// logStats reports what the sequences exercised, and forgets it.
func (s *smServer) logStats(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s.stats)) {
		fmt.Fprintf(&b, "\n  %6d  %s", s.stats[k], k)
	}
	t.Logf("exercised:%s", b.String())
	clear(s.stats)
}

type cachedToken struct {
	bearer string
	at     time.Time
}

// newSMServer starts a server on the store open makes with the server's
// clock (closed at the end of the test).
func newSMServer(t *testing.T, open func(now func() time.Time) (store.Store, error)) *smServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	st, err := open(clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, issuer: "http://" + ln.Addr().String(), clock: clock, st: st}
	cfg, err := ParseConfig([]byte(strings.ReplaceAll(smConfig, "ISSUER", h.issuer)))
	if err != nil {
		t.Fatal(err)
	}
	h.srv, err = New(t.Context(), cfg, st, Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.ts = &httptest.Server{Listener: ln, Config: &http.Server{Handler: h.srv.Handler()}}
	h.ts.Start()
	t.Cleanup(func() { h.ts.Close(); h.srv.Close(); st.Close() })
	return &smServer{h: h, hc: h.ts.Client(), tokens: map[string]cachedToken{}, stats: map[string]int{}, feed: newFeedView()}
}

// smResp is a decoded answer.
type smResp struct {
	status int
	body   map[string]any
	raw    []byte
}

func (r *smResp) str(k string) string { s, _ := r.body[k].(string); return s }

// String is what failure messages show: status, error and reason, the
// same from one replay of a sequence to the next (rapid shrinks only
// failures whose message does not change).
func (r *smResp) String() string {
	if r.status/100 == 2 {
		return strconv.Itoa(r.status)
	}
	return fmt.Sprintf("%d %s/%s", r.status, r.str("error"), r.str("reason"))
}

// full is the answer for the log.
func (r *smResp) full() string {
	raw := string(r.raw)
	if len(raw) > 300 {
		raw = raw[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(raw))
}

func (s *smServer) send(t rapid.TB, req *http.Request) *smResp {
	t.Helper()
	res, err := s.sendRaw(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return res
}

// sendRaw is send for other goroutines than the test's.
func (s *smServer) sendRaw(req *http.Request) (*smResp, error) {
	res, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	out := &smResp{status: res.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out, err
}

func (s *smServer) formRequest(path, client string, v url.Values, hdr http.Header) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, s.h.issuer+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, client+"-secret")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return req
}

func (s *smServer) jsonRequest(method, path, auth string, body any, hdr http.Header) *http.Request {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.h.issuer+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return req
}

func (s *smServer) call(t rapid.TB, method, path, auth string, body any) *smResp {
	t.Helper()
	return s.send(t, s.jsonRequest(method, path, auth, body, nil))
}

// bearer returns a client_credentials token of client, renewed well before
// it expires on the fake clock.
func (s *smServer) bearer(t rapid.TB, client string) string {
	t.Helper()
	now := s.h.clock.Now()
	s.mu.Lock()
	c, ok := s.tokens[client]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < 200*time.Second {
		return c.bearer
	}
	res := s.send(t, s.formRequest("/token", client, url.Values{"grant_type": {"client_credentials"}}, nil))
	if res.status != http.StatusOK {
		t.Fatalf("client_credentials for %s: %s", client, res)
	}
	c = cachedToken{bearer: "Bearer " + res.str("access_token"), at: now}
	s.mu.Lock()
	s.tokens[client] = c
	s.mu.Unlock()
	return c.bearer
}

func (s *smServer) proof(t rapid.TB, key *keys.Signer, method, path, accessToken string) http.Header {
	t.Helper()
	p, err := dpop.NewProof(key, method, s.h.issuer+path, dpop.ProofOptions{AccessToken: accessToken, Now: s.h.clock.Now()})
	if err != nil {
		t.Fatalf("proof: %v", err)
	}
	return http.Header{"Dpop": {p}}
}

// assertion signs a §6.3 delegation assertion with key.
func (s *smServer) assertion(t rapid.TB, key *keys.Signer, iss, sub, runID, step string) string {
	t.Helper()
	signer, err := key.JOSE(protocol.TypeDelegation, nil)
	if err != nil {
		t.Fatalf("assertion signer: %v", err)
	}
	now := s.h.clock.Now()
	raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": iss, "sub": sub, "aud": s.h.issuer, "run_id": runID,
		"workflow_step": step, "iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": newID()}).Serialize()
	if err != nil {
		t.Fatalf("assertion: %v", err)
	}
	return raw
}

// grantRequest builds the agent_checksum grant g.
func (s *smServer) grantRequest(t rapid.TB, g *grantReq) *http.Request {
	t.Helper()
	sum, key := g.agent.cred.sum, g.agent.cred.key
	if g.staleSum {
		sum = g.agent.stale.sum
	}
	if g.staleKey {
		key = g.agent.stale.key
	}
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {g.agent.id}, "agent_checksum": {string(sum)},
		"run_id": {g.run.id}, "workflow_step": {g.step}}
	if d := g.delegator; d != nil {
		dk := d.cred.key
		if g.staleDel {
			dk = d.stale.key
		}
		v.Set("delegation_assertion", s.assertion(t, dk, d.id, g.agent.id, g.run.id, g.step))
	}
	return s.formRequest("/token", g.client, v, s.proof(t, key, http.MethodPost, "/token", ""))
}

func (s *smServer) completeRequest(t rapid.TB, tok *smToken, runID, step string) *http.Request {
	t.Helper()
	path := "/v1/runs/" + runID + "/steps/" + step + "/complete"
	return s.jsonRequest(http.MethodPost, path, "DPoP "+tok.raw, nil, s.proof(t, tok.key, http.MethodPost, path, tok.raw))
}

// introspect asks the server whether raw is active (§9, RFC 7662).
func (s *smServer) introspect(t rapid.TB, client, raw string) bool {
	t.Helper()
	res := s.send(t, s.formRequest("/introspect", client, url.Values{"token": {raw}}, nil))
	if res.status != http.StatusOK {
		t.Fatalf("introspect: %s", res)
	}
	active, _ := res.body["active"].(bool)
	return active
}

// claims verifies a token the server issued, with the server's own keys.
func (s *smServer) claims(t rapid.TB, raw string) *token.Claims {
	t.Helper()
	c, err := s.h.srv.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	return c
}
