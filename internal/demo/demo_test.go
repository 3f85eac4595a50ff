package demo

import (
	"context"
	"strings"
	"testing"
)

func TestLegitimateWorkflow(t *testing.T) {
	for _, mode := range []string{Legacy, AJWT} {
		t.Run(mode, func(t *testing.T) {
			e, err := Start(context.Background(), mode, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			out, err := e.RunWorkflow(context.Background(), t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			if !out.Merged || len(out.Upgrades) != 4 {
				t.Fatalf("outcome %+v", out)
			}
		})
	}
}

// TestScenarios runs every attack in both modes: each one is blocked by
// ajwt for the reason the report states; legacy shows which succeed.
func TestScenarios(t *testing.T) {
	ctx := context.Background()
	envs := map[string]*Env{}
	for _, mode := range []string{Legacy, AJWT} {
		e, err := Start(ctx, mode, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		envs[mode] = e
	}
	// The reason each attack must be stopped for (a substring of Result.Reason).
	want := map[string]string{
		"T1": "unknown_agent", "T2": "replayed_proof", "T3": "key_mismatch", "T4": "agent_checksum_mismatch",
		"T5": "line break; agent_checksum_mismatch", "T6": "insufficient_scope", "T7": "insufficient_scope",
		"T8": "dependencies_not_completed", "T9": "invalid_scope", "T10": "header replaced", "T11": "invalid_delegation",
		"T12": "insufficient_scope", "X1": "wrong_audience", "X2": "intent_mismatch", "X3": "context_mismatch",
		"X4": "insufficient_scope", "X5": "wrong_htm", "X6": "key_mismatch", "X7": "legacy_token_refused", "X8": "agent_revoked",
		"M1": "insufficient_scope", "M2": "context_mismatch", "M3": "wrong_audience", "M4": "legacy_token_refused", "M5": "tools/list filtered",
	}
	for _, sc := range Scenarios() {
		t.Run(sc.ID, func(t *testing.T) {
			r := sc.AJWT(ctx, envs[AJWT])
			if !r.Blocked || r.Check == "" || r.Check == "setup" || !strings.Contains(r.Reason, want[sc.ID]) {
				t.Fatalf("ajwt: %+v, want blocked for %q", r, want[sc.ID])
			}
			t.Logf("ajwt blocked: %s (%s)", r.Check, r.Reason)
			if l := sc.Legacy(ctx, envs[Legacy]); l.Blocked {
				t.Errorf("legacy blocked it (%+v): the comparison would overstate ajwt", l)
			}
		})
	}
}
