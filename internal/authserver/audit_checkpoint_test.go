package authserver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/keys"
)

func (h *harness) jwks() *jose.JSONWebKeySet {
	h.t.Helper()
	var set jose.JSONWebKeySet
	res := h.jsonReq(http.MethodGet, "/jwks.json", "", nil, nil)
	if err := json.Unmarshal(res.raw, &set); err != nil {
		h.t.Fatal(err)
	}
	return &set
}

func (h *harness) checkpoint() string {
	h.t.Helper()
	res := h.jsonReq(http.MethodGet, "/v1/audit/checkpoint", h.bearer("admin"), nil, nil)
	if res.status != 200 {
		h.t.Fatalf("checkpoint: %d %s", res.status, res.raw)
	}
	return res.str("checkpoint")
}

// TestAuditCheckpoint: the checkpoint verifies with the published JWKS and
// names the newest entry of the log by seq and hash.
func TestAuditCheckpoint(t *testing.T) {
	h := approvalFixture(t)
	h.readyForApproval("user:alice")
	raw := h.checkpoint() // its own token's grant is audited before it is read
	cp, err := VerifyCheckpoint(raw, h.jwks())
	if err != nil {
		t.Fatal(err)
	}
	es := entriesOf(h.auditPageOf("limit=1000"))
	var at map[string]any
	for _, e := range es {
		if int64(e["seq"].(float64)) == cp.Size {
			at = e
		}
	}
	if cp.Issuer != h.issuer || at == nil || at["hash"] != cp.Head || cp.Time < time.Now().Add(-time.Minute).Unix() {
		t.Fatalf("checkpoint %+v; entry at its size %v", cp, at)
	}
	wantError(t, h.jsonReq(http.MethodGet, "/v1/audit/checkpoint", h.bearer("app"), nil, nil), 403, "insufficient_scope")
	wantError(t, h.jsonReq(http.MethodGet, "/v1/audit/checkpoint?size=1", h.bearer("admin"), nil, nil), 400, "invalid_request")
}

// forge signs payload as a checkpoint with key under kid, with extra
// header members.
func forge(t *testing.T, key *keys.Signer, typ string, payload any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	js, err := key.JOSE(typ, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(payload)
	obj, err := js.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestVerifyCheckpointRefuses: every way to pass off a checkpoint the IdP
// did not sign is refused.
func TestVerifyCheckpointRefuses(t *testing.T) {
	h := approvalFixture(t)
	raw, set := h.checkpoint(), h.jwks()
	good, err := VerifyCheckpoint(raw, set)
	if err != nil {
		t.Fatal(err)
	}
	kid := set.Keys[0].KeyID
	ours, err := h.srv.keyring.activeSigner(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := keys.Generate(keys.ES256, nil)
	impostor, _ := keys.NewSigner(foreign.CryptoSigner(), keys.ES256, kid)
	parts := strings.Split(raw, ".")
	bigger := *good
	bigger.Size++
	edited, _ := json.Marshal(bigger)
	tests := []struct {
		name, raw, say string
	}{
		{"payload edited", parts[0] + "." + base64.RawURLEncoding.EncodeToString(edited) + "." + parts[2], "signature"},
		{"another key under our kid", forge(t, impostor, CheckpointType, good, nil), "signature"},
		{"an access token type", forge(t, ours, "at+jwt", good, nil), "typ"},
		{"no typ", forge(t, ours, "", good, nil), "typ"},
		{"embedded key", forge(t, ours, CheckpointType, good, map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}), "header"},
		{"kid not in the JWKS", forge(t, foreign, CheckpointType, good, nil), "kid"},
		{"alg none", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`","typ":"`+CheckpointType+`"}`)) + "." + parts[1] + ".", "alg"},
		{"size missing", forge(t, ours, CheckpointType, map[string]any{"iss": good.Issuer, "head": good.Head, "time": good.Time}, nil), "size"},
		{"not a JWS", "hello", "compact"},
		{"typ twice", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","typ":"`+CheckpointType+`"}`)) + "." + parts[1] + "." + parts[2], "repeats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyCheckpoint(tt.raw, set); err == nil || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("err %v, want one about %s", err, tt.say)
			}
		})
	}
}

// TestCheckpointIntoTheChain: a checkpoint entry names the head before it
// and carries a JWS that verifies; none is written when nothing was added
// since the last one, nor while the last one is younger than half the
// interval (another node wrote it).
func TestCheckpointIntoTheChain(t *testing.T) {
	h := approvalFixture(t)
	ctx := t.Context()
	write := func() bool {
		t.Helper()
		wrote, err := h.srv.writeCheckpoint(ctx, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	if !write() {
		t.Fatal("no checkpoint over a log with entries")
	}
	es, err := h.srv.AuditEntries(ctx, store.AuditFilter{Event: CheckpointEvent, Limit: 10})
	if err != nil || len(es) != 1 {
		t.Fatalf("%d checkpoint entries, %v", len(es), err)
	}
	jws, ok := CheckpointJWS(es[0].Detail)
	cp, err := VerifyCheckpoint(jws, h.jwks())
	if !ok || err != nil || cp.Size != es[0].Seq-1 || cp.Head != es[0].Prev || !strings.HasPrefix(es[0].Detail, "size=") {
		t.Fatalf("checkpoint entry %+v: %+v %v", es[0], cp, err)
	}
	if write() {
		t.Fatal("a checkpoint of a log that only grew by the last checkpoint")
	}
	h.startRun("app", "wf", nil)
	h.clock.Advance(20 * time.Minute)
	if write() {
		t.Fatal("a checkpoint 20 minutes after the last, with an interval of an hour")
	}
	h.clock.Advance(20 * time.Minute)
	if !write() {
		t.Fatal("no checkpoint 40 minutes after the last, entries added since")
	}
}

func TestCheckpointIntervalConfig(t *testing.T) {
	tests := []struct {
		yaml string
		want time.Duration
		ok   bool
	}{
		{"", DefaultCheckpointInterval, true},
		{"audit_checkpoint_interval: 5m\n", 5 * time.Minute, true},
		{"audit_checkpoint_interval: 30s\n", 0, false},
		{"audit_checkpoint_interval: 48h\n", 0, false},
	}
	for _, tt := range tests {
		cfg, err := ParseConfig([]byte("issuer: https://idp.example\n" + tt.yaml))
		if (err == nil) != tt.ok || (tt.ok && cfg.AuditCheckpointInterval != tt.want) {
			t.Fatalf("%q: %v %v", tt.yaml, cfg, err)
		}
	}
}
