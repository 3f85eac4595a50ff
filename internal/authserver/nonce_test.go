package authserver

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/protocol"
)

// TestDPoPNonceSharedByNodes: with nonces required and requests spread
// over nodes, a nonce one node hands out is accepted by another (and by a
// node started later): every node derives it from one key in the store.
func TestDPoPNonceSharedByNodes(t *testing.T) {
	for name, kind := range storeKinds(t) {
		t.Run(name, func(t *testing.T) {
			open := kind(t)
			h, _ := newHarnessOver(t, testConfig+"dpop_require_nonce: true\n", Options{}, open)
			b := otherNode(t, h, name, open)
			h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
			a := h.agents["solo"]
			form := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"solo"}, "agent_checksum": {string(a.sum)}}
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+secrets["app"]))
			withNonce := func(nonce string) http.Header {
				p, err := dpop.NewProof(a.key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{Nonce: nonce, Now: h.clock.Now()})
				if err != nil {
					t.Fatal(err)
				}
				return http.Header{"Dpop": {p}, "Authorization": {basic}}
			}

			res := h.grant("app", "solo", "", "", nil)
			wantError(t, res, 400, protocol.CodeUseDPoPNonce)
			nonce := res.header.Get("DPoP-Nonce")
			if nonce == "" {
				t.Fatal("no DPoP-Nonce from node A")
			}
			res = serveForm(t, b, "/token", form, withNonce(nonce))
			if res.status != 200 {
				t.Fatalf("node B refused node A's nonce: %d %s", res.status, res.raw)
			}
			if got := res.header.Get("DPoP-Nonce"); got != nonce {
				t.Fatalf("node B hands out %q, node A %q", got, nonce)
			}
			later := otherNode(t, h, name, open)
			h.clock.Advance(noncePeriod * time.Second) // the previous window's nonce still passes
			if res := serveForm(t, later, "/token", form, withNonce(nonce)); res.status != 200 {
				t.Fatalf("a node started later, one window on: %d %s", res.status, res.raw)
			}
			h.clock.Advance(2 * noncePeriod * time.Second)
			wantError(t, serveForm(t, b, "/token", form, withNonce(nonce)), 400, protocol.CodeUseDPoPNonce)
		})
	}
}

// TestDPoPNonceClockSkew: a nonce is good in its window and the next; a
// node whose clock runs ahead by less than the tolerated skew may hand out
// the next window's nonce before this node's window turns.
func TestDPoPNonceClockSkew(t *testing.T) {
	key := make([]byte, 32)
	start := time.Unix(1_800_000_000/noncePeriod*noncePeriod, 0) // a window boundary
	node := func(at time.Time) *nonces { return &nonces{key: key, now: func() time.Time { return at }} }
	tests := []struct {
		name    string
		checked time.Duration // when the nonce issued at start is checked, relative to start
		want    bool
	}{
		{"same window", 30 * time.Second, true},
		{"next window", 90 * time.Second, true},
		{"two windows on", 2*noncePeriod*time.Second + time.Second, false},
		{"issuer ahead by less than the skew", -nonceSkew + time.Second, true},
		{"issuer ahead by more than the skew", -nonceSkew - time.Second, false},
	}
	nonce := node(start).New()
	for _, tt := range tests {
		if got := node(start.Add(tt.checked)).Valid(nonce); got != tt.want {
			t.Errorf("%s: Valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}
