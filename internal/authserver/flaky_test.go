package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// errFlaky is what a store or Redis says when it cannot be reached; the
// address must never reach a client.
var errFlaky = errors.New("dial tcp 10.9.8.7:5432: connect: connection refused")

// flakyStore is the real store with failures the test switches on: the
// whole transaction ("begin": the database cannot be reached) or single
// reads inside one ("Agent", "AgentForShare", "Agent:<id>" for both,
// "Run", "Token", "Tokens", "SigningKeys", "TokenStanding", which also
// fails with "Agent", "Run" and "Token": a connection lost
// mid-transaction).
type flakyStore struct {
	store.Store
	mu   sync.Mutex
	fail map[string]bool
}

func (f *flakyStore) set(what ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = map[string]bool{}
	for _, w := range what {
		f.fail[w] = true
	}
}

func (f *flakyStore) failing(what ...string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range what {
		if f.fail[w] {
			return true
		}
	}
	return false
}

func (f *flakyStore) View(ctx context.Context, fn func(store.Tx) error) error {
	if f.failing("begin") {
		return errFlaky
	}
	return f.Store.View(ctx, func(tx store.Tx) error { return fn(&flakyTx{Tx: tx, f: f}) })
}

func (f *flakyStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if f.failing("begin") {
		return errFlaky
	}
	return f.Store.Update(ctx, func(tx store.Tx) error { return fn(&flakyTx{Tx: tx, f: f}) })
}

type flakyTx struct {
	store.Tx
	f *flakyStore
}

func (t *flakyTx) Agent(ctx context.Context, id string) (*store.Agent, error) {
	if t.f.failing("Agent", "Agent:"+id) {
		return nil, errFlaky
	}
	return t.Tx.Agent(ctx, id)
}

func (t *flakyTx) AgentForShare(ctx context.Context, id string) (*store.Agent, error) {
	if t.f.failing("AgentForShare", "Agent:"+id) {
		return nil, errFlaky
	}
	return t.Tx.AgentForShare(ctx, id)
}

func (t *flakyTx) Run(ctx context.Context, id string) (*store.Run, error) {
	if t.f.failing("Run") {
		return nil, errFlaky
	}
	return t.Tx.Run(ctx, id)
}

func (t *flakyTx) Token(ctx context.Context, jti string) (*store.Token, error) {
	if t.f.failing("Token") {
		return nil, errFlaky
	}
	return t.Tx.Token(ctx, jti)
}

// TokenStanding reads a token with its agent and run: it fails with any
// of those reads.
func (t *flakyTx) TokenStanding(ctx context.Context, jti string) (*store.TokenStanding, error) {
	if t.f.failing("TokenStanding", "Token", "Agent", "Run") {
		return nil, errFlaky
	}
	return t.Tx.TokenStanding(ctx, jti)
}

func (t *flakyTx) Tokens(ctx context.Context, f store.TokenFilter) ([]*store.Token, error) {
	if t.f.failing("Tokens") {
		return nil, errFlaky
	}
	return t.Tx.Tokens(ctx, f)
}

func (t *flakyTx) SigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	if t.f.failing("SigningKeys") {
		return nil, errFlaky
	}
	return t.Tx.SigningKeys(ctx)
}

// flakyCache is a replay cache whose Redis cannot be reached.
type flakyCache struct{}

func (flakyCache) Use(context.Context, dpop.Entry) (bool, dpop.Epoch, error) {
	return false, dpop.Epoch{}, errFlaky
}

func (flakyCache) Epoch(context.Context) (dpop.Epoch, error) { return dpop.Epoch{}, errFlaky }

// newFlakyHarness is newHarness over a flakyStore whose clock (UseOnce
// expiry) is the harness's fake clock.
func newFlakyHarness(t *testing.T, config string, opts Options) (*harness, *flakyStore) {
	t.Helper()
	h, db := newHarnessOver(t, config, opts, func(now func() time.Time) store.Store {
		st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ajwt.db"), sqlstore.Options{Synchronous: "NORMAL", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return &flakyStore{Store: st}
	})
	return h, db.(*flakyStore)
}

// serveForm posts a form to srv's handler directly: another node of the
// deployment, reached without a listener of its own.
func serveForm(t *testing.T, srv *Server, path string, v url.Values, hdr http.Header) *response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	out := &response{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(out.raw, &out.body)
	return out
}

// wantUnavailable: a dependency failure is 503 temporarily_unavailable
// with Retry-After, and nothing of the cause on the wire.
func wantUnavailable(t *testing.T, res *response) {
	t.Helper()
	wantError(t, res, http.StatusServiceUnavailable, "temporarily_unavailable")
	if res.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %s", res.raw)
	}
	if s := string(res.raw); strings.Contains(s, "10.9.8.7") || strings.Contains(s, "dial") {
		t.Fatalf("the cause reached the client: %s", s)
	}
}
