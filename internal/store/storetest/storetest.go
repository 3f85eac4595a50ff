package storetest

import (
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// Opener makes stores for the suite.
type Opener interface {
	// Open returns a fresh, empty store, closed when t ends.
	Open(t *testing.T) store.Store
	// Reopen closes old and opens the same data again.
	Reopen(t *testing.T, old store.Store) store.Store
}

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, o Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"agents", testAgents},
		{"agent reads follow writes", testAgentReadsFollowWrites},
		{"agent for share", testAgentForShare},
		{"agent for update", testAgentForUpdate},
		{"token locks", testTokenLocks},
		{"workflows", testWorkflows},
		{"runs", testRuns},
		{"run listing", testRunListing},
		{"step completes once", testStepCompletesOnce},
		{"tokens", testTokens},
		{"token standing", testTokenStanding},
		{"use once", testUseOnce},
		{"revocations", testRevocations},
		{"concurrent revocations", testConcurrentRevocations},
		{"revocation version", testRevocationVersion},
		{"revocation head", testRevocationHead},
		{"purge", testPurge},
		{"delegated tokens", testDelegatedTokens},
		{"audit", testAudit},
		{"audit times", testAuditTimes},
		{"audit with failed neighbours", testAuditFailedNeighbours},
		{"signing keys", testSigningKeys},
		{"shared secret", testSharedSecret},
		{"clients", testClients},
		{"client for update", testClientForUpdate},
		{"view is read-only", testViewReadOnly},
		{"rollback", testRollback},
		{"cancelled context", testCancelled},
		{"panic in fn", testPanic},
		{"cancellation is isolated", testCancelIsolation},
		{"survives reopen", testReopen},
		{"hostile input", testHostileInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, o) })
	}
}

// update and view run fn and fail the test on error.
func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// t0 has nanoseconds so that a store keeping less precision fails.
var t0 = time.Unix(1_800_000_000, 123456789)
