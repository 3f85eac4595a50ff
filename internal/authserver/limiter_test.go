package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

var threeFailures = strings.Replace(testConfig, "failed_grants_per_minute: 1000", "failed_grants_per_minute: 3", 1)

// TestFailedGrantLimitCountsOnlyCallerFaults: grants that failed because
// the store or Redis did (503) are not the caller's failures; once the
// outage is over nobody is throttled for it.
func TestFailedGrantLimitCountsOnlyCallerFaults(t *testing.T) {
	h, fs := newFlakyHarness(t, threeFailures, Options{})
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	cc := url.Values{"grant_type": {"client_credentials"}}
	fs.set("begin")
	for range 5 {
		wantUnavailable(t, h.form("/token", "app", secrets["app"], cc, nil))
		wantUnavailable(t, h.grant("app", "solo", "", "", nil))
	}
	fs.set()
	if res := h.form("/token", "app", secrets["app"], cc, nil); res.status != 200 {
		t.Fatalf("client_credentials after the outage: %d %s", res.status, res.raw)
	}
	if res := h.grant("app", "solo", "", "", nil); res.status != 200 {
		t.Fatalf("agent grant after the outage: %d %s", res.status, res.raw)
	}
}

// TestFailedGrantLimitPerAgent: an agent's failures are charged to that
// agent only; its empty bucket leaves the client's other agents and its
// client_credentials alone, and client-level failures are the client's.
func TestFailedGrantLimitPerAgent(t *testing.T) {
	h := newHarnessAt(t, t.TempDir()+"/db", threeFailures)
	noRun := map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}}
	h.registerAgent("noisy", "app", []string{"repo:read"}, noRun)
	h.registerAgent("quiet", "app", []string{"repo:read"}, noRun)
	h.registerAgent("theirs", "other-app", []string{"repo:read"}, noRun)
	badSum := url.Values{"agent_checksum": {"sha256:" + strings.Repeat("0", 64)}}
	for range 3 {
		wantError(t, h.grant("app", "noisy", "", "", badSum), http.StatusUnauthorized, protocol.CodeAgentChecksumMismatch)
	}
	res := h.grant("app", "noisy", "", "", nil) // even with the right checksum
	wantError(t, res, http.StatusTooManyRequests, protocol.CodeSlowDown)
	if res.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if res := h.grant("app", "quiet", "", "", nil); res.status != 200 {
		t.Fatalf("another agent of the client: %d %s", res.status, res.raw)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	if res := h.form("/token", "app", secrets["app"], cc, nil); res.status != 200 {
		t.Fatalf("the client's client_credentials: %d %s", res.status, res.raw)
	}

	// Client-level failures (no agent) empty the client's bucket.
	badScope := url.Values{"grant_type": {"client_credentials"}, "scope": {"repo:admin"}}
	for range 3 {
		wantError(t, h.form("/token", "app", secrets["app"], badScope, nil), http.StatusBadRequest, protocol.CodeInvalidScope)
	}
	wantError(t, h.form("/token", "app", secrets["app"], cc, nil), http.StatusTooManyRequests, protocol.CodeSlowDown)
	if res := h.grant("app", "quiet", "", "", nil); res.status != 200 {
		t.Fatalf("an agent with its own bucket after client-level failures: %d %s", res.status, res.raw)
	}
	if res := h.grant("other-app", "theirs", "", "", nil); res.status != 200 {
		t.Fatalf("another client: %d %s", res.status, res.raw)
	}
}

func TestCallerFault(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"bad checksum", newErr(protocol.CodeAgentChecksumMismatch, http.StatusUnauthorized, "x"), true},
		{"bad scope", newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "x"), true},
		{"step refused", errStep("step_completed", nil, "x"), true},
		{"store error", errFlaky, false},
		{"store error answered 503", unavailable(errFlaky), false},
		{"redis error at the proof check", proofCacheErr(errFlaky), false},
		{"throttled", &rateLimited{perr: newErr(protocol.CodeSlowDown, http.StatusTooManyRequests, "x")}, false},
		{"nonce challenge", protocol.ErrNonceRequired, false},
		{"server error", newErr(protocol.CodeServerError, http.StatusInternalServerError, "x"), false},
	}
	for _, tt := range tests {
		if got := callerFault(tt.err); got != tt.want {
			t.Errorf("%s: callerFault = %v, want %v", tt.name, got, tt.want)
		}
	}
}
