package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

func intentClaims(sub string, chain []string, version int, iat int64) *token.Claims {
	return &token.Claims{Subject: sub, ClientID: "app", IssuedAt: iat, ExpiresAt: iat + 300, ID: "jti-" + sub,
		Cnf:        &token.Confirmation{JKT: "thumbprint"},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:00", RegistrationID: "reg", Version: version},
		Intent:     &token.Intent{ExecutedBy: sub, DelegationChain: chain, RunID: "run-1", WorkflowStep: "patch"}}
}

func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	_, wire := protocol.Wire(err)
	return wire.Reason
}

// TestRevokedAgentRefusesEveryToken: an agent entry (§8, §9) refuses every
// intent token that names the agent as subject or anywhere in its
// delegation chain, whatever the token's iat (agent revocation is
// permanent), and never a client token, whose subject is a client id.
func TestRevokedAgentRefusesEveryToken(t *testing.T) {
	now := time.Now()
	at := now.Add(-time.Minute).Unix()
	r := middleware.NewRevocations("http://unused.example/feed", nil, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	r.Add([]middleware.FeedEntry{{Type: "agent", ID: "supervisor", At: at}, {Type: "agent", ID: "patcher", At: at}})
	clientToken := &token.Claims{Subject: "patcher", ClientID: "patcher", IssuedAt: at - 10, ID: "cc", Cnf: &token.Confirmation{JKT: "thumbprint"}}
	tests := []struct {
		name   string
		claims *token.Claims
		reason string
	}{
		{"subject revoked, token older", intentClaims("patcher", []string{"patcher"}, 1, at-10), protocol.ReasonAgentRevoked},
		{"subject revoked, token issued after", intentClaims("patcher", []string{"patcher"}, 1, at+30), protocol.ReasonAgentRevoked},
		{"delegator revoked", intentClaims("planner", []string{"supervisor", "planner"}, 1, at+30), protocol.ReasonAgentRevoked},
		{"middle of the chain revoked", intentClaims("reviewer", []string{"lead", "supervisor", "reviewer"}, 1, at+30), protocol.ReasonAgentRevoked},
		{"no agent of the chain revoked", intentClaims("planner", []string{"lead", "planner"}, 1, at-10), ""},
		{"DPoP-bound client token of a client named like the agent", clientToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(r.Check(tt.claims)); got != tt.reason {
				t.Fatalf("reason %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestReRegistrationRevokesOlderVersions: an agent entry with a version
// revokes the agent's tokens of that registration version and older
// (token_revoked), keeps the highest version seen, coexists with a
// revoked-agent entry, and is forgotten after the longest token lifetime.
func TestReRegistrationRevokesOlderVersions(t *testing.T) {
	now := time.Now()
	at := now.Unix()
	r := middleware.NewRevocations("http://unused.example/feed", nil, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	r.Add([]middleware.FeedEntry{{Type: "agent", ID: "patcher", At: at, Version: 2}, {Type: "agent", ID: "patcher", At: at, Version: 1}})
	r.Add([]middleware.FeedEntry{{Type: "agent", ID: "planner", At: at, Version: 3}, {Type: "agent", ID: "planner", At: at}})
	tests := []struct {
		name   string
		claims *token.Claims
		reason string
	}{
		{"older registration", intentClaims("patcher", []string{"patcher"}, 1, at+5), protocol.ReasonTokenRevoked},
		{"the re-registered version", intentClaims("patcher", []string{"patcher"}, 2, at+5), protocol.ReasonTokenRevoked},
		{"the new registration", intentClaims("patcher", []string{"patcher"}, 3, at-5), ""},
		{"a delegator's re-registration is not the token's", intentClaims("supervisor", []string{"patcher", "supervisor"}, 1, at+5), ""},
		{"revoked agent with a version entry too", intentClaims("planner", []string{"planner"}, 4, at+5), protocol.ReasonAgentRevoked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(r.Check(tt.claims)); got != tt.reason {
				t.Fatalf("reason %q, want %q", got, tt.reason)
			}
		})
	}
	t.Run("description says re-registered", func(t *testing.T) {
		_, wire := protocol.Wire(r.Check(intentClaims("patcher", []string{"patcher"}, 2, at)))
		if !strings.Contains(wire.Description, "re-registered") {
			t.Fatalf("description %q", wire.Description)
		}
	})
	t.Run("forgotten after the longest token lifetime", func(t *testing.T) {
		clock := now
		r := middleware.NewRevocations("http://unused.example/feed", nil, func() time.Time { return clock }, slog.New(slog.DiscardHandler))
		r.Add([]middleware.FeedEntry{{Type: "agent", ID: "patcher", At: at, Version: 2}})
		clock = now.Add(time.Hour + 2*time.Minute)
		r.Add(nil)
		if err := r.Check(intentClaims("patcher", []string{"patcher"}, 2, at)); err != nil {
			t.Fatalf("entry kept past its lifetime: %v", err)
		}
	})
}

// logRecorder keeps the records a logger writes.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}

func (l *logRecorder) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Level == level {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds; the deadline only bounds a broken run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFeedLongPollOutlastsClientTimeout: with a real IdP that long-polls
// longer than the HTTP client's timeout (which still bounds JWKS and
// metadata requests), every feed read succeeds. Scaled down: a 300 ms
// client timeout against a 1 s wait stands for 10 s against 25 s.
func TestFeedLongPollOutlastsClientTimeout(t *testing.T) {
	idp := idptest.Start(t, idptest.Config)
	pol, err := policy.Compile(policy.Rules{Issuer: idp.URL, Resource: "https://forge.example"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logRecorder{}
	enf, err := middleware.New(context.Background(), pol, middleware.WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}),
		middleware.WithRevocationFeedWait(time.Second), middleware.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	defer enf.Close()
	start := enf.Revocations().Health().LastSync
	if start.IsZero() {
		t.Fatalf("initial sync failed: %v", enf.Revocations().Health().LastError)
	}
	// Two long polls that each outlasted the client timeout.
	waitFor(t, "two long polls", func() bool {
		h := enf.Revocations().Health()
		if h.Failures > 0 {
			t.Fatalf("feed read failed: %v", h.LastError)
		}
		return h.LastSync.Sub(start) >= 2*time.Second
	})
	if n := logs.count(slog.LevelWarn); n != 0 {
		t.Fatalf("%d warnings from a healthy feed", n)
	}
}

// TestFeedFailureStreak: a feed that fails several times in a row is
// logged once when it starts failing and once when it answers again, the
// health reports the streak, and the entries read afterwards apply (the
// version member of a re-registration included).
func TestFeedFailureStreak(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var served atomic.Int64
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if served.Add(1) == 1 {
			io.WriteString(w, `{"cursor":"1","revoked":[{"type":"agent","id":"patcher","at":1,"version":2}]}`)
			return
		}
		if r.URL.Query().Get("wait") != "0" {
			select { // long poll with nothing new
			case <-time.After(time.Second):
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, `{"cursor":"1","revoked":[]}`)
	}))
	defer feed.Close()
	logs := &logRecorder{}
	r := middleware.NewRevocations(feed.URL, feed.Client(), time.Now, slog.New(logs))
	r.Wait = time.Second
	stop := r.Follow(context.Background())
	defer stop()
	waitFor(t, "three failed reads", func() bool { return r.Health().Failures >= 3 })
	if h := r.Health(); h.LastError == nil || !h.LastSync.IsZero() {
		t.Fatalf("health during the outage: %+v", h)
	}
	failing.Store(false)
	waitFor(t, "recovery", func() bool { return r.Health().Failures == 0 })
	stop()
	if w, i := logs.count(slog.LevelWarn), logs.count(slog.LevelInfo); w != 1 || i != 1 {
		t.Fatalf("%d warnings and %d infos for one outage, want 1 and 1", w, i)
	}
	if got := reasonOf(r.Check(intentClaims("patcher", []string{"patcher"}, 2, time.Now().Unix()))); got != protocol.ReasonTokenRevoked {
		t.Fatalf("token of the replaced registration: reason %q", got)
	}
}

// TestClientEntryRevokesTokensUpToAt: a client entry (§9) refuses every
// token the client obtained at or before its time, intent and legacy
// alike, a token of the same second included; later tokens and other
// clients' tokens pass, and a second entry for the client keeps the later
// time whatever order the entries arrive in.
func TestClientEntryRevokesTokensUpToAt(t *testing.T) {
	now := time.Now()
	at := now.Add(-time.Minute).Unix()
	r := middleware.NewRevocations("http://unused.example/feed", nil, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	r.Add([]middleware.FeedEntry{{Type: "client", ID: "app", At: at}, {Type: "client", ID: "other", At: at + 20}})
	r.Add([]middleware.FeedEntry{{Type: "client", ID: "other", At: at}})
	legacy := func(client string, iat int64) *token.Claims {
		return &token.Claims{Subject: client, ClientID: client, IssuedAt: iat, ExpiresAt: iat + 300, ID: "cc-" + client}
	}
	otherIntent := intentClaims("planner", []string{"planner"}, 1, at+10)
	otherIntent.ClientID = "other"
	tests := []struct {
		name   string
		claims *token.Claims
		reason string
	}{
		{"intent token issued before", intentClaims("planner", []string{"planner"}, 1, at-30), protocol.ReasonClientRevoked},
		{"intent token of the same second", intentClaims("planner", []string{"planner"}, 1, at), protocol.ReasonClientRevoked},
		{"intent token issued after", intentClaims("planner", []string{"planner"}, 1, at+1), ""},
		{"legacy token issued before", legacy("app", at-1), protocol.ReasonClientRevoked},
		{"legacy token issued after", legacy("app", at+1), ""},
		{"another client's token", legacy("third", at-1), ""},
		{"later entry kept though it arrived first", otherIntent, protocol.ReasonClientRevoked},
		{"after the later entry", legacy("other", at+21), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(r.Check(tt.claims)); got != tt.reason {
				t.Fatalf("reason %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestRunEntryRevokesTokensUpToAt: a run entry refuses the run's tokens
// issued at or before it (the same second included), not later ones, and
// keeps the later time of two entries whatever their order.
func TestRunEntryRevokesTokensUpToAt(t *testing.T) {
	now := time.Now()
	at := now.Add(-time.Minute).Unix()
	r := middleware.NewRevocations("http://unused.example/feed", nil, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	r.Add([]middleware.FeedEntry{{Type: "run", ID: "run-1", At: at + 20}, {Type: "run", ID: "run-1", At: at}})
	for _, tt := range []struct {
		name   string
		iat    int64
		reason string
	}{
		{"before the earlier entry", at - 1, protocol.ReasonRunRevoked},
		{"same second as the later entry", at + 20, protocol.ReasonRunRevoked},
		{"after the later entry", at + 21, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := reasonOf(r.Check(intentClaims("planner", []string{"planner"}, 1, tt.iat))); got != tt.reason {
				t.Fatalf("reason %q, want %q", got, tt.reason)
			}
		})
	}
}

// TestClientRevocationThroughFeed: a client entry the IdP's store holds
// (as its §9 client revocation writes it) reaches the enforcer through the
// real feed and refuses the client's legacy and intent tokens obtained
// before it, at the middleware and at the proxy; a token the client
// obtains afterwards is accepted.
func TestClientRevocationThroughFeed(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	intent := w.grant("planner", run, "plan")
	legacy := w.clientToken("app", "app-secret", "https://forge.example")
	planner := w.agents["planner"].key
	read := "/repos/acme/web/contents/go.mod"
	if code, body := w.send(w.api.URL, http.MethodGet, read, intent, planner); code != 200 {
		t.Fatalf("before the revocation: %d %v", code, body)
	}
	// The revocation's second must follow the tokens' iat: tokens of the
	// same second count as obtained before it.
	at := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at))
	err := w.store.Update(context.Background(), func(tx store.Tx) error {
		return tx.AddRevocation(context.Background(), &store.Revocation{Type: store.RevokedClient, ID: "app", At: at, Expires: at.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client entry", func() bool {
		code, body := w.send(w.api.URL, http.MethodGet, read, intent, planner)
		return code == 401 && body["reason"] == protocol.ReasonClientRevoked
	})
	if code, body := w.send(w.prx.URL, http.MethodGet, read, intent, planner); code != 401 || body["reason"] != protocol.ReasonClientRevoked {
		t.Fatalf("intent token at the proxy: %d %v", code, body)
	}
	for _, base := range []string{w.api.URL, w.prx.URL} {
		if code, body, _ := w.call(http.MethodGet, base+"/legacy/x", "Bearer "+legacy, nil, nil); code != 401 || body["reason"] != protocol.ReasonClientRevoked {
			t.Fatalf("legacy token at %s: %d %v", base, code, body)
		}
	}
	time.Sleep(time.Until(at.Add(time.Second)))
	fresh := w.clientToken("app", "app-secret", "https://forge.example")
	if code, body, _ := w.call(http.MethodGet, w.api.URL+"/legacy/x", "Bearer "+fresh, nil, nil); code != 200 {
		t.Fatalf("token obtained after the revocation: %d %v", code, body)
	}
}
